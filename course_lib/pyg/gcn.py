"""Rating prediction with GCNs in PyG (JAX twin: ``course_lib/jax/gcn.py``).

The same two encoders, decoder and loss as the JAX chapter:

* :class:`GCN` - GCN layers with an MLP node update, self loops and symmetric normalisation
  (what ``jraph.GraphConvolution`` computes), optional layer norm, over the homogeneous graph;
* :class:`~course_lib.pyg.nn.HeteroGraphConv` - ``HeteroConv`` of
  ``GraphConv`` layers over ``rates`` and ``rev_rates``, summing the edge types per destination
  (``aggr='sum'``), then a final ``Linear`` per node type (chapter 5 uses the same encoder on
  the knowledge graph);
* :class:`RatingDecoder` - elementwise product of the endpoint embeddings, a ``Linear`` to one
  number, a sigmoid scaled to 0.5-5 stars (:func:`scale_rating`);
* :func:`masked_l1_loss` - mean absolute error over the edges a mask selects.

Training is full-batch: each :func:`train_step` predicts every rated edge and keeps the training
edges in the loss; messages pass over training edges.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn
from torch_geometric.data import HeteroData

from ..checkpoints import Checkpoint
from ..graph import BipartiteGraph, EdgeSplit
from ..kg import RATES, reverse
from ..ratings import errors, message_edges, part_masks, part_pairs, user_pairs
from ..training import fit_loop, with_settings
from ..utils import torch_device
from .data import to_heterodata, with_adjacency
from .nn import GCNLayer, HeteroGraphConv, InputLayer

#: The chapter's hyper-parameters, per encoder (the JAX twin has the same values). Training
#: keys: ``lr``, ``weight_decay``, ``max_epochs``, ``patience`` (epochs without a better
#: validation MAE), ``seed``; the others go to :func:`build_model`. The GCN waits 150 epochs:
#: its validation MAE has flat stretches longer than 50 (``benchmarks/convergence.py``: with
#: a patience of 50, PyG's stopped at epoch 496, 0.007 above the best it reached later).
SETTINGS = {
    "gcn": dict(hidden=32, num_layers=2, layer_norm=True,
                lr=0.005, weight_decay=0.0, max_epochs=1500, patience=150, seed=0),
    "hetero": dict(hidden=64, num_layers=2, aggr="mean",
                   lr=0.003, weight_decay=0.0, max_epochs=600, patience=50, seed=0),
}
TRAINING_KEYS = ("lr", "weight_decay", "max_epochs", "patience", "seed")


def scale_rating(logit: torch.Tensor) -> torch.Tensor:
    """Map any real number into the rating range [0.5, 5]:
    ``0.5 + 4.5 * sigmoid(logit)``."""
    return 0.5 + (5.0 - 0.5) * torch.sigmoid(logit)


def masked_l1_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean ``|pred - target|`` over the entries where ``mask`` is true (0 if none is)."""
    mask = mask.to(pred.dtype)
    return (torch.abs(pred - target) * mask).sum() / mask.sum().clamp(min=1.0)


class GCN(nn.Module):
    """``num_layers`` x (``GCNLayer``, optional layer norm), ReLU between layers, over the
    homogeneous graph of users (first) and movies (after them), both edge directions."""

    def __init__(self, hidden: int, num_layers: int = 2, layer_norm: bool = True):
        super().__init__()
        self.convs = nn.ModuleList(GCNLayer(hidden) for _ in range(num_layers))
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(num_layers)
                                   ) if layer_norm else None

    def forward(self, x: dict, adj) -> dict:
        num_users = x["user"].size(0)
        h = torch.cat([x["user"], x["movie"]])   # one node set: users, then movies
        for i, conv in enumerate(self.convs):
            h = conv(h, adj)
            if self.norms is not None:
                h = self.norms[i](h)
            if i < len(self.convs) - 1:
                h = torch.relu(h)
        return {"user": h[:num_users], "movie": h[num_users:]}


class RatingDecoder(nn.Module):
    """``scale_rating(lin(z_user * z_movie))``: a learned weighting of the dot product."""

    def __init__(self, hidden: int):
        super().__init__()
        self.lin = nn.Linear(hidden, 1)

    def forward(self, z_user, z_movie, edge_label_index):
        # index_select rather than z[idx]: the same gather, with a much faster backward on CPU
        h = (z_user.index_select(0, edge_label_index[0])
             * z_movie.index_select(0, edge_label_index[1]))
        return scale_rating(self.lin(h).squeeze(-1))


class RatingModel(nn.Module):
    """Input layer, an encoder (``'gcn'`` or ``'hetero'``), the rating decoder."""

    def __init__(self, num_users: int, num_movies: int, num_features: int, hidden: int = 64,
                 encoder: str = "gcn", num_layers: int = 2, layer_norm: bool = True,
                 aggr: str = "mean"):
        super().__init__()
        self.inputs = InputLayer({"user": num_users, "movie": num_movies},
                                 {"movie": num_features}, hidden)
        if encoder == "gcn":
            self.gnn = GCN(hidden, num_layers, layer_norm)
        elif encoder == "hetero":
            self.gnn = HeteroGraphConv((RATES, reverse(RATES)), hidden, num_layers=num_layers,
                                       aggr=aggr)
        else:
            raise ValueError(f"encoder must be 'gcn' or 'hetero', got {encoder!r}")
        self.decoder = RatingDecoder(hidden)

    def embed(self, data: HeteroData) -> dict:
        adj = data.adjacency["gcn"] if isinstance(self.gnn, GCN) else data.adj_t_dict
        return self.gnn(self.inputs(data.node_id_dict, data.x_dict), adj)

    def forward(self, data: HeteroData, edge_label_index: torch.Tensor) -> torch.Tensor:
        z = self.embed(data)
        return self.decoder(z["user"], z["movie"], edge_label_index)


def build_model(graph: BipartiteGraph, encoder: str = "gcn", **kwargs) -> RatingModel:
    return RatingModel(graph.num_users, graph.num_movies, graph.movie_x.shape[1],
                       encoder=encoder, **kwargs)


def loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The chapter's training loss: L1 over the edges ``mask`` selects (:func:`masked_l1_loss`)."""
    return masked_l1_loss(pred, target, mask)


# --------------------------------------------------------------------------------------------------
# Data, training and evaluation
# --------------------------------------------------------------------------------------------------


def rating_graphs(graph: BipartiteGraph, split: EdgeSplit) -> dict[str, HeteroData]:
    """Message-passing graphs for rating prediction: ``train`` and ``val`` pass messages over all
    training edges, ``test`` over training and validation edges."""
    train = with_adjacency(to_heterodata(graph, message_edges(split, "train")))
    return {"train": train, "val": train,
            "test": with_adjacency(to_heterodata(graph, message_edges(split, "test")))}


def train_step(model: RatingModel, optimizer: torch.optim.Optimizer, data: HeteroData,
               pairs: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> float:
    """One Adam step on the L1 loss of the rated ``pairs`` that ``mask`` selects."""
    model.train()
    optimizer.zero_grad()
    value = loss(model(data, pairs), target, mask)
    value.backward()
    optimizer.step()
    return value.item()


@torch.no_grad()
def eval_step(model: RatingModel, data: HeteroData, pairs: torch.Tensor) -> torch.Tensor:
    """Predicted ratings of ``pairs`` ``[2, n]``, passing messages over ``data``."""
    model.eval()
    return model(data, pairs)


def fit(graph: BipartiteGraph, split: EdgeSplit, *, encoder: str = "gcn", device=None,
        **overrides) -> tuple[RatingModel, dict]:
    """Full-batch training with an L1 loss on the training edges; early stopping on
    validation MAE (the best epoch's weights are restored). Settings: ``SETTINGS[encoder]``
    updated with ``overrides``. The history holds per-epoch ``loss`` (training L1),
    ``val_mae`` and ``seconds``, and ``best_epoch``."""
    settings = with_settings(SETTINGS[encoder], overrides)
    lr, weight_decay, max_epochs, patience, seed = (settings.pop(k) for k in TRAINING_KEYS)
    device = device or torch_device()
    torch.manual_seed(seed)
    graphs = {k: v.to(device) for k, v in rating_graphs(graph, split).items()}
    masks = {k: torch.from_numpy(v).to(device) for k, v in part_masks(graph, split).items()}
    pairs = torch.tensor(graph.edge_index, device=device)  # every rated edge, predicted at once
    target = torch.tensor(graph.rating, device=device)
    model = build_model(graph, encoder, **settings).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)

    def train_epoch(model):
        return model, train_step(model, optimizer, graphs["train"], pairs, target, masks["train"])

    def validate(model):
        return masked_l1_loss(eval_step(model, graphs["val"], pairs), target, masks["val"]).item()

    model, history, best = fit_loop(
        model, train_epoch, validate, snapshot=lambda m: copy.deepcopy(m.state_dict()),
        max_epochs=max_epochs, patience=patience, mode="min", metric="val_mae",
        desc=f"PyG {encoder}",
        checkpoint=Checkpoint.for_fit(f"pyg-gcn-{encoder}",
                                      with_settings(SETTINGS[encoder], overrides), graph, split))
    model.load_state_dict(best)
    return model, history


def predict(model: RatingModel, data: HeteroData, pairs, device=None) -> np.ndarray:
    """Predicted ratings of ``pairs`` ``[2, n]`` (user, movie indices)."""
    device = device or next(model.parameters()).device
    return eval_step(model, data.to(device),
                     torch.as_tensor(np.asarray(pairs), device=device)).cpu().numpy()


def evaluate(model: RatingModel, graph: BipartiteGraph, split: EdgeSplit, part: str
             ) -> dict[str, float]:
    """MAE and RMSE on ``part``'s rated edges, passing messages over that part's edges."""
    pairs, ratings = part_pairs(graph, split, part)
    return errors(predict(model, rating_graphs(graph, split)[part], pairs), ratings)


def predict_user(model: RatingModel, graph: BipartiteGraph, split: EdgeSplit, user: int
                 ) -> np.ndarray:
    """Predicted rating of every movie for ``user`` (test-time graph), ``[num_movies]``."""
    return predict(model, rating_graphs(graph, split)["test"], user_pairs(graph, user))
