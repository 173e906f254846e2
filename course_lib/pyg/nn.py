"""The course's PyG layers and losses, in one place (JAX twin: ``course_lib/jax/nn.py``).

Chapter modules import their layers from here, never from another chapter. Where PyG has the
layer (``GCNConv``, ``SAGEConv``, ``GraphConv``), it is re-exported as it is; the flax twin has the
same parameter names, so the same weights give the same outputs (``tests/test_nn.py``).
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.nn import GCNConv, GraphConv, HeteroConv, MessagePassing, SAGEConv
from torch_geometric.utils import add_self_loops, degree, scatter

__all__ = ["GCNConv", "GCNLayer", "GraphConv", "HeteroGraphConv", "InputLayer", "MLP",
           "SAGEConv", "bce_loss", "cross_entropy", "mean_aggregate", "numpy_weights",
           "partial_outputs"]


# --------------------------------------------------------------------------------------------------
# Losses
# --------------------------------------------------------------------------------------------------


def bce_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy with logits. Flax twin: :func:`course_lib.jax.nn.bce_loss`."""
    return F.binary_cross_entropy_with_logits(logits, labels)


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor,
                  mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean softmax cross-entropy of integer ``labels`` over the rows of ``logits`` where
    ``mask`` is True (all rows if None). Flax twin: :func:`course_lib.jax.nn.cross_entropy`."""
    losses = F.cross_entropy(logits, labels, reduction="none")
    if mask is None:
        return losses.mean()
    return (losses * mask).sum() / mask.sum()


# --------------------------------------------------------------------------------------------------
# Aggregation
# --------------------------------------------------------------------------------------------------


def mean_aggregate(x_src: torch.Tensor, senders: torch.Tensor, receivers: torch.Tensor,
                   num_dst: int) -> torch.Tensor:
    """``[num_dst, F]``: for each receiver, the mean of its senders' rows of ``x_src`` (zeros
    for a receiver without edges): what ``SAGEConv(aggr='mean')`` aggregates.
    Flax twin: :func:`course_lib.jax.nn.mean_aggregate`."""
    return scatter(x_src[senders], receivers, dim=0, dim_size=num_dst, reduce="mean")


# --------------------------------------------------------------------------------------------------
# Convolutions over one node set or one edge type
# --------------------------------------------------------------------------------------------------

# ``GCNConv`` is PyG's own layer, re-exported so that chapters import every layer from here:
# ``D^-1/2 (A + I) D^-1/2 X W + b`` with a glorot-uniform ``lin.weight`` and a zero ``bias``.
# Flax twin: :class:`course_lib.jax.nn.GCNConv` (same parameter names, ``out_channels``).
#
# ``SAGEConv`` is PyG's own layer, re-exported so that chapters import every layer from here:
# ``out_i = lin_l(mean_{j -> i} x_j) + lin_r(x_i)``, ``lin_l`` with a bias, ``lin_r`` without.
# Flax twin: :class:`course_lib.jax.nn.SAGEConv` (same parameter names, ``out_channels``).
#
# ``GraphConv`` is PyG's own layer, re-exported so that chapters import every layer from here:
# ``out_i = lin_rel(aggr_{j -> i} x_j) + lin_root(x_i)``, ``lin_rel`` with a bias, ``lin_root``
# without. Flax twin: :class:`course_lib.jax.nn.GraphConv` (same parameter names).


class MLP(nn.Module):
    """``lin2(relu(lin1(x)))``: the node update of a GCN layer. Flax twin:
    :class:`course_lib.jax.nn.MLP`."""

    def __init__(self, features: int):
        super().__init__()
        self.lin1 = nn.Linear(features, features)
        self.lin2 = nn.Linear(features, features)

    def forward(self, x):
        return self.lin2(torch.relu(self.lin1(x)))


class GCNLayer(MessagePassing):
    """MLP update, then the symmetric-normalised sum over neighbours and self loops:
    ``D^-1/2 (A + I) D^-1/2 MLP(X)`` over one node set. Flax twin:
    :class:`course_lib.jax.nn.GCNLayer` (``jraph.GraphConvolution`` with an MLP
    ``update_node_fn``).

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


# --------------------------------------------------------------------------------------------------
# Heterogeneous graphs: input layers and the heterogeneous convolution
# --------------------------------------------------------------------------------------------------


class InputLayer(nn.Module):
    """Layer-0 features per node type: ``lin[t](x[t])`` for the types in ``num_features``
    (``{type: input width}``), plus a learned embedding ``emb[t](node_id[t])`` for the types in
    ``num_embeddings`` (``{type: number of nodes}``), initialised ``N(0, embedding_std^2)``.

    Chapter 4 embeds users and movies and adds a linear map of the genres to the movies;
    chapter 5 embeds every type but movies, which are their features only. Flax twin:
    :class:`course_lib.jax.nn.InputLayer`.
    """

    def __init__(self, num_embeddings: dict[str, int], num_features: dict[str, int],
                 hidden: int, embedding_std: float = 1.0):
        super().__init__()
        self.emb = nn.ModuleDict({t: nn.Embedding(n, hidden) for t, n in num_embeddings.items()})
        self.lin = nn.ModuleDict({t: nn.Linear(f, hidden) for t, f in num_features.items()})
        if embedding_std != 1.0:  # torch's Embedding starts at N(0, 1)
            for emb in self.emb.values():
                nn.init.normal_(emb.weight, std=embedding_std)

    def forward(self, node_id: dict, x: dict) -> dict[str, torch.Tensor]:
        out = {t: emb(node_id[t]) for t, emb in self.emb.items()}
        for t, lin in self.lin.items():
            h = lin(x[t])
            out[t] = h + out[t] if t in out else h
        return out


@contextlib.contextmanager
def partial_outputs():
    """Build a ``HeteroConv`` that updates some node types only (a last layer that computes
    what the decoder reads): ``HeteroConv`` warns that the other types are not updated, which
    is the point."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="There exist node types .* whose representations")
        yield


class HeteroGraphConv(nn.Module):
    """``num_layers`` x ``HeteroConv({edge type: GraphConv(aggr=aggr)}, aggr=relation_aggr)``
    with ReLU after each, then ``Linear(hidden, out_channels)`` (default ``hidden``) per output
    type; the last layer computes the output types only. Flax twin:
    :class:`course_lib.jax.nn.HeteroGraphConv`.

    ``aggr`` is how a ``GraphConv`` combines neighbours: ``'add'`` (GraphConv's default) sums up
    to thousands of neighbour vectors on MovieLens and saturates what follows; ``'mean'`` keeps
    the scale of the inputs. ``relation_aggr`` combines the edge types that reach a node type.
    """

    def __init__(self, edge_types, hidden: int, out_channels: int | None = None,
                 num_layers: int = 2, aggr: str = "mean", relation_aggr: str = "sum",
                 output_types=("user", "movie")):
        super().__init__()
        with partial_outputs():
            self.convs = nn.ModuleList(
                HeteroConv({et: GraphConv(hidden, hidden, aggr=aggr) for et in edge_types
                            if i < num_layers - 1 or et[2] in output_types}, aggr=relation_aggr)
                for i in range(num_layers))
        self.out = nn.ModuleDict({t: nn.Linear(hidden, out_channels or hidden)
                                  for t in output_types})

    def forward(self, x: dict, edge_index_dict: dict) -> dict:
        for conv in self.convs:
            x = {t: torch.relu(h) for t, h in conv(x, edge_index_dict).items()}
        return {t: out(x[t]) for t, out in self.out.items()}


# --------------------------------------------------------------------------------------------------
# Weights for parity checks
# --------------------------------------------------------------------------------------------------


def numpy_weights(model: nn.Module) -> dict[str, np.ndarray]:
    """The model's weights as numpy arrays under PyG's own names (``model.state_dict()``).

    :func:`course_lib.jax.nn.params_from_torch` turns them into flax parameters.
    """
    return {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
