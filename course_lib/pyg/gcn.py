"""Rating prediction with GCNs in PyG (JAX twin: ``course_lib/jax/gcn.py``).

The same two encoders, decoder and loss as the JAX chapter:

* :class:`GCN` - GCN layers (:class:`~course_lib.pyg.nn.GCNLayer`): an MLP node update, then
  the product with ``D^-1/2 (A + I) D^-1/2`` built once (``data.adjacency['gcn']``), optional
  layer norm, over the homogeneous graph;
* :class:`~course_lib.pyg.nn.HeteroGraphConv` - ``HeteroConv`` of
  ``GraphConv`` layers over ``rates`` and ``rev_rates`` (their ``adj_t``, built once), summing
  the edge types per destination (``aggr='sum'``), then a final ``Linear`` per node type
  (chapter 5 uses the same encoder on the knowledge graph);
* :class:`RatingDecoder` - elementwise product of the endpoint embeddings, a ``Linear`` to one
  number, a sigmoid scaled to 0.5-5 stars (:func:`scale_rating`);
* :func:`masked_l1_loss` - mean absolute error over the edges a mask selects.

Training is full-batch: each :func:`train_step` predicts every rated edge and keeps the training
edges in the loss; messages pass over training edges.

Speed, milliseconds per epoch on 2 CPU cores (training pass + validation,
``benchmarks/epoch_times.py``), of chapter 4's GCN and HeteroGraphConv (the GCN propagates over
a cached D^-1/2 (A + I) D^-1/2, HeteroGraphConv over each edge type's cached adjacency); before:
the same models propagating edge by edge, a gather and a scatter on every layer of every step:
gcn: 64 + 23 ms before, 28 + 9 ms after; hetero: 85 + 31 ms before, 84 + 21 ms after.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn
from torch_geometric.data import HeteroData

from .. import settings
from ..checkpoints import Checkpoint
from ..graph import BipartiteGraph, EdgeSplit
from ..kg import RATES, reverse
from ..ratings import errors, message_edges, part_masks, part_pairs, user_pairs
from ..training import Fit, fit_loop, settings_for
from ..utils import torch_device
from .data import to_heterodata, with_adjacency
from .nn import GCNLayer, HeteroGraphConv, InputLayer
from .state import TrainState

#: The chapter's hyper-parameters, one dict per encoder (:data:`course_lib.settings.GCN`,
#: read by the JAX twin too); ``fit(..., model='hetero')`` picks the other encoder.
SETTINGS = settings.GCN


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
        h = torch.cat([x["user"], x["movie"]])  # users, then movies
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

    def rate(self, data: HeteroData, edge_label_index: torch.Tensor) -> torch.Tensor:
        """Predicted ratings of the pairs (what ``forward`` returns)."""
        return self(data, edge_label_index)


def build_model(graph: BipartiteGraph, **overrides) -> RatingModel:
    """The rating model of :data:`SETTINGS` (``model``: ``'gcn'`` or ``'hetero'``) with
    ``overrides``, for ``graph``'s users, movies and movie features."""
    s = settings_for(SETTINGS, overrides)
    arch = ({"layer_norm": s["layer_norm"]} if s["model"] == "gcn" else {"aggr": s["aggr"]})
    return RatingModel(graph.num_users, graph.num_movies, graph.movie_x.shape[1],
                       hidden=s["hidden"], encoder=s["model"], num_layers=s["num_layers"],
                       **arch)


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


def train_step(state: TrainState, graph: HeteroData, pairs: torch.Tensor,
               target: torch.Tensor, mask: torch.Tensor
               ) -> tuple[TrainState, float]:
    """One Adam step on the L1 loss of the rated ``pairs`` that ``mask`` selects."""
    model = state.model
    model.train()
    state.optimizer.zero_grad()
    value = loss(model(graph, pairs), target, mask)
    value.backward()
    return state.apply_gradients(), value.item()


@torch.no_grad()
def eval_step(state: TrainState, graph: HeteroData, pairs: torch.Tensor) -> torch.Tensor:
    """Predicted ratings of ``pairs`` ``[2, n]``, passing messages over ``graph``."""
    state.model.eval()
    return state.model.rate(graph, pairs)


def fit(graph: BipartiteGraph, split: EdgeSplit, *, device=None, **overrides) -> Fit:
    """Full-batch training with an L1 loss on the training edges; early stopping on
    validation MAE (the best epoch's weights are restored). Settings: :data:`SETTINGS`
    (``model='gcn'`` or ``'hetero'``) updated with ``overrides``. The history holds
    per-epoch ``loss`` (training L1), ``val_mae`` and ``seconds``, and ``best_epoch``."""
    s = settings_for(SETTINGS, overrides)
    device = device or torch_device()
    torch.manual_seed(s["seed"])
    graphs = {k: v.to(device) for k, v in rating_graphs(graph, split).items()}
    masks = {k: torch.from_numpy(v).to(device) for k, v in part_masks(graph, split).items()}
    pairs = torch.tensor(graph.edge_index, device=device)  # every rated edge, predicted at once
    target = torch.tensor(graph.rating, device=device)
    model = build_model(graph, **overrides).to(device)
    state = TrainState.create(model, torch.optim.Adam(model.parameters(), lr=s["lr"],
                                                      weight_decay=s["weight_decay"]))

    def train_epoch(state):
        return train_step(state, graphs["train"], pairs, target, masks["train"])

    def validate(state):
        return masked_l1_loss(eval_step(state, graphs["val"], pairs), target,
                              masks["val"]).item()

    state, history, best = fit_loop(
        state, train_epoch, validate, snapshot=lambda s: copy.deepcopy(s.model.state_dict()),
        max_epochs=s["max_epochs"], patience=s["patience"], mode="min", metric="val_mae",
        eval_every=s["eval_every"],
        desc=f"PyG {s['model']}",
        checkpoint=Checkpoint.for_fit(f"pyg-gcn-{s['model']}", s, graph, split,
                                      module=__name__))
    state.model.load_state_dict(best)
    return Fit(state, history, history["best_epoch"])


def predict(state: TrainState, graph: HeteroData, pairs) -> np.ndarray:
    """Predicted ratings of ``pairs`` ``[2, n]`` (user, movie indices), passing messages over
    ``graph`` (a :func:`rating_graphs` part)."""
    device = next(state.model.parameters()).device
    return eval_step(state, graph.to(device),
                     torch.as_tensor(np.asarray(pairs), device=device)).cpu().numpy()


def evaluate(state: TrainState, graph: BipartiteGraph, split: EdgeSplit, part: str
             ) -> dict[str, float]:
    """MAE and RMSE on ``part``'s rated edges, passing messages over that part's edges."""
    pairs, ratings = part_pairs(graph, split, part)
    return errors(predict(state, rating_graphs(graph, split)[part], pairs), ratings)


def predict_user(state: TrainState, graph: BipartiteGraph, split: EdgeSplit, user: int
                 ) -> np.ndarray:
    """Predicted rating of every movie for ``user`` (test-time graph), ``[num_movies]``."""
    return predict(state, rating_graphs(graph, split)["test"], user_pairs(graph, user))
