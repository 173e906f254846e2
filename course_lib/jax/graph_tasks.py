"""The three graph tasks in JAX: node, link and graph prediction (PyG twin: ``course_lib/pyg/graph_tasks.py``).

Every model is built from :class:`course_lib.jax.nn.GCNConv` (``jraph.GraphConvolution`` plus a
bias, proven equal to PyG's ``GCNConv``), written with flax and trained with optax for a fixed
number of epochs (:data:`SETTINGS`). Each task has its module-level jitted training step
(``node_train_step``, ``link_train_step``, ``graph_train_step``: a ``TrainState`` in, a new one
out, the graph passed as an argument) and evaluation step; the trainers run them in the course's
loop :func:`course_lib.training.fit_loop` and return a flax ``TrainState`` and a history.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import jraph
import numpy as np
import optax

from .. import settings
from ..metrics import accuracy, roc_auc
from ..small_graphs import Graph, LinkSplit
from ..training import Fit, fit_loop, settings_for
from .nn import TORCH_LINEAR_INIT, GCNConv, bce_loss, cross_entropy, params_from_torch
from .state import TrainState

#: The chapter's hyper-parameters, one dict per task (:data:`course_lib.settings.GRAPH_TASKS`,
#: read by the PyG twin too). Every task trains for a fixed number of epochs (no early
#: stopping) and keeps the last weights.
SETTINGS = settings.GRAPH_TASKS


def to_graphstuple(graph: Graph, use_graph: bool = True) -> jraph.GraphsTuple:
    """A single-graph ``GraphsTuple``: ``nodes`` = features, ``globals`` = the graph label if any;
    ``use_graph=False`` drops every edge (each node then sees only its own features).

    The arrays stay numpy arrays: batching and padding happen on the host (``jraph.batch_np``,
    ``jraph.pad_with_graphs``), and jitted functions accept numpy input as it is.
    """
    edge_index = graph.edge_index if use_graph else graph.edge_index[:, :0]
    label = None if graph.y is None or np.ndim(graph.y) > 0 else np.array([graph.y], np.int32)
    return jraph.GraphsTuple(
        nodes=np.asarray(graph.x, np.float32), edges=None,
        senders=np.asarray(edge_index[0], np.int32),
        receivers=np.asarray(edge_index[1], np.int32),
        n_node=np.array([graph.num_nodes], np.int32),
        n_edge=np.array([edge_index.shape[1]], np.int32),
        globals=label)


# --------------------------------------------------------------------------------------------------
# Models: one GCN encoder, three heads
# --------------------------------------------------------------------------------------------------


class GCN(nn.Module):
    """``num_layers`` GCN layers with ReLU in between (none after the last)."""

    hidden: int
    out_channels: int
    num_layers: int = 2

    @nn.compact
    def __call__(self, graph: jraph.GraphsTuple) -> jnp.ndarray:
        x = graph.nodes
        for i in range(self.num_layers):
            size = self.out_channels if i == self.num_layers - 1 else self.hidden
            x = GCNConv(size, name=f"convs_{i}")(graph._replace(nodes=x))
            if i < self.num_layers - 1:
                x = nn.relu(x)
        return x


class LinkPredictor(nn.Module):
    """GCN encoder, dot-product decoder: ``score(u, v) = <z_u, z_v>`` (a logit)."""

    hidden: int
    out_channels: int

    @nn.compact
    def __call__(self, graph: jraph.GraphsTuple, pairs: jnp.ndarray) -> jnp.ndarray:
        z = GCN(self.hidden, self.out_channels, name="encoder")(graph)
        return (z[pairs[0]] * z[pairs[1]]).sum(-1)


class GraphClassifier(nn.Module):
    """GCN layers, ReLU, mean readout per graph, then a dense layer to the class logits."""

    hidden: int
    num_classes: int
    num_layers: int = 3

    @nn.compact
    def __call__(self, graph: jraph.GraphsTuple) -> jnp.ndarray:
        h = nn.relu(GCN(self.hidden, self.hidden, self.num_layers, name="gcn")(graph))
        num_graphs = graph.n_node.shape[0]
        graph_index = jnp.repeat(jnp.arange(num_graphs), graph.n_node,
                                 total_repeat_length=h.shape[0])
        pooled = jraph.segment_mean(h, graph_index, num_graphs)  # mean_readout
        return nn.Dense(self.num_classes, kernel_init=TORCH_LINEAR_INIT, name="head")(pooled)


def _adam(s: dict) -> optax.GradientTransformation:
    # torch's Adam(weight_decay=...) adds the L2 term to the gradient before Adam: same here
    return optax.chain(optax.add_decayed_weights(s["weight_decay"]), optax.adam(s["lr"]))


# --------------------------------------------------------------------------------------------------
# Node classification
# --------------------------------------------------------------------------------------------------


@jax.jit
def node_train_step(state: TrainState, graph: jraph.GraphsTuple,
                    labels: jnp.ndarray, train_nodes: jnp.ndarray
                    ) -> tuple[TrainState, jnp.ndarray]:
    """One Adam step on the whole graph; the loss sees only the labels of
    ``train_nodes``."""
    def loss_fn(params):
        logits = state.apply_fn(params, graph)
        return cross_entropy(logits[train_nodes], labels[train_nodes])

    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    return state.apply_gradients(grads=grads), loss


@jax.jit
def node_eval_step(state: TrainState, graph: jraph.GraphsTuple) -> jnp.ndarray:
    """Class logits ``[num_nodes, C]`` of every node."""
    return state.apply_fn(state.params, graph)


def train_node_classifier(graph: Graph, train_nodes: np.ndarray, *, use_graph: bool = True,
                          **overrides) -> Fit:
    """Semi-supervised node classification: the loss sees only ``train_nodes``' labels.

    ``overrides`` update ``SETTINGS["node"]``. ``use_graph=False`` trains the same network with
    every edge removed: the no-graph baseline. The history holds per-epoch ``loss`` and
    ``accuracy`` (over all nodes, after the epoch's step).
    """
    s = settings_for(SETTINGS["node"], overrides)
    gt = to_graphstuple(graph, use_graph)
    model = GCN(s["hidden"], int(graph.y.max()) + 1)
    params = model.init(jax.random.key(s["seed"]), gt)
    state = TrainState.create(apply_fn=model.apply, params=params, tx=_adam(s))
    labels, train = jnp.asarray(graph.y), jnp.asarray(train_nodes)

    def train_epoch(state):
        return node_train_step(state, gt, labels, train)

    def validate(state):
        return accuracy(node_eval_step(state, gt), graph.y)

    state, history, _ = fit_loop(state, train_epoch, validate, max_epochs=s["max_epochs"],
                                 patience=None, metric="accuracy",
                                 desc="JAX node classification")
    return Fit(state, history, history["best_epoch"])


def predict_nodes(state: TrainState, graph: Graph, use_graph: bool = True) -> np.ndarray:
    """The predicted class of every node."""
    return np.asarray(node_eval_step(state, to_graphstuple(graph, use_graph)).argmax(-1))


# --------------------------------------------------------------------------------------------------
# Link prediction
# --------------------------------------------------------------------------------------------------


def sample_negative_pairs(key: jax.Array, num_nodes: int, num: int) -> jnp.ndarray:
    """``num`` random node pairs ``[2, num]`` (negatives; a rare true edge among them is noise)."""
    return jax.random.randint(key, (2, num), 0, num_nodes)


@jax.jit
def link_train_step(state: TrainState, graph: jraph.GraphsTuple, pos: jnp.ndarray
                    ) -> tuple[TrainState, jnp.ndarray]:
    """One Adam step: the positive pairs ``pos`` ``[2, P]`` and as many fresh random negatives,
    drawn from ``state.step_key()``."""
    neg = sample_negative_pairs(state.step_key(), graph.nodes.shape[0], pos.shape[1])
    pairs = jnp.concatenate([pos, neg], axis=1)
    labels = jnp.concatenate([jnp.ones(pos.shape[1]), jnp.zeros(neg.shape[1])])

    def loss_fn(params):
        return bce_loss(state.apply_fn(params, graph, pairs), labels)

    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    return state.apply_gradients(grads=grads), loss


@jax.jit
def link_eval_step(state: TrainState, graph: jraph.GraphsTuple, pairs: jnp.ndarray) -> jnp.ndarray:
    """Scores (logits) of ``pairs`` ``[2, n]``, propagating over ``graph``'s edges."""
    return state.apply_fn(state.params, graph, pairs)


def train_link_predictor(split: LinkSplit, **overrides) -> Fit:
    """Train on the training edges (message passing and supervision), fresh negatives each epoch.

    ``overrides`` update ``SETTINGS["link"]``. The history holds per-epoch ``loss`` and
    ``val_auc``.
    """
    s = settings_for(SETTINGS["link"], overrides)
    gt = to_graphstuple(split.train_graph)
    pos = jnp.asarray(split.train_pos, jnp.int32)
    model = LinkPredictor(s["hidden"], s["out_channels"])
    key, init_key = jax.random.split(jax.random.key(s["seed"]))
    state = TrainState.create(apply_fn=model.apply, params=model.init(init_key, gt, pos),
                              tx=_adam(s), key=key)

    def train_epoch(state):
        return link_train_step(state, gt, pos)

    state, history, _ = fit_loop(state, train_epoch,
                                 lambda state: evaluate_links(state, split, "val"),
                                 max_epochs=s["max_epochs"], patience=None, metric="val_auc",
                                 desc="JAX link prediction")
    return Fit(state, history, history["best_epoch"])


def evaluate_links(state: TrainState, split: LinkSplit, part: str = "test") -> float:
    """ROC-AUC on the ``part`` (``'val'`` or ``'test'``) pairs of ``split``."""
    pairs, labels = getattr(split, part)
    return roc_auc(link_eval_step(state, to_graphstuple(split.train_graph), jnp.asarray(pairs)),
                   labels)


# --------------------------------------------------------------------------------------------------
# Graph classification: batching and padding
# --------------------------------------------------------------------------------------------------


def batch_and_pad(graphs: list[Graph], max_nodes: int, max_edges: int) -> jraph.GraphsTuple:
    """``jraph.batch`` the graphs, then ``pad_with_graphs`` to fixed sizes so jit compiles once.

    Padding adds one graph holding the padding nodes and edges; mask it out with
    ``jraph.get_graph_padding_mask``. ``max_nodes``/``max_edges`` are per real graph. Both steps
    run in numpy on the host (``batch_np``), the cheap place for them.
    """
    batch = jraph.batch_np([g if isinstance(g, jraph.GraphsTuple) else to_graphstuple(g)
                            for g in graphs])
    n = len(graphs)
    return jraph.pad_with_graphs(batch, n_node=n * max_nodes + 1, n_edge=n * max_edges,
                                 n_graph=n + 1)


@jax.jit
def graph_train_step(state: TrainState, batch: jraph.GraphsTuple
                     ) -> tuple[TrainState, jnp.ndarray]:
    """One Adam step on a padded mini-batch of whole graphs (:func:`batch_and_pad`); the padding
    graph is masked out of the loss."""
    def loss_fn(params):
        logits = state.apply_fn(params, batch)
        return cross_entropy(logits, batch.globals, jraph.get_graph_padding_mask(batch))

    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    return state.apply_gradients(grads=grads), loss


@jax.jit
def graph_eval_step(state: TrainState, batch: jraph.GraphsTuple) -> jnp.ndarray:
    """Class logits ``[num_graphs, C]`` of every graph in ``batch``, the padding graph last."""
    return state.apply_fn(state.params, batch)


def train_graph_classifier(train_graphs: list[Graph], val_graphs: list[Graph],
                           **overrides) -> Fit:
    """Mini-batches of whole graphs, padded to one shape; validation accuracy per epoch.

    ``overrides`` update ``SETTINGS["graph"]``. The history holds per-epoch ``loss`` (the mean
    over the training graphs) and ``val_accuracy`` on ``val_graphs`` (for the curves: training
    runs a fixed number of epochs and keeps the last weights, so it chooses nothing). The test
    graphs stay out of training altogether: evaluate them once, with :func:`evaluate_graphs`.
    """
    s = settings_for(SETTINGS["graph"], overrides)
    max_nodes = max(g.num_nodes for g in train_graphs + val_graphs)
    max_edges = max(g.edge_index.shape[1] for g in train_graphs + val_graphs)
    rng = np.random.default_rng(s["seed"])  # shuffles the graphs, epoch after epoch
    batch_size = s["batch_size"]
    model = GraphClassifier(s["hidden"], 2, s["num_layers"])
    example = batch_and_pad(train_graphs[:batch_size], max_nodes, max_edges)
    state = TrainState.create(apply_fn=model.apply,
                              params=model.init(jax.random.key(s["seed"]), example), tx=_adam(s))
    tuples = [to_graphstuple(g) for g in train_graphs]
    val_batch = batch_and_pad(val_graphs, max_nodes, max_edges)
    val_labels = np.array([g.y for g in val_graphs])

    def train_epoch(state):
        order = rng.permutation(len(tuples))
        losses = []
        # full batches only, so every step has the same shape (PyG keeps the last, smaller one)
        for start in range(0, len(order) - batch_size + 1, batch_size):
            chunk = [tuples[i] for i in order[start:start + batch_size]]
            state, loss = graph_train_step(state, batch_and_pad(chunk, max_nodes, max_edges))
            losses.append(loss)
        return state, float(np.mean(jax.device_get(losses)))  # equal batches: per graph

    def validate(state):
        return accuracy(graph_eval_step(state, val_batch)[:len(val_graphs)], val_labels)

    state, history, _ = fit_loop(state, train_epoch, validate, max_epochs=s["max_epochs"],
                                 patience=None, metric="val_accuracy",
                                 desc="JAX graph classification")
    return Fit(state, history, history["best_epoch"])


def predict_graphs(state: TrainState, graphs: list[Graph]) -> np.ndarray:
    """The predicted class of every graph (all of them in one padded batch)."""
    max_nodes = max(g.num_nodes for g in graphs)
    max_edges = max(g.edge_index.shape[1] for g in graphs)
    logits = graph_eval_step(state, batch_and_pad(graphs, max_nodes, max_edges))
    return np.asarray(logits[:len(graphs)].argmax(-1))


def evaluate_graphs(state: TrainState, graphs: list[Graph]) -> float:
    """Accuracy over ``graphs``."""
    return accuracy(predict_graphs(state, graphs), np.array([g.y for g in graphs]))


# --------------------------------------------------------------------------------------------------
# Weights from PyG (parity)
# --------------------------------------------------------------------------------------------------


def _rename(name: str) -> tuple[str, ...]:
    """flax path of one PyG weight: ``encoder.convs.0.lin.weight`` ->
    ``('encoder', 'convs_0', 'lin', 'kernel')``; ``head.bias`` -> ``('head', 'bias')``."""
    *path, leaf = name.split(".")
    out: list[str] = []
    for part in path:
        if part.isdigit():
            out[-1] = f"{out[-1]}_{part}"
        else:
            out.append(part)
    return (*out, {"weight": "kernel", "bias": "bias"}[leaf])


def params_from_pyg(weights: dict[str, np.ndarray]) -> dict:
    """flax parameters of :class:`GCN`, :class:`LinkPredictor` or :class:`GraphClassifier` from
    the twin PyG model's ``state_dict`` names and numpy arrays
    (:func:`course_lib.pyg.nn.numpy_weights`); dense kernels are transposed."""
    return params_from_torch(weights, _rename)
