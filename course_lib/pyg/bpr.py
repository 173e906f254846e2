"""BPR training and full-ranking evaluation of the collaborative-filtering models in PyG
(JAX twin: ``course_lib/jax/bpr.py``).

The models (:func:`build_model`): ``'mf'`` (matrix factorisation), ``'ngcf'`` and ``'lightgcn'``.
Each has ego embeddings ``model.embedding`` and ``model.get_embedding(adj)`` (final embeddings
over the sparse normalised adjacency); a (user, movie) score is the dot product of their final
embeddings.

Training minimises the **BPR loss**: for a user ``u``, a movie ``i`` they interacted with and a
movie ``j`` they did not, ``-log sigmoid(s(u, i) - s(u, j))``, plus L2 regularisation of the
batch's ego embeddings. One epoch visits every training interaction once, in the batches of
:func:`course_lib.cf.bpr_batches` (the JAX twin sees the same ones); every step propagates over
the whole training graph. Early stopping on validation recall@20.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..cf import bpr_batches, evaluate_scores, interaction_edges
from ..checkpoints import Checkpoint
from ..graph import BipartiteGraph, EdgeSplit
from ..training import fit_loop, with_settings
from ..utils import torch_device
from .data import Adjacency, to_normalized_adjacency
from .lightgcn import build_lightgcn, build_mf
from .ngcf import NGCF

#: Chapter 6's hyper-parameters per model, the same in both frameworks, chosen on validation
#: recall@20 (JAX, seed 0; ``benchmarks/leaderboard.py --seeds`` records LightGCN's spread over
#: seeds). MF and LightGCN take one full-batch Adam step per epoch (every training interaction
#: with a fresh negative), validate every 5 epochs and stop 50 epochs after the best: their
#: validation curves have flat stretches of 10+ epochs and keep climbing for 150-250 epochs
#: (with a patience of 5, LightGCN stopped at 0.22 test recall@20 instead of 0.25). Learning
#: rates: LightGCN 0.05 from {0.02, 0.05, 0.1} (validation 0.2254, 0.2264, 0.2258: tied, and
#: 0.05 gets there in half the epochs of 0.02); MF 0.01 from {0.002, 0.005, 0.01, 0.02, 0.05,
#: 0.1} (0.1858, 0.1917, 0.2085, 0.1951, 0.1888, 0.1756). NGCF overfits instead (its validation
#: recall peaks and falls), so it keeps mini-batches of 4,096, lr 0.001 from {0.001, 0.005,
#: 0.01, 0.02} and a patience of 5 epochs, and 64 dimensions. 3 layers (none for MF), L2 weight
#: decay 1e-4.
SETTINGS = {
    "mf": {"embedding_dim": 128, "num_layers": 0, "lr": 0.01, "weight_decay": 1e-4,
           "batch_size": None, "max_epochs": 1000, "patience": 50, "eval_every": 5, "seed": 0},
    "ngcf": {"embedding_dim": 64, "num_layers": 3, "lr": 1e-3, "weight_decay": 1e-4,
             "batch_size": 4096, "max_epochs": 100, "patience": 5, "eval_every": 1, "seed": 0},
    "lightgcn": {"embedding_dim": 128, "num_layers": 3, "lr": 0.05, "weight_decay": 1e-4,
                 "batch_size": None, "max_epochs": 1000, "patience": 50, "eval_every": 5,
                 "seed": 0},
}
WEIGHT_DECAY = 1e-4

MODELS = ("mf", "ngcf", "lightgcn")


def build_model(name: str, graph: BipartiteGraph, embedding_dim: int | None = None,
                num_layers: int | None = None, **kwargs) -> nn.Module:
    """``'mf'``, ``'ngcf'`` (``kwargs``: dropouts) or ``'lightgcn'`` over all users and movies;
    the size and depth default to the model's :data:`SETTINGS`."""
    if name not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {name!r}")
    n = graph.num_nodes
    embedding_dim = embedding_dim or SETTINGS[name]["embedding_dim"]
    num_layers = SETTINGS[name]["num_layers"] if num_layers is None else num_layers
    if name == "mf":
        return build_mf(n, embedding_dim)
    if name == "ngcf":
        return NGCF(n, embedding_dim, num_layers, **kwargs)
    if name == "lightgcn":
        return build_lightgcn(n, embedding_dim, num_layers)
    raise ValueError(f"model must be one of {MODELS}, got {name!r}")


def bpr_loss(pos_scores: torch.Tensor, neg_scores: torch.Tensor, ego: torch.Tensor,
             weight_decay: float) -> torch.Tensor:
    """``-mean(log sigmoid(pos - neg)) + weight_decay * ||ego||^2 / (2 B)``.

    ``pos_scores``/``neg_scores`` ``[B]``: scores of each user's positive and negative movie.
    ``ego`` ``[3B, D]``: the ego (layer-0) embeddings of the batch's users, positive and negative
    movies, stacked. ``B`` is the batch size. (:func:`train_step` passes :func:`batch_ego`
    instead: fewer rows, the same sum of squares.)
    """
    reg = ego.pow(2).sum() / (2 * pos_scores.shape[0])
    return -F.logsigmoid(pos_scores - neg_scores).mean() + weight_decay * reg


def batch_ego(embedding: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """``[N, D]``: every node's ego embedding scaled by the square root of how often ``ids``
    lists it. Its sum of squares equals that of the ``[3B, D]`` rows ``embedding[ids]`` (a node
    in the batch c times counts c times; one absent counts 0), so :func:`bpr_loss` gives the
    same penalty and gradient, without gathering and scattering back 3B rows (23 times more
    than the graph has nodes in a full batch)."""
    counts = torch.bincount(ids, minlength=embedding.shape[0]).to(embedding.dtype)
    return embedding * counts.sqrt().unsqueeze(1)


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, adj: Adjacency,
               batch, weight_decay: float = WEIGHT_DECAY) -> float:
    """One Adam step on a batch ``(users, positives, negatives)`` of node ids ``[B]`` (a
    movie's node id is its index plus the number of users); returns the BPR loss."""
    users, positives, negatives = batch
    model.train()
    optimizer.zero_grad()
    z = model.get_embedding(adj)                       # final embeddings of every node
    # index_select rather than z[idx]: the same gather, a much faster backward on CPU
    z_u = z.index_select(0, users)
    pos_scores = (z_u * z.index_select(0, positives)).sum(-1)
    neg_scores = (z_u * z.index_select(0, negatives)).sum(-1)
    ego = batch_ego(model.embedding.weight, torch.cat([users, positives, negatives]))
    loss = bpr_loss(pos_scores, neg_scores, ego, weight_decay)
    loss.backward()
    optimizer.step()
    return loss.item()


@torch.no_grad()
def eval_step(model: nn.Module, adj: Adjacency) -> torch.Tensor:
    """``[N, D']``: the final embeddings of every node, in evaluation mode (no dropout)."""
    model.eval()
    return model.get_embedding(adj)


def adjacencies(graph: BipartiteGraph, split: EdgeSplit, device=None) -> dict[str, Adjacency]:
    """``{'train', 'val', 'test'}`` -> normalised adjacency over that part's interactions."""
    return {part: to_normalized_adjacency(graph, interaction_edges(split, part)).to(device)
            for part in ("train", "val", "test")}


def fit(name: str, graph: BipartiteGraph, split: EdgeSplit, *, device=None,
        **overrides) -> tuple[nn.Module, dict]:
    """Train ``name`` with BPR; early stopping on validation recall@20 (best weights restored).

    Hyper-parameters come from ``SETTINGS[name]``; ``overrides`` replace any of them. The
    history holds per-epoch ``loss`` and ``seconds`` (training), ``val_recall@20`` (every
    ``eval_every`` epochs, at ``eval_epochs``), ``best_epoch`` and ``best``.
    """
    s = _settings(name, overrides)
    device = device or torch_device()
    torch.manual_seed(s["seed"])
    rng = np.random.default_rng(s["seed"])
    adj = adjacencies(graph, split, device)
    model = build_model(name, graph, s["embedding_dim"], s["num_layers"]).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=s["lr"])
    train_edges = interaction_edges(split, "train")
    batch_size = s["batch_size"] or len(train_edges)    # None: one full batch per epoch

    def train_epoch(model):
        losses = []
        for users, pos, neg in bpr_batches(graph, train_edges, batch_size, rng):
            batch = [torch.from_numpy(ids).to(device)
                     for ids in (users, pos + graph.num_users, neg + graph.num_users)]
            losses.append(train_step(model, optimizer, adj["train"], batch, s["weight_decay"]))
        return model, np.mean(losses)

    def validate(model) -> float:
        return evaluate_scores(score_all(model, graph, adj["val"]), graph, split, "val",
                               ks=(20,))["recall@20"]

    model, history, best = fit_loop(
        model, train_epoch, validate, snapshot=lambda m: copy.deepcopy(m.state_dict()),
        max_epochs=s["max_epochs"], patience=s["patience"], mode="max", metric="val_recall@20",
        eval_every=s["eval_every"],
        desc=f"PyG {name}",
        checkpoint=Checkpoint.for_fit(f"pyg-bpr-{name}", s, graph, split))
    model.load_state_dict(best)
    return model, history


def _settings(name: str, overrides: dict) -> dict:
    """Model ``name``'s :data:`SETTINGS` with ``overrides``."""
    if name not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {name!r}")
    return with_settings(SETTINGS[name], overrides)


def embed_all(model: nn.Module, graph: BipartiteGraph, adj: Adjacency
              ) -> tuple[np.ndarray, np.ndarray]:
    """``(z_user [U, D'], z_movie [M, D'])``: final embeddings in evaluation mode."""
    z = eval_step(model, adj).cpu().numpy()
    return z[:graph.num_users], z[graph.num_users:]


def score_all(model: nn.Module, graph: BipartiteGraph, adj: Adjacency) -> np.ndarray:
    """``[U, M]`` scores of every (user, movie) pair: ``z_user @ z_movie.T``."""
    z_user, z_movie = embed_all(model, graph, adj)
    return z_user @ z_movie.T


def evaluate(model: nn.Module, graph: BipartiteGraph, split: EdgeSplit, part: str = "test",
             ks=(10, 20)) -> dict[str, float]:
    """Recall, precision and NDCG at ``ks`` on ``part`` (full ranking, seen movies excluded)."""
    adj = to_normalized_adjacency(graph, interaction_edges(split, part))
    adj = adj.to(next(model.parameters()).device)
    return evaluate_scores(score_all(model, graph, adj), graph, split, part, ks=ks)
