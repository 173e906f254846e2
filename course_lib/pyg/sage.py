"""GraphSAGE link prediction on MovieLens in PyG (JAX twin: ``course_lib/jax/sage.py``).

The model of PyG's MovieLens link-prediction tutorial, on the course's shared split:

* **input layer** - every user gets a learned embedding; every movie a learned embedding plus a
  linear map of its 20 genre indicators;
* **encoder** - two ``SAGEConv`` layers (mean aggregation, separate root and neighbour weights),
  made heterogeneous with ``to_hetero``: one copy per edge type, ``rates`` (user -> movie) and
  ``rev_rates`` (movie -> user);
* **classifier** - the dot product of a user's and a movie's final embeddings, a logit.

Training samples mini-batches with ``LinkNeighborLoader`` (20 then 10 neighbours, 2 random
negatives per positive, 512 positives a batch where the tutorial takes 128: :data:`SETTINGS`),
minimises binary cross-entropy with logits with Adam, and stops early on validation ROC-AUC.

Speed, milliseconds per epoch on 2 CPU cores (training pass + validation,
``benchmarks/epoch_times.py``), of chapter 3's SAGE (PyG: sampled batches, validated over the
whole graph instead of sampled batches; JAX: full-graph steps over the cached sparse adjacency);
before: the same models propagating edge by edge, a gather and a scatter on every layer of every
step: sage: 4,744 + 1,308 ms before, 1,719 + 43 ms after (after also with batches of 512
positives instead of 128: a quarter of the steps).
"""

from __future__ import annotations

from collections.abc import Callable
import copy
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.data import HeteroData
from torch_geometric.loader import LinkNeighborLoader
from torch_geometric.nn import to_hetero

from .. import settings
from ..checkpoints import Checkpoint
from ..graph import BipartiteGraph, EdgeSplit
from ..metrics import roc_auc
from ..training import Fit, early_stopping_loop, fit_loop, settings_for
from ..utils import progress, torch_device, torch_threads
from .data import RATES, REV_RATES, split_heterodata
from .nn import SAGEConv, bce_loss
from .state import TrainState

#: The chapter's hyper-parameters (:data:`course_lib.settings.SAGE`, read by the JAX twin
#: too): PyG trains on ``'sampled'`` subgraphs, sampled as PyG's MovieLens tutorial does.
SETTINGS = settings.SAGE
#: Which of :data:`SETTINGS`' training modes this twin uses.
MODE = "sampled"


def dot_product_scores(x_user: torch.Tensor, x_movie: torch.Tensor,
                       edge_label_index: torch.Tensor) -> torch.Tensor:
    """Score ``[n]`` of each (user, movie) pair in ``edge_label_index`` ``[2, n]``:
    the dot product of the user's row of ``x_user`` and the movie's row of
    ``x_movie`` (a logit)."""
    return (x_user[edge_label_index[0]] * x_movie[edge_label_index[1]]).sum(dim=-1)


class GNN(nn.Module):
    """Two ``SAGEConv`` layers with a ReLU in between, for a homogeneous graph.

    ``to_hetero`` turns it into one copy per edge type; it decides which ``forward``
    arguments are edge-level by their *name*, so the argument must be called
    ``edge_index``.
    """

    def __init__(self, hidden: int):
        super().__init__()
        self.conv1 = SAGEConv(hidden, hidden)
        self.conv2 = SAGEConv(hidden, hidden)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x, edge_index))
        return self.conv2(x, edge_index)


class Classifier(nn.Module):
    """Dot-product decoder: no weights, one logit per (user, movie) pair."""

    def forward(self, x_user, x_movie, edge_label_index):
        return dot_product_scores(x_user, x_movie, edge_label_index)


class Model(nn.Module):
    """Input layer + heterogeneous two-layer SAGE + dot-product classifier."""

    def __init__(self, num_users: int, num_movies: int, num_features: int, hidden: int = 64):
        super().__init__()
        self.movie_lin = nn.Linear(num_features, hidden)
        self.user_emb = nn.Embedding(num_users, hidden)
        self.movie_emb = nn.Embedding(num_movies, hidden)
        metadata = (["user", "movie"], [RATES, REV_RATES])
        self.gnn = to_hetero(GNN(hidden), metadata=metadata)
        self.classifier = Classifier()

    def input_features(self, data: HeteroData) -> dict[str, torch.Tensor]:
        """Layer-0 features: embeddings looked up by ``node_id`` (the global index of each node
        of a sampled subgraph), plus the genre map for movies."""
        return {"user": self.user_emb(data["user"].node_id),
                "movie": self.movie_lin(data["movie"].x) + self.movie_emb(data["movie"].node_id)}

    def embed(self, data: HeteroData) -> dict[str, torch.Tensor]:
        """Final node embeddings ``{'user': [U, H], 'movie': [M, H]}`` of ``data``'s nodes."""
        return self.gnn(self.input_features(data), data.edge_index_dict)

    def forward(self, data: HeteroData, edge_label_index: torch.Tensor) -> torch.Tensor:
        z = self.embed(data)
        return self.classifier(z["user"], z["movie"], edge_label_index)


def build_model(graph: BipartiteGraph, **overrides) -> Model:
    """The model with :data:`SETTINGS` ``[MODE]`` updated with ``overrides``."""
    s = settings_for(SETTINGS[MODE], overrides)
    return Model(graph.num_users, graph.num_movies, graph.movie_x.shape[1], s["hidden"])


# --------------------------------------------------------------------------------------------------
# Data: the loaders that sample mini-batches from the shared split
# --------------------------------------------------------------------------------------------------


SAMPLER_MISSING = (
    "PyG's neighbour sampler needs pyg-lib or torch-sparse, and neither is installed (in Colab:"
    " PyG's wheel index has no pyg-lib build for torch {torch} yet). Every other chapter, and"
    " this chapter's JAX half, run without it. Fix: run the notebook's first cell again once"
    " PyG publishes that build (it installs pyg-lib from https://data.pyg.org/whl/), or `pip"
    " install torch-sparse` now (it compiles from source: about 20 minutes on 2 CPU cores),"
    " then restart the runtime.")


def neighbour_sampler() -> str | None:
    """The package ``LinkNeighborLoader`` samples with (``'pyg-lib'`` or ``'torch-sparse'``),
    or None when neither is installed."""
    import torch_geometric.typing as pyg_typing

    if pyg_typing.WITH_PYG_LIB:
        return "pyg-lib"
    if pyg_typing.WITH_TORCH_SPARSE:
        return "torch-sparse"
    return None


def require_neighbour_sampler() -> str:
    """The sampler's package; a ``RuntimeError`` saying what to do when there is none."""
    found = neighbour_sampler()
    if found is None:
        raise RuntimeError(SAMPLER_MISSING.format(torch=torch.__version__))
    return found


def link_loaders(parts: dict[str, HeteroData], **overrides) -> dict[str, LinkNeighborLoader]:
    """``LinkNeighborLoader`` s over the parts of :func:`~course_lib.pyg.data.split_heterodata`.

    Training batches hold ``batch_size`` supervision positives plus ``neg_ratio`` times as many
    fresh random negatives; validation and test batches hold ``(1 + neg_ratio) * batch_size``
    of the fixed labelled pairs, in order. Each batch is the subgraph sampled around its pairs'
    endpoints: ``num_neighbors[0]`` neighbours per endpoint, then ``num_neighbors[1]`` per
    neighbour, over that part's message-passing edges. ``batch_size``, ``num_neighbors``,
    ``neg_ratio`` and ``seed`` come from :data:`SETTINGS` ``[MODE]`` and ``overrides``.
    """
    s = settings_for(SETTINGS[MODE], overrides)
    batch_size, num_neighbors, neg_ratio = s["batch_size"], s["num_neighbors"], s["neg_ratio"]
    require_neighbour_sampler()
    generator = torch.Generator().manual_seed(s["seed"])
    loaders = {}
    for part, data in parts.items():
        train = part == "train"
        with warnings.catch_warnings():
            # without pyg-lib, PyG falls back to torch-sparse's sampler and says so
            warnings.filterwarnings("ignore", message=".*without a 'pyg-lib' installation")
            loaders[part] = LinkNeighborLoader(
                data, num_neighbors=list(num_neighbors),
                edge_label_index=(RATES, data[RATES].edge_label_index),
                edge_label=data[RATES].edge_label,
                neg_sampling_ratio=neg_ratio if train else None,
                batch_size=batch_size if train else int((1 + neg_ratio) * batch_size),
                shuffle=train, generator=generator if train else None)
    return loaders


# --------------------------------------------------------------------------------------------------
# Training and evaluation
# --------------------------------------------------------------------------------------------------


def loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy with logits over a batch's labelled pairs."""
    return bce_loss(logits, labels)


def link_graphs(graph: BipartiteGraph, split: EdgeSplit) -> dict[str, HeteroData]:
    """``{'train', 'val', 'test'}`` -> the graph each part propagates over (its message-passing
    edges), as the model takes it (:func:`course_lib.pyg.data.split_heterodata`)."""
    return split_heterodata(graph, split)


def train_step(state: TrainState, graph: HeteroData, pairs: torch.Tensor,
               labels: torch.Tensor) -> tuple[TrainState, float]:
    """One Adam step on a batch of labelled ``pairs``, propagating over ``graph``:
    the subgraph sampled around them (a :func:`link_loaders` batch, whose pairs are
    numbered within it)."""
    model = state.model
    model.train()
    state.optimizer.zero_grad()
    value = loss(model(graph, pairs), labels)
    value.backward()
    return state.apply_gradients(), value.item()


@torch.no_grad()
def eval_step(state: TrainState, graph: HeteroData, pairs: torch.Tensor) -> torch.Tensor:
    """Scores (logits) of ``pairs`` ``[2, n]`` (user, movie indices), propagating over
    ``graph``."""
    state.model.eval()
    return state.model(graph, pairs)


def evaluate(state: TrainState, graph: HeteroData, pairs, labels) -> float:
    """ROC-AUC of the model on labelled ``pairs``, propagating over the whole ``graph`` (every
    neighbour, no sampling: as the JAX twin)."""
    device = next(state.model.parameters()).device
    scores = eval_step(state, graph.to(device), torch.as_tensor(np.asarray(pairs),
                                                                device=device))
    return roc_auc(scores.cpu().numpy(), labels)


def fit(graph: BipartiteGraph, split: EdgeSplit, *, device=None,
        loop: Callable = early_stopping_loop, **overrides) -> Fit:
    """Train on sampled subgraphs with early stopping on validation AUC; return the best state
    and the history.

    Settings: :data:`SETTINGS` ``[MODE]`` updated with ``overrides``. An epoch visits every
    supervision positive once, in the mini-batches of :func:`link_loaders`. Validation scores
    the fixed validation pairs over the whole training graph. Stops after ``patience`` epochs
    without a new best validation AUC (or at ``max_epochs``) and restores the weights of the best
    epoch. The history holds per-epoch ``loss``, ``val_auc`` and ``seconds``, and
    ``best_epoch`` (1-based). ``loop``: the epoch loop with early stopping
    (:func:`course_lib.training.early_stopping_loop`, or the chapter's exercise).
    """
    s = settings_for(SETTINGS[MODE], overrides)
    parts = split_heterodata(graph, split)
    loaders = link_loaders(parts, **overrides)
    device = device or torch_device()
    torch.manual_seed(s["seed"])
    model = build_model(graph, **overrides).to(device)
    state = TrainState.create(model, torch.optim.Adam(model.parameters(), lr=s["lr"]))
    val_pairs, val_labels = split.labelled_pairs(graph, "val")

    def train_epoch(state):
        losses, sizes = [], []
        for batch in progress(loaders["train"], desc="train", leave=False):
            batch = batch.to(device)
            store = batch[RATES]
            state, value = train_step(state, batch, store.edge_label_index, store.edge_label)
            losses.append(value)
            sizes.append(store.edge_label.numel())
        return state, np.average(losses, weights=sizes)  # per labelled pair

    # on a CPU the sampled steps repeat bit for bit on one thread only (two runs on two threads
    # part in the ninth digit of the first epoch's loss); the full-graph models do on two
    with torch_threads(1):
        state, history, best = fit_loop(
            state, train_epoch,
            lambda state: evaluate(state, parts["val"], val_pairs, val_labels),
            snapshot=lambda state: copy.deepcopy(state.model.state_dict()),
            max_epochs=s["max_epochs"], patience=s["patience"], desc="PyG SAGE", loop=loop,
            checkpoint=Checkpoint.for_fit("pyg-sage", s, graph, split, loop,
                                          module=__name__))
    state.model.load_state_dict(best)
    return Fit(state, history, history["best_epoch"])


# --------------------------------------------------------------------------------------------------
# Full-graph embeddings: parity checks and recommendations
# --------------------------------------------------------------------------------------------------


@torch.no_grad()
def embed_all(state: TrainState, graph: HeteroData) -> tuple[np.ndarray, np.ndarray]:
    """``(z_user [U, H], z_movie [M, H])`` over the whole ``graph`` (no sampling)."""
    model = state.model
    model.eval()
    z = model.embed(graph.to(next(model.parameters()).device))
    return z["user"].cpu().numpy(), z["movie"].cpu().numpy()
