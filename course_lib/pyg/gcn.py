"""Rating prediction with GCNs in PyG (JAX twin: ``course_lib/jax/gcn.py``).

The same two encoders, decoder and loss as the JAX chapter:

* :class:`GCN` - GCN layers with an MLP node update, self loops and symmetric normalisation
  (what ``jraph.GraphConvolution`` computes), optional layer norm, over the homogeneous graph;
* :class:`HeteroGraphConv` - the seed's design: ``HeteroConv`` of ``GraphConv`` layers, summing
  the edge types per destination (``aggr='sum'``), then a final ``Linear`` per node type;
* :class:`RatingDecoder` - elementwise product of the endpoint embeddings, a ``Linear`` to one
  number, a sigmoid scaled to 0.5-5 stars (:func:`scale_rating`);
* :func:`masked_l1_loss` - mean absolute error over the edges a mask selects.

Training is full-batch, flat ``train()``/``test()`` style; messages pass over training edges.
"""

from __future__ import annotations

import copy
import time

import numpy as np
import torch
from torch import nn
from torch_geometric.data import HeteroData
from torch_geometric.nn import GraphConv, HeteroConv, MessagePassing
from torch_geometric.utils import add_self_loops, degree

from ..graph import BipartiteGraph, EdgeSplit
from ..ratings import errors, message_edges, part_masks, part_pairs, user_pairs
from ..utils import EarlyStopping, progress, torch_device
from .data import RATES, REV_RATES, to_heterodata


def scale_rating(logit: torch.Tensor) -> torch.Tensor:
    """Map any real number into the rating range [0.5, 5]: ``0.5 + 4.5 * sigmoid(logit)``."""
    return 0.5 + (5.0 - 0.5) * torch.sigmoid(logit)


def masked_l1_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean ``|pred - target|`` over the entries where ``mask`` is true (0 if none is)."""
    mask = mask.to(pred.dtype)
    return (torch.abs(pred - target) * mask).sum() / mask.sum().clamp(min=1.0)


class InputLayer(nn.Module):
    """Learned user embedding; learned movie embedding plus a linear map of the genres."""

    def __init__(self, num_users: int, num_movies: int, num_features: int, hidden: int):
        super().__init__()
        self.user_emb = nn.Embedding(num_users, hidden)
        self.movie_emb = nn.Embedding(num_movies, hidden)
        self.movie_lin = nn.Linear(num_features, hidden)

    def forward(self, data: HeteroData) -> dict[str, torch.Tensor]:
        return {"user": self.user_emb(data["user"].node_id),
                "movie": self.movie_lin(data["movie"].x) + self.movie_emb(data["movie"].node_id)}


class MLP(nn.Module):
    """``lin2(relu(lin1(x)))``: the node update of a GCN layer."""

    def __init__(self, features: int):
        super().__init__()
        self.lin1 = nn.Linear(features, features)
        self.lin2 = nn.Linear(features, features)

    def forward(self, x):
        return self.lin2(torch.relu(self.lin1(x)))


class GCNLayer(MessagePassing):
    """MLP update, then the symmetric-normalised sum over neighbours and self loops:
    ``D^-1/2 (A + I) D^-1/2 MLP(X)`` (``jraph.GraphConvolution`` with an MLP ``update_node_fn``).

    The two agree on graphs that hold both directions of every edge, as the course's do. On a
    directed graph jraph scales a message by its sender's *out*-degree, this layer (like PyG's
    ``GCNConv``) by the sender's in-degree.
    """

    def __init__(self, features: int):
        super().__init__(aggr="add")
        self.mlp = MLP(features)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        num_nodes = x.size(0)
        edge_index, _ = add_self_loops(edge_index, num_nodes=num_nodes)
        senders, receivers = edge_index
        deg = degree(receivers, num_nodes, dtype=x.dtype)
        inv_sqrt = deg.pow(-0.5).masked_fill(deg == 0, 0.0)
        norm = inv_sqrt[senders] * inv_sqrt[receivers]
        return self.propagate(edge_index, x=self.mlp(x), norm=norm)

    def message(self, x_j, norm):
        return norm.view(-1, 1) * x_j


class GCN(nn.Module):
    """``num_layers`` x (``GCNLayer``, optional layer norm), ReLU between layers, over the
    homogeneous graph of users (first) and movies (after them), both edge directions."""

    def __init__(self, hidden: int, num_layers: int = 2, layer_norm: bool = True):
        super().__init__()
        self.convs = nn.ModuleList(GCNLayer(hidden) for _ in range(num_layers))
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(num_layers)
                                   ) if layer_norm else None

    def forward(self, x: dict, data: HeteroData) -> dict:
        num_users = x["user"].size(0)
        ei = data[RATES].edge_index
        # the GraphsTuple layout: movie j is node num_users + j; forward edges, then reverses
        users, movies = ei[0], ei[1] + num_users
        edge_index = torch.stack([torch.cat([users, movies]), torch.cat([movies, users])])
        h = torch.cat([x["user"], x["movie"]])
        for i, conv in enumerate(self.convs):
            h = conv(h, edge_index)
            if self.norms is not None:
                h = self.norms[i](h)
            if i < len(self.convs) - 1:
                h = torch.relu(h)
        return {"user": h[:num_users], "movie": h[num_users:]}


class HeteroGraphConv(nn.Module):
    """``num_layers`` x ``HeteroConv({rates, rev_rates: GraphConv(aggr=aggr)}, aggr='sum')``
    with ReLU after each, then a final ``Linear`` per node type.

    ``aggr`` is how a ``GraphConv`` combines neighbours. ``'add'`` (GraphConv's default) sums up
    to thousands of neighbour vectors on MovieLens and saturates the decoder; ``'mean'`` keeps
    the scale of the inputs. ``HeteroConv``'s own ``aggr='sum'`` (over edge types) is the seed's.
    """

    def __init__(self, hidden: int, num_layers: int = 2, aggr: str = "mean"):
        super().__init__()
        self.convs = nn.ModuleList(
            HeteroConv({RATES: GraphConv(hidden, hidden, aggr=aggr),
                        REV_RATES: GraphConv(hidden, hidden, aggr=aggr)}, aggr="sum")
            for _ in range(num_layers))
        self.out = nn.ModuleDict({"user": nn.Linear(hidden, hidden),
                                  "movie": nn.Linear(hidden, hidden)})

    def forward(self, x: dict, data: HeteroData) -> dict:
        for conv in self.convs:
            x = {k: torch.relu(v) for k, v in conv(x, data.edge_index_dict).items()}
        return {k: self.out[k](v) for k, v in x.items()}


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
        self.inputs = InputLayer(num_users, num_movies, num_features, hidden)
        if encoder == "gcn":
            self.gnn = GCN(hidden, num_layers, layer_norm)
        elif encoder == "hetero":
            self.gnn = HeteroGraphConv(hidden, num_layers, aggr)
        else:
            raise ValueError(f"encoder must be 'gcn' or 'hetero', got {encoder!r}")
        self.decoder = RatingDecoder(hidden)

    def embed(self, data: HeteroData) -> dict:
        return self.gnn(self.inputs(data), data)

    def forward(self, data: HeteroData, edge_label_index: torch.Tensor) -> torch.Tensor:
        z = self.embed(data)
        return self.decoder(z["user"], z["movie"], edge_label_index)


def build_model(graph: BipartiteGraph, encoder: str = "gcn", **kwargs) -> RatingModel:
    return RatingModel(graph.num_users, graph.num_movies, graph.movie_x.shape[1],
                       encoder=encoder, **kwargs)


# --------------------------------------------------------------------------------------------------
# Data, training and evaluation
# --------------------------------------------------------------------------------------------------


def rating_graphs(graph: BipartiteGraph, split: EdgeSplit) -> dict[str, HeteroData]:
    """Message-passing graphs for rating prediction: ``train`` and ``val`` pass messages over all
    training edges, ``test`` over training and validation edges."""
    train = to_heterodata(graph, message_edges(split, "train"))
    return {"train": train, "val": train,
            "test": to_heterodata(graph, message_edges(split, "test"))}


def fit(graph: BipartiteGraph, split: EdgeSplit, *, encoder: str = "gcn", hidden: int = 64,
        num_layers: int = 2, layer_norm: bool = True, lr: float = 0.01,
        weight_decay: float = 0.0, epochs: int = 300, patience: int = 30, seed: int = 0,
        device=None) -> tuple[RatingModel, dict]:
    """Full-batch training with an L1 loss on the training edges; early stopping on
    validation MAE (the best epoch's weights are restored). The history holds per-epoch
    ``loss`` (training L1), ``val_loss`` (validation MAE) and ``seconds``, and ``best_epoch``."""
    device = device or torch_device()
    torch.manual_seed(seed)
    graphs = {k: v.to(device) for k, v in rating_graphs(graph, split).items()}
    masks = {k: torch.from_numpy(v).to(device) for k, v in part_masks(graph, split).items()}
    pairs = torch.tensor(graph.edge_index, device=device)  # every rated edge, predicted at once
    target = torch.tensor(graph.rating, device=device)
    model = build_model(graph, encoder, hidden=hidden, num_layers=num_layers,
                        layer_norm=layer_norm).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)

    def train() -> float:
        model.train()
        optimizer.zero_grad()
        loss = masked_l1_loss(model(graphs["train"], pairs), target, masks["train"])
        loss.backward()
        optimizer.step()
        return loss.item()

    @torch.no_grad()
    def test() -> float:
        model.eval()
        return masked_l1_loss(model(graphs["val"], pairs), target, masks["val"]).item()

    history = {"loss": [], "val_loss": [], "seconds": []}
    stopper = EarlyStopping(patience, mode="min")
    bar = progress(range(1, epochs + 1), desc=f"PyG {encoder}")
    for epoch in bar:
        start = time.perf_counter()
        loss = train()
        val_loss = test()
        history["seconds"].append(time.perf_counter() - start)
        history["loss"].append(loss)
        history["val_loss"].append(val_loss)
        if epoch % 10 == 0:
            bar.set_postfix(loss=f"{loss:.4f}", val_mae=f"{val_loss:.4f}")
        if stopper.update(epoch, val_loss, lambda: copy.deepcopy(model.state_dict())):
            break
    model.load_state_dict(stopper.best_checkpoint)
    history["best_epoch"] = stopper.best_epoch
    return model, history


@torch.no_grad()
def predict(model: RatingModel, data: HeteroData, pairs, device=None) -> np.ndarray:
    """Predicted ratings of ``pairs`` ``[2, n]`` (user, movie indices)."""
    device = device or next(model.parameters()).device
    model.eval()
    return model(data.to(device), torch.as_tensor(np.asarray(pairs), device=device)).cpu().numpy()


def evaluate(model: RatingModel, graph: BipartiteGraph, split: EdgeSplit, part: str
             ) -> dict[str, float]:
    """MAE and RMSE on ``part``'s rated edges, passing messages over that part's edges."""
    pairs, ratings = part_pairs(graph, split, part)
    return errors(predict(model, rating_graphs(graph, split)[part], pairs), ratings)


def predict_user(model: RatingModel, graph: BipartiteGraph, split: EdgeSplit, user: int
                 ) -> np.ndarray:
    """Predicted rating of every movie for ``user`` (test-time graph), ``[num_movies]``."""
    return predict(model, rating_graphs(graph, split)["test"], user_pairs(graph, user))


def numpy_weights(model: RatingModel) -> dict[str, np.ndarray]:
    """The weights as numpy arrays under PyG's names (for :func:`course_lib.jax.gcn.params_from_pyg`)."""
    return {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
