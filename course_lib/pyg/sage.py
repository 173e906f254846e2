"""GraphSAGE link prediction on MovieLens in PyG (JAX twin: ``course_lib/jax/sage.py``).

The model of PyG's MovieLens link-prediction tutorial, on the course's shared split:

* **input layer** - every user gets a learned embedding; every movie a learned embedding plus a
  linear map of its 20 genre indicators;
* **encoder** - two ``SAGEConv`` layers (mean aggregation, separate root and neighbour weights),
  made heterogeneous with ``to_hetero``: one copy per edge type, ``rates`` (user -> movie) and
  ``rev_rates`` (movie -> user);
* **classifier** - the dot product of a user's and a movie's final embeddings, a logit.

Training samples mini-batches with ``LinkNeighborLoader`` (20 then 10 neighbours, 2 random
negatives per positive, 128 positives a batch: :data:`SETTINGS`), minimises binary
cross-entropy with logits with Adam, and stops early on validation ROC-AUC.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.data import HeteroData
from torch_geometric.loader import LinkNeighborLoader
from torch_geometric.nn import to_hetero

from ..checkpoints import Checkpoint
from ..graph import BipartiteGraph, EdgeSplit
from ..metrics import roc_auc
from ..training import fit_loop, with_settings
from ..utils import progress, torch_device
from .data import RATES, REV_RATES, split_heterodata
from .nn import SAGEConv, bce_loss

#: The chapter's hyper-parameters (same keys as the JAX twin's ``SETTINGS``): those of PyG's
#: MovieLens tutorial (64 channels, Adam at 1e-3, 128 positives a batch, [20, 10] neighbours, two
#: negatives per positive), with up to 15 epochs and early stopping after 3 without progress.
SETTINGS = {
    "hidden": 64,
    "lr": 1e-3,
    "batch_size": 128,
    "num_neighbors": (20, 10),
    "neg_ratio": 2.0,
    "max_epochs": 15,
    "patience": 3,
    "seed": 0,
}


def dot_product_scores(x_user: torch.Tensor, x_movie: torch.Tensor,
                       edge_label_index: torch.Tensor) -> torch.Tensor:
    """Score ``[n]`` of each (user, movie) pair in ``edge_label_index`` ``[2, n]``: the
    dot product of the user's row of ``x_user`` and the movie's row of ``x_movie`` (a
    logit)."""
    return (x_user[edge_label_index[0]] * x_movie[edge_label_index[1]]).sum(dim=-1)


class GNN(nn.Module):
    """Two ``SAGEConv`` layers with a ReLU in between, written for a homogeneous graph.

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

    def forward(self, data: HeteroData) -> torch.Tensor:
        z = self.embed(data)
        return self.classifier(z["user"], z["movie"], data[RATES].edge_label_index)


def build_model(graph: BipartiteGraph, hidden: int = SETTINGS["hidden"]) -> Model:
    return Model(graph.num_users, graph.num_movies, graph.movie_x.shape[1], hidden)


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


def link_loaders(parts: dict[str, HeteroData], *, batch_size: int = SETTINGS["batch_size"],
                 num_neighbors=SETTINGS["num_neighbors"], neg_ratio: float = SETTINGS["neg_ratio"],
                 seed: int = SETTINGS["seed"]) -> dict[str, LinkNeighborLoader]:
    """``LinkNeighborLoader`` s over the parts of :func:`~course_lib.pyg.data.split_heterodata`.

    Training batches hold ``batch_size`` supervision positives plus ``neg_ratio`` times as many
    fresh random negatives; validation and test batches hold ``(1 + neg_ratio) * batch_size``
    of the fixed labelled pairs, in order. Each batch is the subgraph sampled around its pairs'
    endpoints: ``num_neighbors[0]`` neighbours per endpoint, then ``num_neighbors[1]`` per
    neighbour, over that part's message-passing edges.
    """
    require_neighbour_sampler()
    generator = torch.Generator().manual_seed(seed)
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


def train_step(model: Model, optimizer: torch.optim.Optimizer, batch: HeteroData
               ) -> float:
    """One Adam step on a sampled batch: its labelled pairs, propagating over its
    subgraph."""
    model.train()
    optimizer.zero_grad()
    batch_loss = loss(model(batch), batch[RATES].edge_label)
    batch_loss.backward()
    optimizer.step()
    return batch_loss.item()


@torch.no_grad()
def eval_step(model: Model, batch: HeteroData) -> torch.Tensor:
    """Scores (logits) of a batch's labelled pairs, propagating over its subgraph."""
    model.eval()
    return model(batch)


def evaluate(model: Model, loader) -> float:
    """ROC-AUC of ``model`` on ``loader``'s labelled pairs."""
    device = next(model.parameters()).device
    scores, labels = [], []
    for batch in progress(loader, desc="eval", leave=False):
        batch = batch.to(device)
        scores.append(eval_step(model, batch).cpu())
        labels.append(batch[RATES].edge_label.cpu())
    return roc_auc(torch.cat(scores).numpy(), torch.cat(labels).numpy())


def fit(graph: BipartiteGraph, split: EdgeSplit, **settings) -> tuple[Model, dict]:
    """Train with early stopping on validation AUC; return the best model and the history.

    ``settings`` override :data:`SETTINGS`. An epoch visits every supervision positive once,
    in the mini-batches of :func:`link_loaders`. Stops after ``patience`` epochs without a new
    best validation AUC (or at ``max_epochs``) and restores the weights of the best epoch. The
    history holds per-epoch ``loss``, ``val_auc`` and ``seconds``, and ``best_epoch`` (1-based).
    """
    s = with_settings(SETTINGS, settings)
    loaders = link_loaders(split_heterodata(graph, split), batch_size=s["batch_size"],
                           num_neighbors=s["num_neighbors"], neg_ratio=s["neg_ratio"],
                           seed=s["seed"])
    device = torch_device()
    torch.manual_seed(s["seed"])
    model = build_model(graph, s["hidden"]).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=s["lr"])

    def train_epoch(model):
        losses, sizes = [], []
        for batch in progress(loaders["train"], desc="train", leave=False):
            batch = batch.to(device)
            losses.append(train_step(model, optimizer, batch))
            sizes.append(batch[RATES].edge_label.numel())
        return model, np.average(losses, weights=sizes)  # per labelled pair

    model, history, best = fit_loop(
        model, train_epoch, lambda model: evaluate(model, loaders["val"]),
        snapshot=lambda model: copy.deepcopy(model.state_dict()),
        max_epochs=s["max_epochs"], patience=s["patience"], desc="PyG SAGE",
        checkpoint=Checkpoint.for_fit("pyg-sage", s, graph, split))
    model.load_state_dict(best)
    return model, history


# --------------------------------------------------------------------------------------------------
# Full-graph embeddings: parity checks and recommendations
# --------------------------------------------------------------------------------------------------


@torch.no_grad()
def embed_all(model: Model, data: HeteroData) -> tuple[np.ndarray, np.ndarray]:
    """``(z_user [U, H], z_movie [M, H])`` over the whole graph ``data`` (no sampling)."""
    model.eval()
    z = model.embed(data.to(next(model.parameters()).device))
    return z["user"].cpu().numpy(), z["movie"].cpu().numpy()
