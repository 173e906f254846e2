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

Speed, milliseconds per epoch on 2 CPU cores (training pass + validation,
``benchmarks/epoch_times.py``), of chapter 6's models (the cached normalised adjacency; BPR
scores by pair_scores; MF one full batch per epoch before, batches of 16,384 after; NGCF batches
of 4,096 before, 16,384 after); before: the same models propagating edge by edge, a gather and a
scatter on every layer of every step: mf: 138 + 77 ms before, 112 + 65 ms after; ngcf: 1,300 +
108 ms before, 296 + 82 ms after; lightgcn: 179 + 82 ms before, 92 + 73 ms after.
"""

from __future__ import annotations

from collections.abc import Callable

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import settings
from ..cf import bpr_batches, draw_negatives, evaluate_scores, interaction_edges
from ..checkpoints import Checkpoint
from ..graph import BipartiteGraph, EdgeSplit
from ..training import Fit, fit_loop, settings_for
from ..utils import torch_device
from .data import Adjacency, to_normalized_adjacency
from .lightgcn import build_lightgcn, build_mf
from .ngcf import NGCF
from .nn import pair_scores
from .state import TrainState

#: Chapter 6's hyper-parameters, one dict per model (:data:`course_lib.settings.BPR`, read by
#: the JAX twin too); ``fit(..., model='ngcf')`` picks one.
SETTINGS = settings.BPR
MODELS = tuple(SETTINGS)
WEIGHT_DECAY = SETTINGS["lightgcn"]["weight_decay"]


def build_model(graph: BipartiteGraph, **overrides) -> nn.Module:
    """``model='mf'``, ``'ngcf'`` or ``'lightgcn'`` over all users and movies, sized by
    :data:`SETTINGS` updated with ``overrides`` (NGCF's dropouts keep their defaults)."""
    s = settings_for(SETTINGS, overrides)
    n, dim = graph.num_nodes, s["embedding_dim"]
    if s["model"] == "mf":
        return build_mf(n, dim)
    if s["model"] == "ngcf":
        return NGCF(n, dim, s["num_layers"])
    return build_lightgcn(n, dim, s["num_layers"])


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


def train_step(state: TrainState, adj: Adjacency, batch,
               weight_decay: float = WEIGHT_DECAY) -> tuple[TrainState, float]:
    """One Adam step on a batch ``(users, positives, negatives)`` of node ids
    ``[B]`` (a movie's node id is its index plus the number of users); returns the
    state and the BPR loss."""
    users, positives, negatives = batch
    model = state.model
    model.train()
    state.optimizer.zero_grad()
    z = model.get_embedding(adj)                   # final embeddings of every node
    pos_scores = pair_scores(z, users, positives)  # z[users] . z[positives]
    neg_scores = pair_scores(z, users, negatives)
    ids = torch.cat([users, positives, negatives])
    ego = batch_ego(model.embedding.weight, ids)
    loss = bpr_loss(pos_scores, neg_scores, ego, weight_decay)
    loss.backward()
    return state.apply_gradients(), loss.item()


def chunked_train_step(state: TrainState, adj: Adjacency, batch, chunk_size: int,
                       weight_decay: float = WEIGHT_DECAY) -> tuple[TrainState, float]:
    """:func:`train_step` for a batch too large to score at once (every interaction of a
    graph of millions): propagate once, score ``chunk_size`` triples at a time while the
    gradient with respect to the final embeddings adds up, then one backward pass through the
    propagation. The same step as :func:`train_step` on the whole batch; the ``[B, D]``
    arrays of gathered rows never exceed ``[chunk_size, D]``. The batch may be numpy."""
    model = state.model
    device = model.embedding.weight.device
    users, positives, negatives = (torch.as_tensor(ids, device=device) for ids in batch)
    model.train()
    state.optimizer.zero_grad()
    z = model.get_embedding(adj)
    z_leaf = z.detach().requires_grad_()
    size, total = users.shape[0], 0.0
    for c in range(0, size, chunk_size):
        chunk = slice(c, c + chunk_size)
        pos_scores = pair_scores(z_leaf, users[chunk], positives[chunk])
        neg_scores = pair_scores(z_leaf, users[chunk], negatives[chunk])
        part = -F.logsigmoid(pos_scores - neg_scores).sum() / size
        part.backward()
        total += part.item()
    ego = batch_ego(model.embedding.weight, torch.cat([users, positives, negatives]))
    reg = weight_decay * ego.pow(2).sum() / (2 * size)
    torch.autograd.backward([z, reg], [z_leaf.grad, None])
    return state.apply_gradients(), total + reg.item()


@torch.no_grad()
def eval_step(state: TrainState, adj: Adjacency) -> torch.Tensor:
    """``[N, D']``: the final embeddings of every node, in evaluation mode (no dropout)."""
    state.model.eval()
    return state.model.get_embedding(adj)


def adjacencies(graph: BipartiteGraph, split: EdgeSplit, device=None) -> dict[str, Adjacency]:
    """``{'train', 'val', 'test'}`` -> normalised adjacency over that part's interactions."""
    return {part: to_normalized_adjacency(graph, interaction_edges(split, part)).to(device)
            for part in ("train", "val", "test")}


def create_state(graph: BipartiteGraph, adj: Adjacency, *, start: dict | None = None,
                 **overrides) -> TrainState:
    """The state training starts from: the model of :func:`build_model` (seeded with the
    settings' ``seed``, or ``start``'s weights: numpy arrays under PyG's names) on ``adj``'s
    device, and Adam with the settings' learning rate."""
    s = settings_for(SETTINGS, overrides)
    torch.manual_seed(s["seed"])
    model = build_model(graph, **overrides)
    if start is not None:
        model.load_state_dict({k: torch.as_tensor(v) for k, v in start.items()})
    model = model.to(adj.data.device)
    return TrainState.create(model, torch.optim.Adam(model.parameters(), lr=s["lr"]))


def fit(graph: BipartiteGraph, split: EdgeSplit, *, device=None, start: dict | None = None,
        sampler: Callable = draw_negatives, **overrides) -> Fit:
    """Train ``model`` (``'mf'``, ``'ngcf'`` or ``'lightgcn'``) with BPR; early stopping on
    validation recall@20 (best weights restored).

    Hyper-parameters come from :data:`SETTINGS` (``model`` picks the dict); ``overrides``
    replace any of them. ``start``: begin from these weights (numpy arrays under PyG's names,
    :func:`course_lib.pyg.nn.numpy_weights`) instead of a fresh initialisation, as the JAX
    twin can. The history holds per-epoch ``loss`` and ``seconds`` (training),
    ``val_recall@20`` (every ``eval_every`` epochs, at ``eval_epochs``), ``best_epoch`` and
    ``best``.
    """
    s = settings_for(SETTINGS, overrides)
    device = device or torch_device()
    rng = np.random.default_rng(s["seed"])
    adj = adjacencies(graph, split, device)
    state = create_state(graph, adj["train"], start=start, **overrides)
    train_edges = interaction_edges(split, "train")
    batch_size = s["batch_size"] or len(train_edges)    # None: one full batch per epoch

    def train_epoch(state):
        losses = []
        for users, pos, neg in bpr_batches(graph, train_edges, batch_size, rng,
                                                 sampler):
            batch = [torch.from_numpy(ids).to(device)
                     for ids in (users, pos + graph.num_users, neg + graph.num_users)]
            state, loss = train_step(state, adj["train"], batch, s["weight_decay"])
            losses.append(loss)
        return state, np.mean(losses)

    def validate(state) -> float:
        return evaluate_scores(score_all(state, graph, adj["val"]), graph, split, "val",
                               ks=(20,))["recall@20"]

    state, history, best = fit_loop(
        state, train_epoch, validate, snapshot=lambda s: copy.deepcopy(s.model.state_dict()),
        max_epochs=s["max_epochs"], patience=s["patience"], mode="max", metric="val_recall@20",
        eval_every=s["eval_every"], desc=f"PyG {s['model']}",
        checkpoint=Checkpoint.for_fit(f"pyg-bpr-{s['model']}", s, graph, split, start,
                                      sampler, module=__name__))
    state.model.load_state_dict(best)
    return Fit(state, history, history["best_epoch"])


def embed_all(state: TrainState, graph: BipartiteGraph, adj: Adjacency
              ) -> tuple[np.ndarray, np.ndarray]:
    """``(z_user [U, D'], z_movie [M, D'])``: final embeddings in evaluation mode."""
    z = eval_step(state, adj).cpu().numpy()
    return z[:graph.num_users], z[graph.num_users:]


def score_all(state: TrainState, graph: BipartiteGraph, adj: Adjacency) -> np.ndarray:
    """``[U, M]`` scores of every (user, movie) pair: ``z_user @ z_movie.T``."""
    z_user, z_movie = embed_all(state, graph, adj)
    return z_user @ z_movie.T


def evaluate(state: TrainState, graph: BipartiteGraph, split: EdgeSplit, part: str = "test",
             ks=(10, 20)) -> dict[str, float]:
    """Recall, precision and NDCG at ``ks`` on ``part`` (full ranking, seen movies excluded)."""
    adj = to_normalized_adjacency(graph, interaction_edges(split, part))
    adj = adj.to(next(state.model.parameters()).device)
    return evaluate_scores(score_all(state, graph, adj), graph, split, part, ks=ks)
