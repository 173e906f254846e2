"""BPR training and full-ranking evaluation of the collaborative-filtering models in JAX
(PyG twin: ``course_lib/pyg/bpr.py``).

The same models (:func:`build_model`: ``'mf'``, ``'ngcf'``, ``'lightgcn'``), loss, batches
(:func:`course_lib.cf.bpr_batches`, seeded alike) and early stopping as the PyG twin. A flax
model returns ``(final, ego)`` embeddings of all nodes; one jitted optax step propagates over the
whole training graph and scores one batch of triples.

Speed, milliseconds per epoch on 2 CPU cores (training pass + validation,
``benchmarks/epoch_times.py``), of chapter 6's models (the cached normalised adjacency; BPR
scores by pair_scores; MF one full batch per epoch before, batches of 16,384 after; NGCF batches
of 4,096 before, 16,384 after); before: the same models propagating edge by edge, a gather and a
scatter on every layer of every step: mf: 102 + 75 ms before, 102 + 56 ms after; ngcf: 1,627 +
110 ms before, 339 + 72 ms after; lightgcn: 182 + 135 ms before, 145 + 67 ms after.
"""

from __future__ import annotations

from collections.abc import Callable

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .. import settings
from ..cf import bpr_batches, draw_negatives, evaluate_scores, interaction_edges
from ..checkpoints import Checkpoint
from ..graph import BipartiteGraph, EdgeSplit
from ..training import Fit, fit_loop, settings_for
from .data import Adjacency, to_normalized_adjacency
from .lightgcn import build_lightgcn, build_mf
from .ngcf import NGCF
from .nn import pair_scores, params_from_torch
from .state import TrainState

#: Chapter 6's hyper-parameters, one dict per model (:data:`course_lib.settings.BPR`, read by
#: the PyG twin too); ``fit(..., model='ngcf')`` picks one.
SETTINGS = settings.BPR
MODELS = tuple(SETTINGS)
WEIGHT_DECAY = SETTINGS["lightgcn"]["weight_decay"]


def build_model(graph: BipartiteGraph, **overrides):
    """``model='mf'``, ``'ngcf'`` or ``'lightgcn'`` over all users and movies, sized by
    :data:`SETTINGS` updated with ``overrides`` (NGCF's dropouts keep their defaults)."""
    s = settings_for(SETTINGS, overrides)
    n, dim = graph.num_nodes, s["embedding_dim"]
    if s["model"] == "mf":
        return build_mf(n, dim)
    if s["model"] == "ngcf":
        return NGCF(n, dim, s["num_layers"])
    return build_lightgcn(n, dim, s["num_layers"])


def bpr_loss(pos_scores: jnp.ndarray, neg_scores: jnp.ndarray, ego: jnp.ndarray,
             weight_decay: float) -> jnp.ndarray:
    """``-mean(log sigmoid(pos - neg)) + weight_decay * ||ego||^2 / (2 B)``.

    ``pos_scores``/``neg_scores`` ``[B]``: scores of each user's positive and
    negative movie. ``ego`` ``[3B, D]``: the ego (layer-0) embeddings of the batch's
    users, positive and negative movies, stacked. ``B`` is the batch size.
    (:func:`train_step` passes :func:`batch_ego` instead: fewer rows, the same sum
    of squares.)
    """
    reg = jnp.sum(ego ** 2) / (2 * pos_scores.shape[0])
    log_likelihood = jax.nn.log_sigmoid(pos_scores - neg_scores)
    return -jnp.mean(log_likelihood) + weight_decay * reg


def batch_ego(embedding: jax.Array, ids: jax.Array) -> jax.Array:
    """``[N, D]``: every node's ego embedding scaled by the square root of how often ``ids``
    lists it. Its sum of squares equals that of the ``[3B, D]`` rows ``embedding[ids]`` (a node
    in the batch c times counts c times; one absent counts 0), so :func:`bpr_loss` gives the
    same penalty and gradient, without gathering and scattering back 3B rows (23 times more
    than the graph has nodes in a full batch)."""
    counts = jnp.bincount(ids, length=embedding.shape[0]).astype(embedding.dtype)
    return embedding * jnp.sqrt(counts)[:, None]


@partial(jax.jit, static_argnames="weight_decay")
def train_step(state: TrainState, adj: Adjacency, batch,
               weight_decay: float = WEIGHT_DECAY) -> tuple[TrainState, jax.Array]:
    """One Adam step on a batch ``(users, positives, negatives)`` of node ids
    ``[B]`` (a movie's node id is its index plus the number of users); NGCF's
    dropout draws from ``state.step_key()``. Returns the new state and the loss."""
    users, positives, negatives = batch

    def loss_fn(params):
        z, ego = state.apply_fn(params, adj, train=True,
                                rngs={"dropout": state.step_key()})
        pos_scores = pair_scores(z, users, positives)   # z[users] . z[positives]
        neg_scores = pair_scores(z, users, negatives)
        ego = batch_ego(ego, jnp.concatenate([users, positives, negatives]))
        return bpr_loss(pos_scores, neg_scores, ego, weight_decay)

    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    return state.apply_gradients(grads=grads), loss


def chunked_train_step(state: TrainState, adj: Adjacency, batch, chunk_size: int,
                       weight_decay: float = WEIGHT_DECAY) -> tuple[TrainState, jax.Array]:
    """:func:`train_step` for a batch too large to score at once (every interaction of a
    graph of millions): propagate once (``jax.vjp``), score ``chunk_size`` triples at a
    time while the gradient with respect to the final embeddings adds up, then one pull-back
    through the propagation. The same step as :func:`train_step` on the whole batch; the
    ``[B, D]`` arrays of gathered rows never exceed ``[chunk_size, D]`` (the last chunk is
    padded and masked, so each compiles once)."""
    users, positives, negatives = (np.asarray(ids) for ids in batch)
    size = users.shape[0]
    z, reg, pull_back = _embed_with_vjp(state, adj, np.concatenate([users, positives,
                                                                    negatives]),
                                        weight_decay)
    grad_z, total = jnp.zeros_like(z), reg
    for c in range(0, size, chunk_size):
        n = min(chunk_size, size - c)
        pad = (0, chunk_size - n) if size > chunk_size else (0, 0)
        chunk = [np.pad(ids[c:c + n], pad) for ids in (users, positives, negatives)]
        mask = np.pad(np.ones(n, np.float32), pad)
        part, grad = _chunk_value_and_grad(z, *chunk, mask, 1.0 / size)
        grad_z, total = grad_z + grad, total + part
    (grads,) = pull_back((grad_z, jnp.ones_like(reg)))
    return state.apply_gradients(grads=grads), total


@partial(jax.jit, static_argnames="weight_decay")
def _embed_with_vjp(state, adj, ids, weight_decay):
    def embed(params):
        z, ego = state.apply_fn(params, adj, train=True, rngs={"dropout": state.step_key()})
        return z, weight_decay * jnp.sum(batch_ego(ego, ids) ** 2) / (2 * (ids.shape[0] // 3))

    (z, reg), pull_back = jax.vjp(embed, state.params)
    return z, reg, pull_back


@jax.jit
def _chunk_value_and_grad(z, users, positives, negatives, mask, scale):
    def part(z):
        diff = pair_scores(z, users, positives) - pair_scores(z, users, negatives)
        return -jnp.sum(mask * jax.nn.log_sigmoid(diff)) * scale

    return jax.value_and_grad(part)(z)


@jax.jit
def eval_step(state: TrainState, adj: Adjacency) -> jax.Array:
    """``[N, D']``: the final embeddings of every node (no dropout)."""
    return state.apply_fn(state.params, adj)[0]


def adjacencies(graph: BipartiteGraph, split: EdgeSplit, device=None) -> dict[str, Adjacency]:
    """``{'train', 'val', 'test'}`` -> normalised adjacency over that part's interactions."""
    return jax.device_put({part: to_normalized_adjacency(graph, interaction_edges(split, part))
                           for part in ("train", "val", "test")}, device)


def create_state(graph: BipartiteGraph, adj: Adjacency, *, start: dict | None = None,
                 **overrides) -> TrainState:
    """The state training starts from: the model of :func:`build_model` initialised with the
    settings' ``seed`` (or ``start``'s weights: numpy arrays under PyG's names,
    :func:`params_from_pyg`), Adam with the settings' learning rate, and the dropout key."""
    s = settings_for(SETTINGS, overrides)
    init_key, dropout_key = jax.random.split(jax.random.key(s["seed"]))
    model = build_model(graph, **overrides)
    params = jax.jit(model.init)(init_key, adj) if start is None else params_from_pyg(start)
    return TrainState.create(apply_fn=model.apply, params=params, tx=optax.adam(s["lr"]),
                             key=dropout_key)


def fit(graph: BipartiteGraph, split: EdgeSplit, *, device=None, start: dict | None = None,
        sampler: Callable = draw_negatives, **overrides) -> Fit:
    """Train ``model`` (``'mf'``, ``'ngcf'`` or ``'lightgcn'``) with BPR; early stopping on
    validation recall@20 (best parameters returned).

    Hyper-parameters come from :data:`SETTINGS` (``model`` picks the dict); ``overrides``
    replace any of them. ``start``: begin from these weights (PyG's names, as
    :func:`course_lib.pyg.nn.numpy_weights` gives them) instead of a fresh initialisation, to
    follow a PyG run from the same point. The history holds per-epoch ``loss`` and
    ``seconds`` (training), ``val_recall@20`` (every ``eval_every`` epochs, at
    ``eval_epochs``), ``best_epoch`` and ``best``. ``sampler(users, seen, num_movies, rng)``
    draws the negatives (:func:`course_lib.cf.draw_negatives`, chapter 6's exercise, unless
    another is given: popularity-weighted, hard negatives...).
    """
    s = settings_for(SETTINGS, overrides)
    rng = np.random.default_rng(s["seed"])
    adj = adjacencies(graph, split, device)
    state = create_state(graph, adj["train"], start=start, **overrides)
    train_edges = interaction_edges(split, "train")
    batch_size = s["batch_size"] or len(train_edges)    # None: one full batch per epoch

    def train_epoch(state):
        losses = []
        for users, pos, neg in bpr_batches(graph, train_edges, batch_size, rng,
                                                 sampler):
            batch = (users, pos + graph.num_users, neg + graph.num_users)
            state, loss = train_step(state, adj["train"], batch, s["weight_decay"])
            losses.append(loss)
        return state, np.mean(jax.device_get(losses))

    def validate(state) -> float:
        return evaluate_scores(score_all(state, graph, adj["val"]), graph, split, "val",
                               ks=(20,))["recall@20"]

    state, history, best = fit_loop(
        state, train_epoch, validate, snapshot=lambda s: s.params,
        max_epochs=s["max_epochs"], patience=s["patience"], mode="max", metric="val_recall@20",
        eval_every=s["eval_every"], desc=f"JAX {s['model']}",
        checkpoint=Checkpoint.for_fit(f"jax-bpr-{s['model']}", s, graph, split, start,
                                      sampler, module=__name__))
    return Fit(state.replace(params=best), history, history["best_epoch"])


def embed_all(state: TrainState, graph: BipartiteGraph, adj: Adjacency
              ) -> tuple[np.ndarray, np.ndarray]:
    """``(z_user [U, D'], z_movie [M, D'])``: final embeddings, no dropout."""
    z = np.asarray(eval_step(state, adj))
    return z[:graph.num_users], z[graph.num_users:]


def score_all(state: TrainState, graph: BipartiteGraph, adj: Adjacency) -> np.ndarray:
    """``[U, M]`` scores of every (user, movie) pair: ``z_user @ z_movie.T``."""
    z_user, z_movie = embed_all(state, graph, adj)
    return z_user @ z_movie.T


def evaluate(state: TrainState, graph: BipartiteGraph, split: EdgeSplit, part: str = "test",
             ks=(10, 20)) -> dict[str, float]:
    """Recall, precision and NDCG at ``ks`` on ``part`` (full ranking, seen movies excluded)."""
    adj = to_normalized_adjacency(graph, interaction_edges(split, part))
    return evaluate_scores(score_all(state, graph, adj), graph, split, part, ks=ks)


def _rename(name: str) -> tuple[str, ...] | None:
    """PyG name -> flax path: ``embedding.weight`` -> ``embedding``; NGCF's
    ``convs.<i>.lin1.weight`` -> ``conv<i>/lin1/kernel``; LightGCN's buffer ``alpha`` (the
    layer weights, not a parameter) -> skipped."""
    if name == "embedding.weight":
        return ("embedding",)
    if name.startswith("convs."):
        _, i, lin, _ = name.split(".")
        return (f"conv{i}", lin, "kernel")
    return None


def params_from_pyg(weights: dict[str, np.ndarray]) -> dict:
    """flax parameters from :func:`course_lib.pyg.nn.numpy_weights` of a PyG model of
    :func:`course_lib.pyg.bpr.build_model` (kernels transposed to flax's ``[in, out]``)."""
    return params_from_torch(weights, _rename)
