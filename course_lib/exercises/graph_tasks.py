"""Exercises of the chapter "Graph prediction tasks" (book/01_graph_tasks).

Each exercise lists plausible wrong answers (``_wrong_*``, which the checker must reject) and
correct but different answers (``_right_*``, which it must accept). They are self-contained: a
test pastes their source into the notebook cell, where only ``np``, ``pd``, ``torch``, ``jax``,
``jnp``, ``jraph`` and the notebook's imports (``cross_entropy``, ``TrainState``) exist; a class
(a layer written as a module) comes with this module's own imports (``linen``, ``tnn``,
``MessagePassing``).
"""

from __future__ import annotations

import functools

import flax.linen as linen
import jax
import jax.numpy as jnp
import jraph
import numpy as np
import torch
from torch import nn as tnn
from torch_geometric.nn import MessagePassing

from ..jax.graph_tasks import node_train_step
from ..jax.message_passing import GraphConvLayer as JaxGraphConvLayer
from ..jax.nn import cross_entropy
from ..message_passing import aggregate_sum, mean_readout, symmetric_norm
from ..pyg.message_passing import GraphConvLayer as PygGraphConvLayer
from . import Case, Exercise, listed, register



# ------------------------------------------------------------------------------------------------
# Exercise 1: aggregate_sum
# ------------------------------------------------------------------------------------------------


def _aggregate_cases() -> list[Case]:
    rng = np.random.default_rng(0)
    return [
        Case("4 edges into 3 nodes, 2 features",
             (rng.normal(size=(4, 2)).round(2), np.array([0, 2, 2, 1]), 3)),
        Case("two messages to the same node (both count)",
             (np.array([[1.0], [2.0], [4.0]]), np.array([1, 1, 0]), 2)),
        Case("isolated nodes 3 and 4 receive nothing",
             (rng.normal(size=(3, 3)).round(2), np.array([0, 1, 1]), 5)),
        Case("one feature per message", (np.array([[0.5], [1.5], [2.0]]), np.array([2, 0, 2]), 3)),
        Case("a single edge", (np.array([[3.0, -1.0]]), np.array([0]), 2)),
        Case("no edges (empty batch)", (np.zeros((0, 2)), np.zeros(0, dtype=np.int64), 3)),
        Case("receivers unsorted, node 2 gets three messages, nodes 1 and 3 none",
             (np.array([[1.0, 0.5], [2.0, -1.0], [-3.0, 2.0], [0.25, 4.0]]),
              np.array([2, 0, 2, 2]), 4)),
        Case("one number per message: messages [E], the result [num_nodes]",
             (np.array([1.0, -2.0, 0.5, 4.0]), np.array([1, 1, 0, 3]), 4)),
        Case("a 2 x 2 matrix per message: messages [E, 2, 2]",
             (np.arange(12, dtype=float).reshape(3, 2, 2), np.array([0, 2, 0]), 3)),
    ]


def _aggregate_random(rng: np.random.Generator) -> Case:
    """As gcn_layer calls it: float64 messages [E, F], int64 receivers, a Python int."""
    num_nodes = int(rng.integers(2, 11))
    features = int(rng.integers(1, 4))
    if rng.random() < 0.08:
        messages = np.zeros((0, features))
        receivers = np.zeros(0, dtype=np.int64)
        return Case(f"no edges, {num_nodes} nodes", (messages, receivers, num_nodes))
    # only some nodes receive (isolated nodes, often the last one), each target several times
    k = int(rng.integers(1, num_nodes))
    targets = rng.choice(num_nodes - 1 if rng.random() < 0.5 else num_nodes, size=k,
                         replace=False)
    num_edges = int(rng.integers(k + 2, 31))
    receivers = np.concatenate([targets, rng.choice(targets, size=num_edges - k)])
    receivers = rng.permutation(receivers).astype(np.int64)
    shape = ((num_edges,) if rng.random() < 0.2 else (num_edges, features)
             if rng.random() < 0.9 else (num_edges, features, 2))   # [E], [E, F], [E, F, 2]
    messages = rng.normal(size=shape).round(2)
    idle = np.setdiff1d(np.arange(num_nodes), receivers)
    return Case(f"{num_edges} messages of shape {list(shape[1:])} (receivers unsorted and "
                f"repeated) into {num_nodes} nodes; nodes receiving nothing: {listed(idle)}",
                (messages, receivers, num_nodes))


# out[receivers] += messages: numpy's buffered += adds a repeated receiver only once
def _wrong_agg_buffered(messages, receivers, num_nodes):
    out = np.zeros((num_nodes,) + np.shape(messages)[1:])
    out[np.asarray(receivers)] += messages
    return out


# averages the messages instead of summing them
def _wrong_agg_mean(messages, receivers, num_nodes):
    messages = np.asarray(messages, dtype=float)
    out = np.zeros((num_nodes,) + messages.shape[1:])
    np.add.at(out, receivers, messages)
    count = np.bincount(receivers, minlength=num_nodes).reshape((-1,) + (1,) * (out.ndim - 1))
    return out / np.maximum(count, 1)


# sizes the output by the largest receiver, dropping isolated nodes at the end
def _wrong_agg_no_num_nodes(messages, receivers, num_nodes):
    messages = np.asarray(messages, dtype=float)
    n = int(np.max(receivers)) + 1 if len(receivers) else 0
    out = np.zeros((n,) + messages.shape[1:])
    np.add.at(out, receivers, messages)
    return out


# out[receivers] = messages: the last message to a node overwrites the others
def _wrong_agg_last_wins(messages, receivers, num_nodes):
    messages = np.asarray(messages, dtype=float)
    out = np.zeros((num_nodes,) + messages.shape[1:])
    out[receivers] = messages
    return out


# np.add.reduceat over runs of receivers: right only when the receivers are sorted
def _wrong_agg_reduceat(messages, receivers, num_nodes):
    messages = np.asarray(messages, dtype=float)
    out = np.zeros((num_nodes,) + messages.shape[1:])
    if len(receivers):
        nodes, starts = np.unique(receivers, return_index=True)
        out[nodes] = np.add.reduceat(messages, np.sort(starts))
    return out


# np.bincount with weights: fine for one feature, fails for messages of shape [E, F]
def _wrong_agg_bincount(messages, receivers, num_nodes):
    return np.bincount(receivers, weights=messages, minlength=num_nodes)


# hard-codes the answers of the hand-written cases, wrong on any other input
def _wrong_agg_memorised(messages, receivers, num_nodes):
    known = {
        ((0, 2, 2, 1), 3): [[0.13, -0.13], [1.3, 0.95], [0.1, 0.46]],
        ((1, 1, 0), 2): [[4.0], [3.0]],
        ((0, 1, 1), 5): [[-0.7, -1.27, -0.62], [-1.21, -3.06, -0.76]] + [[0.0] * 3] * 3,
        ((2, 0, 2), 3): [1.5, 0.0, 2.5],
        ((0,), 2): [[3.0, -1.0], [0.0, 0.0]],
        ((), 3): [[0.0, 0.0]] * 3,
        ((2, 0, 2, 2), 4): [[2.0, -1.0], [0.0, 0.0], [-1.75, 6.5], [0.0, 0.0]],
    }
    key = (tuple(int(r) for r in receivers), num_nodes)
    if key in known:
        return np.array(known[key])
    return np.zeros((num_nodes,) + np.shape(messages)[1:])


# a one-hot [num_nodes, E] incidence matrix times the messages
def _right_agg_incidence(messages, receivers, num_nodes):
    hits = np.asarray(receivers)[None, :] == np.arange(num_nodes)[:, None]
    return np.tensordot(hits.astype(float), np.asarray(messages, dtype=float), axes=1)


# a plain Python loop over the edges
def _right_agg_loop(messages, receivers, num_nodes):
    messages = np.asarray(messages, dtype=float)
    out = np.zeros((num_nodes,) + messages.shape[1:])
    for e, r in enumerate(receivers):
        out[r] += messages[e]
    return out


# np.add.at into a [num_nodes, F] array: only two-dimensional messages [E, F]
def _wrong_agg_add_at_2d(messages, receivers, num_nodes):
    out = np.zeros((num_nodes, messages.shape[1]))
    np.add.at(out, receivers, messages)
    return out


register(Exercise(
    name="aggregate_sum",
    reference=aggregate_sum,
    cases=_aggregate_cases,
    random_case=_aggregate_random,
    framework="numpy",
    returns=("numpy",),
    hint="start from zeros of shape (num_nodes,) + messages.shape[1:]; np.add.at adds repeated "
         "indices correctly (out[receivers] += messages does not).",
    mistakes=[_wrong_agg_buffered, _wrong_agg_add_at_2d, _wrong_agg_mean, _wrong_agg_no_num_nodes,
              _wrong_agg_last_wins, _wrong_agg_reduceat, _wrong_agg_bincount,
              _wrong_agg_memorised],
    variants=[_right_agg_incidence, _right_agg_loop],
))


# ------------------------------------------------------------------------------------------------
# Exercise 2: symmetric_norm
# ------------------------------------------------------------------------------------------------


def _norm_cases() -> list[Case]:
    path = np.array([[0, 1, 1, 2], [1, 0, 2, 1]])
    loops = np.arange(3)
    return [
        Case("path 0-1-2 in both directions, with self loops",
             (np.concatenate([path[0], loops]), np.concatenate([path[1], loops]), 3)),
        Case("a star: node 0 linked to 1, 2, 3 (no self loops)",
             (np.array([0, 0, 0, 1, 2, 3]), np.array([1, 2, 3, 0, 0, 0]), 4)),
        Case("directed edges: in-degree and out-degree differ",
             (np.array([0, 0, 1, 2, 2]), np.array([1, 2, 2, 2, 0]), 3)),
        Case("node 3 isolated but for its self loop",
             (np.array([0, 1, 0, 1, 2, 3]), np.array([1, 0, 0, 1, 2, 3]), 4)),
        Case("no edges", (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), 2)),
        Case("edge 0 -> 1 stored twice (both copies count), with self loops",
             (np.array([0, 0, 1, 0, 1]), np.array([1, 1, 0, 0, 1]), 2)),
        Case("no self loops: nodes 0 and 3 send but receive nothing (degree 0, weight 0)",
             (np.array([0, 0, 1, 3]), np.array([1, 2, 2, 2]), 4)),
    ]


def _norm_random(rng: np.random.Generator) -> Case:
    """As gcn_layer calls it: int64 senders/receivers with one self loop per node appended."""
    num_nodes = int(rng.integers(2, 10))
    active = rng.choice(num_nodes, size=int(rng.integers(2, num_nodes + 1)), replace=False)
    num_edges = int(rng.integers(1, 16))
    s, r = rng.choice(active, size=num_edges), rng.choice(active, size=num_edges)
    undirected = rng.random() < 0.3
    if undirected:  # each edge stored in both directions, as in the karate club
        s, r = np.concatenate([s, r]), np.concatenate([r, s])
    repeats = 0
    if rng.random() < 0.85:  # repeated edges (a multigraph): every copy counts
        repeats = int(rng.integers(1, 4))
        pick = rng.integers(0, len(s), size=repeats)
        s, r = np.concatenate([s, s[pick]]), np.concatenate([r, r[pick]])
    order = rng.permutation(len(s))
    loops = np.arange(num_nodes) if rng.random() < 0.8 else np.zeros(0, dtype=np.int64)
    senders = np.concatenate([s[order], loops]).astype(np.int64)
    receivers = np.concatenate([r[order], loops]).astype(np.int64)
    kind = "undirected (both directions)" if undirected else "directed"
    if len(loops):
        only_loop = np.setdiff1d(loops, np.concatenate([s, r]))
        return Case(f"{len(s)} {kind} edges ({repeats} repeated) + {num_nodes} self loops; "
                    f"nodes with only their self loop: {listed(only_loop)}",
                    (senders, receivers, num_nodes))
    idle = np.setdiff1d(np.arange(num_nodes), receivers)
    return Case(f"{len(s)} {kind} edges ({repeats} repeated), no self loops, {num_nodes} nodes; "
                f"nodes receiving nothing (degree 0): {listed(idle)}",
                (senders, receivers, num_nodes))


# 1 / deg(receiver): the random-walk (mean) normalisation, not the symmetric one
def _wrong_norm_mean(senders, receivers, num_nodes):
    deg = np.bincount(receivers, minlength=num_nodes).astype(float)
    return 1.0 / deg[receivers]


# degrees from np.unique: one count per node that receives, misaligned once a node receives none
def _wrong_norm_unique_counts(senders, receivers, num_nodes):
    _, deg = np.unique(receivers, return_counts=True)
    deg = deg.astype(float)
    return deg[senders] ** -0.5 * deg[receivers] ** -0.5


# counts the edges leaving a node (out-degree) instead of those arriving
def _wrong_norm_out_degree(senders, receivers, num_nodes):
    deg = np.bincount(senders, minlength=num_nodes).astype(float)
    return deg[senders] ** -0.5 * deg[receivers] ** -0.5


# forgets the square root
def _wrong_norm_missing_sqrt(senders, receivers, num_nodes):
    deg = np.bincount(receivers, minlength=num_nodes).astype(float)
    return 1.0 / (deg[senders] * deg[receivers])


# degrees from a dense 0/1 adjacency matrix: a repeated edge counts once
def _wrong_norm_dense_adjacency(senders, receivers, num_nodes):
    adj = np.zeros((num_nodes, num_nodes))
    adj[senders, receivers] = 1.0
    deg = adj.sum(axis=0)
    return 1.0 / np.sqrt(deg[senders] * deg[receivers])


# adds the self loop to the degree again, although the edges already include it
def _wrong_norm_extra_self_loop(senders, receivers, num_nodes):
    deg = np.bincount(receivers, minlength=num_nodes).astype(float) + 1.0
    return 1.0 / np.sqrt(deg[senders] * deg[receivers])


# counts each edge at both of its ends (in-degree + out-degree)
def _wrong_norm_both_ends(senders, receivers, num_nodes):
    deg = (np.bincount(senders, minlength=num_nodes)
           + np.bincount(receivers, minlength=num_nodes)).astype(float)
    return 1.0 / np.sqrt(deg[senders] * deg[receivers])


# returns the normalised [num_nodes, num_nodes] matrix D^-1/2 A D^-1/2, not one weight per edge
def _wrong_norm_matrix(senders, receivers, num_nodes):
    adj = np.zeros((num_nodes, num_nodes))
    np.add.at(adj, (receivers, senders), 1.0)
    d = adj.sum(axis=1)
    inv = np.where(d > 0, 1.0 / np.sqrt(np.maximum(d, 1.0)), 0.0)
    return inv[:, None] * adj * inv[None, :]


# hard-codes the answers of the hand-written cases, wrong on any other input
def _wrong_norm_memorised(senders, receivers, num_nodes):
    a, b, c = 6 ** -0.5, 3 ** -0.5, 1 / 3
    known = {
        ((0, 1, 1, 2, 0, 1, 2), 3): [a, a, a, a, 0.5, c, 0.5],
        ((0, 0, 0, 1, 2, 3), 4): [b] * 6,
        ((0, 0, 1, 2, 2), 3): [1.0, b, b, c, b],
        ((0, 1, 0, 1, 2, 3), 4): [0.5, 0.5, 0.5, 0.5, 1.0, 1.0],
        ((), 2): [],
        ((0, 0, 1, 0, 1), 2): [a, a, a, 0.5, c],
    }
    key = (tuple(int(v) for v in senders), num_nodes)
    return np.array(known.get(key, [1.0] * len(senders)))


# divides by a zero degree: inf (or nan) on the edges of a node that receives nothing
def _wrong_norm_zero_degree(senders, receivers, num_nodes):
    deg = np.bincount(receivers, minlength=num_nodes)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1.0 / np.sqrt(deg[senders] * deg[receivers])


# an infinite degree where there is none: its inverse square root is 0
def _right_norm_where(senders, receivers, num_nodes):
    deg = np.bincount(receivers, minlength=num_nodes).astype(float)
    inv = np.where(deg > 0, deg, np.inf) ** -0.5
    return inv[senders] * inv[receivers]


# counts the degrees in a Python dict
def _right_norm_dict(senders, receivers, num_nodes):
    deg = {}
    for r in receivers:
        deg[int(r)] = deg.get(int(r), 0) + 1
    return np.array([(deg[int(s)] * deg[int(r)]) ** -0.5 if int(s) in deg else 0.0
                     for s, r in zip(senders, receivers)], dtype=float)


register(Exercise(
    name="symmetric_norm",
    reference=symmetric_norm,
    cases=_norm_cases,
    random_case=_norm_random,
    framework="numpy",
    returns=("numpy",),
    hint="deg[i] = number of edges whose receiver is i, every copy of a repeated edge included "
         "(np.bincount with minlength); the weight of edge (s, r) is "
         "deg[s] ** -0.5 * deg[r] ** -0.5, and 0 where a degree is 0.",
    mistakes=[_wrong_norm_mean, _wrong_norm_unique_counts, _wrong_norm_zero_degree,
              _wrong_norm_out_degree, _wrong_norm_missing_sqrt,
              _wrong_norm_dense_adjacency, _wrong_norm_extra_self_loop, _wrong_norm_both_ends,
              _wrong_norm_matrix, _wrong_norm_memorised],
    variants=[_right_norm_where, _right_norm_dict],
))


# ------------------------------------------------------------------------------------------------
# Exercise 3: mean_readout
# ------------------------------------------------------------------------------------------------


def _readout_cases() -> list[Case]:
    rng = np.random.default_rng(1)
    return [
        Case("two graphs of 2 and 3 nodes", (rng.normal(size=(5, 2)).round(2),
                                              np.array([0, 0, 1, 1, 1]), 2)),
        Case("graphs of different sizes (a sum would differ)",
             (np.array([[1.0], [1.0], [1.0], [4.0]]), np.array([0, 0, 0, 1]), 2)),
        Case("a single graph", (np.array([[2.0, 0.0], [0.0, 2.0]]), np.array([0, 0]), 1)),
        Case("an empty padding graph at the end gets zeros",
             (np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([0, 1]), 3)),
        Case("nodes not sorted by graph",
             (np.array([[1.0], [5.0], [3.0]]), np.array([1, 0, 1]), 2)),
        Case("graph 1 in the middle has no nodes",
             (np.array([[2.0], [4.0], [1.0], [3.0], [8.0]]), np.array([0, 0, 2, 2, 2]), 3)),
    ]


def _readout_random(rng: np.random.Generator) -> Case:
    """As the notebook calls it on a padded jraph batch: float32 nodes [N, F], the graph id of each
    node (np.repeat of n_node: sorted), a Python int; empty (padding) graphs in the middle and at
    the end; sometimes nodes not sorted by graph."""
    num_graphs = int(rng.integers(2, 7))
    sizes = rng.integers(1, 6, size=num_graphs)
    sizes[rng.random(num_graphs) < 0.3] = 0
    if rng.random() < 0.8:
        sizes[int(rng.integers(0, num_graphs - 1))] = 0  # an empty graph before the last one
    if rng.random() < 0.5:
        sizes[-1] = 0  # an empty padding graph at the end
    if rng.random() < 0.05:
        sizes[:] = 0
    graph_index = np.repeat(np.arange(num_graphs), sizes).astype(np.int64)
    shuffled = rng.random() < 0.3 and len(graph_index) > 2
    if shuffled:
        graph_index = rng.permutation(graph_index)
    features = int(rng.integers(1, 4))
    nodes = rng.normal(size=(len(graph_index), features)).round(2).astype(np.float32)
    order = "nodes not sorted by graph" if shuffled else "nodes sorted by graph"
    return Case(f"{num_graphs} graphs of {', '.join(map(str, sizes))} nodes ({order}); "
                f"empty graphs: {listed(np.flatnonzero(sizes == 0))}",
                (nodes, graph_index, num_graphs))


# sums the node features instead of averaging them
def _wrong_readout_sum(node_features, graph_index, num_graphs):
    out = np.zeros((num_graphs,) + np.shape(node_features)[1:])
    np.add.at(out, graph_index, node_features)
    return out


# the mean over all nodes of the batch, repeated for every graph
def _wrong_readout_global(node_features, graph_index, num_graphs):
    mean = np.asarray(node_features, dtype=float).mean(0, keepdims=True)
    return np.repeat(mean, num_graphs, axis=0)


# divides by a zero count: NaN for an empty graph
def _wrong_readout_nan_on_empty(node_features, graph_index, num_graphs):
    out = np.zeros((num_graphs,) + np.shape(node_features)[1:])
    np.add.at(out, graph_index, node_features)
    count = np.bincount(graph_index, minlength=num_graphs)
    with np.errstate(invalid="ignore", divide="ignore"):
        return out / count[:, None]


# a loop of .mean(axis=0) per graph: NaN (and a warning) for an empty graph
def _wrong_readout_loop_nan(node_features, graph_index, num_graphs):
    x = np.asarray(node_features, dtype=float)
    gi = np.asarray(graph_index)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.stack([x[gi == g].mean(axis=0) for g in range(num_graphs)])


# sizes the output by the largest graph id, dropping empty graphs at the end
def _wrong_readout_drops_trailing(node_features, graph_index, num_graphs):
    x = np.asarray(node_features, dtype=float)
    n = int(np.max(graph_index)) + 1 if len(graph_index) else 0
    out = np.zeros((n,) + x.shape[1:])
    np.add.at(out, graph_index, x)
    return out / np.maximum(np.bincount(graph_index, minlength=n), 1)[:, None]


# np.unique(return_counts) skips empty graphs, so the counts shift onto the wrong graphs
def _wrong_readout_unique_counts(node_features, graph_index, num_graphs):
    x = np.asarray(node_features, dtype=float)
    out = np.zeros((num_graphs,) + x.shape[1:])
    np.add.at(out, graph_index, x)
    counts = np.unique(graph_index, return_counts=True)[1]
    counts = np.concatenate([counts, np.ones(num_graphs - len(counts))])
    return out / counts[:, None]


# np.add.reduceat over runs of graph ids: right only when the nodes are sorted by graph
def _wrong_readout_reduceat(node_features, graph_index, num_graphs):
    x = np.asarray(node_features, dtype=float)
    out = np.zeros((num_graphs,) + x.shape[1:])
    if len(graph_index):
        graphs, starts, counts = np.unique(graph_index, return_index=True, return_counts=True)
        out[graphs] = np.add.reduceat(x, np.sort(starts)) / counts[:, None]
    return out


# returns a Python list of per-graph vectors instead of one [num_graphs, F] array
def _wrong_readout_list(node_features, graph_index, num_graphs):
    x = np.asarray(node_features, dtype=float)
    gi = np.asarray(graph_index)
    return [x[gi == g].mean(axis=0) if (gi == g).any() else np.zeros(x.shape[1])
            for g in range(num_graphs)]


# hard-codes the answers of the hand-written cases, wrong on any other input
def _wrong_readout_memorised(node_features, graph_index, num_graphs):
    known = {
        ((0, 0, 1, 1, 1), 2): [[0.34, -0.24], [0.73 / 3, 0.44]],
        ((0, 0, 0, 1), 2): [[1.0], [4.0]],
        ((0, 0), 1): [[1.0, 1.0]],
        ((0, 1), 3): [[1.0, 2.0], [3.0, 4.0], [0.0, 0.0]],
        ((1, 0, 1), 2): [[5.0], [2.0]],
        ((0, 0, 2, 2, 2), 3): [[3.0], [0.0], [4.0]],
    }
    key = (tuple(int(g) for g in graph_index), num_graphs)
    if key in known:
        return np.array(known[key])
    return np.zeros((num_graphs,) + np.shape(node_features)[1:])


# a per-graph loop that skips empty graphs (they keep their zeros)
def _right_readout_loop(node_features, graph_index, num_graphs):
    x = np.asarray(node_features, dtype=float)
    gi = np.asarray(graph_index)
    out = np.zeros((num_graphs,) + x.shape[1:])
    for g in range(num_graphs):
        if (gi == g).any():
            out[g] = x[gi == g].mean(axis=0)
    return out


# a one-hot [num_graphs, N] membership matrix, averaged with the counts clipped at 1
def _right_readout_matrix(node_features, graph_index, num_graphs):
    member = (np.asarray(graph_index)[None, :] == np.arange(num_graphs)[:, None]).astype(float)
    sums = member @ np.asarray(node_features, dtype=float)
    return sums / np.maximum(member.sum(axis=1), 1.0)[:, None]


register(Exercise(
    name="mean_readout",
    reference=mean_readout,
    cases=_readout_cases,
    random_case=_readout_random,
    framework="numpy",
    returns=("numpy",),
    hint="sum the features per graph (like aggregate_sum) and divide by the node count of each "
         "graph (np.bincount with minlength=num_graphs); a graph with no nodes must give zeros, "
         "not NaN.",
    mistakes=[_wrong_readout_sum, _wrong_readout_global, _wrong_readout_nan_on_empty,
              _wrong_readout_loop_nan, _wrong_readout_drops_trailing,
              _wrong_readout_unique_counts, _wrong_readout_reduceat, _wrong_readout_list,
              _wrong_readout_memorised],
    variants=[_right_readout_loop, _right_readout_matrix],
))


# ------------------------------------------------------------------------------------------------
# Exercise 3: a layer from its formula, as a module in both frameworks (GraphConvPyG, a PyG
# MessagePassing subclass; GraphConvFlax, a flax module over a GraphsTuple): Morris et al.'s
# x_i' = x_i W_root + (sum over edges j -> i of w_ji x_j) W_rel + b. The checker builds the
# learner's layer, loads the case's weights under the names the stub gives (lin_rel with its
# bias, lin_root without) and compares the outputs and their gradients with the reference's.
# ------------------------------------------------------------------------------------------------


def _use_pyg_layer(layer_class, x, edge_index, edge_weight, w_rel, b_rel, w_root):
    """Build the layer, load the case's weights by name, run it on the case's graph."""
    import torch

    layer = layer_class(int(x.shape[1]), int(w_rel.shape[1]))
    names = sorted(name for name, _ in layer.named_parameters())
    if names != ["lin_rel.bias", "lin_rel.weight", "lin_root.weight"]:
        raise AttributeError(f"the layer's parameters are {names}; name them as the stub says: "
                             "a Linear lin_rel with its bias and a Linear lin_root without one")
    layer.load_state_dict({"lin_rel.weight": torch.as_tensor(w_rel.T.copy()),
                           "lin_rel.bias": torch.as_tensor(b_rel),
                           "lin_root.weight": torch.as_tensor(w_root.T.copy())})
    return layer(x, edge_index, edge_weight)


def _use_flax_layer(layer_class, x, senders, receivers, edge_weight, w_rel, b_rel, w_root):
    """Build the layer, apply it with the case's weights on the case's ``GraphsTuple``."""
    graph = jraph.GraphsTuple(nodes=x, edges=edge_weight, senders=senders, receivers=receivers,
                              n_node=jnp.array([x.shape[0]]), n_edge=jnp.array([len(senders)]),
                              globals=None)
    params = {"params": {"lin_rel": {"kernel": w_rel, "bias": b_rel},
                         "lin_root": {"kernel": w_root}}}
    return layer_class(out_channels=int(w_rel.shape[1])).apply(params, graph)


def _layer_graphs(rng: np.random.Generator | None = None):
    """(description, x, senders, receivers, weights, f_out): hand-written graphs, or one drawn."""
    if rng is None:
        f = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.5, -1.0], [2.0, 0.5]])
        return [
            ("a path 0 -> 1 -> 2, unit weights; nodes 3 and 4 receive nothing (node 4 is "
             "the last)", f, [0, 1], [1, 2], [1.0, 1.0], 3),
            ("one directed edge 0 -> 1: node 1 hears node 0, node 0 hears nobody", f[:2],
             [0], [1], [2.0], 2),
            ("a repeated edge 2 -> 0 (both count), a self loop 1 -> 1, weights 0.5, 1.5, 2, "
             "and a zero weight", f[:3], [2, 2, 1, 0], [0, 0, 1, 2], [0.5, 1.5, 2.0, 0.0], 2),
            ("negative weights on a star into node 0", f, [1, 2, 3, 4], [0, 0, 0, 0],
             [-1.0, 0.5, -2.0, 1.0], 1),
            ("no edges: every node keeps only its own term", f[:3], [], [], [], 2),
        ]
    # few shapes (each costs JAX a compile): 3 or 6 nodes, 8 edges (or none)
    n = int(rng.choice([3, 6]))
    e = 0 if rng.random() < 0.1 else 8
    targets = n - 1 if rng.random() < 0.5 else n       # often the last node hears nobody
    senders, receivers = rng.integers(0, n, e), rng.integers(0, targets, e)
    weights = rng.choice([-1.0, 0.0, 0.5, 1.0, 2.0], e) if rng.random() < 0.5 \
        else rng.normal(size=e).round(2)
    x = rng.normal(size=(n, 3)).round(2)
    idle = np.setdiff1d(np.arange(n), receivers)
    return (f"{n} nodes, edges (sender -> receiver) "
            f"{np.stack([senders, receivers]).T.tolist()}, weights {list(weights)}; nodes "
            f"receiving nothing: {listed(idle)}", x, senders, receivers, weights, 2)


def _layer_weights(x, f_out: int, seed: int):
    rng = np.random.default_rng(seed)
    f_in = x.shape[1]
    return (rng.normal(size=(f_in, f_out)).round(2).astype(np.float32),
            rng.normal(size=f_out).round(2).astype(np.float32),
            rng.normal(size=(f_in, f_out)).round(2).astype(np.float32))


def _pyg_layer_case(description, x, senders, receivers, weights, f_out, seed=0) -> Case:
    import torch

    x = np.asarray(x, np.float32)
    edge_index = torch.as_tensor(np.stack([np.asarray(senders, np.int64),
                                           np.asarray(receivers, np.int64)]).reshape(2, -1))
    return Case(description, (torch.as_tensor(x), edge_index,
                              torch.as_tensor(np.asarray(weights, np.float32)),
                              *_layer_weights(x, f_out, seed)))


def _flax_layer_case(description, x, senders, receivers, weights, f_out, seed=0) -> Case:
    x = np.asarray(x, np.float32)
    return Case(description, (jnp.asarray(x), jnp.asarray(senders, jnp.int32),
                              jnp.asarray(receivers, jnp.int32),
                              jnp.asarray(weights, jnp.float32),
                              *map(jnp.asarray, _layer_weights(x, f_out, seed))))


def _pyg_layer_cases() -> list[Case]:
    return [_pyg_layer_case(*g, seed=i) for i, g in enumerate(_layer_graphs())]


def _pyg_layer_random(rng: np.random.Generator) -> Case:
    return _pyg_layer_case(*_layer_graphs(rng), seed=int(rng.integers(1 << 20)))


def _flax_layer_cases() -> list[Case]:
    return [_flax_layer_case(*g, seed=i) for i, g in enumerate(_layer_graphs())]


def _flax_layer_random(rng: np.random.Generator) -> Case:
    return _flax_layer_case(*_layer_graphs(rng), seed=int(rng.integers(1 << 20)))


# PyG: mean instead of sum
class _WrongPygMean(MessagePassing):
    def __init__(self, in_channels, out_channels):
        super().__init__(aggr="mean")
        self.lin_rel = tnn.Linear(in_channels, out_channels)
        self.lin_root = tnn.Linear(in_channels, out_channels, bias=False)

    def forward(self, x, edge_index, edge_weight):
        out = self.propagate(edge_index, x=x, edge_weight=edge_weight)
        return self.lin_rel(out) + self.lin_root(x)

    def message(self, x_j, edge_weight):
        return edge_weight.view(-1, 1) * x_j


# PyG: the receiver's own features in the message (x_i instead of x_j)
class _WrongPygReceiver(_WrongPygMean):
    def __init__(self, in_channels, out_channels):
        MessagePassing.__init__(self, aggr="add")
        self.lin_rel = tnn.Linear(in_channels, out_channels)
        self.lin_root = tnn.Linear(in_channels, out_channels, bias=False)

    def message(self, x_i, edge_weight):
        return edge_weight.view(-1, 1) * x_i


# PyG: the edge weights ignored
class _WrongPygUnweighted(_WrongPygReceiver):
    def message(self, x_j, edge_weight):
        return x_j


# PyG: lin_rel (with its bias) inside the messages: the bias is summed once per edge
class _WrongPygBiasPerEdge(_WrongPygReceiver):
    def forward(self, x, edge_index, edge_weight):
        out = self.propagate(edge_index, x=self.lin_rel(x), edge_weight=edge_weight)
        return out + self.lin_root(x)

    def message(self, x_j, edge_weight):
        return edge_weight.view(-1, 1) * x_j


# PyG: no root term: a node forgets its own features
class _WrongPygNoRoot(_WrongPygBiasPerEdge):
    def forward(self, x, edge_index, edge_weight):
        return self.lin_rel(self.propagate(edge_index, x=x, edge_weight=edge_weight))


# PyG: one matrix for both terms
class _WrongPygSharedWeight(_WrongPygBiasPerEdge):
    def forward(self, x, edge_index, edge_weight):
        return self.lin_rel(self.propagate(edge_index, x=x, edge_weight=edge_weight) + x)


# PyG: messages flow against the edges (edge_index flipped)
class _WrongPygFlipped(_WrongPygBiasPerEdge):
    def forward(self, x, edge_index, edge_weight):
        out = self.propagate(edge_index.flip(0), x=x, edge_weight=edge_weight)
        return self.lin_rel(out) + self.lin_root(x)


# PyG: an activation the formula does not have
class _WrongPygRelu(_WrongPygBiasPerEdge):
    def forward(self, x, edge_index, edge_weight):
        out = self.propagate(edge_index, x=x, edge_weight=edge_weight)
        return torch.relu(self.lin_rel(out) + self.lin_root(x))


# PyG: max instead of sum
class _WrongPygMax(_WrongPygMean):
    def __init__(self, in_channels, out_channels):
        MessagePassing.__init__(self, aggr="max")
        self.lin_rel = tnn.Linear(in_channels, out_channels)
        self.lin_root = tnn.Linear(in_channels, out_channels, bias=False)


# PyG: the product taken outside torch (no gradient reaches x)
class _WrongPygDetached(_WrongPygBiasPerEdge):
    def forward(self, x, edge_index, edge_weight):
        out = self.propagate(edge_index, x=x.detach(), edge_weight=edge_weight)
        return self.lin_rel(out) + self.lin_root(x)


# correct: the features transformed before the sum, the bias added once after it
class _RightPygTransformFirst(_WrongPygBiasPerEdge):
    def forward(self, x, edge_index, edge_weight):
        h = x @ self.lin_rel.weight.T
        out = self.propagate(edge_index, x=h, edge_weight=edge_weight)
        return out + self.lin_rel.bias + self.lin_root(x)


# correct: the sum by index_add, without propagate
class _RightPygIndexAdd(_WrongPygBiasPerEdge):
    def forward(self, x, edge_index, edge_weight):
        senders, receivers = edge_index
        messages = edge_weight[:, None] * x[senders]
        out = torch.zeros_like(x).index_add(0, receivers, messages)
        return self.lin_rel(out) + self.lin_root(x)


register(Exercise(
    name="GraphConvPyG",
    reference=PygGraphConvLayer,
    call=_use_pyg_layer,
    cases=_pyg_layer_cases,
    random_case=_pyg_layer_random,
    framework="torch",
    returns=("torch",),
    grad_argnames=("x", "edge_weight"),
    rtol=1e-4,
    atol=1e-5,
    time_limit=10.0,
    hint="propagate sums what message returns per edge; message gets x_j, the sender's "
         "features, one row per edge, and the edge weights as the keyword you passed to "
         "propagate. W_rel applies to the sum, W_root to the node's own x.",
    mistakes=[_WrongPygMean, _WrongPygReceiver, _WrongPygUnweighted, _WrongPygBiasPerEdge,
              _WrongPygNoRoot, _WrongPygSharedWeight, _WrongPygFlipped, _WrongPygRelu,
              _WrongPygMax, _WrongPygDetached],
    variants=[_RightPygTransformFirst, _RightPygIndexAdd],
))


# Flax: senders and receivers swapped
class _WrongFlaxSwapped(linen.Module):
    out_channels: int

    @linen.compact
    def __call__(self, graph):
        x = graph.nodes
        messages = graph.edges[:, None] * x[graph.receivers]
        out = jax.ops.segment_sum(messages, graph.senders, num_segments=x.shape[0])
        return (linen.Dense(self.out_channels, name="lin_rel")(out)
                + linen.Dense(self.out_channels, use_bias=False, name="lin_root")(x))


# Flax: segment_sum without num_segments: as many rows as the largest receiver + 1
class _WrongFlaxNoNumSegments(_WrongFlaxSwapped):
    @linen.compact
    def __call__(self, graph):
        x = graph.nodes
        messages = graph.edges[:, None] * x[graph.senders]
        out = jax.ops.segment_sum(messages, graph.receivers)
        return (linen.Dense(self.out_channels, name="lin_rel")(out)
                + linen.Dense(self.out_channels, use_bias=False, name="lin_root")(x))


# Flax: the edge weights ignored
class _WrongFlaxUnweighted(_WrongFlaxSwapped):
    @linen.compact
    def __call__(self, graph):
        x = graph.nodes
        out = jax.ops.segment_sum(x[graph.senders], graph.receivers, num_segments=x.shape[0])
        return (linen.Dense(self.out_channels, name="lin_rel")(out)
                + linen.Dense(self.out_channels, use_bias=False, name="lin_root")(x))


# Flax: the mean of the weighted messages
class _WrongFlaxMean(_WrongFlaxSwapped):
    @linen.compact
    def __call__(self, graph):
        x = graph.nodes
        n = x.shape[0]
        messages = graph.edges[:, None] * x[graph.senders]
        total = jax.ops.segment_sum(messages, graph.receivers, num_segments=n)
        count = jax.ops.segment_sum(jnp.ones(len(graph.receivers)), graph.receivers,
                                    num_segments=n)
        out = total / jnp.maximum(count, 1.0)[:, None]
        return (linen.Dense(self.out_channels, name="lin_rel")(out)
                + linen.Dense(self.out_channels, use_bias=False, name="lin_root")(x))


# Flax: the bias of lin_rel inside every message
class _WrongFlaxBiasPerEdge(_WrongFlaxSwapped):
    @linen.compact
    def __call__(self, graph):
        x = graph.nodes
        h = linen.Dense(self.out_channels, name="lin_rel")(x)
        messages = graph.edges[:, None] * h[graph.senders]
        out = jax.ops.segment_sum(messages, graph.receivers, num_segments=x.shape[0])
        return out + linen.Dense(self.out_channels, use_bias=False, name="lin_root")(x)


# Flax: no root term
class _WrongFlaxNoRoot(_WrongFlaxSwapped):
    @linen.compact
    def __call__(self, graph):
        x = graph.nodes
        messages = graph.edges[:, None] * x[graph.senders]
        out = jax.ops.segment_sum(messages, graph.receivers, num_segments=x.shape[0])
        return linen.Dense(self.out_channels, name="lin_rel")(out)


# Flax: .at[].set keeps one message per receiver (the last), not their sum
class _WrongFlaxSet(_WrongFlaxSwapped):
    @linen.compact
    def __call__(self, graph):
        x = graph.nodes
        messages = graph.edges[:, None] * x[graph.senders]
        out = jnp.zeros_like(x).at[graph.receivers].set(messages)
        return (linen.Dense(self.out_channels, name="lin_rel")(out)
                + linen.Dense(self.out_channels, use_bias=False, name="lin_root")(x))


# Flax: an activation the formula does not have
class _WrongFlaxRelu(_WrongFlaxSwapped):
    @linen.compact
    def __call__(self, graph):
        x = graph.nodes
        messages = graph.edges[:, None] * x[graph.senders]
        out = jax.ops.segment_sum(messages, graph.receivers, num_segments=x.shape[0])
        return linen.relu(linen.Dense(self.out_channels, name="lin_rel")(out)
                          + linen.Dense(self.out_channels, use_bias=False, name="lin_root")(x))


# Flax: the weights multiply the receiving node's features
class _WrongFlaxWeightsOnReceiver(_WrongFlaxSwapped):
    @linen.compact
    def __call__(self, graph):
        x = graph.nodes
        n = x.shape[0]
        weight_in = jax.ops.segment_sum(graph.edges, graph.receivers, num_segments=n)
        count = jax.ops.segment_sum(x[graph.senders], graph.receivers, num_segments=n)
        out = count * jnp.sign(weight_in)[:, None]
        return (linen.Dense(self.out_channels, name="lin_rel")(out)
                + linen.Dense(self.out_channels, use_bias=False, name="lin_root")(x))


# correct: .at[].add instead of segment_sum
class _RightFlaxAtAdd(_WrongFlaxSwapped):
    @linen.compact
    def __call__(self, graph):
        x = graph.nodes
        messages = graph.edges[:, None] * x[graph.senders]
        out = jnp.zeros_like(x).at[graph.receivers].add(messages)
        return (linen.Dense(self.out_channels, name="lin_rel")(out)
                + linen.Dense(self.out_channels, use_bias=False, name="lin_root")(x))


# correct: a dense weighted adjacency matrix, receivers by senders
class _RightFlaxDense(_WrongFlaxSwapped):
    @linen.compact
    def __call__(self, graph):
        x = graph.nodes
        n = x.shape[0]
        adjacency = jnp.zeros((n, n)).at[graph.receivers, graph.senders].add(graph.edges)
        return (linen.Dense(self.out_channels, name="lin_rel")(adjacency @ x)
                + linen.Dense(self.out_channels, use_bias=False, name="lin_root")(x))


register(Exercise(
    name="GraphConvFlax",
    reference=JaxGraphConvLayer,
    call=_use_flax_layer,
    cases=_flax_layer_cases,
    random_case=_flax_layer_random,
    framework="jax",
    returns=("jax",),
    grad_argnames=("x", "edge_weight"),
    rtol=1e-4,
    atol=1e-5,
    time_limit=10.0,
    hint="gather the senders' rows of graph.nodes, scale them by graph.edges, sum them per "
         "receiver with jax.ops.segment_sum (say how many nodes there are: num_segments); "
         "then the two nn.Dense layers, named as the exercise says (lin_root without bias).",
    mistakes=[_WrongFlaxSwapped, _WrongFlaxNoNumSegments, _WrongFlaxUnweighted, _WrongFlaxMean,
              _WrongFlaxBiasPerEdge, _WrongFlaxNoRoot, _WrongFlaxSet, _WrongFlaxRelu,
              _WrongFlaxWeightsOnReceiver],
    variants=[_RightFlaxAtAdd, _RightFlaxDense],
))


# ------------------------------------------------------------------------------------------------
# Exercise 4: node_train_step (JAX). The chapter's node classifier runs it jitted once per epoch:
# a flax TrainState in (the GCN's apply_fn, params, Adam with weight decay and its state, the
# step count), a new one out with the loss; the graph, the labels and the labelled nodes are
# arguments. The checker compares the new state's step, params and optimiser state and the loss.
# ------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _step_model():
    import optax

    from ..jax.graph_tasks import GCN

    model = GCN(4, 3)
    # Adam with torch-style weight decay, as the chapter's optimiser (_adam in jax.graph_tasks)
    tx = optax.chain(optax.add_decayed_weights(5e-4), optax.adam(0.05))
    return model, tx


@jax.jit
def _step_init(key, graph):
    return _step_model()[0].init(key, graph)


def _step_apply(params, graph):
    """The GCN's apply (one module-level function, so that every case's state compiles once)."""
    return _step_model()[0].apply(params, graph)


def _step_graph(x, senders, receivers):
    n, e = len(x), len(senders)
    return jraph.GraphsTuple(nodes=jnp.asarray(x, jnp.float32), edges=None,
                             senders=jnp.asarray(senders, jnp.int32),
                             receivers=jnp.asarray(receivers, jnp.int32),
                             n_node=jnp.array([n]), n_edge=jnp.array([e]), globals=None)


def _step_state(graph, seed: int, trained: int, labels, train_nodes):
    """A fresh state (``trained=0``) or one that took ``trained`` steps already (so that Adam's
    moments and the step count are not at their start)."""
    from flax.training.train_state import TrainState

    from ..jax.graph_tasks import node_train_step

    model, tx = _step_model()
    params = _step_init(jax.random.key(seed), graph)
    state = TrainState.create(apply_fn=_step_apply, params=params, tx=tx)
    for _ in range(trained):
        state, _ = node_train_step(state, graph, labels, train_nodes)
    return state


def _step_case(description, x, senders, receivers, labels, train_nodes, seed, trained):
    graph = _step_graph(x, senders, receivers)
    labels = jnp.asarray(labels, jnp.int32)
    train_nodes = jnp.asarray(train_nodes, jnp.int32)
    return Case(description, (_step_state(graph, seed, trained, labels, train_nodes), graph,
                              labels, train_nodes))


def _step_view(result):
    """``(state, loss)`` as a dict of arrays: the step, every parameter, every optimiser array."""
    from flax.training.train_state import TrainState

    state, loss = result
    if not isinstance(state, TrainState):
        raise TypeError("not a TrainState")
    path = jax.tree_util.keystr
    return ({"step": int(state.step),
             **{f"params{path(k)}": v
                for k, v in jax.tree_util.tree_flatten_with_path(state.params)[0]},
             **{f"opt_state{path(k)}": v
                for k, v in jax.tree_util.tree_flatten_with_path(state.opt_state)[0]}},
            loss)


@functools.lru_cache(maxsize=1)     # the same objects every time: cases are data
def _step_cases() -> tuple[Case, ...]:
    path = ([0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2])
    x4 = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, -0.5], [0.5, 0.5, 0.0], [-1.0, 0.0, 1.0]])
    return (
        _step_case("a path 0-1-2-3, fresh state (step 0), labelled nodes 0 and 3", x4, *path,
                   [0, 1, 2, 1], [0, 3], seed=0, trained=0),
        _step_case("the same path after 3 steps (Adam's moments are not zero): labelled "
                   "nodes 3, 1 (unsorted)", x4, *path, [0, 1, 2, 1], [3, 1], seed=0, trained=3),
        _step_case("every node labelled", x4, *path, [2, 2, 0, 1], [0, 1, 2, 3], seed=1,
                   trained=0),
        _step_case("one labelled node; node 4 isolated (no edges)",
                   np.vstack([x4, [[0.0, 0.0, 2.0]]]), *path, [0, 1, 2, 1, 0], [4],
                   seed=2, trained=1),
    )


def _step_random(rng: np.random.Generator) -> Case:
    # few shapes (each costs JAX a compile): 5 nodes, 8 directed edges, 2 or 3 labelled
    n = 5
    senders, receivers = rng.integers(0, n, 8), rng.integers(0, n, 8)
    x = rng.normal(size=(n, 3)).round(2)
    labels = rng.integers(0, 3, n)
    train_nodes = rng.choice(n, int(rng.choice([2, 3])), replace=False)
    trained = int(rng.choice([0, 2]))
    return _step_case(f"{n} nodes, edges {np.stack([senders, receivers]).tolist()}, labels "
                      f"{labels.tolist()}, labelled nodes {train_nodes.tolist()}, after "
                      f"{trained} steps", x, senders, receivers, labels, train_nodes,
                      int(rng.integers(1 << 20)), trained)


# the loss over every node: the unlabelled nodes' labels leak into training
def _wrong_step_all_nodes(state, graph, labels, train_nodes):
    def loss_fn(params):
        return cross_entropy(state.apply_fn(params, graph), labels)

    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    return state.apply_gradients(grads=grads), loss


# computes the loss and the gradient but returns the old state: nothing ever trains
def _wrong_step_no_update(state, graph, labels, train_nodes):
    def loss_fn(params):
        logits = state.apply_fn(params, graph)
        return cross_entropy(logits[train_nodes], labels[train_nodes])

    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    state.apply_gradients(grads=grads)      # the new state is thrown away
    return state, loss


# plain gradient descent by hand: the optimiser (Adam, weight decay) and its state are skipped
def _wrong_step_sgd(state, graph, labels, train_nodes):
    def loss_fn(params):
        logits = state.apply_fn(params, graph)
        return cross_entropy(logits[train_nodes], labels[train_nodes])

    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    params = jax.tree_util.tree_map(lambda p, g: p - 0.05 * g, state.params, grads)
    return state.replace(params=params), loss


# returns the loss of the updated parameters, not the loss the gradient came from
def _wrong_step_loss_after(state, graph, labels, train_nodes):
    def loss_fn(params):
        logits = state.apply_fn(params, graph)
        return cross_entropy(logits[train_nodes], labels[train_nodes])

    grads = jax.grad(loss_fn)(state.params)
    state = state.apply_gradients(grads=grads)
    return state, loss_fn(state.params)


# adds the gradient: gradient ascent makes the loss grow
def _wrong_step_ascent(state, graph, labels, train_nodes):
    def loss_fn(params):
        logits = state.apply_fn(params, graph)
        return cross_entropy(logits[train_nodes], labels[train_nodes])

    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    grads = jax.tree_util.tree_map(lambda g: -g, grads)
    return state.apply_gradients(grads=grads), loss


# the loss function ignores its argument and reads state.params: the gradient is zero
def _wrong_step_closure(state, graph, labels, train_nodes):
    def loss_fn(params):
        logits = state.apply_fn(state.params, graph)
        return cross_entropy(logits[train_nodes], labels[train_nodes])

    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    return state.apply_gradients(grads=grads), loss


# loss.item(): a Python float is fine eagerly, but a traced value has none under jax.jit
def _wrong_step_item(state, graph, labels, train_nodes):
    def loss_fn(params):
        logits = state.apply_fn(params, graph)
        return cross_entropy(logits[train_nodes], labels[train_nodes])

    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    return state.apply_gradients(grads=grads), loss.item()


# the new parameters from optax, but the optimiser state and the step are not carried on
def _wrong_step_params_only(state, graph, labels, train_nodes):
    def loss_fn(params):
        logits = state.apply_fn(params, graph)
        return cross_entropy(logits[train_nodes], labels[train_nodes])

    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    updates, _ = state.tx.update(grads, state.opt_state, state.params)
    params = jax.tree_util.tree_map(lambda p, u: p + u, state.params, updates)
    return state.replace(params=params), loss


# the loss summed over the labelled nodes instead of averaged
def _wrong_step_sum(state, graph, labels, train_nodes):
    def loss_fn(params):
        logits = state.apply_fn(params, graph)
        return cross_entropy(logits[train_nodes], labels[train_nodes]) * train_nodes.shape[0]

    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    return state.apply_gradients(grads=grads), loss


# the labels of the first len(train_nodes) nodes, not of the labelled nodes
def _wrong_step_label_rows(state, graph, labels, train_nodes):
    def loss_fn(params):
        logits = state.apply_fn(params, graph)
        return cross_entropy(logits[train_nodes], labels[:train_nodes.shape[0]])

    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    return state.apply_gradients(grads=grads), loss


# jax.grad and the loss computed separately (two passes, the same numbers)
def _right_step_grad_then_loss(state, graph, labels, train_nodes):
    def loss_fn(params):
        logits = state.apply_fn(params, graph)
        return cross_entropy(logits[train_nodes], labels[train_nodes])

    grads = jax.grad(loss_fn)(state.params)
    return state.apply_gradients(grads=grads), loss_fn(state.params)


# what apply_gradients does, written out: tx.update, apply the updates, count the step
def _right_step_by_hand(state, graph, labels, train_nodes):
    def loss_fn(params):
        logits = state.apply_fn(params, graph)
        return cross_entropy(logits[train_nodes], labels[train_nodes])

    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    updates, opt_state = state.tx.update(grads, state.opt_state, state.params)
    params = jax.tree_util.tree_map(lambda p, u: p + u, state.params, updates)
    return state.replace(step=state.step + 1, params=params, opt_state=opt_state), loss


# a boolean mask of the labelled nodes and a masked mean of the per-node losses
def _right_step_mask(state, graph, labels, train_nodes):
    mask = jnp.zeros(labels.shape[0], dtype=bool).at[train_nodes].set(True)

    def loss_fn(params):
        logits = state.apply_fn(params, graph)
        return cross_entropy(logits, labels, mask)

    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    return state.apply_gradients(grads=grads), loss


register(Exercise(
    name="node_train_step",
    reference=node_train_step,
    cases=lambda: list(_step_cases()),
    random_case=_step_random,
    framework="jax",
    returns=("jax",),
    view=_step_view,
    op_by_op=False,
    rtol=1e-4,
    atol=1e-6,
    jit_cases=2,
    time_limit=20.0,
    hint="write loss_fn(params): the logits state.apply_fn(params, graph), then cross_entropy "
         "of the rows train_nodes against labels[train_nodes]; loss, grads = "
         "jax.value_and_grad(loss_fn)(state.params); return "
         "(state.apply_gradients(grads=grads), loss), the new state first.",
    mistakes=[_wrong_step_all_nodes, _wrong_step_no_update, _wrong_step_sgd,
              _wrong_step_loss_after, _wrong_step_ascent, _wrong_step_closure, _wrong_step_item,
              _wrong_step_params_only, _wrong_step_sum, _wrong_step_label_rows],
    variants=[_right_step_grad_then_loss, _right_step_by_hand, _right_step_mask],
))
