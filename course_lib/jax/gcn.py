"""Rating prediction with GCNs in JAX (PyG twin: ``course_lib/pyg/gcn.py``).

Two encoders over the same user-movie graph, one decoder, one loss:

* :class:`GCN` - GCN layers (:class:`~course_lib.jax.nn.GCNLayer`): an MLP node update, then
  the product with ``D^-1/2 (A + I) D^-1/2`` built once (``graph.globals['gcn']``), what
  ``jraph.GraphConvolution`` computes with self edges and symmetric normalisation; optional
  layer norm; over the homogeneous graph (users and movies are one node set);
* :class:`~course_lib.jax.nn.HeteroGraphConv` - heterogeneous: per edge type a
  ``GraphConv`` (the neighbours through one weight, the node itself through another), summed
  per destination type, then a final dense layer per node type (chapter 5 uses the same encoder
  on the knowledge graph);
* :class:`RatingDecoder` - elementwise product of the two endpoint embeddings, a dense layer to
  one number, and a sigmoid scaled to the rating range 0.5-5 (:func:`scale_rating`);
* :func:`masked_l1_loss` - mean absolute error over the edges a mask selects.

Training is full-batch: one jitted :func:`train_step` predicts every rated edge of the graph,
and the loss keeps the training edges only. Message passing runs over training edges only
(validation and test ratings are never message-passing edges while they are being predicted).

Speed, milliseconds per epoch on 2 CPU cores (training pass + validation,
``benchmarks/epoch_times.py``), of chapter 4's GCN and HeteroGraphConv (the GCN propagates over
a cached D^-1/2 (A + I) D^-1/2, HeteroGraphConv over each edge type's cached adjacency); before:
the same models propagating edge by edge, a gather and a scatter on every layer of every step:
gcn: 46 + 14 ms before, 36 + 9 ms after; hetero: 70 + 33 ms before, 63 + 14 ms after.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import jraph
import numpy as np
import optax

from .. import settings
from ..checkpoints import Checkpoint
from ..graph import BipartiteGraph, EdgeSplit
from ..kg import RATES, reverse
from ..ratings import (RATING_MAX, RATING_MIN, errors, message_edges, part_masks, part_pairs,
                       user_pairs)
from ..training import Fit, fit_loop, settings_for
from .data import to_graphstuple, with_adjacency
from .nn import (GCNLayer, HeteroGraphConv, InputLayer, dense, flax_path, params_from_torch,
                 relations)
from .state import TrainState

#: The chapter's hyper-parameters, one dict per encoder (:data:`course_lib.settings.GCN`,
#: read by the PyG twin too); ``fit(..., model='hetero')`` picks the other encoder.
SETTINGS = settings.GCN
LAYER_NORM_EPS = 1e-5  # torch's LayerNorm default (flax's is 1e-6)


def scale_rating(logit: jnp.ndarray) -> jnp.ndarray:
    """Map any real number into the rating range: ``0.5 + 4.5 * sigmoid(logit)``."""
    return RATING_MIN + (RATING_MAX - RATING_MIN) * jax.nn.sigmoid(logit)


def masked_l1_loss(pred: jnp.ndarray, target: jnp.ndarray, mask: jnp.ndarray
                   ) -> jnp.ndarray:
    """Mean ``|pred - target|`` over the entries where ``mask`` is true (0 if
    none is).
    """
    mask = mask.astype(pred.dtype)
    return jnp.sum(jnp.abs(pred - target) * mask) / jnp.maximum(jnp.sum(mask), 1.0)


class GCN(nn.Module):
    """``num_layers`` x (:class:`~course_lib.jax.nn.GCNLayer`, optional layer norm),
    ReLU between layers, over the homogeneous graph of users (first) and movies
    (after them), both edge directions. Input and output:
    ``{'user': [U, H], 'movie': [M, H]}``."""

    hidden: int
    num_layers: int = 2
    layer_norm: bool = True

    @nn.compact
    def __call__(self, x: dict, adj) -> dict:
        num_users = x["user"].shape[0]
        h = jnp.concatenate([x["user"], x["movie"]])  # users, then movies
        for i in range(self.num_layers):
            h = GCNLayer(self.hidden, name=f"conv{i}")(h, adj)
            if self.layer_norm:
                h = nn.LayerNorm(epsilon=LAYER_NORM_EPS, name=f"norm{i}")(h)
            if i < self.num_layers - 1:
                h = nn.relu(h)
        return {"user": h[:num_users], "movie": h[num_users:]}


class RatingDecoder(nn.Module):
    """``scale_rating(dense(z_user * z_movie))``: a learned weighting of the dot product."""

    @nn.compact
    def __call__(self, z_user, z_movie, edge_label_index):
        h = z_user[edge_label_index[0]] * z_movie[edge_label_index[1]]
        return scale_rating(dense(1, "lin")(h)[:, 0])


class RatingModel(nn.Module):
    """Input layer, an encoder (``'gcn'`` or ``'hetero'``), the rating decoder."""

    num_users: int
    num_movies: int
    num_features: int
    hidden: int = 64
    encoder: str = "gcn"
    num_layers: int = 2
    layer_norm: bool = True
    aggr: str = "mean"

    def setup(self):
        self.inputs = InputLayer({"user": self.num_users, "movie": self.num_movies},
                                 {"movie": self.num_features}, self.hidden)
        if self.encoder == "gcn":
            self.gnn = GCN(self.hidden, self.num_layers, self.layer_norm)
        elif self.encoder == "hetero":
            self.gnn = HeteroGraphConv((RATES, reverse(RATES)), self.hidden,
                                       num_layers=self.num_layers, aggr=self.aggr)
        else:
            raise ValueError(f"encoder must be 'gcn' or 'hetero', got {self.encoder!r}")
        self.decoder = RatingDecoder()

    def embed(self, graph: jraph.GraphsTuple) -> dict:
        u = self.num_users
        node_id, x = graph.nodes["node_id"], graph.nodes["x"]
        h = self.inputs({"user": node_id[:u], "movie": node_id[u:]}, {"movie": x[u:]})
        adj = graph.globals["gcn"] if self.encoder == "gcn" else relations(graph)
        return self.gnn(h, adj)

    def __call__(self, graph: jraph.GraphsTuple, edge_label_index) -> jnp.ndarray:
        z = self.embed(graph)
        return self.decoder(z["user"], z["movie"], edge_label_index)

    def rate(self, graph: jraph.GraphsTuple, edge_label_index) -> jnp.ndarray:
        """Predicted ratings of the pairs (what ``__call__`` returns)."""
        return self(graph, edge_label_index)


def build_model(graph: BipartiteGraph, **overrides) -> RatingModel:
    """The rating model of :data:`SETTINGS` (``model``: ``'gcn'`` or ``'hetero'``) with
    ``overrides``, for ``graph``'s users, movies and movie features."""
    s = settings_for(SETTINGS, overrides)
    arch = ({"layer_norm": s["layer_norm"]} if s["model"] == "gcn" else {"aggr": s["aggr"]})
    return RatingModel(graph.num_users, graph.num_movies, graph.movie_x.shape[1],
                       hidden=s["hidden"], encoder=s["model"], num_layers=s["num_layers"],
                       **arch)


def loss(pred: jnp.ndarray, target: jnp.ndarray, mask: jnp.ndarray) -> jnp.ndarray:
    """The chapter's training loss: L1 over the edges ``mask`` selects (:func:`masked_l1_loss`)."""
    return masked_l1_loss(pred, target, mask)


# --------------------------------------------------------------------------------------------------
# Data, training and evaluation
# --------------------------------------------------------------------------------------------------


def rating_graphs(graph: BipartiteGraph, split: EdgeSplit) -> dict[str, jraph.GraphsTuple]:
    """Message-passing graphs for rating prediction: ``train`` and ``val`` pass messages over all
    training edges, ``test`` over training and validation edges."""
    train = with_adjacency(to_graphstuple(graph, message_edges(split, "train")))
    return {"train": train, "val": train,
            "test": with_adjacency(to_graphstuple(graph, message_edges(split, "test")))}


@jax.jit
def train_step(state: TrainState, graph: jraph.GraphsTuple, pairs, target, mask
               ) -> tuple[TrainState, jax.Array]:
    """One Adam step on the L1 loss of the rated ``pairs`` that ``mask`` selects."""
    def loss_fn(params):
        return loss(state.apply_fn(params, graph, pairs), target, mask)

    value, grads = jax.value_and_grad(loss_fn)(state.params)
    return state.apply_gradients(grads=grads), value


@jax.jit
def eval_step(state: TrainState, graph: jraph.GraphsTuple, pairs) -> jnp.ndarray:
    """Predicted ratings of ``pairs`` ``[2, n]``, passing messages over ``graph``."""
    return state.apply_fn(state.params, graph, pairs, method="rate")


def fit(graph: BipartiteGraph, split: EdgeSplit, *, device=None, **overrides) -> Fit:
    """Full-batch training with an L1 loss on the training edges; early stopping on
    validation MAE (the best epoch's parameters are returned). Settings: :data:`SETTINGS`
    (``model='gcn'`` or ``'hetero'``) updated with ``overrides``; ``device``: where the
    arrays live (JAX's default device if None). The history holds per-epoch ``loss``
    (training L1), ``val_mae`` and ``seconds``, and ``best_epoch``."""
    s = settings_for(SETTINGS, overrides)
    # the graph and targets are arguments of the jitted steps, not closed-over constants: XLA
    # would otherwise try to constant-fold the degree computations (tens of seconds)
    graphs = jax.device_put(rating_graphs(graph, split), device)
    masks = jax.device_put(part_masks(graph, split), device)
    pairs = jax.device_put(graph.edge_index, device)   # every rated edge, predicted at once
    target = jax.device_put(graph.rating, device)
    model = build_model(graph, **overrides)
    params = jax.jit(model.init)(jax.random.key(s["seed"]), graphs["train"], pairs[:, :2])
    tx = optax.chain(optax.add_decayed_weights(s["weight_decay"]), optax.adam(s["lr"]))
    state = TrainState.create(apply_fn=model.apply, params=params, tx=tx)

    def train_epoch(state):
        return train_step(state, graphs["train"], pairs, target, masks["train"])

    def validate(state):
        return masked_l1_loss(eval_step(state, graphs["val"], pairs), target, masks["val"])

    state, history, best = fit_loop(
        state, train_epoch, validate, snapshot=lambda s: s.params,  # immutable: no copy
        max_epochs=s["max_epochs"], patience=s["patience"], mode="min", metric="val_mae",
        eval_every=s["eval_every"],
        desc=f"JAX {s['model']}",
        checkpoint=Checkpoint.for_fit(f"jax-gcn-{s['model']}", s, graph, split,
                                      module=__name__))
    return Fit(state.replace(params=best), history, history["best_epoch"])


def predict(state: TrainState, graph: jraph.GraphsTuple, pairs) -> np.ndarray:
    """Predicted ratings of ``pairs`` ``[2, n]`` (user, movie indices), passing messages over
    ``graph`` (a :func:`rating_graphs` part)."""
    return np.asarray(eval_step(state, graph, jnp.asarray(pairs)))


def evaluate(state: TrainState, graph: BipartiteGraph, split: EdgeSplit, part: str
             ) -> dict[str, float]:
    """MAE and RMSE on ``part``'s rated edges, passing messages over that part's edges."""
    pairs, ratings = part_pairs(graph, split, part)
    return errors(predict(state, rating_graphs(graph, split)[part], pairs), ratings)


def predict_user(state: TrainState, graph: BipartiteGraph, split: EdgeSplit, user: int
                 ) -> np.ndarray:
    """Predicted rating of every movie for ``user`` (test-time graph), ``[num_movies]``."""
    return predict(state, rating_graphs(graph, split)["test"], user_pairs(graph, user))


# --------------------------------------------------------------------------------------------------
# Weights from PyG (parity)
# --------------------------------------------------------------------------------------------------


def params_from_pyg(weights: dict[str, np.ndarray]) -> dict:
    """flax parameters of :class:`RatingModel` from :func:`course_lib.pyg.nn.numpy_weights` of
    the PyG twin: the modules have the same names (``gnn.convs.0.mlp.lin1`` is
    ``gnn/conv0/mlp/lin1``, see :func:`~course_lib.jax.nn.flax_path`)."""
    return params_from_torch(weights, flax_path)
