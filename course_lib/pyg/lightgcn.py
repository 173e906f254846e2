"""LightGCN and matrix factorisation in PyG (JAX twin: ``course_lib/jax/lightgcn.py``).

LightGCN (He et al., SIGIR 2020) keeps only what NGCF's ablations showed to matter: no weight
matrices, no non-linearity, no self loops. Each layer is one propagation ``E(l+1) = Ã E(l)``
(``Ã``: the normalised adjacency) and
the final embedding is the mean of all layers, ``(E(0) + ... + E(L)) / (L + 1)``. PyG ships it
as ``torch_geometric.nn.models.LightGCN`` (layers are ``LGConv``); :class:`LightGCN` is PyG's
model with one change: it propagates over the course's pre-normalised, cached
:class:`~course_lib.pyg.data.Adjacency` (the weights are already ``1 / sqrt(d_i d_j)``), whose
gradient needs no transposition of the sparse matrix on every step.

Matrix factorisation with BPR is the same model with **zero layers**: the score of a pair is the
dot product of the two ego embeddings.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch_geometric.nn import models

from .data import Adjacency


class LightGCN(models.LightGCN):
    """PyG's ``LightGCN`` (ego embeddings ``embedding``, initialised Xavier-uniform) whose
    ``get_embedding(adj)`` is :func:`layer_mean` over an :class:`Adjacency`."""

    def __init__(self, num_nodes: int, embedding_dim: int = 64, num_layers: int = 3):
        super().__init__(num_nodes, embedding_dim, num_layers, normalize=False)

    def get_embedding(self, adj: Adjacency) -> torch.Tensor:
        return layer_mean(self.embedding.weight, adj.propagate, self.num_layers)


def layer_mean(ego: torch.Tensor, propagate: Callable, num_layers: int) -> torch.Tensor:
    """LightGCN's final embeddings, the mean of its layers:
    ``(E0 + E1 + ... + EL) / (L + 1)`` with ``E0 = ego``, ``E(l+1) = propagate(El)``
    (``propagate(x)`` computes ``Ã @ x``, the normalised adjacency times ``x``) and
    ``L = num_layers``: what PyG's ``LightGCN`` computes with its default ``alpha``.
    With no layer it returns the ego embeddings (matrix factorisation)."""
    x, total = ego, ego
    for _ in range(num_layers):
        x = propagate(x)
        total = total + x
    return total / (num_layers + 1)


def build_lightgcn(num_nodes: int, embedding_dim: int = 64, num_layers: int = 3) -> LightGCN:
    """LightGCN (ego embeddings initialised Xavier-uniform) over a pre-normalised
    adjacency."""
    return LightGCN(num_nodes, embedding_dim, num_layers)


def build_mf(num_nodes: int, embedding_dim: int = 64) -> LightGCN:
    """Matrix factorisation: a LightGCN with no propagation layer."""
    return LightGCN(num_nodes, embedding_dim, num_layers=0)
