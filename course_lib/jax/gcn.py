"""Rating prediction with GCNs in JAX (PyG twin: ``course_lib/pyg/gcn.py``).

Two encoders over the same user-movie graph, one decoder, one loss:

* :class:`GCN` - the seed's model: ``jraph.GraphConvolution`` with an MLP node update, self
  edges and symmetric normalisation, optional layer norm, over the homogeneous ``GraphsTuple``
  (users and movies are one node set);
* :class:`HeteroGraphConv` - the seed's heterogeneous design: per edge type a ``GraphConv``
  (sum of the neighbours through one weight, the node itself through another), summed per
  destination type, then a final dense layer per node type;
* :class:`RatingDecoder` - elementwise product of the two endpoint embeddings, a dense layer to
  one number, and a sigmoid scaled to the rating range 0.5-5 (:func:`scale_rating`);
* :func:`masked_l1_loss` - mean absolute error over the edges a mask selects.

Training is full-batch: one jitted step predicts every rated edge of the graph, and the loss
keeps the training edges only. Message passing runs over training edges only (validation and
test ratings are never message-passing edges while they are being predicted).
"""

from __future__ import annotations

import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import jraph
import numpy as np
import optax
from flax.training.train_state import TrainState

from ..graph import BipartiteGraph, EdgeSplit
from ..ratings import (RATING_MAX, RATING_MIN, errors, message_edges, part_masks, part_pairs,
                       user_pairs)
from ..utils import EarlyStopping, progress
from .data import to_graphstuple
from .sage import TORCH_EMBED_INIT, TORCH_LINEAR_INIT, edge_types, jitted_apply

LAYER_NORM_EPS = 1e-5  # torch's LayerNorm default (flax's is 1e-6)


def scale_rating(logit: jnp.ndarray) -> jnp.ndarray:
    """Map any real number into the rating range: ``0.5 + 4.5 * sigmoid(logit)``."""
    return RATING_MIN + (RATING_MAX - RATING_MIN) * jax.nn.sigmoid(logit)


def masked_l1_loss(pred: jnp.ndarray, target: jnp.ndarray, mask: jnp.ndarray) -> jnp.ndarray:
    """Mean ``|pred - target|`` over the entries where ``mask`` is true (0 if none is)."""
    mask = mask.astype(pred.dtype)
    return jnp.sum(jnp.abs(pred - target) * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def dense(features: int, name: str, use_bias: bool = True) -> nn.Dense:
    return nn.Dense(features, use_bias=use_bias, kernel_init=TORCH_LINEAR_INIT, name=name)


class InputLayer(nn.Module):
    """Layer-0 features: a learned user embedding; a learned movie embedding plus a linear map of
    the genres (together, a linear layer per node type on [one-hot id | genres])."""

    num_users: int
    num_movies: int
    hidden: int

    @nn.compact
    def __call__(self, graph: jraph.GraphsTuple) -> dict:
        u = self.num_users
        node_id, x = graph.nodes["node_id"], graph.nodes["x"]
        user = nn.Embed(self.num_users, self.hidden, embedding_init=TORCH_EMBED_INIT,
                        name="user_emb")(node_id[:u])
        movie = (dense(self.hidden, "movie_lin")(x[u:])
                 + nn.Embed(self.num_movies, self.hidden, embedding_init=TORCH_EMBED_INIT,
                            name="movie_emb")(node_id[u:]))
        return {"user": user, "movie": movie}


class MLP(nn.Module):
    """``lin2(relu(lin1(x)))``: the node update of a GCN layer."""

    features: int

    @nn.compact
    def __call__(self, x):
        return dense(self.features, "lin2")(nn.relu(dense(self.features, "lin1")(x)))


class GCN(nn.Module):
    """``num_layers`` x (``jraph.GraphConvolution`` with an MLP update, optional layer norm), ReLU
    between layers. Input and output: ``{'user': [U, H], 'movie': [M, H]}``."""

    hidden: int
    num_layers: int = 2
    layer_norm: bool = True

    @nn.compact
    def __call__(self, x: dict, graph: jraph.GraphsTuple) -> dict:
        num_users = x["user"].shape[0]
        h = jnp.concatenate([x["user"], x["movie"]])
        for i in range(self.num_layers):
            conv = jraph.GraphConvolution(update_node_fn=MLP(self.hidden, name=f"mlp{i}"),
                                          add_self_edges=True, symmetric_normalization=True)
            h = conv(graph._replace(nodes=h)).nodes
            if self.layer_norm:
                h = nn.LayerNorm(epsilon=LAYER_NORM_EPS, name=f"norm{i}")(h)
            if i < self.num_layers - 1:
                h = nn.relu(h)
        return {"user": h[:num_users], "movie": h[num_users:]}


class GraphConv(nn.Module):
    """``out_i = lin_rel(aggr_{j -> i} x_j) + lin_root(x_i)`` for one edge type (PyG's
    ``GraphConv``); ``aggr`` is ``'mean'`` or ``'add'``."""

    features: int
    aggr: str = "mean"

    @nn.compact
    def __call__(self, x_src, x_dst, senders, receivers):
        segment = {"mean": jraph.segment_mean, "add": jraph.segment_sum}[self.aggr]
        total = segment(x_src[senders], receivers, num_segments=x_dst.shape[0])
        return (dense(self.features, "lin_rel")(total)
                + dense(self.features, "lin_root", use_bias=False)(x_dst))


class HeteroGraphConv(nn.Module):
    """``num_layers`` heterogeneous ``GraphConv`` layers (ReLU after each), then a dense layer
    per node type. One ``GraphConv`` per edge type; each node type receives one edge type, so
    the per-destination sum has one term. ``aggr``: see the PyG twin's docstring."""

    hidden: int
    num_layers: int = 2
    aggr: str = "mean"

    @nn.compact
    def __call__(self, x: dict, graph: jraph.GraphsTuple) -> dict:
        types = edge_types(graph, x["user"].shape[0])
        for i in range(self.num_layers):
            x = {"movie": GraphConv(self.hidden, self.aggr, name=f"conv{i}_rates")(
                     x["user"], x["movie"], *types["rates"]),
                 "user": GraphConv(self.hidden, self.aggr, name=f"conv{i}_rev_rates")(
                     x["movie"], x["user"], *types["rev_rates"])}
            x = {k: nn.relu(v) for k, v in x.items()}
        return {k: dense(self.hidden, f"out_{k}")(v) for k, v in x.items()}


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
    hidden: int = 64
    encoder: str = "gcn"
    num_layers: int = 2
    layer_norm: bool = True
    aggr: str = "mean"

    def setup(self):
        self.inputs = InputLayer(self.num_users, self.num_movies, self.hidden)
        if self.encoder == "gcn":
            self.gnn = GCN(self.hidden, self.num_layers, self.layer_norm)
        elif self.encoder == "hetero":
            self.gnn = HeteroGraphConv(self.hidden, self.num_layers, self.aggr)
        else:
            raise ValueError(f"encoder must be 'gcn' or 'hetero', got {self.encoder!r}")
        self.decoder = RatingDecoder()

    def embed(self, graph: jraph.GraphsTuple) -> dict:
        return self.gnn(self.inputs(graph), graph)

    def __call__(self, graph: jraph.GraphsTuple, edge_label_index) -> jnp.ndarray:
        z = self.embed(graph)
        return self.decoder(z["user"], z["movie"], edge_label_index)


def build_model(graph: BipartiteGraph, encoder: str = "gcn", **kwargs) -> RatingModel:
    return RatingModel(graph.num_users, graph.num_movies, encoder=encoder, **kwargs)


# --------------------------------------------------------------------------------------------------
# Data, training and evaluation
# --------------------------------------------------------------------------------------------------


def rating_graphs(graph: BipartiteGraph, split: EdgeSplit) -> dict[str, jraph.GraphsTuple]:
    """Message-passing graphs for rating prediction: ``train`` and ``val`` pass messages over all
    training edges, ``test`` over training and validation edges."""
    train = to_graphstuple(graph, message_edges(split, "train"))
    return {"train": train, "val": train,
            "test": to_graphstuple(graph, message_edges(split, "test"))}


def fit(graph: BipartiteGraph, split: EdgeSplit, *, encoder: str = "gcn", hidden: int = 64,
        num_layers: int = 2, layer_norm: bool = True, lr: float = 0.01,
        weight_decay: float = 0.0, epochs: int = 300, patience: int = 30,
        seed: int = 0) -> tuple[TrainState, dict]:
    """Full-batch training with an L1 loss on the training edges; early stopping on
    validation MAE (the best epoch's parameters are returned). The history holds per-epoch
    ``loss`` (training L1), ``val_loss`` (validation MAE) and ``seconds``, and ``best_epoch``."""
    graphs, masks = rating_graphs(graph, split), part_masks(graph, split)
    pairs = jnp.asarray(graph.edge_index)   # every rated edge, predicted at once
    target = jnp.asarray(graph.rating)
    model = build_model(graph, encoder, hidden=hidden, num_layers=num_layers,
                        layer_norm=layer_norm)
    params = model.init(jax.random.key(seed), graphs["train"], pairs[:, :2])
    tx = optax.chain(optax.add_decayed_weights(weight_decay), optax.adam(lr))
    state = TrainState.create(apply_fn=model.apply, params=params, tx=tx)
    train_mask, val_mask = jnp.asarray(masks["train"]), jnp.asarray(masks["val"])

    # the graph and targets are arguments, not closed-over constants: XLA would otherwise try
    # to constant-fold the degree computations at compile time (tens of seconds)
    @jax.jit
    def train_step(state, graph, pairs, target, mask):
        def loss_fn(params):
            return masked_l1_loss(state.apply_fn(params, graph, pairs), target, mask)

        loss, grads = jax.value_and_grad(loss_fn)(state.params)
        return state.apply_gradients(grads=grads), loss

    @jax.jit
    def eval_step(params, graph, pairs, target, mask):
        return masked_l1_loss(model.apply(params, graph, pairs), target, mask)

    history = {"loss": [], "val_loss": [], "seconds": []}
    stopper = EarlyStopping(patience, mode="min")
    bar = progress(range(1, epochs + 1), desc=f"JAX {encoder}")
    for epoch in bar:
        start = time.perf_counter()
        state, loss = train_step(state, graphs["train"], pairs, target, train_mask)
        val_loss = float(eval_step(state.params, graphs["val"], pairs, target, val_mask))
        history["seconds"].append(time.perf_counter() - start)
        history["loss"].append(float(loss))
        history["val_loss"].append(val_loss)
        if epoch % 10 == 0:
            bar.set_postfix(loss=f"{float(loss):.4f}", val_mae=f"{val_loss:.4f}")
        if stopper.update(epoch, val_loss, lambda: state.params):  # immutable: no copy
            break
    history["best_epoch"] = stopper.best_epoch
    return state.replace(params=stopper.best_checkpoint), history


def predict(state: TrainState, graph: jraph.GraphsTuple, pairs) -> np.ndarray:
    """Predicted ratings of ``pairs`` ``[2, n]`` (user, movie indices)."""
    return np.asarray(jitted_apply(state.apply_fn, state.params, graph, jnp.asarray(pairs)))


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


def params_from_pyg(weights: dict[str, np.ndarray], encoder: str = "gcn",
                    num_layers: int = 2) -> dict:
    """flax parameters of :class:`RatingModel` from :func:`course_lib.pyg.gcn.numpy_weights`
    (PyG ``state_dict`` names; ``Linear`` weights transposed to flax's ``[in, out]``)."""
    def lin(prefix, bias=True):
        p = {"kernel": jnp.asarray(weights[f"{prefix}.weight"].T)}
        if bias:
            p["bias"] = jnp.asarray(weights[f"{prefix}.bias"])
        return p

    inputs = {"user_emb": {"embedding": jnp.asarray(weights["inputs.user_emb.weight"])},
              "movie_emb": {"embedding": jnp.asarray(weights["inputs.movie_emb.weight"])},
              "movie_lin": lin("inputs.movie_lin")}
    gnn = {}
    if encoder == "gcn":
        for i in range(num_layers):
            gnn[f"mlp{i}"] = {"lin1": lin(f"gnn.convs.{i}.mlp.lin1"),
                              "lin2": lin(f"gnn.convs.{i}.mlp.lin2")}
            if f"gnn.norms.{i}.weight" in weights:
                gnn[f"norm{i}"] = {"scale": jnp.asarray(weights[f"gnn.norms.{i}.weight"]),
                                   "bias": jnp.asarray(weights[f"gnn.norms.{i}.bias"])}
    else:
        for i in range(num_layers):
            for name, pyg_type in (("rates", "<user___rates___movie>"),
                                   ("rev_rates", "<movie___rev_rates___user>")):
                prefix = f"gnn.convs.{i}.convs.{pyg_type}"
                gnn[f"conv{i}_{name}"] = {"lin_rel": lin(f"{prefix}.lin_rel"),
                                          "lin_root": lin(f"{prefix}.lin_root", bias=False)}
        for kind in ("user", "movie"):
            gnn[f"out_{kind}"] = lin(f"gnn.out.{kind}")
    return {"params": {"inputs": inputs, "gnn": gnn,
                       "decoder": {"lin": lin("decoder.lin")}}}
