"""Layers written by hand with PyG's ``MessagePassing`` (JAX twin: ``course_lib/jax/message_passing.py``).

``GCNLayer`` computes what :func:`course_lib.message_passing.gcn_layer` computes in numpy and
what PyG's ``GCNConv`` (re-exported by :mod:`course_lib.pyg.nn`) computes:
``D^-1/2 (A + I) D^-1/2 X W + b``. ``GraphConvLayer`` is chapter 1's exercise: the layer of
Morris et al. (PyG's ``GraphConv``), ``x_i W_root + (sum_j w_ji x_j) W_rel + b``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch_geometric.nn import MessagePassing
from torch_geometric.utils import add_self_loops, degree


class GCNLayer(MessagePassing):
    """GCN layer by hand: transform, normalise each edge, sum the messages, add the
    bias."""

    def __init__(self, in_channels: int, out_channels: int):
        # aggregate_sum: the messages arriving at a node are summed
        super().__init__(aggr="add")
        self.lin = nn.Linear(in_channels, out_channels, bias=False)
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.reset_parameters()

    def reset_parameters(self):
        super().reset_parameters()
        nn.init.xavier_uniform_(self.lin.weight)
        nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        num_nodes = x.size(0)
        edge_index, _ = add_self_loops(edge_index, num_nodes=num_nodes)
        senders, receivers = edge_index
        deg = degree(receivers, num_nodes, dtype=x.dtype)  # edges into each node
        inv_sqrt = deg.pow(-0.5).masked_fill(deg == 0, 0.0)
        norm = inv_sqrt[senders] * inv_sqrt[receivers]  # symmetric_norm
        return self.propagate(edge_index, x=self.lin(x), norm=norm) + self.bias

    def message(self, x_j: torch.Tensor, norm: torch.Tensor) -> torch.Tensor:
        # x_j: the transformed features of each edge's sender
        return norm.view(-1, 1) * x_j


class GraphConvLayer(MessagePassing):
    """x_i' = x_i W_root + (sum over edges j -> i of w_ji x_j) W_rel + b."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(aggr="add")  # the weighted messages are summed
        self.lin_rel = nn.Linear(in_channels, out_channels)  # W_rel and the bias b
        self.lin_root = nn.Linear(in_channels, out_channels, bias=False)  # W_root

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor,
                edge_weight: torch.Tensor) -> torch.Tensor:
        aggregated = self.propagate(edge_index, x=x, edge_weight=edge_weight)
        return self.lin_rel(aggregated) + self.lin_root(x)

    def message(self, x_j: torch.Tensor, edge_weight: torch.Tensor) -> torch.Tensor:
        # x_j: the sender's features, one row per edge
        return edge_weight.view(-1, 1) * x_j


@torch.no_grad()
def set_gcn_weights(layer: nn.Module, weight: np.ndarray, bias: np.ndarray) -> nn.Module:
    """Load ``weight [F_in, F_out]`` and ``bias [F_out]`` into a ``GCNLayer`` or PyG ``GCNConv``.

    torch's ``Linear`` stores the transposed matrix ``[F_out, F_in]``.
    """
    layer.lin.weight.copy_(torch.as_tensor(np.asarray(weight).T, dtype=torch.float32))
    layer.bias.copy_(torch.as_tensor(bias, dtype=torch.float32))
    return layer
