"""The three graph tasks in PyG: node, link and graph prediction (JAX twin: ``course_lib/jax/graph_tasks.py``).

Every model is built from PyG's ``GCNConv`` (proven equal to the hand-written layer in
``message_passing.py``), trained full-batch (nodes, links) or in mini-batches (graphs) with Adam
for a fixed number of epochs (:data:`SETTINGS`). Each task has its module-level training step
(``node_train_step``, ``link_train_step``, ``graph_train_step``) and evaluation step; the
trainers run them in the course's loop :func:`course_lib.training.fit_loop` and return the
trained model and a history for plotting. Evaluation is framework-neutral
(:mod:`course_lib.metrics`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch_geometric.data import Data
from torch_geometric.loader import DataLoader
from torch_geometric.nn import global_mean_pool

from .. import settings
from ..metrics import accuracy, roc_auc
from ..small_graphs import Graph, LinkSplit
from ..training import Fit, fit_loop, settings_for
from .nn import GCNConv, bce_loss, cross_entropy
from .state import TrainState

#: The chapter's hyper-parameters, one dict per task (:data:`course_lib.settings.GRAPH_TASKS`,
#: read by the JAX twin too). Every task trains for a fixed number of epochs (no early
#: stopping) and keeps the last weights.
SETTINGS = settings.GRAPH_TASKS


def to_data(graph: Graph, use_graph: bool = True) -> Data:
    """A PyG ``Data`` with ``x``, ``edge_index`` and (if any) ``y``; ``use_graph=False`` drops
    every edge (each node then sees only its own features)."""
    edge_index = graph.edge_index if use_graph else graph.edge_index[:, :0]
    data = Data(x=torch.tensor(graph.x), edge_index=torch.tensor(edge_index))
    if graph.y is not None:
        data.y = torch.as_tensor(np.atleast_1d(graph.y))
    data.num_nodes = graph.num_nodes
    return data


# --------------------------------------------------------------------------------------------------
# Models: one GCN encoder, three heads
# --------------------------------------------------------------------------------------------------


class GCN(nn.Module):
    """``num_layers`` GCN layers with ReLU in between (none after the last)."""

    def __init__(self, in_channels: int, hidden: int, out_channels: int, num_layers: int = 2):
        super().__init__()
        sizes = [in_channels] + [hidden] * (num_layers - 1) + [out_channels]
        self.convs = nn.ModuleList(GCNConv(a, b) for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        for i, conv in enumerate(self.convs):
            x = conv(x, edge_index)
            if i < len(self.convs) - 1:
                x = torch.relu(x)
        return x


class LinkPredictor(nn.Module):
    """GCN encoder, dot-product decoder: ``score(u, v) = <z_u, z_v>`` (a logit)."""

    def __init__(self, in_channels: int, hidden: int, out_channels: int):
        super().__init__()
        self.encoder = GCN(in_channels, hidden, out_channels)

    def forward(self, x, edge_index, pairs):
        z = self.encoder(x, edge_index)
        return (z[pairs[0]] * z[pairs[1]]).sum(-1)


class GraphClassifier(nn.Module):
    """GCN layers, ReLU, mean readout per graph, then a linear layer to the class logits."""

    def __init__(self, in_channels: int, hidden: int, num_classes: int, num_layers: int = 3):
        super().__init__()
        self.gcn = GCN(in_channels, hidden, hidden, num_layers)
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, x, edge_index, batch, num_graphs: int):
        h = torch.relu(self.gcn(x, edge_index))
        return self.head(global_mean_pool(h, batch, num_graphs))  # mean_readout


def _state(model: nn.Module, s: dict) -> TrainState:
    # Adam's weight_decay adds the L2 term to the gradient before Adam (the JAX twin does the same)
    return TrainState.create(model, torch.optim.Adam(model.parameters(), lr=s["lr"],
                                                     weight_decay=s["weight_decay"]))


# --------------------------------------------------------------------------------------------------
# Node classification
# --------------------------------------------------------------------------------------------------


def node_train_step(state: TrainState, graph: Data, labels: torch.Tensor,
                    train_nodes: torch.Tensor) -> tuple[TrainState, float]:
    """One Adam step on the whole graph; the loss sees only the labels of
    ``train_nodes``."""
    model = state.model
    model.train()
    state.optimizer.zero_grad()
    logits = model(graph.x, graph.edge_index)
    loss = cross_entropy(logits[train_nodes], labels[train_nodes])
    loss.backward()
    return state.apply_gradients(), loss.item()


@torch.no_grad()
def node_eval_step(state: TrainState, graph: Data) -> torch.Tensor:
    """Class logits ``[num_nodes, C]`` of every node."""
    state.model.eval()
    return state.model(graph.x, graph.edge_index)


def train_node_classifier(graph: Graph, train_nodes: np.ndarray, *, use_graph: bool = True,
                          **overrides) -> Fit:
    """Semi-supervised node classification: the loss sees only ``train_nodes``' labels.

    ``overrides`` update ``SETTINGS["node"]``. ``use_graph=False`` trains the same network with
    every edge removed (each node sees only its own features): the no-graph baseline. The
    history holds per-epoch ``loss`` and ``accuracy`` (over all nodes, after the epoch's step).
    """
    s = settings_for(SETTINGS["node"], overrides)
    torch.manual_seed(s["seed"])
    data = to_data(graph, use_graph)
    state = _state(GCN(data.num_features, s["hidden"], int(data.y.max()) + 1), s)
    train = torch.as_tensor(train_nodes)

    def train_epoch(state):
        return node_train_step(state, data, data.y, train)

    def validate(state):
        return accuracy(node_eval_step(state, data), data.y)

    state, history, _ = fit_loop(state, train_epoch, validate, max_epochs=s["max_epochs"],
                                 patience=None, metric="accuracy",
                                 desc="PyG node classification")
    return Fit(state, history, history["best_epoch"])


def predict_nodes(state: TrainState, graph: Graph, use_graph: bool = True) -> np.ndarray:
    """The predicted class of every node."""
    return node_eval_step(state, to_data(graph, use_graph)).argmax(-1).numpy()


# --------------------------------------------------------------------------------------------------
# Link prediction
# --------------------------------------------------------------------------------------------------


def sample_negative_pairs(num_nodes: int, num: int) -> torch.Tensor:
    """``num`` random node pairs ``[2, num]`` from torch's generator (negatives; a rare true
    edge among them is noise)."""
    return torch.randint(0, num_nodes, (2, num))


def link_train_step(state: TrainState, graph: Data, pos: torch.Tensor
                    ) -> tuple[TrainState, float]:
    """One Adam step: the positive pairs ``pos`` ``[2, P]`` and as many fresh random negatives."""
    model = state.model
    model.train()
    state.optimizer.zero_grad()
    neg = sample_negative_pairs(graph.num_nodes, pos.shape[1])
    pairs = torch.cat([pos, neg], dim=1)
    labels = torch.cat([torch.ones(pos.shape[1]), torch.zeros(neg.shape[1])])
    loss = bce_loss(model(graph.x, graph.edge_index, pairs), labels)
    loss.backward()
    return state.apply_gradients(), loss.item()


@torch.no_grad()
def link_eval_step(state: TrainState, graph: Data, pairs: torch.Tensor) -> torch.Tensor:
    """Scores (logits) of ``pairs`` ``[2, n]``, propagating over ``graph``'s edges."""
    state.model.eval()
    return state.model(graph.x, graph.edge_index, pairs)


def train_link_predictor(split: LinkSplit, **overrides) -> Fit:
    """Train on the training edges (message passing and supervision), fresh negatives each epoch.

    ``overrides`` update ``SETTINGS["link"]``. The history holds per-epoch ``loss`` and
    ``val_auc``.
    """
    s = settings_for(SETTINGS["link"], overrides)
    torch.manual_seed(s["seed"])
    data = to_data(split.train_graph)
    pos = torch.as_tensor(split.train_pos)
    state = _state(LinkPredictor(data.num_features, s["hidden"], s["out_channels"]), s)

    def train_epoch(state):
        return link_train_step(state, data, pos)

    state, history, _ = fit_loop(state, train_epoch,
                                 lambda state: evaluate_links(state, split, "val"),
                                 max_epochs=s["max_epochs"], patience=None, metric="val_auc",
                                 desc="PyG link prediction")
    return Fit(state, history, history["best_epoch"])


def evaluate_links(state: TrainState, split: LinkSplit, part: str = "test") -> float:
    """ROC-AUC on the ``part`` (``'val'`` or ``'test'``) pairs of ``split``."""
    pairs, labels = getattr(split, part)
    return roc_auc(link_eval_step(state, to_data(split.train_graph), torch.as_tensor(pairs)),
                   labels)


# --------------------------------------------------------------------------------------------------
# Graph classification
# --------------------------------------------------------------------------------------------------


def graph_train_step(state: TrainState, batch: Data) -> tuple[TrainState, float]:
    """One Adam step on a mini-batch of whole graphs (a PyG ``Batch``)."""
    model = state.model
    model.train()
    state.optimizer.zero_grad()
    logits = model(batch.x, batch.edge_index, batch.batch, batch.num_graphs)
    loss = cross_entropy(logits, batch.y)
    loss.backward()
    return state.apply_gradients(), loss.item()


@torch.no_grad()
def graph_eval_step(state: TrainState, batch: Data) -> torch.Tensor:
    """Class logits ``[num_graphs, C]`` of every graph in ``batch``."""
    state.model.eval()
    return state.model(batch.x, batch.edge_index, batch.batch, batch.num_graphs)


def train_graph_classifier(train_graphs: list[Graph], val_graphs: list[Graph],
                           **overrides) -> Fit:
    """Mini-batches of whole graphs from PyG's ``DataLoader``; validation accuracy per epoch.

    ``overrides`` update ``SETTINGS["graph"]``. The history holds per-epoch ``loss`` (the mean
    over the training graphs) and ``val_accuracy`` on ``val_graphs`` (for the curves: training
    runs a fixed number of epochs and keeps the last weights, so it chooses nothing). The test
    graphs stay out of training altogether: evaluate them once, with :func:`evaluate_graphs`.
    """
    s = settings_for(SETTINGS["graph"], overrides)
    torch.manual_seed(s["seed"])
    generator = torch.Generator().manual_seed(s["seed"])
    train = DataLoader([to_data(g) for g in train_graphs], batch_size=s["batch_size"],
                       shuffle=True, generator=generator)
    state = _state(GraphClassifier(train_graphs[0].x.shape[1], s["hidden"], 2,
                                   s["num_layers"]), s)

    def train_epoch(state):
        losses, sizes = [], []
        for batch in train:
            state, loss = graph_train_step(state, batch)
            losses.append(loss)
            sizes.append(batch.num_graphs)
        return state, np.average(losses, weights=sizes)  # per graph

    state, history, _ = fit_loop(state, train_epoch,
                                 lambda state: evaluate_graphs(state, val_graphs),
                                 max_epochs=s["max_epochs"], patience=None,
                                 metric="val_accuracy", desc="PyG graph classification")
    return Fit(state, history, history["best_epoch"])


def predict_graphs(state: TrainState, graphs: list[Graph]) -> np.ndarray:
    """The predicted class of every graph (all of them in one batch)."""
    batch = next(iter(DataLoader([to_data(g) for g in graphs], batch_size=len(graphs))))
    return graph_eval_step(state, batch).argmax(-1).numpy()


def evaluate_graphs(state: TrainState, graphs: list[Graph]) -> float:
    """Accuracy over ``graphs``."""
    return accuracy(predict_graphs(state, graphs), np.array([g.y for g in graphs]))
