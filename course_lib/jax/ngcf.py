"""NGCF in JAX (PyG twin: ``course_lib/pyg/ngcf.py``).

The same layer, ``E(l+1) = LeakyReLU((L + I) E(l) W1 + (L E(l) ⊙ E(l)) W2)``, in flax over the
sparse :class:`~course_lib.jax.data.Adjacency` (``L @ E`` is a sparse CSR product, never a
dense ``N x N`` matrix), final embedding ``[E(0) | E(1) | ... | E(L)]``.
Message dropout on each layer's output and node dropout on the entries of ``Ã``, in training
only (``train=True`` and a ``'dropout'`` rng).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from .data import Adjacency
from .nn import XAVIER

class NGCFConv(nn.Module):
    """One NGCF layer: ``LeakyReLU((L + I) E W1 + (L E ⊙ E) W2)`` (no biases, as the
    formula)."""

    out_channels: int
    negative_slope: float = 0.2

    @nn.compact
    def __call__(self, x: jnp.ndarray, adj: Adjacency) -> jnp.ndarray:
        side = adj.propagate(x)                            # L E: neighbours only
        lin1 = nn.Dense(self.out_channels, use_bias=False, kernel_init=XAVIER,
                        name="lin1")
        lin2 = nn.Dense(self.out_channels, use_bias=False, kernel_init=XAVIER,
                        name="lin2")
        return nn.leaky_relu(lin1(side + x) + lin2(side * x), self.negative_slope)


class NGCF(nn.Module):
    """Ego embeddings ``[N, dim]`` and ``num_layers`` :class:`NGCFConv`; returns
    ``(final [N, dim * (num_layers + 1)], ego [N, dim])``."""

    num_nodes: int
    embedding_dim: int = 64
    num_layers: int = 3
    message_dropout: float = 0.1
    node_dropout: float = 0.0

    @nn.compact
    def __call__(self, adj: Adjacency, train: bool = False):
        ego = self.param("embedding", XAVIER, (self.num_nodes, self.embedding_dim))
        if train and self.node_dropout > 0:
            keep = jax.random.bernoulli(self.make_rng("dropout"), 1 - self.node_dropout,
                                        adj.data.shape)
            adj = adj._replace(data=jnp.where(keep, adj.data / (1 - self.node_dropout), 0))
        x, layers = ego, [ego]
        for i in range(self.num_layers):
            x = NGCFConv(self.embedding_dim, name=f"conv{i}")(x, adj)
            x = nn.Dropout(self.message_dropout, deterministic=not train)(x)
            layers.append(x)
        return jnp.concatenate(layers, axis=-1), ego
