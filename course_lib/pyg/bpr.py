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
from ..graph import BipartiteGraph, EdgeSplit
from ..utils import torch_device, train_with_early_stopping
from .data import to_normalized_adjacency
from .lightgcn import build_lightgcn, build_mf
from .ngcf import NGCF

MODELS = ("mf", "ngcf", "lightgcn")


def bpr_loss(pos_scores: torch.Tensor, neg_scores: torch.Tensor, ego: torch.Tensor,
             weight_decay: float) -> torch.Tensor:
    """``-mean(log sigmoid(pos - neg)) + weight_decay * ||ego||^2 / (2 B)``.

    ``pos_scores``/``neg_scores`` ``[B]``: scores of each user's positive and negative movie.
    ``ego`` ``[3B, D]``: the ego (layer-0) embeddings of the batch's users, positive and negative
    movies, stacked. ``B`` is the batch size.
    """
    reg = ego.pow(2).sum() / (2 * pos_scores.shape[0])
    return -F.logsigmoid(pos_scores - neg_scores).mean() + weight_decay * reg


def build_model(name: str, graph: BipartiteGraph, embedding_dim: int = 64, num_layers: int = 3,
                **kwargs) -> nn.Module:
    """``'mf'``, ``'ngcf'`` (``kwargs``: dropouts) or ``'lightgcn'`` over all users and movies."""
    n = graph.num_nodes
    if name == "mf":
        return build_mf(n, embedding_dim)
    if name == "ngcf":
        return NGCF(n, embedding_dim, num_layers, **kwargs)
    if name == "lightgcn":
        return build_lightgcn(n, embedding_dim, num_layers)
    raise ValueError(f"model must be one of {MODELS}, got {name!r}")


def adjacencies(graph: BipartiteGraph, split: EdgeSplit, device=None) -> dict[str, torch.Tensor]:
    """``{'train', 'val', 'test'}`` -> normalised adjacency over that part's interactions."""
    return {part: to_normalized_adjacency(graph, interaction_edges(split, part)).to(device)
            for part in ("train", "val", "test")}


@torch.no_grad()
def embed_all(model: nn.Module, graph: BipartiteGraph, adj: torch.Tensor
              ) -> tuple[np.ndarray, np.ndarray]:
    """``(z_user [U, D'], z_movie [M, D'])``: final embeddings in evaluation mode."""
    model.eval()
    z = model.get_embedding(adj).cpu().numpy()
    return z[:graph.num_users], z[graph.num_users:]


def score_all(model: nn.Module, graph: BipartiteGraph, adj: torch.Tensor) -> np.ndarray:
    """``[U, M]`` scores of every (user, movie) pair: ``z_user @ z_movie.T``."""
    z_user, z_movie = embed_all(model, graph, adj)
    return z_user @ z_movie.T


def fit(name: str, graph: BipartiteGraph, split: EdgeSplit, *, embedding_dim: int = 64,
        num_layers: int = 3, lr: float = 5e-3, weight_decay: float = 1e-4,
        batch_size: int = 4096, max_epochs: int = 100, patience: int = 5, seed: int = 0,
        device=None, **model_kwargs) -> tuple[nn.Module, dict]:
    """Train ``name`` with BPR; early stopping on validation recall@20 (best weights restored).

    The history holds per-epoch ``loss``, ``val_recall@20`` and ``seconds`` (training), and
    ``best_epoch``.
    """
    device = device or torch_device()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    adj = adjacencies(graph, split, device)
    model = build_model(name, graph, embedding_dim, num_layers, **model_kwargs).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    offset = graph.num_users
    train_edges = interaction_edges(split, "train")

    def train() -> float:
        model.train()
        losses = []
        for users, pos, neg in bpr_batches(graph, train_edges, batch_size, rng):
            u = torch.from_numpy(users).to(device)
            i = torch.from_numpy(pos + offset).to(device)
            j = torch.from_numpy(neg + offset).to(device)
            optimizer.zero_grad()
            z = model.get_embedding(adj["train"])
            # index_select rather than z[idx]: the same gather, a much faster backward on CPU
            z_u = z.index_select(0, u)
            pos_scores = (z_u * z.index_select(0, i)).sum(-1)
            neg_scores = (z_u * z.index_select(0, j)).sum(-1)
            ego = model.embedding.weight.index_select(0, torch.cat([u, i, j]))
            loss = bpr_loss(pos_scores, neg_scores, ego, weight_decay)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        return float(np.mean(losses))

    def validate() -> float:
        return evaluate_scores(score_all(model, graph, adj["val"]), graph, split, "val",
                               ks=(20,))["recall@20"]

    history, best = train_with_early_stopping(
        train, validate, lambda: copy.deepcopy(model.state_dict()), max_epochs=max_epochs,
        patience=patience, metric="val_recall@20", desc=f"PyG {name}")
    model.load_state_dict(best)
    return model, history


def evaluate(model: nn.Module, graph: BipartiteGraph, split: EdgeSplit, part: str = "test",
             ks=(10, 20)) -> dict[str, float]:
    """Recall, precision and NDCG at ``ks`` on ``part`` (full ranking, seen movies excluded)."""
    adj = to_normalized_adjacency(graph, interaction_edges(split, part))
    adj = adj.to(next(model.parameters()).device)
    return evaluate_scores(score_all(model, graph, adj), graph, split, part, ks=ks)


def numpy_weights(model: nn.Module) -> dict[str, np.ndarray]:
    """The weights as numpy arrays under PyG's names (for :func:`course_lib.jax.bpr.params_from_pyg`)."""
    return {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
