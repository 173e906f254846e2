"""Link prediction on the heterogeneous knowledge graph in PyG (JAX twin: ``course_lib/jax/hetero.py``).

Two heterogeneous GNNs, over whatever edge types the graph has (the full knowledge
graph of :mod:`course_lib.kg`, or the plain user-movie graph):

* :class:`~course_lib.pyg.nn.InputLayer` - a ``Linear`` map of the movie features; a learned
  embedding for users, genres, directors and actors (a ``Linear`` layer on one-hot ids, without
  the multiplication);
* :class:`HeteroSAGE` - two ``HeteroConv`` layers of ``SAGEConv`` (``aggr='sum'`` over edge
  types), 64 then 32 features, ReLU in between; the second layer only computes the user and
  movie outputs that the classifier reads;
* :class:`~course_lib.pyg.nn.HeteroGraphConv` - chapter 4's encoder: ``num_layers``
  ``HeteroConv`` layers of ``GraphConv(aggr='mean')``, ReLU after each, then a final ``Linear``
  per type for users and movies;
* the classifier of chapter 3: the dot product of a user's and a movie's embedding, a logit,
  trained with binary cross-entropy against random negatives.

Training is full-graph: each step embeds every node over the training message-passing edges and
scores one batch of :func:`course_lib.graph.supervision_batches`, the same batches the JAX twin
sees.

Speed, milliseconds per epoch on 2 CPU cores (training pass + validation,
``benchmarks/epoch_times.py``), of chapter 5's encoders on the knowledge graph (each edge type's
cached adjacency); before: the same models propagating edge by edge, a gather and a scatter on
every layer of every step: sage: 777 + 47 ms before, 769 + 30 ms after; graphconv: 864 + 53 ms
before, 892 + 35 ms after.
"""

from __future__ import annotations

import copy
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.data import HeteroData
from torch_geometric.nn import HeteroConv

from .. import settings
from ..checkpoints import Checkpoint
from ..graph import BipartiteGraph, EdgeSplit, supervision_batches
from ..kg import KnowledgeGraph
from ..metrics import roc_auc
from ..training import Fit, fit_loop, settings_for
from ..utils import torch_device
from .data import from_knowledge_graph
from .nn import HeteroGraphConv, InputLayer, SAGEConv, bce_loss, partial_outputs
from .state import TrainState

#: The chapter's hyper-parameters, one dict per encoder (:data:`course_lib.settings.HETERO`,
#: read by the JAX twin too); ``fit(..., model='graphconv')`` picks the other encoder.
SETTINGS = settings.HETERO
OUTPUT_TYPES = ("user", "movie")
EMBEDDING_STD = 0.1  # learned embeddings start at N(0, 0.1^2), not torch's N(0, 1): see the chapter


def mean_by_relation(x_src: torch.Tensor, edge_index: torch.Tensor, num_dst: int
                     ) -> torch.Tensor:
    """``[num_dst, F]``: for each destination node of one relation, the mean of its
    sources' rows of ``x_src`` (zeros where a node has no edge). ``edge_index``
    ``[2, E]``: sources in row 0 (index ``x_src``), destinations in row 1. What one
    ``SAGEConv`` of a ``HeteroConv`` aggregates before its linear maps."""
    src, dst = edge_index
    total = x_src.new_zeros(num_dst, x_src.size(1)).index_add_(
        0, dst, x_src.index_select(0, src))
    count = torch.bincount(dst, minlength=num_dst).clamp(min=1).to(x_src.dtype)
    return total / count.unsqueeze(1)


class HeteroSAGE(nn.Module):
    """``HeteroConv({edge type: SAGEConv}, aggr=relation_aggr)`` twice:
    ``hidden`` then ``out_channels`` features; the second layer computes users and
    movies only."""

    def __init__(self, edge_types, hidden: int = 64, out_channels: int = 32,
                 relation_aggr: str = "sum"):
        super().__init__()
        self.conv1 = HeteroConv({et: SAGEConv(hidden, hidden) for et in edge_types},
                                aggr=relation_aggr)
        with partial_outputs():
            self.conv2 = HeteroConv({et: SAGEConv(hidden, out_channels)
                                     for et in edge_types if et[2] in OUTPUT_TYPES},
                                    aggr=relation_aggr)

    def forward(self, x: dict, adj_t_dict: dict) -> dict:
        x = {t: F.relu(h) for t, h in self.conv1(x, adj_t_dict).items()}
        return self.conv2(x, adj_t_dict)


ARCHITECTURES = {"sage": HeteroSAGE,
                 "graphconv": partial(HeteroGraphConv, output_types=OUTPUT_TYPES)}


class LinkModel(nn.Module):
    """Input layer, a heterogeneous encoder (``'sage'`` or ``'graphconv'``), dot-product scores.

    ``num_nodes``: nodes per type (every type but movies gets a learned embedding);
    ``num_features``: the width of the movie features."""

    def __init__(self, num_nodes: dict[str, int], num_features: int, edge_types,
                 architecture: str = "sage", hidden: int = 64, out_channels: int = 32,
                 relation_aggr: str = "sum"):
        super().__init__()
        if architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {sorted(ARCHITECTURES)}, "
                             f"got {architecture!r}")
        self.inputs = InputLayer({t: n for t, n in num_nodes.items() if t != "movie"},
                                 {"movie": num_features}, hidden, embedding_std=EMBEDDING_STD)
        self.gnn = ARCHITECTURES[architecture](tuple(edge_types), hidden,
                                               out_channels=out_channels,
                                               relation_aggr=relation_aggr)

    def embed(self, data: HeteroData) -> dict[str, torch.Tensor]:
        """Final ``{'user': [U, out], 'movie': [M, out]}`` embeddings over ``data``'s edges."""
        return self.gnn(self.inputs(data.node_id_dict, data.x_dict), data.adj_t_dict)

    def forward(self, data: HeteroData, edge_label_index: torch.Tensor) -> torch.Tensor:
        z = self.embed(data)
        return (z["user"].index_select(0, edge_label_index[0])
                * z["movie"].index_select(0, edge_label_index[1])).sum(-1)


def build_model(kg: KnowledgeGraph, **overrides) -> LinkModel:
    """A :class:`LinkModel` for ``kg``'s node types, movie features and edge types, with
    :data:`SETTINGS` (``model``: ``'sage'`` or ``'graphconv'``) updated with ``overrides``."""
    s = settings_for(SETTINGS, overrides)
    num_nodes = {t: kg.num_nodes[t] for t in kg.node_types}
    return LinkModel(num_nodes, kg.movie_x.shape[1], kg.edge_types, s["model"],
                     hidden=s["hidden"], out_channels=s["out_channels"],
                     relation_aggr=s["relation_aggr"])


def loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The chapter's training loss: binary cross-entropy with logits (chapter 3's)."""
    return bce_loss(logits, labels)


# --------------------------------------------------------------------------------------------------
# Data, training and evaluation
# --------------------------------------------------------------------------------------------------


def kg_graphs(kg: KnowledgeGraph, graph: BipartiteGraph, split: EdgeSplit) -> dict[str, HeteroData]:
    """``{'train', 'val', 'test'}`` -> ``HeteroData`` with that part's message-passing ratings
    plus ``kg``'s side relations."""
    return {part: from_knowledge_graph(kg, kg.message_edges(graph, split, part))
            for part in ("train", "val", "test")}


def train_step(state: TrainState, graph: HeteroData, pairs: torch.Tensor,
               labels: torch.Tensor) -> tuple[TrainState, float]:
    """One Adam step on the binary cross-entropy of one batch of labelled pairs."""
    model = state.model
    model.train()
    state.optimizer.zero_grad()
    value = loss(model(graph, pairs), labels)
    value.backward()
    return state.apply_gradients(), value.item()


@torch.no_grad()
def eval_step(state: TrainState, graph: HeteroData, pairs: torch.Tensor) -> torch.Tensor:
    """Logits of ``pairs`` ``[2, n]``, propagating over ``graph``."""
    state.model.eval()
    return state.model(graph, pairs)


@torch.no_grad()
def embed_all(state: TrainState, graph: HeteroData) -> tuple[np.ndarray, np.ndarray]:
    """``(z_user [U, out], z_movie [M, out])`` over the whole ``graph``."""
    model = state.model
    model.eval()
    z = model.embed(graph.to(next(model.parameters()).device))
    return z["user"].cpu().numpy(), z["movie"].cpu().numpy()


def evaluate(state: TrainState, graph: HeteroData, pairs, labels) -> float:
    """ROC-AUC of the model on labelled ``pairs`` ``[2, n]``, propagating over ``graph``."""
    device = next(state.model.parameters()).device
    logits = eval_step(state, graph.to(device),
                       torch.as_tensor(np.asarray(pairs), device=device))
    return roc_auc(logits.cpu().numpy(), labels)


def fit(graph: BipartiteGraph, split: EdgeSplit, *, kg: KnowledgeGraph, device=None,
        **overrides) -> Fit:
    """Train on ``kg`` (its side relations, and ``split``'s ratings of ``graph``) with early
    stopping on validation AUC; return the best state and the history. Settings:
    :data:`SETTINGS` (``model='sage'`` or ``'graphconv'``) updated with ``overrides``.

    Each epoch runs :func:`~course_lib.graph.supervision_batches` (seeded with ``seed``, so the
    JAX twin sees the same batches). The history holds per-epoch ``loss``, ``val_auc`` and
    ``seconds`` (training time), and ``best_epoch`` (1-based).
    """
    s = settings_for(SETTINGS, overrides)
    device = device or torch_device()
    torch.manual_seed(s["seed"])
    rng = np.random.default_rng(s["seed"])
    graphs = {k: v.to(device) for k, v in kg_graphs(kg, graph, split).items()}
    model = build_model(kg, **overrides).to(device)
    state = TrainState.create(model, torch.optim.Adam(model.parameters(), lr=s["lr"]))
    val_pairs, val_labels = split.labelled_pairs(graph, "val")

    def train_epoch(state):
        losses = []
        for pairs, labels in supervision_batches(graph, split, s["batch_size"], rng):
            state, value = train_step(state, graphs["train"], torch.from_numpy(pairs).to(device),
                                      torch.from_numpy(labels).to(device))
            losses.append(value)
        return state, float(np.mean(losses))

    state, history, best = fit_loop(
        state, train_epoch, lambda state: evaluate(state, graphs["val"], val_pairs, val_labels),
        snapshot=lambda state: copy.deepcopy(state.model.state_dict()),
        max_epochs=s["max_epochs"], patience=s["patience"], mode="max", metric="val_auc",
        desc=f"PyG {s['model']} ({kg.name})",
        checkpoint=Checkpoint.for_fit(f"pyg-hetero-{s['model']}-{kg.name.replace(' ', '-')}",
                                      s, kg, graph, split, module=__name__))
    state.model.load_state_dict(best)
    return Fit(state, history, history["best_epoch"])
