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
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.data import HeteroData

from ..checkpoints import Checkpoint
from ..graph import BipartiteGraph, EdgeSplit
from ..ratings import (RATING_LEVELS, errors, held_out_edges, mae, part_pairs, rating_level,
                       user_pairs)
from ..training import fit_loop, with_settings
from ..utils import torch_device
from .gcn import rating_graphs
from .nn import BilinearBasisDecoder, GCMCConv, InputLayer, node_dropout

#: The chapter's GC-MC hyper-parameters (the JAX twin has the same values), chosen on validation
#: MAE (``benchmarks/gcmc_settings.py``). Training keys: ``lr``, ``max_epochs``, ``patience``
#: (epochs without a better validation MAE: 150, since validation MAE wanders over flat
#: stretches of 100 epochs before it improves again; a fixed 400 epochs stopped PyG 0.004
#: above the best it reached at epoch 544), ``seed``, ``supervision`` (the
#: share of the training edges held out of message passing each epoch, for the loss) and
#: ``loss`` (``'ce'`` or ``'l1'``); the others go to :func:`build_model`.
SETTINGS = dict(embed_dim=64, hidden=200, out=64, accum="stack", num_bases=2, ordinal=True,
                dropout=0.2,
                lr=0.01, max_epochs=1500, patience=150, seed=0, supervision=0.1, loss="ce")
TRAINING_KEYS = ("lr", "max_epochs", "patience", "seed", "supervision", "loss")
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
                 hidden: int = 200, out: int = 64, accum: str = "stack", num_bases: int = 2,
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


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """``F.dropout``, with the mask drawn by ``torch.rand``: on CPU, torch's ``bernoulli_``
    (what ``F.dropout`` uses) takes a fifth of a GC-MC training step."""
    if not training or p == 0.0:
        return x
    return x * (torch.rand_like(x) >= p) / (1.0 - p)


def build_model(graph: BipartiteGraph, **kwargs) -> GCMC:
    return GCMC(graph.num_users, graph.num_movies, graph.movie_x.shape[1], **kwargs)


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


def train_step(model: GCMC, optimizer: torch.optim.Optimizer, data: HeteroData,
               pairs: torch.Tensor, level: torch.Tensor, held_out: torch.Tensor,
               kind: str = "ce") -> float:
    """One Adam step. ``pairs`` ``[2, E]`` and ``level`` ``[E]``: the training edges,
    in the order of ``data``'s ``rates`` edges. The ``held_out`` ones (edge ids) pass
    no message and are the only ones in the loss."""
    model.train()
    optimizer.zero_grad()
    keep = torch.ones(pairs.size(1), device=pairs.device).index_fill(0, held_out, 0.0)
    edge_weight = keep.repeat(2)   # each edge in both directions
    logits = model(data, pairs[:, held_out], edge_weight)
    value = loss(logits, level[held_out], kind)
    value.backward()
    optimizer.step()
    return value.item()


@torch.no_grad()
def eval_step(model: GCMC, data: HeteroData, pairs: torch.Tensor) -> torch.Tensor:
    """Expected ratings of ``pairs`` ``[2, n]``, passing messages over all of ``data``'s edges."""
    model.eval()
    return expected_rating(model(data, pairs))


def fit(graph: BipartiteGraph, split: EdgeSplit, *, device=None, **overrides
        ) -> tuple[GCMC, dict]:
    """Full-batch training with early stopping on validation MAE (the best epoch's weights are
    restored). Settings: :data:`SETTINGS` updated with ``overrides``. Each epoch draws its held-out
    edges from one numpy generator seeded with ``seed``, as the JAX twin does. The history holds
    per-epoch ``loss``, ``val_mae`` and ``seconds``, and ``best_epoch``."""
    settings = with_settings(SETTINGS, overrides)
    lr, max_epochs, patience, seed, supervision, kind = (settings.pop(k) for k in TRAINING_KEYS)
    device = device or torch_device()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    graphs = {k: v.to(device) for k, v in rating_graphs(graph, split).items()}
    train_pairs, train_rating = part_pairs(graph, split, "train")  # message_edges' order
    pairs = torch.as_tensor(train_pairs, device=device)
    level = torch.as_tensor(rating_level(train_rating), device=device)
    val_pairs, val_rating = part_pairs(graph, split, "val")
    val_pairs = torch.as_tensor(val_pairs, device=device)
    model = build_model(graph, **settings).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)

    def train_epoch(model):
        held = torch.as_tensor(held_out_edges(pairs.size(1), supervision, rng), device=device)
        return model, train_step(model, optimizer, graphs["train"], pairs, level, held, kind)

    def validate(model):
        return mae(eval_step(model, graphs["val"], val_pairs).cpu().numpy(), val_rating)

    model, history, best = fit_loop(
        model, train_epoch, validate, snapshot=lambda m: copy.deepcopy(m.state_dict()),
        max_epochs=max_epochs, patience=patience, mode="min", metric="val_mae",
        desc="PyG GC-MC",
        checkpoint=Checkpoint.for_fit("pyg-gcmc", with_settings(SETTINGS, overrides), graph,
                                      split))
    model.load_state_dict(best)
    return model, history


def predict(model: GCMC, data: HeteroData, pairs, device=None) -> np.ndarray:
    """Expected ratings of ``pairs`` ``[2, n]`` (user, movie indices)."""
    device = device or next(model.parameters()).device
    return eval_step(model, data.to(device),
                     torch.as_tensor(np.asarray(pairs), device=device)).cpu().numpy()


def evaluate(model: GCMC, graph: BipartiteGraph, split: EdgeSplit, part: str
             ) -> dict[str, float]:
    """MAE and RMSE on ``part``'s rated edges, passing messages over that part's edges."""
    pairs, ratings = part_pairs(graph, split, part)
    return errors(predict(model, rating_graphs(graph, split)[part], pairs), ratings)


def predict_user(model: GCMC, graph: BipartiteGraph, split: EdgeSplit, user: int) -> np.ndarray:
    """Expected rating of every movie for ``user`` (test-time graph), ``[num_movies]``."""
    return predict(model, rating_graphs(graph, split)["test"], user_pairs(graph, user))
