"""Link prediction on the heterogeneous knowledge graph in PyG (JAX twin: ``course_lib/jax/hetero.py``).

The seed's two heterogeneous GNNs, over whatever edge types the graph has (the full knowledge
graph of :mod:`course_lib.kg`, or the plain user-movie graph):

* :class:`InputLayer` - a ``Linear`` map of the movie features; a learned embedding for users,
  genres, directors and actors (a ``Linear`` layer on one-hot ids, without the multiplication);
* :class:`HeteroSAGE` - two ``HeteroConv`` layers of ``SAGEConv`` (``aggr='sum'`` over edge
  types), 64 then 32 features, ReLU in between; the second layer only computes the user and
  movie outputs that the classifier reads;
* :class:`HeteroGraphConv` - ``num_layers`` ``HeteroConv`` layers of ``GraphConv(aggr='mean')``,
  ReLU after each, then a final ``Linear`` per type for users and movies;
* the classifier of chapter 3: the dot product of a user's and a movie's embedding, a logit,
  trained with binary cross-entropy against random negatives.

Training is full-graph: each step embeds every node over the training message-passing edges and
scores one batch of :func:`course_lib.graph.supervision_batches`, the same batches the JAX twin
sees.
"""

from __future__ import annotations

import contextlib
import copy
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.data import HeteroData
from torch_geometric.nn import GraphConv, HeteroConv, SAGEConv

from ..graph import BipartiteGraph, EdgeSplit, supervision_batches
from ..kg import KnowledgeGraph
from ..metrics import roc_auc
from ..utils import torch_device, train_with_early_stopping
from .data import from_knowledge_graph

OUTPUT_TYPES = ("user", "movie")
EMBEDDING_STD = 0.1  # learned embeddings start at N(0, 0.1^2), not torch's N(0, 1): see the chapter


def mean_by_relation(x_src: torch.Tensor, edge_index: torch.Tensor, num_dst: int) -> torch.Tensor:
    """``[num_dst, F]``: for each destination node of one relation, the mean of its sources'
    rows of ``x_src`` (zeros where a node has no edge). ``edge_index`` ``[2, E]``: sources in
    row 0 (index ``x_src``), destinations in row 1. What one ``SAGEConv`` of a ``HeteroConv``
    aggregates before its linear maps."""
    src, dst = edge_index
    total = x_src.new_zeros(num_dst, x_src.size(1)).index_add_(0, dst, x_src.index_select(0, src))
    count = torch.bincount(dst, minlength=num_dst).clamp(min=1).to(x_src.dtype)
    return total / count.unsqueeze(1)


@contextlib.contextmanager
def _only_user_and_movie_outputs():
    """The last layer computes users and movies only (the classifier reads nothing else);
    ``HeteroConv`` warns that the other types are not updated there, which is the point."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="There exist node types .* whose representations")
        yield


class InputLayer(nn.Module):
    """Layer-0 features per node type: ``Linear(movie features)`` for movies, a learned embedding
    for every other type in ``num_nodes``, initialised ``N(0, EMBEDDING_STD^2)``."""

    def __init__(self, num_nodes: dict[str, int], num_features: int, hidden: int):
        super().__init__()
        self.movie_lin = nn.Linear(num_features, hidden)
        self.emb = nn.ModuleDict({t: nn.Embedding(n, hidden) for t, n in num_nodes.items()
                                  if t != "movie"})
        for emb in self.emb.values():
            nn.init.normal_(emb.weight, std=EMBEDDING_STD)

    def forward(self, data: HeteroData) -> dict[str, torch.Tensor]:
        x = {t: emb(data[t].node_id) for t, emb in self.emb.items()}
        x["movie"] = self.movie_lin(data["movie"].x)
        return x


class HeteroSAGE(nn.Module):
    """``HeteroConv({edge type: SAGEConv}, aggr='sum')`` twice: ``hidden`` then ``out`` features."""

    def __init__(self, edge_types, hidden: int = 64, out: int = 32):
        super().__init__()
        self.conv1 = HeteroConv({et: SAGEConv(hidden, hidden) for et in edge_types}, aggr="sum")
        with _only_user_and_movie_outputs():
            self.conv2 = HeteroConv({et: SAGEConv(hidden, out) for et in edge_types
                                     if et[2] in OUTPUT_TYPES}, aggr="sum")

    def forward(self, x: dict, edge_index_dict: dict) -> dict:
        x = {t: F.relu(h) for t, h in self.conv1(x, edge_index_dict).items()}
        return self.conv2(x, edge_index_dict)


class HeteroGraphConv(nn.Module):
    """``num_layers`` x ``HeteroConv({edge type: GraphConv(aggr=aggr)}, aggr='sum')`` with ReLU,
    then ``Linear(hidden, out)`` per output type (users, movies).

    ``aggr='mean'`` rather than GraphConv's default ``'add'`` (chapter 4: sums over thousands of
    neighbours blow up the scale).
    """

    def __init__(self, edge_types, hidden: int = 64, out: int = 32, num_layers: int = 2,
                 aggr: str = "mean"):
        super().__init__()
        with _only_user_and_movie_outputs():
            self.convs = nn.ModuleList(
                HeteroConv({et: GraphConv(hidden, hidden, aggr=aggr) for et in edge_types
                            if i < num_layers - 1 or et[2] in OUTPUT_TYPES}, aggr="sum")
                for i in range(num_layers))
        self.out = nn.ModuleDict({t: nn.Linear(hidden, out) for t in OUTPUT_TYPES})

    def forward(self, x: dict, edge_index_dict: dict) -> dict:
        for conv in self.convs:
            x = {t: F.relu(h) for t, h in conv(x, edge_index_dict).items()}
        return {t: self.out[t](x[t]) for t in OUTPUT_TYPES}


ARCHITECTURES = {"sage": HeteroSAGE, "graphconv": HeteroGraphConv}


class LinkModel(nn.Module):
    """Input layer, a heterogeneous encoder (``'sage'`` or ``'graphconv'``), dot-product scores."""

    def __init__(self, num_nodes: dict[str, int], num_features: int, edge_types,
                 architecture: str = "sage", hidden: int = 64, out: int = 32):
        super().__init__()
        if architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {sorted(ARCHITECTURES)}, "
                             f"got {architecture!r}")
        self.inputs = InputLayer(num_nodes, num_features, hidden)
        self.gnn = ARCHITECTURES[architecture](list(edge_types), hidden, out)

    def embed(self, data: HeteroData) -> dict[str, torch.Tensor]:
        """Final ``{'user': [U, out], 'movie': [M, out]}`` embeddings over ``data``'s edges."""
        return self.gnn(self.inputs(data), data.edge_index_dict)

    def forward(self, data: HeteroData, edge_label_index: torch.Tensor) -> torch.Tensor:
        z = self.embed(data)
        return (z["user"].index_select(0, edge_label_index[0])
                * z["movie"].index_select(0, edge_label_index[1])).sum(-1)


def build_model(kg: KnowledgeGraph, architecture: str = "sage", **kwargs) -> LinkModel:
    """A :class:`LinkModel` for ``kg``'s node and edge types."""
    num_nodes = {t: kg.num_nodes[t] for t in kg.node_types}
    return LinkModel(num_nodes, kg.movie_x.shape[1], kg.edge_types, architecture, **kwargs)


# --------------------------------------------------------------------------------------------------
# Data, training and evaluation (flat, as in PyG's examples)
# --------------------------------------------------------------------------------------------------


def kg_graphs(kg: KnowledgeGraph, graph: BipartiteGraph, split: EdgeSplit) -> dict[str, HeteroData]:
    """``{'train', 'val', 'test'}`` -> ``HeteroData`` with that part's message-passing ratings
    plus ``kg``'s side relations."""
    return {part: from_knowledge_graph(kg, kg.message_edges(graph, split, part))
            for part in ("train", "val", "test")}


@torch.no_grad()
def embed_all(model: LinkModel, data: HeteroData, device=None) -> tuple[np.ndarray, np.ndarray]:
    """``(z_user [U, out], z_movie [M, out])`` over the whole graph ``data``."""
    device = device or next(model.parameters()).device
    model.eval()
    z = model.embed(data.to(device))
    return z["user"].cpu().numpy(), z["movie"].cpu().numpy()


def evaluate(model: LinkModel, data: HeteroData, pairs, labels) -> float:
    """ROC-AUC of ``model`` on labelled ``pairs`` ``[2, n]``, propagating over ``data``."""
    z_user, z_movie = embed_all(model, data)
    return roc_auc((z_user[pairs[0]] * z_movie[pairs[1]]).sum(1), labels)


def fit(kg: KnowledgeGraph, graph: BipartiteGraph, split: EdgeSplit, *,
        architecture: str = "sage", hidden: int = 64, out: int = 32, lr: float = 5e-3,
        batch_size: int = 2048, max_epochs: int = 30, patience: int = 3, seed: int = 0,
        device=None) -> tuple[LinkModel, dict]:
    """Train with early stopping on validation AUC; return the best model and the history.

    Each epoch runs :func:`~course_lib.graph.supervision_batches` (seeded with ``seed``, so the
    JAX twin sees the same batches). The history holds per-epoch ``loss``, ``val_auc`` and
    ``seconds`` (training time), and ``best_epoch`` (1-based).
    """
    device = device or torch_device()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    graphs = {k: v.to(device) for k, v in kg_graphs(kg, graph, split).items()}
    model = build_model(kg, architecture, hidden=hidden, out=out).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    val_pairs, val_labels = split.labelled_pairs(graph, "val")

    def train() -> float:
        model.train()
        losses = []
        for pairs, labels in supervision_batches(graph, split, batch_size, rng):
            optimizer.zero_grad()
            logits = model(graphs["train"], torch.from_numpy(pairs).to(device))
            loss = F.binary_cross_entropy_with_logits(logits, torch.from_numpy(labels).to(device))
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        return float(np.mean(losses))

    history, best = train_with_early_stopping(
        train, lambda: evaluate(model, graphs["val"], val_pairs, val_labels),
        lambda: copy.deepcopy(model.state_dict()),
        max_epochs=max_epochs, patience=patience, desc=f"PyG {architecture} ({kg.name})")
    model.load_state_dict(best)
    return model, history


def numpy_weights(model: LinkModel) -> dict[str, np.ndarray]:
    """The weights as numpy arrays under PyG's names (for
    :func:`course_lib.jax.hetero.params_from_pyg`)."""
    return {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
