"""Layers written by hand over a jraph ``GraphsTuple`` (PyG twin: ``course_lib/pyg/message_passing.py``).

``GCNLayer`` computes what :func:`course_lib.message_passing.gcn_layer` computes in numpy and what the
library layer :class:`course_lib.jax.nn.GCNConv` (``jraph.GraphConvolution`` with symmetric
normalisation and self edges, plus a bias) computes: ``D^-1/2 (A + I) D^-1/2 X W + b``.
``GraphConvLayer`` is chapter 1's exercise: the layer of Morris et al. (PyG's ``GraphConv``),
``x_i W_root + (sum_j w_ji x_j) W_rel + b``, with the edge weights in ``graph.edges``.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import jraph
import numpy as np


def gcn_layer(nodes: jnp.ndarray, senders: jnp.ndarray, receivers: jnp.ndarray,
              weight: jnp.ndarray, bias: jnp.ndarray) -> jnp.ndarray:
    """One GCN layer as a pure function: self loops, symmetric normalisation,
    segment sum, bias."""
    num_nodes = nodes.shape[0]
    loops = jnp.arange(num_nodes)
    senders = jnp.concatenate([senders, loops])
    receivers = jnp.concatenate([receivers, loops])
    deg = jax.ops.segment_sum(jnp.ones(receivers.shape, nodes.dtype), receivers,
                              num_nodes)
    inv_sqrt = jnp.where(deg > 0, jax.lax.rsqrt(jnp.maximum(deg, 1.0)), 0.0)
    norm = inv_sqrt[senders] * inv_sqrt[receivers]  # symmetric_norm
    h = nodes @ weight
    messages = norm[:, None] * h[senders]
    # aggregate_sum
    return jax.ops.segment_sum(messages, receivers, num_nodes) + bias


class GCNLayer(nn.Module):
    """Flax wrapper of :func:`gcn_layer`: parameters ``kernel [F_in, F_out]`` and ``bias``."""

    out_channels: int

    @nn.compact
    def __call__(self, graph: jraph.GraphsTuple) -> jnp.ndarray:
        weight = self.param("kernel", nn.initializers.xavier_uniform(),
                            (graph.nodes.shape[-1], self.out_channels))
        bias = self.param("bias", nn.initializers.zeros, (self.out_channels,))
        return gcn_layer(graph.nodes, graph.senders, graph.receivers, weight, bias)


class GraphConvLayer(nn.Module):
    """x_i' = x_i W_root + (sum over edges j -> i of w_ji x_j) W_rel + b, with the
    weights w_ji in ``graph.edges``."""

    out_channels: int

    @nn.compact
    def __call__(self, graph: jraph.GraphsTuple) -> jnp.ndarray:
        x = graph.nodes
        messages = graph.edges[:, None] * x[graph.senders]  # one row per edge
        aggregated = jax.ops.segment_sum(messages, graph.receivers,
                                         num_segments=x.shape[0])
        rel = nn.Dense(self.out_channels, name="lin_rel")  # W_rel and b
        root = nn.Dense(self.out_channels, use_bias=False,
                        name="lin_root")  # W_root
        return rel(aggregated) + root(x)


def gcn_params(weight: np.ndarray, bias: np.ndarray, library: bool = False) -> dict:
    """Flax parameters for :class:`GCNLayer` (or, ``library=True``, for the library layer
    :class:`course_lib.jax.nn.GCNConv`) from numpy arrays ``weight [F_in, F_out]``, ``bias``."""
    weight, bias = jnp.asarray(weight, jnp.float32), jnp.asarray(bias, jnp.float32)
    if library:
        return {"params": {"lin": {"kernel": weight}, "bias": bias}}
    return {"params": {"kernel": weight, "bias": bias}}
