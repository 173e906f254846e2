"""The three graph tasks in PyG: node, link and graph prediction (JAX twin: ``course_lib/jax/graph_tasks.py``).

Every model is built from PyG's ``GCNConv`` (proven equal to the hand-written layer in
``message_passing.py``), trained full-batch (nodes, links) or in mini-batches (graphs) with Adam.
The training functions return the trained model and a history for plotting; evaluation is
framework-neutral (:mod:`course_lib.metrics`).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.data import Data
from torch_geometric.loader import DataLoader
from torch_geometric.nn import GCNConv, global_mean_pool

from ..metrics import accuracy, roc_auc
from ..small_graphs import Graph, LinkSplit
from ..utils import progress


def to_data(graph: Graph) -> Data:
    """A PyG ``Data`` with ``x``, ``edge_index`` and (if any) ``y``."""
    data = Data(x=torch.tensor(graph.x), edge_index=torch.tensor(graph.edge_index))
    if graph.y is not None:
        data.y = torch.as_tensor(np.atleast_1d(graph.y))
    data.num_nodes = graph.num_nodes
    return data


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
                x = F.relu(x)
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
        h = F.relu(self.gcn(x, edge_index))
        return self.head(global_mean_pool(h, batch, num_graphs))  # mean_readout


# --------------------------------------------------------------------------------------------------
# Node classification
# --------------------------------------------------------------------------------------------------


def train_node_classifier(graph: Graph, train_nodes: np.ndarray, *, hidden: int = 16,
                          epochs: int = 200, lr: float = 0.01, seed: int = 0,
                          use_graph: bool = True) -> tuple[GCN, dict]:
    """Semi-supervised node classification: the loss sees only ``train_nodes``' labels.

    ``use_graph=False`` trains the same network with every edge removed (each node sees only its
    own features): the no-graph baseline.
    """
    torch.manual_seed(seed)
    data = to_data(graph)
    edge_index = data.edge_index if use_graph else data.edge_index[:, :0]
    model = GCN(data.num_features, hidden, int(data.y.max()) + 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=5e-4)
    train = torch.as_tensor(train_nodes)
    history = {"loss": [], "accuracy": []}
    for _ in progress(range(epochs), desc="PyG node classification", leave=False):
        model.train()
        optimizer.zero_grad()
        logits = model(data.x, edge_index)
        loss = F.cross_entropy(logits[train], data.y[train])
        loss.backward()
        optimizer.step()
        history["loss"].append(loss.item())
        history["accuracy"].append(accuracy(logits.detach(), data.y))
    return model, history


@torch.no_grad()
def predict_nodes(model: GCN, graph: Graph, use_graph: bool = True) -> np.ndarray:
    model.eval()
    data = to_data(graph)
    edge_index = data.edge_index if use_graph else data.edge_index[:, :0]
    return model(data.x, edge_index).argmax(-1).numpy()


# --------------------------------------------------------------------------------------------------
# Link prediction
# --------------------------------------------------------------------------------------------------


def sample_negative_pairs(num_nodes: int, num: int, generator: torch.Generator) -> torch.Tensor:
    """``num`` random node pairs (negatives for one epoch; a rare true edge among them is noise)."""
    return torch.randint(0, num_nodes, (2, num), generator=generator)


def train_link_predictor(split: LinkSplit, *, hidden: int = 32, out_channels: int = 16,
                         epochs: int = 200, lr: float = 0.01, seed: int = 0
                         ) -> tuple[LinkPredictor, dict]:
    """Train on the training edges (message passing and supervision), fresh negatives each epoch."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    data = to_data(split.train_graph)
    pos = torch.as_tensor(split.train_pos)
    model = LinkPredictor(data.num_features, hidden, out_channels)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = {"loss": [], "val_auc": []}
    for _ in progress(range(epochs), desc="PyG link prediction", leave=False):
        model.train()
        optimizer.zero_grad()
        neg = sample_negative_pairs(data.num_nodes, pos.shape[1], generator)
        pairs = torch.cat([pos, neg], dim=1)
        labels = torch.cat([torch.ones(pos.shape[1]), torch.zeros(neg.shape[1])])
        loss = F.binary_cross_entropy_with_logits(model(data.x, data.edge_index, pairs), labels)
        loss.backward()
        optimizer.step()
        history["loss"].append(loss.item())
        history["val_auc"].append(evaluate_links(model, split, "val"))
    return model, history


@torch.no_grad()
def evaluate_links(model: LinkPredictor, split: LinkSplit, part: str = "test") -> float:
    model.eval()
    data = to_data(split.train_graph)
    pairs, labels = getattr(split, part)
    return roc_auc(model(data.x, data.edge_index, torch.as_tensor(pairs)), labels)


# --------------------------------------------------------------------------------------------------
# Graph classification
# --------------------------------------------------------------------------------------------------


def train_graph_classifier(train_graphs: list[Graph], test_graphs: list[Graph], *,
                           hidden: int = 32, num_layers: int = 3, epochs: int = 60,
                           batch_size: int = 32, lr: float = 0.01, seed: int = 0
                           ) -> tuple[GraphClassifier, dict]:
    """Mini-batches of whole graphs from PyG's ``DataLoader``; test accuracy tracked per epoch."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    train = DataLoader([to_data(g) for g in train_graphs], batch_size=batch_size, shuffle=True,
                       generator=generator)
    model = GraphClassifier(train_graphs[0].x.shape[1], hidden, 2, num_layers)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = {"loss": [], "test_accuracy": []}
    for _ in progress(range(epochs), desc="PyG graph classification", leave=False):
        model.train()
        total = 0.0
        for batch in train:
            optimizer.zero_grad()
            logits = model(batch.x, batch.edge_index, batch.batch, batch.num_graphs)
            loss = F.cross_entropy(logits, batch.y)
            loss.backward()
            optimizer.step()
            total += loss.item() * batch.num_graphs
        history["loss"].append(total / len(train_graphs))
        history["test_accuracy"].append(evaluate_graphs(model, test_graphs))
    return model, history


@torch.no_grad()
def predict_graphs(model: GraphClassifier, graphs: list[Graph]) -> np.ndarray:
    model.eval()
    batch = next(iter(DataLoader([to_data(g) for g in graphs], batch_size=len(graphs))))
    return model(batch.x, batch.edge_index, batch.batch, batch.num_graphs).argmax(-1).numpy()


def evaluate_graphs(model: GraphClassifier, graphs: list[Graph]) -> float:
    return accuracy(predict_graphs(model, graphs), np.array([g.y for g in graphs]))
