"""Graph convolutional matrix completion (GC-MC) in PyG (JAX twin: ``course_lib/jax/gcmc.py``).

GC-MC (van den Berg, Kipf and Welling, 2017) is the graph model built for rating prediction:

* every **rating level is its own relation** (ten, in half stars): a movie rated 5 stars sends a
  user a different message than one rated 2 stars, through its own weight ``W_r``
  (:class:`~course_lib.pyg.nn.GCMCConv`), with **ordinal weight sharing**
  ``W_r = T_1 + ... + T_r`` (:func:`~course_lib.pyg.nn.ordinal_weights`);
* the per-level sums are stacked (or summed), a ReLU, then one **dense** layer per node type;
* a **bilinear decoder** with shared bases scores every level for a (user, movie) pair
  (:class:`~course_lib.pyg.nn.BilinearBasisDecoder`); a softmax gives a distribution over the
  levels, and the **expected rating** is the prediction (:func:`expected_rating`);
* the loss is the **cross-entropy** of the true level (``loss='l1'``: the L1 error of the
  expected rating instead, for comparison).

Because a message carries its rating, a training edge that passes messages would hand the
model its own label. Each epoch therefore holds a fresh random ``supervision`` share of the
training edges out of message passing and computes the loss on those only
(:func:`course_lib.ratings.held_out_edges`). Validation and test predict edges that were never
message-passing edges, over all training edges (test: training and validation edges), as the
rest of the chapter does. Node dropout on the inputs and dropout on the hidden layer regularise.

Speed, milliseconds per epoch on 2 CPU cores (training pass + validation,
``benchmarks/epoch_times.py``), of GC-MC (every rating level in one product with the cached
level matrix); before: the same models propagating edge by edge, a gather and a scatter on every
layer of every step: gcmc: 51 + 16 ms before, 31 + 9 ms after (after: also
narrower layers, 100 and 32 features instead of 200 and 64, ``benchmarks/gcmc_settings.py``).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.data import HeteroData

from .. import settings
from ..checkpoints import Checkpoint
from ..graph import BipartiteGraph, EdgeSplit
from ..ratings import RATING_LEVELS, held_out_edges, mae, part_pairs, rating_level
from ..training import Fit, fit_loop, settings_for
from ..utils import torch_device
from .gcn import eval_step, evaluate, predict, predict_user, rating_graphs  # noqa: F401
from .nn import BilinearBasisDecoder, GCMCConv, InputLayer, dropout, node_dropout
from .state import TrainState

#: The chapter's GC-MC hyper-parameters (:data:`course_lib.settings.GCMC`, read by the JAX
#: twin too).
SETTINGS = settings.GCMC
NUM_LEVELS = len(RATING_LEVELS)


def expected_rating(logits: torch.Tensor) -> torch.Tensor:
    """``[n, R]`` logits over the rating levels -> ``[n]`` expected ratings
    ``sum_r p_r * level_r`` with ``p = softmax(logits)`` (levels 0.5, 1.0, ..., 5.0 stars)."""
    levels = torch.arange(1, logits.size(-1) + 1, dtype=logits.dtype,
                          device=logits.device) * 0.5
    return torch.softmax(logits, dim=-1) @ levels


class GCMC(nn.Module):
    """Input layer (id embeddings, genres for movies), node dropout, :class:`GCMCConv` over the
    rating levels, ReLU, dropout, a dense layer per node type (no bias, no activation), and the
    bilinear basis decoder. ``forward`` returns ``[n, R]`` logits."""

    def __init__(self, num_users: int, num_movies: int, num_features: int, embed_dim: int = 64,
                 hidden: int = 100, out: int = 32, accum: str = "stack", num_bases: int = 2,
                 dropout: float = 0.2, ordinal: bool = True):
        super().__init__()
        self.dropout = dropout
        self.inputs = InputLayer({"user": num_users, "movie": num_movies},
                                 {"movie": num_features}, embed_dim)
        self.conv = GCMCConv(embed_dim, hidden, NUM_LEVELS, accum=accum, ordinal=ordinal)
        self.out = nn.ModuleDict({t: nn.Linear(hidden, out, bias=False)
                                  for t in ("user", "movie")})
        self.decoder = BilinearBasisDecoder(out, NUM_LEVELS, num_bases)

    def embed(self, data: HeteroData, edge_weight: torch.Tensor | None = None) -> dict:
        x = self.inputs(data.node_id_dict, data.x_dict)
        num_users = x["user"].size(0)
        h = node_dropout(torch.cat([x["user"], x["movie"]]), self.dropout, self.training)
        h = torch.relu(self.conv(h, data.adjacency["levels"], edge_weight))
        h = dropout(h, self.dropout, self.training)
        return {"user": self.out["user"](h[:num_users]), "movie": self.out["movie"](h[num_users:])}

    def forward(self, data: HeteroData, edge_label_index: torch.Tensor,
                edge_weight: torch.Tensor | None = None) -> torch.Tensor:
        z = self.embed(data, edge_weight)
        return self.decoder(z["user"], z["movie"], edge_label_index)

    def rate(self, data: HeteroData, edge_label_index: torch.Tensor) -> torch.Tensor:
        """Expected ratings of the pairs (:func:`expected_rating` of the logits)."""
        return expected_rating(self(data, edge_label_index))


def build_model(graph: BipartiteGraph, **overrides) -> GCMC:
    """GC-MC with :data:`SETTINGS` updated with ``overrides``, for ``graph``'s users, movies
    and movie features."""
    s = settings_for(SETTINGS, overrides)
    return GCMC(graph.num_users, graph.num_movies, graph.movie_x.shape[1],
                **{k: s[k] for k in ("embed_dim", "hidden", "out", "accum", "num_bases",
                                     "dropout", "ordinal")})


def loss(logits: torch.Tensor, level: torch.Tensor, kind: str = "ce") -> torch.Tensor:
    """Mean over the pairs of the cross-entropy of the true ``level`` (``kind='ce'``) or of
    the L1 error of the expected rating (``'l1'``)."""
    if kind == "ce":
        return F.cross_entropy(logits, level)
    if kind == "l1":
        return torch.abs(expected_rating(logits) - (level + 1) * 0.5).mean()
    raise ValueError(f"loss must be 'ce' or 'l1', got {kind!r}")


# --------------------------------------------------------------------------------------------------
# Training and evaluation
# --------------------------------------------------------------------------------------------------


def train_step(state: TrainState, graph: HeteroData, pairs: torch.Tensor,
               level: torch.Tensor, held_out: torch.Tensor, kind: str = "ce"
               ) -> tuple[TrainState, float]:
    """One Adam step. ``pairs`` ``[2, E]`` and ``level`` ``[E]``: the training
    edges, in the order of ``graph``'s ``rates`` edges. The ``held_out`` ones (edge
    ids) pass no message and are the only ones in the loss."""
    model = state.model
    model.train()
    state.optimizer.zero_grad()
    keep = torch.ones(pairs.size(1), device=pairs.device)
    keep = keep.index_fill(0, held_out, 0.0)
    edge_weight = keep.repeat(2)   # each edge in both directions
    logits = model(graph, pairs[:, held_out], edge_weight)
    value = loss(logits, level[held_out], kind)
    value.backward()
    return state.apply_gradients(), value.item()


def fit(graph: BipartiteGraph, split: EdgeSplit, *, device=None, **overrides) -> Fit:
    """Full-batch training with early stopping on validation MAE (the best epoch's weights are
    restored). Settings: :data:`SETTINGS` updated with ``overrides``. Each epoch draws its
    held-out edges from one numpy generator seeded with ``seed``, as the JAX twin does. The
    history holds per-epoch ``loss``, ``val_mae`` and ``seconds``, and ``best_epoch``."""
    s = settings_for(SETTINGS, overrides)
    device = device or torch_device()
    torch.manual_seed(s["seed"])
    rng = np.random.default_rng(s["seed"])
    graphs = {k: v.to(device) for k, v in rating_graphs(graph, split).items()}
    train_pairs, train_rating = part_pairs(graph, split, "train")  # message_edges' order
    pairs = torch.as_tensor(train_pairs, device=device)
    level = torch.as_tensor(rating_level(train_rating), device=device)
    val_pairs, val_rating = part_pairs(graph, split, "val")
    val_pairs = torch.as_tensor(val_pairs, device=device)
    model = build_model(graph, **overrides).to(device)
    state = TrainState.create(model, torch.optim.Adam(model.parameters(), lr=s["lr"]))

    def train_epoch(state):
        held = torch.as_tensor(held_out_edges(pairs.size(1), s["supervision"], rng),
                               device=device)
        return train_step(state, graphs["train"], pairs, level, held, s["loss"])

    def validate(state):
        return mae(eval_step(state, graphs["val"], val_pairs).cpu().numpy(), val_rating)

    state, history, best = fit_loop(
        state, train_epoch, validate, snapshot=lambda s: copy.deepcopy(s.model.state_dict()),
        max_epochs=s["max_epochs"], patience=s["patience"], mode="min", metric="val_mae",
        eval_every=s["eval_every"],
        desc="PyG GC-MC",
        checkpoint=Checkpoint.for_fit("pyg-gcmc", s, graph, split, module=__name__))
    state.model.load_state_dict(best)
    return Fit(state, history, history["best_epoch"])
