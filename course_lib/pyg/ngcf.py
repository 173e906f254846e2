"""NGCF in PyG (JAX twin: ``course_lib/jax/ngcf.py``).

Neural Graph Collaborative Filtering (Wang et al., SIGIR 2019). Every user and movie has an ego
embedding ``E(0)``; each of ``L`` layers computes

    E(l+1) = LeakyReLU( (L + I) E(l) W1  +  (L E(l) ⊙ E(l)) W2 )

with ``L = D^-1/2 A D^-1/2`` the symmetric-normalised bipartite adjacency (a sparse CSR
:class:`~course_lib.pyg.data.Adjacency`, :func:`course_lib.pyg.data.to_normalized_adjacency`), and the final embedding concatenates all
layers, ``[E(0) | E(1) | ... | E(L)]``. The first term passes neighbours' features (and the node's
own) through ``W1``; the second lets a message depend on how alike sender and receiver are.

Optional dropout as in the paper, during training only: *message dropout* on each layer's
output, *node dropout* on the entries of ``Ã`` (rescaled by ``1 / (1 - p)``).

Same interface as PyG's ``LightGCN`` (``embedding``, ``get_embedding(adj)``), so
:mod:`course_lib.pyg.bpr` trains both.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .data import Adjacency
from .nn import dropout


class NGCFConv(nn.Module):
    """One NGCF layer: ``LeakyReLU((L + I) E W1 + (L E ⊙ E) W2)`` (no biases, as the
    formula)."""

    def __init__(self, in_channels: int, out_channels: int,
                 negative_slope: float = 0.2):
        super().__init__()
        self.lin1 = nn.Linear(in_channels, out_channels, bias=False)
        self.lin2 = nn.Linear(in_channels, out_channels, bias=False)
        self.negative_slope = negative_slope
        nn.init.xavier_uniform_(self.lin1.weight)
        nn.init.xavier_uniform_(self.lin2.weight)

    def forward(self, x: torch.Tensor, adj: Adjacency) -> torch.Tensor:
        side = adj.propagate(x)                            # L E: neighbours only
        return F.leaky_relu(self.lin1(side + x) + self.lin2(side * x),
                            self.negative_slope)


class NGCF(nn.Module):
    """Ego embeddings ``[N, dim]`` and ``num_layers`` :class:`NGCFConv`; the output
    concatenates all layers: ``[N, dim * (num_layers + 1)]``."""

    def __init__(self, num_nodes: int, embedding_dim: int = 64, num_layers: int = 3,
                 message_dropout: float = 0.1, node_dropout: float = 0.0):
        super().__init__()
        self.embedding = nn.Embedding(num_nodes, embedding_dim)
        nn.init.xavier_uniform_(self.embedding.weight)
        self.convs = nn.ModuleList(NGCFConv(embedding_dim, embedding_dim)
                                   for _ in range(num_layers))
        self.message_dropout, self.node_dropout = message_dropout, node_dropout

    def get_embedding(self, adj: Adjacency) -> torch.Tensor:
        if self.training and self.node_dropout > 0:
            adj = adj._replace(data=F.dropout(adj.data, self.node_dropout))
        x = self.embedding.weight
        layers = [x]
        for conv in self.convs:
            x = dropout(conv(x, adj), self.message_dropout, self.training)
            layers.append(x)
        return torch.cat(layers, dim=-1)
