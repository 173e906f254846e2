"""BPR training and full-ranking evaluation of the collaborative-filtering models in JAX
(PyG twin: ``course_lib/pyg/bpr.py``).

The same models (:func:`build_model`: ``'mf'``, ``'ngcf'``, ``'lightgcn'``), loss, batches
(:func:`course_lib.cf.bpr_batches`, seeded alike) and early stopping as the PyG twin. A flax
model returns ``(final, ego)`` embeddings of all nodes; one jitted optax step propagates over the
whole training graph and scores one batch of triples.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax.training.train_state import TrainState

from ..cf import bpr_batches, evaluate_scores, interaction_edges
from ..graph import BipartiteGraph, EdgeSplit
from ..utils import train_with_early_stopping
from .data import Adjacency, to_normalized_adjacency
from .lightgcn import build_lightgcn, build_mf
from .ngcf import NGCF

MODELS = ("mf", "ngcf", "lightgcn")


def bpr_loss(pos_scores: jnp.ndarray, neg_scores: jnp.ndarray, ego: jnp.ndarray,
             weight_decay: float) -> jnp.ndarray:
    """``-mean(log sigmoid(pos - neg)) + weight_decay * ||ego||^2 / (2 B)``.

    ``pos_scores``/``neg_scores`` ``[B]``: scores of each user's positive and negative movie.
    ``ego`` ``[3B, D]``: the ego (layer-0) embeddings of the batch's users, positive and negative
    movies, stacked. ``B`` is the batch size.
    """
    reg = jnp.sum(ego ** 2) / (2 * pos_scores.shape[0])
    return -jnp.mean(jax.nn.log_sigmoid(pos_scores - neg_scores)) + weight_decay * reg


def build_model(name: str, graph: BipartiteGraph, embedding_dim: int = 64, num_layers: int = 3,
                **kwargs):
    """``'mf'``, ``'ngcf'`` (``kwargs``: dropouts) or ``'lightgcn'`` over all users and movies."""
    n = graph.num_nodes
    if name == "mf":
        return build_mf(n, embedding_dim)
    if name == "ngcf":
        return NGCF(n, embedding_dim, num_layers, **kwargs)
    if name == "lightgcn":
        return build_lightgcn(n, embedding_dim, num_layers)
    raise ValueError(f"model must be one of {MODELS}, got {name!r}")


def adjacencies(graph: BipartiteGraph, split: EdgeSplit) -> dict[str, Adjacency]:
    """``{'train', 'val', 'test'}`` -> normalised adjacency over that part's interactions."""
    return {part: to_normalized_adjacency(graph, interaction_edges(split, part))
            for part in ("train", "val", "test")}


@jax.jit(static_argnums=0)
def _final_embeddings(apply_fn, params, adj):
    return apply_fn(params, adj)[0]


def embed_all(state: TrainState, graph: BipartiteGraph, adj: Adjacency
              ) -> tuple[np.ndarray, np.ndarray]:
    """``(z_user [U, D'], z_movie [M, D'])``: final embeddings, no dropout."""
    z = np.asarray(_final_embeddings(state.apply_fn, state.params, adj))
    return z[:graph.num_users], z[graph.num_users:]


def score_all(state: TrainState, graph: BipartiteGraph, adj: Adjacency) -> np.ndarray:
    """``[U, M]`` scores of every (user, movie) pair: ``z_user @ z_movie.T``."""
    z_user, z_movie = embed_all(state, graph, adj)
    return z_user @ z_movie.T


def make_train_step(weight_decay: float):
    """A jitted ``step(state, adj, users, positives, negatives, key) -> (state, loss)``;
    ``positives``/``negatives`` are node ids (movie index + number of users)."""

    @jax.jit
    def step(state: TrainState, adj: Adjacency, users, positives, negatives, key):
        def loss_fn(params):
            z, ego = state.apply_fn(params, adj, train=True, rngs={"dropout": key})
            z_u = z[users]
            pos_scores = jnp.sum(z_u * z[positives], axis=-1)
            neg_scores = jnp.sum(z_u * z[negatives], axis=-1)
            batch_ego = ego[jnp.concatenate([users, positives, negatives])]
            return bpr_loss(pos_scores, neg_scores, batch_ego, weight_decay)

        loss, grads = jax.value_and_grad(loss_fn)(state.params)
        return state.apply_gradients(grads=grads), loss

    return step


def fit(name: str, graph: BipartiteGraph, split: EdgeSplit, *, embedding_dim: int = 64,
        num_layers: int = 3, lr: float = 5e-3, weight_decay: float = 1e-4,
        batch_size: int = 4096, max_epochs: int = 100, patience: int = 5, seed: int = 0,
        params: dict | None = None, **model_kwargs) -> tuple[TrainState, dict]:
    """Train ``name`` with BPR; early stopping on validation recall@20 (best parameters
    returned). ``params``: start from these instead of a fresh initialisation (for example
    :func:`params_from_pyg` of an untrained PyG model, to follow the PyG run step by step).
    The history holds per-epoch ``loss``, ``val_recall@20`` and ``seconds`` (training), and
    ``best_epoch``."""
    rng = np.random.default_rng(seed)
    key, init_key = jax.random.split(jax.random.key(seed))
    adj = adjacencies(graph, split)
    model = build_model(name, graph, embedding_dim, num_layers, **model_kwargs)
    if params is None:
        params = model.init(init_key, adj["train"])
    state = TrainState.create(apply_fn=model.apply, params=params, tx=optax.adam(lr))
    step = make_train_step(weight_decay)
    offset = graph.num_users
    train_edges = interaction_edges(split, "train")

    def train() -> float:
        nonlocal state, key
        losses = []
        for users, pos, neg in bpr_batches(graph, train_edges, batch_size, rng):
            key, step_key = jax.random.split(key)
            state, loss = step(state, adj["train"], users, pos + offset, neg + offset, step_key)
            losses.append(loss)
        return float(np.mean(jax.device_get(losses)))

    def validate() -> float:
        return evaluate_scores(score_all(state, graph, adj["val"]), graph, split, "val",
                               ks=(20,))["recall@20"]

    history, best = train_with_early_stopping(
        train, validate, lambda: state.params,  # immutable: no copy needed
        max_epochs=max_epochs, patience=patience, metric="val_recall@20", desc=f"JAX {name}")
    return state.replace(params=best), history


def evaluate(state: TrainState, graph: BipartiteGraph, split: EdgeSplit, part: str = "test",
             ks=(10, 20)) -> dict[str, float]:
    """Recall, precision and NDCG at ``ks`` on ``part`` (full ranking, seen movies excluded)."""
    adj = to_normalized_adjacency(graph, interaction_edges(split, part))
    return evaluate_scores(score_all(state, graph, adj), graph, split, part, ks=ks)


def params_from_pyg(weights: dict[str, np.ndarray]) -> dict:
    """flax parameters from :func:`course_lib.pyg.bpr.numpy_weights`: the ego embedding
    ``embedding.weight`` and, for NGCF, ``convs.<i>.lin1/lin2.weight`` (transposed to flax's
    ``[in, out]``). PyG's ``LightGCN`` buffer ``alpha`` (the layer weights) is not a parameter."""
    params = {"embedding": jnp.asarray(weights["embedding.weight"])}
    for key, value in weights.items():
        if key.startswith("convs.") and key.endswith(".weight"):
            _, i, lin, _ = key.split(".")
            params.setdefault(f"conv{i}", {})[lin] = {"kernel": jnp.asarray(value.T)}
    return {"params": params}
