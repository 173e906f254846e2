"""Exercises of the chapter "Setup and data: MovieLens as a graph" (book/02_movielens_graph)."""

from __future__ import annotations

import numpy as np

from ..graph import bipartite_to_directed, node_degrees, to_edge_index
from . import Case, Exercise, register


def _edge_index_cases() -> list[Case]:
    ids_u, ids_m = np.array([3, 7, 42]), np.array([10, 20, 30, 40])
    return [
        Case("three users, four movies, raw ids not 0-based",
             (np.array([3, 3, 7, 42]), np.array([10, 40, 20, 10]), ids_u, ids_m)),
        Case("ratings in no particular order",
             (np.array([42, 3, 7, 3]), np.array([30, 20, 40, 30]), ids_u, ids_m)),
        Case("the first user never rated (index 0 stays reserved for them)",
             (np.array([7, 42]), np.array([20, 40]), ids_u, ids_m)),
        Case("a single rating", (np.array([42]), np.array([40]), ids_u, ids_m)),
        Case("no ratings at all (an empty batch)",
             (np.array([], dtype=np.int64), np.array([], dtype=np.int64), ids_u, ids_m)),
    ]


register(Exercise(
    name="to_edge_index",
    reference=to_edge_index,
    cases=_edge_index_cases,
    hint="look each raw id up in user_ids / movie_ids; row 0 = users, row 1 = movies; "
         "return shape [2, E] with an integer dtype.",
))


def _degree_cases() -> list[Case]:
    return [
        Case("a small graph", (np.array([[0, 0, 1, 2], [0, 1, 1, 2]]), 3, 3)),
        Case("isolated nodes: user 3 and movies 3, 4 have no edge",
             (np.array([[0, 1, 1, 2], [0, 0, 2, 1]]), 4, 5)),
        Case("more movies than users", (np.array([[0, 0, 0], [4, 5, 6]]), 1, 7)),
        Case("a single edge", (np.array([[1], [0]]), 2, 2)),
        Case("no edges", (np.zeros((2, 0), dtype=np.int64), 2, 3)),
    ]


register(Exercise(
    name="node_degrees",
    reference=node_degrees,
    cases=_degree_cases,
    hint="np.bincount counts how often each index occurs; mind nodes that never occur.",
))


def _directed_cases() -> list[Case]:
    return [
        Case("two users, three movies", (np.array([[0, 0, 1], [0, 2, 1]]), 2)),
        Case("three users, user 2 isolated", (np.array([[1, 0], [0, 1]]), 3)),
        Case("a single edge", (np.array([[0], [0]]), 1)),
        Case("no edges", (np.zeros((2, 0), dtype=np.int64), 4)),
    ]


register(Exercise(
    name="bipartite_to_directed",
    reference=bipartite_to_directed,
    cases=_directed_cases,
    hint="movie j is node num_users + j; the first E edges go user -> movie, the next E are "
         "their reverses in the same order.",
))
