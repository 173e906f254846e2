"""Exercises of the chapter "Graph prediction tasks" (book/01_graph_tasks)."""

from __future__ import annotations

import numpy as np

from ..message_passing import aggregate_sum, mean_readout, symmetric_norm
from . import Case, Exercise, register


def _aggregate_cases() -> list[Case]:
    rng = np.random.default_rng(0)
    return [
        Case("4 edges into 3 nodes, 2 features",
             (rng.normal(size=(4, 2)).round(2), np.array([0, 2, 2, 1]), 3)),
        Case("two messages to the same node (both count)",
             (np.array([[1.0], [2.0], [4.0]]), np.array([1, 1, 0]), 2)),
        Case("isolated nodes 3 and 4 receive nothing",
             (rng.normal(size=(3, 3)).round(2), np.array([0, 1, 1]), 5)),
        Case("one-dimensional messages", (np.array([0.5, 1.5, 2.0]), np.array([2, 0, 2]), 3)),
        Case("a single edge", (np.array([[3.0, -1.0]]), np.array([0]), 2)),
        Case("no edges (empty batch)", (np.zeros((0, 2)), np.zeros(0, dtype=np.int64), 3)),
    ]


register(Exercise(
    name="aggregate_sum",
    reference=aggregate_sum,
    cases=_aggregate_cases,
    hint="start from zeros of shape (num_nodes,) + messages.shape[1:]; np.add.at adds repeated "
         "indices correctly (out[receivers] += messages does not).",
))


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
    ]


register(Exercise(
    name="symmetric_norm",
    reference=symmetric_norm,
    cases=_norm_cases,
    hint="deg[i] = number of edges whose receiver is i (np.bincount with minlength); the weight "
         "of edge (s, r) is deg[s] ** -0.5 * deg[r] ** -0.5.",
))


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
        Case("nodes not sorted by graph", (np.array([[1.0], [5.0], [3.0]]), np.array([1, 0, 1]), 2)),
    ]


register(Exercise(
    name="mean_readout",
    reference=mean_readout,
    cases=_readout_cases,
    hint="sum the features per graph (like aggregate_sum) and divide by the node count of each "
         "graph; a graph with no nodes must give zeros, not NaN.",
))
