"""LightGCN and matrix factorisation in PyG (JAX twin: ``course_lib/jax/lightgcn.py``).

LightGCN (He et al., SIGIR 2020) keeps only what NGCF's ablations showed to matter: no weight
matrices, no non-linearity, no self loops. Each layer is one propagation ``E(l+1) = L E(l)`` and
the final embedding is the mean of all layers, ``(E(0) + ... + E(L)) / (L + 1)``. PyG ships it
as ``torch_geometric.nn.models.LightGCN`` (layers are ``LGConv``); we use it as it is, on the
shared pre-normalised sparse adjacency (``normalize=False``: the weights are already
``1 / sqrt(d_i d_j)``).

Matrix factorisation with BPR is the same model with **zero layers**: the score of a pair is the
dot product of the two ego embeddings.
"""

from __future__ import annotations

from torch_geometric.nn.models import LightGCN


def build_lightgcn(num_nodes: int, embedding_dim: int = 64, num_layers: int = 3) -> LightGCN:
    """PyG's ``LightGCN`` (ego embeddings initialised Xavier-uniform) over a pre-normalised
    adjacency."""
    return LightGCN(num_nodes, embedding_dim, num_layers, normalize=False)


def build_mf(num_nodes: int, embedding_dim: int = 64) -> LightGCN:
    """Matrix factorisation: a LightGCN with no propagation layer."""
    return LightGCN(num_nodes, embedding_dim, num_layers=0)
