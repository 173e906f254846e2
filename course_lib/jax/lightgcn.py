"""LightGCN and matrix factorisation in JAX (PyG twin: ``course_lib/pyg/lightgcn.py``).

LightGCN: no weights besides the ego embeddings, no non-linearity, no self loops. Each layer is
``E(l+1) = Ã E(l)`` (``Ã``: the normalised adjacency, a sparse
:class:`~course_lib.jax.data.Adjacency`) and the final
embedding is the mean of the layers, ``(E(0) + ... + E(L)) / (L + 1)`` (PyG's ``LightGCN`` with
its default ``alpha``). Matrix factorisation is the same module with zero layers.
"""

from __future__ import annotations

import flax.linen as nn
import jax

from .data import Adjacency
from .nn import XAVIER


class LightGCN(nn.Module):
    """Ego embeddings ``[N, dim]`` and ``num_layers`` parameter-free propagations;
    returns ``(final [N, dim], ego [N, dim])``."""

    num_nodes: int
    embedding_dim: int = 64
    num_layers: int = 3

    @nn.compact
    def __call__(self, adj: Adjacency, train: bool = False):
        ego = self.param("embedding", XAVIER, (self.num_nodes, self.embedding_dim))
        return layer_mean(ego, adj.propagate, self.num_layers), ego


def layer_mean(ego: jax.Array, propagate, num_layers: int) -> jax.Array:
    """LightGCN's final embeddings, the mean of its layers:
    ``(E0 + E1 + ... + EL) / (L + 1)`` with ``E0 = ego``, ``E(l+1) = propagate(El)``
    (``propagate(x)`` computes ``Ã @ x``, the normalised adjacency times ``x``) and
    ``L = num_layers``. With no layer it returns the ego embeddings (matrix
    factorisation). Chapter 6's exercise."""
    x, total = ego, ego
    for _ in range(num_layers):
        x = propagate(x)
        total = total + x
    return total / (num_layers + 1)


def build_lightgcn(num_nodes: int, embedding_dim: int = 64, num_layers: int = 3) -> LightGCN:
    """LightGCN (ego embeddings initialised Xavier-uniform, as PyG's) over a pre-normalised
    adjacency."""
    return LightGCN(num_nodes, embedding_dim, num_layers)


def build_mf(num_nodes: int, embedding_dim: int = 64) -> LightGCN:
    """Matrix factorisation: a LightGCN with no propagation layer."""
    return LightGCN(num_nodes, embedding_dim, num_layers=0)
