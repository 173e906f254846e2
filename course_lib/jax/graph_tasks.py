"""The three graph tasks in JAX: node, link and graph prediction (PyG twin: ``course_lib/pyg/graph_tasks.py``).

Every model is built from :class:`~course_lib.jax.message_passing.LibraryGCNLayer`
(``jraph.GraphConvolution`` plus a bias, proven equal to PyG's ``GCNConv``), written with flax and
trained with optax in a jitted step. Training functions return a flax ``TrainState`` and a history.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import jraph
import numpy as np
import optax
from flax.training.train_state import TrainState

from ..metrics import accuracy, roc_auc
from ..small_graphs import Graph, LinkSplit
from ..utils import progress
from .message_passing import LibraryGCNLayer


def to_graphstuple(graph: Graph) -> jraph.GraphsTuple:
    """A single-graph ``GraphsTuple``: ``nodes`` = features, ``globals`` = the graph label if any.

    The arrays stay numpy arrays: batching and padding happen on the host (``jraph.batch_np``,
    ``jraph.pad_with_graphs``), and jitted functions accept numpy input as it is.
    """
    label = None if graph.y is None or np.ndim(graph.y) > 0 else np.array([graph.y], np.int32)
    return jraph.GraphsTuple(
        nodes=np.asarray(graph.x, np.float32), edges=None,
        senders=np.asarray(graph.edge_index[0], np.int32),
        receivers=np.asarray(graph.edge_index[1], np.int32),
        n_node=np.array([graph.num_nodes], np.int32),
        n_edge=np.array([graph.edge_index.shape[1]], np.int32),
        globals=label)


class GCN(nn.Module):
    """``num_layers`` GCN layers with ReLU in between (none after the last)."""

    hidden: int
    out_features: int
    num_layers: int = 2

    @nn.compact
    def __call__(self, graph: jraph.GraphsTuple) -> jnp.ndarray:
        x = graph.nodes
        for i in range(self.num_layers):
            size = self.out_features if i == self.num_layers - 1 else self.hidden
            x = LibraryGCNLayer(size)(graph._replace(nodes=x))
            if i < self.num_layers - 1:
                x = nn.relu(x)
        return x


class LinkPredictor(nn.Module):
    """GCN encoder, dot-product decoder: ``score(u, v) = <z_u, z_v>`` (a logit)."""

    hidden: int
    out_features: int

    @nn.compact
    def __call__(self, graph: jraph.GraphsTuple, pairs: jnp.ndarray) -> jnp.ndarray:
        z = GCN(self.hidden, self.out_features, name="encoder")(graph)
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
        return nn.Dense(self.num_classes, name="head")(pooled)


def _adam(lr: float, weight_decay: float = 0.0) -> optax.GradientTransformation:
    # torch's Adam(weight_decay=...) adds the L2 term to the gradient before Adam: same here
    return optax.chain(optax.add_decayed_weights(weight_decay), optax.adam(lr))


def _cross_entropy(logits, labels):
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels)


# --------------------------------------------------------------------------------------------------
# Node classification
# --------------------------------------------------------------------------------------------------


def train_node_classifier(graph: Graph, train_nodes: np.ndarray, *, hidden: int = 16,
                          epochs: int = 200, lr: float = 0.01, seed: int = 0,
                          use_graph: bool = True) -> tuple[TrainState, dict]:
    """Semi-supervised node classification: the loss sees only ``train_nodes``' labels.

    ``use_graph=False`` trains the same network with every edge removed: the no-graph baseline.
    """
    gt = to_graphstuple(graph)
    if not use_graph:
        gt = _without_edges(gt)
    model = GCN(hidden, int(graph.y.max()) + 1)
    state = TrainState.create(apply_fn=model.apply, params=model.init(jax.random.key(seed), gt),
                              tx=_adam(lr, 5e-4))
    labels, train = jnp.asarray(graph.y), jnp.asarray(train_nodes)

    @jax.jit
    def step(state):
        def loss_fn(params):
            logits = state.apply_fn(params, gt)
            return _cross_entropy(logits[train], labels[train]).mean(), logits

        (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        return state.apply_gradients(grads=grads), loss, logits

    history = {"loss": [], "accuracy": []}
    for _ in progress(range(epochs), desc="JAX node classification", leave=False):
        state, loss, logits = step(state)
        history["loss"].append(float(loss))
        history["accuracy"].append(accuracy(logits, graph.y))
    return state, history


def _without_edges(gt: jraph.GraphsTuple) -> jraph.GraphsTuple:
    return gt._replace(senders=gt.senders[:0], receivers=gt.receivers[:0],
                       n_edge=np.zeros_like(gt.n_edge))


def predict_nodes(state: TrainState, graph: Graph, use_graph: bool = True) -> np.ndarray:
    gt = to_graphstuple(graph) if use_graph else _without_edges(to_graphstuple(graph))
    return np.asarray(state.apply_fn(state.params, gt).argmax(-1))


# --------------------------------------------------------------------------------------------------
# Link prediction
# --------------------------------------------------------------------------------------------------


def train_link_predictor(split: LinkSplit, *, hidden: int = 32, out_features: int = 16,
                         epochs: int = 200, lr: float = 0.01, seed: int = 0
                         ) -> tuple[TrainState, dict]:
    """Train on the training edges (message passing and supervision), fresh negatives each epoch."""
    gt = to_graphstuple(split.train_graph)
    pos = jnp.asarray(split.train_pos)
    num_nodes, num_pos = split.train_graph.num_nodes, split.train_pos.shape[1]
    model = LinkPredictor(hidden, out_features)
    key, init_key = jax.random.split(jax.random.key(seed))
    state = TrainState.create(apply_fn=model.apply, params=model.init(init_key, gt, pos),
                              tx=_adam(lr))
    labels = jnp.concatenate([jnp.ones(num_pos), jnp.zeros(num_pos)])

    @jax.jit
    def step(state, key):
        neg = jax.random.randint(key, (2, num_pos), 0, num_nodes)  # this epoch's negatives
        pairs = jnp.concatenate([pos, neg], axis=1)

        def loss_fn(params):
            logits = state.apply_fn(params, gt, pairs)
            return optax.sigmoid_binary_cross_entropy(logits, labels).mean()

        loss, grads = jax.value_and_grad(loss_fn)(state.params)
        return state.apply_gradients(grads=grads), loss

    score = jax.jit(model.apply)
    val_pairs, val_labels = split.val
    history = {"loss": [], "val_auc": []}
    for _ in progress(range(epochs), desc="JAX link prediction", leave=False):
        key, epoch_key = jax.random.split(key)
        state, loss = step(state, epoch_key)
        history["loss"].append(float(loss))
        history["val_auc"].append(roc_auc(score(state.params, gt, val_pairs), val_labels))
    return state, history


def evaluate_links(state: TrainState, split: LinkSplit, part: str = "test") -> float:
    pairs, labels = getattr(split, part)
    gt = to_graphstuple(split.train_graph)
    return roc_auc(state.apply_fn(state.params, gt, jnp.asarray(pairs)), labels)


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


def train_graph_classifier(train_graphs: list[Graph], test_graphs: list[Graph], *,
                           hidden: int = 32, num_layers: int = 3, epochs: int = 60,
                           batch_size: int = 32, lr: float = 0.01, seed: int = 0
                           ) -> tuple[TrainState, dict]:
    """Mini-batches of whole graphs, padded to one shape; test accuracy tracked per epoch."""
    max_nodes = max(g.num_nodes for g in train_graphs + test_graphs)
    max_edges = max(g.edge_index.shape[1] for g in train_graphs + test_graphs)
    rng = np.random.default_rng(seed)
    model = GraphClassifier(hidden, 2, num_layers)
    example = batch_and_pad(train_graphs[:batch_size], max_nodes, max_edges)
    state = TrainState.create(apply_fn=model.apply,
                              params=model.init(jax.random.key(seed), example), tx=_adam(lr))

    @jax.jit
    def step(state, batch):
        mask = jraph.get_graph_padding_mask(batch)

        def loss_fn(params):
            logits = state.apply_fn(params, batch)
            losses = _cross_entropy(logits, batch.globals)
            return jnp.sum(jnp.where(mask, losses, 0.0)) / jnp.sum(mask)

        loss, grads = jax.value_and_grad(loss_fn)(state.params)
        return state.apply_gradients(grads=grads), loss

    tuples = [to_graphstuple(g) for g in train_graphs]
    test_batch = batch_and_pad(test_graphs, max_nodes, max_edges)
    test_labels = np.array([g.y for g in test_graphs])
    logits_fn = jax.jit(model.apply)
    history = {"loss": [], "test_accuracy": []}
    for _ in progress(range(epochs), desc="JAX graph classification", leave=False):
        order = rng.permutation(len(train_graphs))
        total = 0.0
        # full batches only, so every step has the same shape (PyG keeps the last, smaller one)
        for start in range(0, len(order) - batch_size + 1, batch_size):
            chunk = [tuples[i] for i in order[start:start + batch_size]]
            state, loss = step(state, batch_and_pad(chunk, max_nodes, max_edges))
            total += float(loss) * len(chunk)
        history["loss"].append(total / (len(order) // batch_size * batch_size))
        logits = logits_fn(state.params, test_batch)[:len(test_graphs)]
        history["test_accuracy"].append(accuracy(logits, test_labels))
    return state, history


def predict_graphs(state: TrainState, graphs: list[Graph]) -> np.ndarray:
    max_nodes = max(g.num_nodes for g in graphs)
    max_edges = max(g.edge_index.shape[1] for g in graphs)
    logits = state.apply_fn(state.params, batch_and_pad(graphs, max_nodes, max_edges))
    return np.asarray(logits[:len(graphs)].argmax(-1))


def evaluate_graphs(state: TrainState, graphs: list[Graph]) -> float:
    return accuracy(predict_graphs(state, graphs), np.array([g.y for g in graphs]))
