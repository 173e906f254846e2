"""GraphSAGE link prediction on MovieLens in JAX (PyG twin: ``course_lib/pyg/sage.py``).

The same model as the PyG chapter, written with flax over the course's jraph ``GraphsTuple``
(:mod:`course_lib.jax.data`: users first, then movies; the first half of the edges ``rates``,
the second half their reverses ``rev_rates``):

* **input layer** - learned user and movie embeddings plus a linear map of the genres;
* **encoder** - two heterogeneous SAGE layers: per edge type, the mean of the senders'
  features (``jraph.segment_mean``) through ``lin_l`` plus the receiver's own features through
  ``lin_r``, as PyG's ``SAGEConv``; each node type receives from one edge type only, so the
  per-type sum that ``to_hetero`` does has a single term;
* **classifier** - the dot product of user and movie embeddings.

Training is *full-graph*: every step propagates over all training message-passing edges and
computes the loss on a mini-batch of supervision positives plus uniform random negatives
(:func:`add_negatives`), in one jitted :func:`train_step`. On MovieLens-small (10k nodes, 113k directed edges) a full propagation costs
milliseconds, so sampling would only add noise; see the chapter for what changes at scale.

Speed, milliseconds per epoch on 2 CPU cores (training pass + validation,
``benchmarks/epoch_times.py``), of chapter 3's SAGE (PyG: sampled batches, validated over the
whole graph instead of sampled batches; JAX: full-graph steps over the cached sparse adjacency);
before: the same models propagating edge by edge, a gather and a scatter on every layer of every
step: sage: 1,577 + 41 ms before, 803 + 16 ms after.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import flax.linen as nn
import jax
import jax.numpy as jnp
import jraph
import numpy as np
import optax

from .. import settings
from ..checkpoints import Checkpoint
from ..graph import BipartiteGraph, EdgeSplit
from ..metrics import roc_auc
from ..training import Fit, early_stopping_loop, fit_loop, settings_for
from .data import split_graphstuple
from .nn import (TORCH_EMBED_INIT, TORCH_LINEAR_INIT, SAGEConv, bce_loss, params_from_torch,
                 relations)
from .state import TrainState

#: The chapter's hyper-parameters (:data:`course_lib.settings.SAGE`, read by the PyG twin
#: too): JAX trains ``'full_graph'``, with no neighbour sampling.
SETTINGS = settings.SAGE
#: Which of :data:`SETTINGS`' training modes this twin uses.
MODE = "full_graph"


def dot_product_scores(x_user: jnp.ndarray, x_movie: jnp.ndarray,
                       edge_label_index: jnp.ndarray) -> jnp.ndarray:
    """Score ``[n]`` of each (user, movie) pair in ``edge_label_index`` ``[2, n]``: the dot product
    of the user's row of ``x_user`` and the movie's row of ``x_movie`` (a logit)."""
    return (x_user[edge_label_index[0]] * x_movie[edge_label_index[1]]).sum(axis=-1)


class GNN(nn.Module):
    """Two heterogeneous SAGE layers with a ReLU in between (what ``to_hetero``
    builds in PyG)."""

    hidden: int

    @nn.compact
    def __call__(self, x: dict, graph: jraph.GraphsTuple) -> dict:
        adj = relations(graph)
        for layer in ("conv1", "conv2"):
            x = {"movie": SAGEConv(self.hidden, name=f"{layer}_rates")(
                     x["user"], x["movie"], adj["rates"]),
                 "user": SAGEConv(self.hidden, name=f"{layer}_rev_rates")(
                     x["movie"], x["user"], adj["rev_rates"])}
            if layer == "conv1":
                x = {k: nn.relu(v) for k, v in x.items()}
        return x


class Model(nn.Module):
    """Input layer + heterogeneous two-layer SAGE + dot-product classifier."""

    num_users: int
    num_movies: int
    hidden: int = 64

    def setup(self):
        self.movie_lin = nn.Dense(self.hidden, kernel_init=TORCH_LINEAR_INIT)
        self.user_emb = nn.Embed(self.num_users, self.hidden, embedding_init=TORCH_EMBED_INIT)
        self.movie_emb = nn.Embed(self.num_movies, self.hidden, embedding_init=TORCH_EMBED_INIT)
        self.gnn = GNN(self.hidden)

    def input_features(self, graph: jraph.GraphsTuple) -> dict:
        """Layer-0 features, looked up by each node's ``node_id`` (its index within its type)."""
        u = self.num_users
        node_id, x = graph.nodes["node_id"], graph.nodes["x"]
        return {"user": self.user_emb(node_id[:u]),
                "movie": self.movie_lin(x[u:]) + self.movie_emb(node_id[u:])}

    def embed(self, graph: jraph.GraphsTuple) -> dict:
        """Final node embeddings ``{'user': [U, H], 'movie': [M, H]}``."""
        return self.gnn(self.input_features(graph), graph)

    def __call__(self, graph: jraph.GraphsTuple, edge_label_index: jnp.ndarray) -> jnp.ndarray:
        z = self.embed(graph)
        return dot_product_scores(z["user"], z["movie"], edge_label_index)


def build_model(graph: BipartiteGraph, **overrides) -> Model:
    """The model with :data:`SETTINGS` ``[MODE]`` updated with ``overrides``."""
    s = settings_for(SETTINGS[MODE], overrides)
    return Model(graph.num_users, graph.num_movies, s["hidden"])


# --------------------------------------------------------------------------------------------------
# Training and evaluation
# --------------------------------------------------------------------------------------------------


def loss(logits: jnp.ndarray, labels: jnp.ndarray) -> jnp.ndarray:
    """Mean binary cross-entropy with logits over a batch's labelled pairs."""
    return bce_loss(logits, labels)


@partial(jax.jit, static_argnames=("num_users", "num_movies", "neg_ratio"))
def add_negatives(key: jax.Array, positives: jnp.ndarray, num_users: int, num_movies: int,
                  neg_ratio: float = 2.0) -> tuple[jnp.ndarray, jnp.ndarray]:
    """``(pairs [2, n], labels [n])``: the ``positives`` ``[2, B]`` (label 1) followed by
    ``neg_ratio * B`` (user, movie) pairs drawn uniformly at random (label 0), as
    ``LinkNeighborLoader`` does for PyG (not checked against the ratings: about 1.7 % of random
    pairs on MovieLens-small are in fact rated)."""
    num_neg = int(round(positives.shape[1] * neg_ratio))
    ku, km = jax.random.split(key)
    negatives = jnp.stack([jax.random.randint(ku, (num_neg,), 0, num_users),
                           jax.random.randint(km, (num_neg,), 0, num_movies)])
    pairs = jnp.concatenate([positives, negatives.astype(positives.dtype)], axis=1)
    labels = jnp.concatenate([jnp.ones(positives.shape[1]), jnp.zeros(num_neg)])
    return pairs, labels


def link_graphs(graph: BipartiteGraph, split: EdgeSplit) -> dict[str, jraph.GraphsTuple]:
    """``{'train', 'val', 'test'}`` -> the graph each part propagates over (its message-passing
    edges), as the model takes it (:func:`course_lib.jax.data.split_graphstuple`)."""
    return split_graphstuple(graph, split)


@jax.jit
def train_step(state: TrainState, graph: jraph.GraphsTuple, pairs: jnp.ndarray,
               labels: jnp.ndarray) -> tuple[TrainState, jnp.ndarray]:
    """One Adam step on a batch of labelled ``pairs``, propagating over the whole
    ``graph``."""
    def batch_loss(params):
        return loss(state.apply_fn(params, graph, pairs), labels)

    value, grads = jax.value_and_grad(batch_loss)(state.params)
    return state.apply_gradients(grads=grads), value


@jax.jit
def eval_step(state: TrainState, graph: jraph.GraphsTuple, pairs: jnp.ndarray) -> jnp.ndarray:
    """Scores (logits) of ``pairs`` ``[2, n]`` (user, movie indices), propagating over ``graph``."""
    return state.apply_fn(state.params, graph, pairs)


def evaluate(state: TrainState, graph: jraph.GraphsTuple, pairs, labels) -> float:
    """ROC-AUC of the model on labelled ``pairs``, propagating over ``graph``."""
    return roc_auc(np.asarray(eval_step(state, graph, jnp.asarray(pairs))), labels)


def fit(graph: BipartiteGraph, split: EdgeSplit, *, device=None,
        loop: Callable = early_stopping_loop, **overrides) -> Fit:
    """Train full-graph with early stopping on validation AUC; return the best state and the
    history.

    Settings: :data:`SETTINGS` ``[MODE]`` updated with ``overrides``. An epoch visits
    every supervision positive once, in shuffled mini-batches of ``batch_size`` (the last,
    smaller batch is dropped so the jitted step compiles once), each with ``neg_ratio`` fresh
    random negatives per positive. The history holds per-epoch ``loss``, ``val_auc`` and
    ``seconds``, and ``best_epoch`` (1-based). ``loop``: the epoch loop with early stopping
    (:func:`course_lib.training.early_stopping_loop`, or the chapter's exercise).
    """
    s = settings_for(SETTINGS[MODE], overrides)
    parts = jax.device_put(split_graphstuple(graph, split), device)
    rng = np.random.default_rng(s["seed"])  # shuffles the positives, epoch after epoch
    key, init_key = jax.random.split(jax.random.key(s["seed"]))
    model = build_model(graph, **overrides)
    positives = graph.edge_index[:, split.train_supervision]
    params = jax.jit(model.init)(init_key, parts["train"], jnp.asarray(positives[:, :2]))
    state = TrainState.create(apply_fn=model.apply, params=params, tx=optax.adam(s["lr"]),
                              key=key)
    val_pairs, val_labels = split.labelled_pairs(graph, "val")
    batch_size = s["batch_size"]

    def train_epoch(state):
        order = rng.permutation(positives.shape[1])
        losses = []
        for b in range(positives.shape[1] // batch_size):
            batch = positives[:, order[b * batch_size:(b + 1) * batch_size]]
            pairs, labels = add_negatives(state.step_key(), jnp.asarray(batch),
                                          graph.num_users, graph.num_movies, s["neg_ratio"])
            state, value = train_step(state, parts["train"], pairs, labels)
            losses.append(value)
        return state, float(np.mean(jax.device_get(losses)))

    state, history, best = fit_loop(
        state, train_epoch, lambda state: evaluate(state, parts["val"], val_pairs, val_labels),
        snapshot=lambda state: state.params,  # immutable: no copy needed
        max_epochs=s["max_epochs"], patience=s["patience"], desc="JAX SAGE", loop=loop,
        checkpoint=Checkpoint.for_fit("jax-sage", s, graph, split, loop,
                                      module=__name__))
    return Fit(state.replace(params=best), history, history["best_epoch"])


# --------------------------------------------------------------------------------------------------
# Full-graph embeddings and weights from PyG (parity)
# --------------------------------------------------------------------------------------------------


def embed_all(state: TrainState, graph: jraph.GraphsTuple) -> tuple[np.ndarray, np.ndarray]:
    """``(z_user [U, H], z_movie [M, H])`` over the whole ``graph``."""
    z = _embed(state, graph)
    return np.asarray(z["user"]), np.asarray(z["movie"])


@jax.jit
def _embed(state, graph):
    return state.apply_fn(state.params, graph, method="embed")


PYG_EDGE_TYPES = {"user__rates__movie": "rates", "movie__rev_rates__user": "rev_rates"}


def _rename(name: str) -> tuple[str, ...]:
    """flax path of one PyG weight: ``gnn.conv1.user__rates__movie.lin_l.weight`` ->
    ``('gnn', 'conv1_rates', 'lin_l', 'kernel')``; ``user_emb.weight`` ->
    ``('user_emb', 'embedding')``."""
    *path, leaf = name.split(".")
    leaf = {"weight": "kernel", "bias": "bias"}[leaf]
    if path[0] == "gnn":
        _, layer, edge_type, lin = path
        path = ["gnn", f"{layer}_{PYG_EDGE_TYPES[edge_type]}", lin]
    elif path[0].endswith("_emb"):
        leaf = "embedding"
    return (*path, leaf)


def params_from_pyg(weights: dict[str, np.ndarray]) -> dict:
    """flax parameters of :class:`Model` from PyG's ``state_dict`` names and numpy arrays
    (:func:`course_lib.pyg.nn.numpy_weights`); dense kernels are transposed."""
    return params_from_torch(weights, _rename)
