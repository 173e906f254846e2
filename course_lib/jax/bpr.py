"""BPR training and full-ranking evaluation of the collaborative-filtering models in JAX
(PyG twin: ``course_lib/pyg/bpr.py``).

The same models (:func:`build_model`: ``'mf'``, ``'ngcf'``, ``'lightgcn'``), loss, batches
(:func:`course_lib.cf.bpr_batches`, seeded alike) and early stopping as the PyG twin. A flax
model returns ``(final, ego)`` embeddings of all nodes; one jitted optax step propagates over the
whole training graph and scores one batch of triples.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax.training.train_state import TrainState

from ..cf import bpr_batches, evaluate_scores, interaction_edges
from ..checkpoints import Checkpoint
from ..graph import BipartiteGraph, EdgeSplit
from ..training import fit_loop, with_settings
from .data import Adjacency, to_normalized_adjacency
from .lightgcn import build_lightgcn, build_mf
from .ngcf import NGCF
from .nn import params_from_torch

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
                num_layers: int | None = None, **kwargs):
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


def bpr_loss(pos_scores: jnp.ndarray, neg_scores: jnp.ndarray, ego: jnp.ndarray,
             weight_decay: float) -> jnp.ndarray:
    """``-mean(log sigmoid(pos - neg)) + weight_decay * ||ego||^2 / (2 B)``.

    ``pos_scores``/``neg_scores`` ``[B]``: scores of each user's positive and negative
    movie. ``ego`` ``[3B, D]``: the ego (layer-0) embeddings of the batch's users,
    positive and negative movies, stacked. ``B`` is the batch size. (:func:`train_step`
    passes :func:`batch_ego` instead: fewer rows, the same sum of squares.)
    """
    reg = jnp.sum(ego ** 2) / (2 * pos_scores.shape[0])
    return -jnp.mean(jax.nn.log_sigmoid(pos_scores - neg_scores)) + weight_decay * reg


def batch_ego(embedding: jax.Array, ids: jax.Array) -> jax.Array:
    """``[N, D]``: every node's ego embedding scaled by the square root of how often ``ids``
    lists it. Its sum of squares equals that of the ``[3B, D]`` rows ``embedding[ids]`` (a node
    in the batch c times counts c times; one absent counts 0), so :func:`bpr_loss` gives the
    same penalty and gradient, without gathering and scattering back 3B rows (23 times more
    than the graph has nodes in a full batch)."""
    counts = jnp.bincount(ids, length=embedding.shape[0]).astype(embedding.dtype)
    return embedding * jnp.sqrt(counts)[:, None]


@partial(jax.jit, static_argnames="weight_decay")
def train_step(state: TrainState, adj: Adjacency, batch, key: jax.Array,
               weight_decay: float = WEIGHT_DECAY) -> tuple[TrainState, jax.Array]:
    """One Adam step on a batch ``(users, positives, negatives)`` of node ids ``[B]`` (a
    movie's node id is its index plus the number of users); ``key`` drives NGCF's
    dropout. Returns the new state and the BPR loss."""
    users, positives, negatives = batch

    def loss_fn(params):
        z, ego = state.apply_fn(params, adj, train=True, rngs={"dropout": key})
        z_u = z[users]
        pos_scores = jnp.sum(z_u * z[positives], axis=-1)
        neg_scores = jnp.sum(z_u * z[negatives], axis=-1)
        ego = batch_ego(ego, jnp.concatenate([users, positives, negatives]))
        return bpr_loss(pos_scores, neg_scores, ego, weight_decay)

    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    return state.apply_gradients(grads=grads), loss


@partial(jax.jit, static_argnums=0)
def eval_step(apply_fn, params, adj: Adjacency) -> jax.Array:
    """``[N, D']``: the final embeddings of every node (no dropout)."""
    return apply_fn(params, adj)[0]


def adjacencies(graph: BipartiteGraph, split: EdgeSplit) -> dict[str, Adjacency]:
    """``{'train', 'val', 'test'}`` -> normalised adjacency over that part's interactions."""
    return {part: to_normalized_adjacency(graph, interaction_edges(split, part))
            for part in ("train", "val", "test")}


def fit(name: str, graph: BipartiteGraph, split: EdgeSplit, *, params: dict | None = None,
        **overrides) -> tuple[TrainState, dict]:
    """Train ``name`` with BPR; early stopping on validation recall@20 (best parameters
    returned).

    Hyper-parameters come from ``SETTINGS[name]``; ``overrides`` replace any of them.
    ``params``: start from these instead of a fresh initialisation (for example
    :func:`params_from_pyg` of an untrained PyG model, to follow the PyG run step by step). The
    history holds per-epoch ``loss`` and ``seconds`` (training), ``val_recall@20`` (every
    ``eval_every`` epochs, at ``eval_epochs``), ``best_epoch`` and ``best``.
    """
    s = _settings(name, overrides)
    start = params
    rng = np.random.default_rng(s["seed"])
    key, init_key = jax.random.split(jax.random.key(s["seed"]))
    adj = adjacencies(graph, split)
    model = build_model(name, graph, s["embedding_dim"], s["num_layers"])
    if params is None:
        params = model.init(init_key, adj["train"])
    state = TrainState.create(apply_fn=model.apply, params=params, tx=optax.adam(s["lr"]))
    train_edges = interaction_edges(split, "train")
    batch_size = s["batch_size"] or len(train_edges)    # None: one full batch per epoch

    def train_epoch(carry):
        state, key = carry       # the dropout key travels with the state, epoch to epoch
        losses = []
        for users, pos, neg in bpr_batches(graph, train_edges, batch_size, rng):
            key, step_key = jax.random.split(key)
            batch = (users, pos + graph.num_users, neg + graph.num_users)
            state, loss = train_step(state, adj["train"], batch, step_key, s["weight_decay"])
            losses.append(loss)
        return (state, key), np.mean(jax.device_get(losses))

    def validate(carry) -> float:
        state, _ = carry
        return evaluate_scores(score_all(state.apply_fn, state.params, graph, adj["val"]),
                               graph, split, "val", ks=(20,))["recall@20"]

    (state, _), history, best = fit_loop(
        (state, key), train_epoch, validate, snapshot=lambda carry: carry[0].params,
        max_epochs=s["max_epochs"], patience=s["patience"], mode="max", metric="val_recall@20",
        eval_every=s["eval_every"],
        desc=f"JAX {name}",
        checkpoint=Checkpoint.for_fit(f"jax-bpr-{name}", s, graph, split, start))
    return state.replace(params=best), history


def _settings(name: str, overrides: dict) -> dict:
    """Model ``name``'s :data:`SETTINGS` with ``overrides``."""
    if name not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {name!r}")
    return with_settings(SETTINGS[name], overrides)


def embed_all(apply_fn, params, graph: BipartiteGraph, adj: Adjacency
              ) -> tuple[np.ndarray, np.ndarray]:
    """``(z_user [U, D'], z_movie [M, D'])``: final embeddings, no dropout."""
    z = np.asarray(eval_step(apply_fn, params, adj))
    return z[:graph.num_users], z[graph.num_users:]


def score_all(apply_fn, params, graph: BipartiteGraph, adj: Adjacency) -> np.ndarray:
    """``[U, M]`` scores of every (user, movie) pair: ``z_user @ z_movie.T``."""
    z_user, z_movie = embed_all(apply_fn, params, graph, adj)
    return z_user @ z_movie.T


def evaluate(apply_fn, params, graph: BipartiteGraph, split: EdgeSplit, part: str = "test",
             ks=(10, 20)) -> dict[str, float]:
    """Recall, precision and NDCG at ``ks`` on ``part`` (full ranking, seen movies excluded)."""
    adj = to_normalized_adjacency(graph, interaction_edges(split, part))
    return evaluate_scores(score_all(apply_fn, params, graph, adj), graph, split, part, ks=ks)


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
