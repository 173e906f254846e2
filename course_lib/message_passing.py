"""Message passing from scratch, in numpy: the reference the PyG and JAX layers are checked against.

A GCN layer (Kipf & Welling, 2017) computes, for every node ``i``,

    h_i' = sum over edges (j -> i), self loop included, of  w_ji * (x_j W)   + b,
    w_ji = 1 / sqrt(deg(j) * deg(i)),

where ``deg`` counts the edges arriving at a node (self loop included). Three pieces make it up,
each an exercise of the chapter "Graph prediction tasks": :func:`aggregate_sum` (sum the messages
arriving at each node), :func:`symmetric_norm` (the edge weights ``w``) and, for whole graphs,
:func:`mean_readout` (one vector per graph).
"""

from __future__ import annotations

import numpy as np


def aggregate_sum(messages, receivers, num_nodes: int) -> np.ndarray:
    """``out[i]`` = sum of ``messages[e]`` over the edges ``e`` with
    ``receivers[e] == i``.

    ``messages`` is ``[E]`` or ``[E, F]``; the output is ``[num_nodes]`` or
    ``[num_nodes, F]``, with zeros for nodes that receive nothing (isolated nodes).
    Repeated receivers all count.
    """
    messages = np.asarray(messages, dtype=np.float64)
    out = np.zeros((num_nodes,) + messages.shape[1:], dtype=np.float64)
    np.add.at(out, np.asarray(receivers, dtype=np.int64), messages)
    return out


def symmetric_norm(senders, receivers, num_nodes: int) -> np.ndarray:
    """GCN edge weights ``1 / sqrt(deg(sender) * deg(receiver))``, one per edge.

    ``deg(i)`` is the number of edges whose receiver is ``i`` (PyG's convention; for
    an undirected graph stored in both directions it is the ordinary degree). Pass
    the edges *with* self loops.
    """
    senders = np.asarray(senders, dtype=np.int64)
    receivers = np.asarray(receivers, dtype=np.int64)
    deg = np.bincount(receivers, minlength=num_nodes).astype(np.float64)
    inv_sqrt = np.zeros_like(deg)
    inv_sqrt[deg > 0] = deg[deg > 0] ** -0.5
    return inv_sqrt[senders] * inv_sqrt[receivers]


def mean_readout(node_features, graph_index, num_graphs: int) -> np.ndarray:
    """Mean of the node features of each graph in a batch: ``[num_graphs, F]``.

    ``graph_index[i]`` is the graph node ``i`` belongs to (PyG's ``batch`` vector,
    jraph's ``node_graph_idx``). A graph without nodes (jraph's padding graph may
    have none) gets zeros.
    """
    node_features = np.asarray(node_features, dtype=np.float64)
    graph_index = np.asarray(graph_index, dtype=np.int64)
    sums = aggregate_sum(node_features, graph_index, num_graphs)
    counts = np.bincount(graph_index, minlength=num_graphs).astype(np.float64)
    return sums / np.maximum(counts, 1.0).reshape((-1,) + (1,) * (sums.ndim - 1))


def add_self_loops(edge_index, num_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """``senders, receivers`` with one self loop per node appended."""
    edge_index = np.asarray(edge_index, dtype=np.int64).reshape(2, -1)
    loops = np.arange(num_nodes)
    return np.concatenate([edge_index[0], loops]), np.concatenate([edge_index[1], loops])


def gcn_layer(x, edge_index, weight, bias, *, aggregate=aggregate_sum,
              norm=symmetric_norm):
    """One GCN layer in numpy: self loops, symmetric normalisation, sum aggregation,
    bias.

    ``weight`` is ``[F_in, F_out]``. ``aggregate`` and ``norm`` can be swapped for
    your own exercise solutions.
    """
    x = np.asarray(x, dtype=np.float64)
    senders, receivers = add_self_loops(edge_index, x.shape[0])
    h = x @ np.asarray(weight, dtype=np.float64)
    w = np.asarray(norm(senders, receivers, x.shape[0]))
    out = aggregate(w[:, None] * h[senders], receivers, x.shape[0])
    return out + np.asarray(bias)
