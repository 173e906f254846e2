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

#: Chapter 6's hyper-parameters, the same in both frameworks. Adam learning rates per model,
#: chosen on validation recall@20 from {0.001, 0.005, 0.01, 0.02}.
SETTINGS = {
    "embedding_dim": 64,
    "num_layers": 3,
    "lr": {"mf": 5e-3, "ngcf": 1e-3, "lightgcn": 1e-2},
    "weight_decay": 1e-4,
    "batch_size": 4096,
    "max_epochs": 100,
    "patience": 5,
    "eval_every": 1,
    "seed": 0,
}

MODELS = ("mf", "ngcf", "lightgcn")


def build_model(name: str, graph: BipartiteGraph, embedding_dim: int = SETTINGS["embedding_dim"],
                num_layers: int = SETTINGS["num_layers"], **kwargs):
    """``'mf'``, ``'ngcf'`` (``kwargs``: dropouts) or ``'lightgcn'`` over all users and movies."""
    n = graph.num_nodes
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

    ``pos_scores``/``neg_scores`` ``[B]``: scores of each user's positive and negative movie.
    ``ego`` ``[3B, D]``: the ego (layer-0) embeddings of the batch's users, positive and negative
    movies, stacked. ``B`` is the batch size.
    """
    reg = jnp.sum(ego ** 2) / (2 * pos_scores.shape[0])
    return -jnp.mean(jax.nn.log_sigmoid(pos_scores - neg_scores)) + weight_decay * reg


@partial(jax.jit, static_argnames="weight_decay")
def train_step(state: TrainState, adj: Adjacency, batch, key: jax.Array,
               weight_decay: float = SETTINGS["weight_decay"]) -> tuple[TrainState, jax.Array]:
    """One Adam step on a batch ``(users, positives, negatives)`` of node ids ``[B]`` (a movie's
    node id is its index plus the number of users); ``key`` drives NGCF's dropout. Returns the
    new state and the BPR loss."""
    users, positives, negatives = batch

    def loss_fn(params):
        z, ego = state.apply_fn(params, adj, train=True, rngs={"dropout": key})
        z_u = z[users]
        pos_scores = jnp.sum(z_u * z[positives], axis=-1)
        neg_scores = jnp.sum(z_u * z[negatives], axis=-1)
        batch_ego = ego[jnp.concatenate([users, positives, negatives])]
        return bpr_loss(pos_scores, neg_scores, batch_ego, weight_decay)

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

    Hyper-parameters come from :data:`SETTINGS`; ``overrides`` replace any of them (``lr`` as
    one number for this model). ``params``: start from these instead of a fresh initialisation
    (for example :func:`params_from_pyg` of an untrained PyG model, to follow the PyG run step
    by step). The history holds per-epoch ``loss``, ``val_recall@20`` and ``seconds``
    (training), ``best_epoch`` and ``best``.
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
    """:data:`SETTINGS` with ``overrides``, and ``lr`` the learning rate of model ``name``."""
    if name not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {name!r}")
    s = with_settings(SETTINGS, overrides)
    if isinstance(s["lr"], dict):
        s["lr"] = s["lr"][name]
    return s


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
