"""Exercises of the chapter "Setup and data: MovieLens as a graph" (book/02_movielens_graph).

Each exercise lists plausible wrong answers (``_wrong_*``, which the checker must reject) and
correct but different answers (``_right_*``, which it must accept). They are self-contained: a
test pastes their source into the notebook cell, where only ``np``, ``pd``, ``torch``, ``jax``,
``jnp`` and ``jraph`` exist.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..graph import bipartite_to_directed, leak_free_split, node_degrees, to_edge_index
from . import Case, Exercise, listed, register



def _isolated(used, n: int) -> np.ndarray:
    return np.setdiff1d(np.arange(n), used)


# ------------------------------------------------------------------------------------------------
# Exercise 1: to_edge_index
# ------------------------------------------------------------------------------------------------


def _ratings(users, movies) -> tuple[pd.Series, pd.Series]:
    """Raw ids as the notebook passes them: ml.ratings["userId"], ml.ratings["movieId"]."""
    return (pd.Series(users, name="userId", dtype=np.int64),
            pd.Series(movies, name="movieId", dtype=np.int64))


def _edge_index_cases() -> list[Case]:
    ids_u, ids_m = np.array([3, 7, 42]), np.array([10, 20, 30, 40])
    return [
        Case("three users, four movies, raw ids not 0-based",
             (*_ratings([3, 3, 7, 42], [10, 40, 20, 10]), ids_u, ids_m)),
        Case("ratings in no particular order",
             (*_ratings([42, 3, 7, 3], [30, 20, 40, 30]), ids_u, ids_m)),
        Case("the first user never rated (index 0 stays reserved for them)",
             (*_ratings([7, 42], [20, 40]), ids_u, ids_m)),
        Case("a single rating", (*_ratings([42], [40]), ids_u, ids_m)),
        Case("no ratings at all (an empty batch)", (*_ratings([], []), ids_u, ids_m)),
        Case("user_ids, movie_ids not in ascending order (user_ids[i] is the raw id of user i)",
             (*_ratings([5, 9, 2, 9], [30, 10, 20, 30]), np.array([9, 2, 5]),
              np.array([30, 10, 20]))),
    ]


def _raw_ids(rng: np.random.Generator, n: int, sort: bool) -> np.ndarray:
    ids = rng.choice(np.arange(1, 61), size=n, replace=False).astype(np.int64)
    if sort:
        return np.sort(ids)
    if np.all(np.diff(ids) > 0):
        ids = ids[::-1].copy()
    return ids


def _edge_index_random(rng: np.random.Generator) -> Case:
    """As the notebook calls it: pandas Series of raw ids (ml.ratings["userId"], RangeIndex) and
    int64 id arrays (ml.user_ids); ids not 0-based, with gaps, often not in ascending order; some
    users and movies without ratings (the first ones included); repeated users and movies."""
    num_users, num_movies = int(rng.integers(2, 8)), int(rng.integers(2, 9))
    sorted_ids = rng.random() < 0.4
    user_ids = _raw_ids(rng, num_users, sorted_ids)
    movie_ids = _raw_ids(rng, num_movies, sorted_ids)
    num_ratings = 0 if rng.random() < 0.08 else int(rng.integers(1, 15))
    raters = np.arange(num_users)
    if rng.random() < 0.7:  # some users never rated, often user 0
        drop = 0 if rng.random() < 0.5 else int(rng.integers(0, num_users))
        raters = np.delete(raters, drop)
    users = rng.choice(raters, size=num_ratings)
    movies = rng.integers(0, num_movies, size=num_ratings)
    user_raw, movie_raw = _ratings(user_ids[users], movie_ids[movies])
    order = "ids in ascending order" if sorted_ids else "ids NOT in ascending order"
    return Case(f"{num_ratings} ratings (pandas Series) by {num_users} users of {num_movies} "
                f"movies, {order}; user indices without a rating: "
                f"{listed(_isolated(users, num_users))}",
                (user_raw, movie_raw, user_ids, movie_ids))


# subtracts 1 from the raw ids, as if they ran 1, 2, 3, ... without gaps
def _wrong_edge_off_by_one(user_raw, movie_raw, user_ids, movie_ids):
    return np.stack([np.asarray(user_raw) - 1, np.asarray(movie_raw) - 1])


# puts the movies in row 0 and the users in row 1
def _wrong_edge_swapped(user_raw, movie_raw, user_ids, movie_ids):
    u = {int(raw): i for i, raw in enumerate(user_ids)}
    m = {int(raw): j for j, raw in enumerate(movie_ids)}
    return np.array([[m[int(x)] for x in movie_raw], [u[int(x)] for x in user_raw]],
                    dtype=np.int64).reshape(2, -1)


# indexes only the users that occur in these ratings: wrong when one never rated
def _wrong_edge_from_ratings_only(user_raw, movie_raw, user_ids, movie_ids):
    u = np.unique(np.asarray(user_raw), return_inverse=True)[1]
    m = {int(raw): j for j, raw in enumerate(movie_ids)}
    return np.stack([u.reshape(-1), np.array([m[int(x)] for x in movie_raw], dtype=np.int64)])


# right indices, but float: an edge index must be integers to index arrays
def _wrong_edge_float(user_raw, movie_raw, user_ids, movie_ids):
    u = {int(raw): i for i, raw in enumerate(user_ids)}
    m = {int(raw): j for j, raw in enumerate(movie_ids)}
    return np.array([[u[int(x)] for x in user_raw], [m[int(x)] for x in movie_raw]],
                    dtype=np.float32).reshape(2, -1)


# np.searchsorted assumes the ids are sorted; user_ids[i] is the id of user i, in any order
def _wrong_edge_searchsorted(user_raw, movie_raw, user_ids, movie_ids):
    return np.stack([np.searchsorted(user_ids, user_raw), np.searchsorted(movie_ids, movie_raw)])


# sorts the id arrays in place (corrupting ml.user_ids) to make np.searchsorted work
def _wrong_edge_sorts_ids(user_raw, movie_raw, user_ids, movie_ids):
    user_ids.sort()
    movie_ids.sort()
    return np.stack([np.searchsorted(user_ids, user_raw), np.searchsorted(movie_ids, movie_raw)])


# list.index: works if the ids come as a list, but user_ids is a numpy array
def _wrong_edge_list_index(user_raw, movie_raw, user_ids, movie_ids):
    users = [user_ids.index(u) for u in user_raw]
    movies = [movie_ids.index(m) for m in movie_raw]
    return np.array([users, movies], dtype=np.int64).reshape(2, -1)


# returns Python lists instead of an array
def _wrong_edge_lists(user_raw, movie_raw, user_ids, movie_ids):
    u = {int(raw): i for i, raw in enumerate(user_ids)}
    m = {int(raw): j for j, raw in enumerate(movie_ids)}
    return [[u[int(x)] for x in user_raw], [m[int(x)] for x in movie_raw]]


# one (user, movie) row per rating: shape [E, 2] instead of [2, E]
def _wrong_edge_transposed(user_raw, movie_raw, user_ids, movie_ids):
    u = {int(raw): i for i, raw in enumerate(user_ids)}
    m = {int(raw): j for j, raw in enumerate(movie_ids)}
    return np.array([[u[int(x)], m[int(y)]] for x, y in zip(user_raw, movie_raw)],
                    dtype=np.int64).reshape(-1, 2)


# hard-codes the answers of the hand-written cases, wrong on any other input
def _wrong_edge_memorised(user_raw, movie_raw, user_ids, movie_ids):
    known = {
        ((3, 3, 7, 42), (10, 40, 20, 10), (3, 7, 42)): [[0, 0, 1, 2], [0, 3, 1, 0]],
        ((42, 3, 7, 3), (30, 20, 40, 30), (3, 7, 42)): [[2, 0, 1, 0], [2, 1, 3, 2]],
        ((7, 42), (20, 40), (3, 7, 42)): [[1, 2], [1, 3]],
        ((42,), (40,), (3, 7, 42)): [[2], [3]],
        ((), (), (3, 7, 42)): [[], []],
        ((5, 9, 2, 9), (30, 10, 20, 30), (9, 2, 5)): [[2, 0, 1, 0], [0, 1, 2, 0]],
    }
    key = tuple(tuple(int(v) for v in a) for a in (user_raw, movie_raw, user_ids))
    return np.array(known.get(key, [[0] * len(key[0])] * 2), dtype=np.int64).reshape(2, -1)


# pandas does the look-up (as course_lib.data does)
def _right_edge_pandas(user_raw, movie_raw, user_ids, movie_ids):
    return np.stack([pd.Index(user_ids).get_indexer(user_raw),
                     pd.Index(movie_ids).get_indexer(movie_raw)]).astype(np.int64)


# np.searchsorted on a sorted copy, mapped back through the sorting order
def _right_edge_argsort(user_raw, movie_raw, user_ids, movie_ids):
    rows = []
    for raw, ids in [(user_raw, user_ids), (movie_raw, movie_ids)]:
        order = np.argsort(ids)
        pos = np.searchsorted(np.asarray(ids)[order], np.asarray(raw))
        rows.append(order[pos])
    return np.stack(rows).reshape(2, -1).astype(np.int64)


register(Exercise(
    name="to_edge_index",
    reference=to_edge_index,
    cases=_edge_index_cases,
    random_case=_edge_index_random,
    framework="numpy",
    returns=("numpy",),
    integers="indices",
    hint="look each raw id up in user_ids / movie_ids (user_ids[i] is the raw id of user i, and "
         "the ids need not be sorted: a dict {raw id: index} works); row 0 = users, row 1 = "
         "movies; return shape [2, E] with an integer dtype.",
    mistakes=[_wrong_edge_off_by_one, _wrong_edge_swapped, _wrong_edge_from_ratings_only,
              _wrong_edge_float, _wrong_edge_searchsorted, _wrong_edge_sorts_ids,
              _wrong_edge_list_index, _wrong_edge_lists, _wrong_edge_transposed,
              _wrong_edge_memorised],
    variants=[_right_edge_pandas, _right_edge_argsort],
))


# ------------------------------------------------------------------------------------------------
# Exercise 2: node_degrees
# ------------------------------------------------------------------------------------------------


def _degree_cases() -> list[Case]:
    return [
        Case("a small graph", (np.array([[0, 0, 1, 2], [0, 1, 1, 2]]), 3, 3)),
        Case("isolated nodes: user 3 and movies 3, 4 have no edge",
             (np.array([[0, 1, 1, 2], [0, 0, 2, 1]]), 4, 5)),
        Case("more movies than users", (np.array([[0, 0, 0], [4, 5, 6]]), 1, 7)),
        Case("a single edge", (np.array([[1], [0]]), 2, 2)),
        Case("no edges", (np.zeros((2, 0), dtype=np.int64), 2, 3)),
        Case("edge (user 0, movie 2) stored twice: both count; user 2, movie 3 isolated",
             (np.array([[0, 0, 1, 0], [2, 2, 0, 1]]), 3, 4)),
    ]


def _degree_random(rng: np.random.Generator) -> Case:
    """As the notebook calls it: an int64 [2, E] edge index and Python ints; isolated users and
    movies (first and last ones included), unsorted and sometimes repeated edges."""
    num_users, num_movies = int(rng.integers(1, 8)), int(rng.integers(1, 10))
    if rng.random() < 0.08:
        return Case(f"no edges, {num_users} users, {num_movies} movies",
                    (np.zeros((2, 0), dtype=np.int64), num_users, num_movies))

    def active(n):
        keep = rng.random(n) < 0.7
        if n > 1 and rng.random() < 0.6:
            keep[0 if rng.random() < 0.5 else n - 1] = False  # an isolated first or last node
        keep[int(rng.integers(0, n))] |= not keep.any()
        return np.flatnonzero(keep)

    num_edges = int(rng.integers(1, 20))
    users = rng.choice(active(num_users), size=num_edges)
    movies = rng.choice(active(num_movies), size=num_edges)
    edge_index = np.stack([users, movies])
    repeats = 0
    if rng.random() < 0.6:  # the same (user, movie) edge more than once: every copy counts
        repeats = int(rng.integers(1, 4))
        edge_index = np.concatenate(
            [edge_index, edge_index[:, rng.integers(0, num_edges, size=repeats)]], axis=1)
        edge_index = edge_index[:, rng.permutation(edge_index.shape[1])]
    return Case(f"{edge_index.shape[1]} edges ({repeats} repeated), {num_users} users, "
                f"{num_movies} movies; isolated users: {listed(_isolated(users, num_users))}, "
                f"isolated movies: {listed(_isolated(movies, num_movies))}",
                (edge_index.astype(np.int64), num_users, num_movies))


# np.bincount without minlength: isolated nodes at the end are dropped
def _wrong_deg_no_minlength(edge_index, num_users, num_movies):
    ei = np.asarray(edge_index)
    return np.bincount(ei[0]), np.bincount(ei[1])


# user degrees from row 1 and movie degrees from row 0
def _wrong_deg_swapped(edge_index, num_users, num_movies):
    ei = np.asarray(edge_index)
    return np.bincount(ei[1], minlength=num_users), np.bincount(ei[0], minlength=num_movies)


# np.unique(return_counts=True) counts only the nodes that occur: isolated nodes vanish
def _wrong_deg_unique_counts(edge_index, num_users, num_movies):
    ei = np.asarray(edge_index)
    return np.unique(ei[0], return_counts=True)[1], np.unique(ei[1], return_counts=True)[1]


# np.histogram without a range spreads its bins between the smallest and largest index
def _wrong_deg_histogram(edge_index, num_users, num_movies):
    ei = np.asarray(edge_index)
    return np.histogram(ei[0], bins=num_users)[0], np.histogram(ei[1], bins=num_movies)[0]


# degrees from a dense 0/1 rating matrix: a repeated edge counts once
def _wrong_deg_dense(edge_index, num_users, num_movies):
    ei = np.asarray(edge_index)
    adj = np.zeros((num_users, num_movies))
    adj[ei[0], ei[1]] = 1.0
    return adj.sum(axis=1), adj.sum(axis=0)


# returns Python lists: the next cells call deg.min() and (deg == 1).sum()
def _wrong_deg_lists(edge_index, num_users, num_movies):
    ei = np.asarray(edge_index)
    return (np.bincount(ei[0], minlength=num_users).tolist(),
            np.bincount(ei[1], minlength=num_movies).tolist())


# hard-codes the answers of the hand-written cases, wrong on any other input
def _wrong_deg_memorised(edge_index, num_users, num_movies):
    known = {
        ((0, 0, 1, 2), (0, 1, 1, 2)): ([2, 1, 1], [1, 2, 1]),
        ((0, 1, 1, 2), (0, 0, 2, 1)): ([1, 2, 1, 0], [2, 1, 1, 0, 0]),
        ((0, 0, 0), (4, 5, 6)): ([3], [0, 0, 0, 0, 1, 1, 1]),
        ((1,), (0,)): ([0, 1], [1, 0]),
        ((), ()): ([0, 0], [0, 0, 0]),
        ((0, 0, 1, 0), (2, 2, 0, 1)): ([3, 1, 0], [1, 1, 2, 0]),
    }
    key = tuple(tuple(int(v) for v in row) for row in np.asarray(edge_index))
    users, movies = known.get(key, ([1] * num_users, [1] * num_movies))
    return np.array(users), np.array(movies)


# float counts with np.add.at: whole-valued floats are right too
def _right_deg_float(edge_index, num_users, num_movies):
    ei = np.asarray(edge_index)
    users, movies = np.zeros(num_users), np.zeros(num_movies)
    np.add.at(users, ei[0], 1.0)
    np.add.at(movies, ei[1], 1.0)
    return users, movies


# compares every edge with every node index
def _right_deg_compare(edge_index, num_users, num_movies):
    ei = np.asarray(edge_index)
    return ((ei[0][:, None] == np.arange(num_users)).sum(axis=0),
            (ei[1][:, None] == np.arange(num_movies)).sum(axis=0))


register(Exercise(
    name="node_degrees",
    reference=node_degrees,
    cases=_degree_cases,
    random_case=_degree_random,
    framework="numpy",
    returns=("numpy",),
    integers="counts",
    hint="np.bincount counts how often each index occurs (every copy of a repeated edge); mind "
         "nodes that never occur: minlength.",
    mistakes=[_wrong_deg_no_minlength, _wrong_deg_swapped, _wrong_deg_unique_counts,
              _wrong_deg_histogram, _wrong_deg_dense, _wrong_deg_lists, _wrong_deg_memorised],
    variants=[_right_deg_float, _right_deg_compare],
))


# ------------------------------------------------------------------------------------------------
# Exercise 3: bipartite_to_directed
# ------------------------------------------------------------------------------------------------


def _directed_cases() -> list[Case]:
    return [
        Case("two users, three movies", (np.array([[0, 0, 1], [0, 2, 1]]), 2)),
        Case("three users, user 2 isolated", (np.array([[1, 0], [0, 1]]), 3)),
        Case("a single edge", (np.array([[0], [0]]), 1)),
        Case("no edges", (np.zeros((2, 0), dtype=np.int64), 4)),
        Case("edges in no order, (user 2, movie 1) twice; users 0 and 3 isolated",
             (np.array([[2, 1, 2, 1], [1, 0, 1, 3]]), 4)),
    ]


def _directed_random(rng: np.random.Generator) -> Case:
    """As the notebook calls it: an int64 [2, E] edge index (PyG's edge_index.numpy()) and a
    Python int; edges unsorted, sometimes repeated; isolated users, often the last ones."""
    num_users, num_movies = int(rng.integers(1, 9)), int(rng.integers(1, 9))
    if rng.random() < 0.08:
        return Case(f"no edges, {num_users} users", (np.zeros((2, 0), dtype=np.int64),
                                                     num_users))
    raters = np.arange(num_users)
    if num_users > 1 and rng.random() < 0.7:
        raters = raters[:int(rng.integers(1, num_users))]  # the last users never rated
    num_edges = int(rng.integers(1, 16))
    edge_index = np.stack([rng.choice(raters, size=num_edges),
                           rng.integers(0, num_movies, size=num_edges)])
    repeats = 0
    if rng.random() < 0.4:
        repeats = int(rng.integers(1, 3))
        edge_index = np.concatenate(
            [edge_index, edge_index[:, rng.integers(0, num_edges, size=repeats)]], axis=1)
        edge_index = edge_index[:, rng.permutation(edge_index.shape[1])]
    return Case(f"{edge_index.shape[1]} edges in no order ({repeats} repeated), {num_users} "
                f"users, {num_movies} movies; isolated users: "
                f"{listed(_isolated(edge_index[0], num_users))}",
                (edge_index.astype(np.int64), num_users))


# forgets to shift the movies: movie j collides with user j
def _wrong_dir_no_offset(edge_index, num_users):
    ei = np.asarray(edge_index)
    return np.concatenate([ei[0], ei[1]]), np.concatenate([ei[1], ei[0]])


# shifts the movies by num_users - 1: the first movie collides with the last user
def _wrong_dir_off_by_one(edge_index, num_users):
    ei = np.asarray(edge_index)
    m = ei[1] + num_users - 1
    return np.concatenate([ei[0], m]), np.concatenate([m, ei[0]])


# user -> movie twice, no reverse edges
def _wrong_dir_forward_only_twice(edge_index, num_users):
    ei = np.asarray(edge_index)
    m = ei[1] + num_users
    return np.concatenate([ei[0], ei[0]]), np.concatenate([m, m])


# each edge directly followed by its reverse, instead of all E forward edges first
def _wrong_dir_interleaved(edge_index, num_users):
    ei = np.asarray(edge_index)
    m = ei[1] + num_users
    return np.stack([ei[0], m], 1).reshape(-1), np.stack([m, ei[0]], 1).reshape(-1)


# movie -> user edges first, then user -> movie
def _wrong_dir_reverse_first(edge_index, num_users):
    ei = np.asarray(edge_index)
    m = ei[1] + num_users
    return np.concatenate([m, ei[0]]), np.concatenate([ei[0], m])


# the reverse edges in reversed order instead of the same order
def _wrong_dir_reverse_backwards(edge_index, num_users):
    ei = np.asarray(edge_index)
    m = ei[1] + num_users
    return np.concatenate([ei[0], m[::-1]]), np.concatenate([m, ei[0][::-1]])


# shifts by the number of distinct users in the edges, not by num_users
def _wrong_dir_counts_users(edge_index, num_users):
    ei = np.asarray(edge_index)
    m = ei[1] + len(np.unique(ei[0]))
    return np.concatenate([ei[0], m]), np.concatenate([m, ei[0]])


# np.unique(axis=1) first: drops repeated edges and sorts them
def _wrong_dir_unique(edge_index, num_users):
    ei = np.unique(np.asarray(edge_index).reshape(2, -1), axis=1)
    m = ei[1] + num_users
    return np.concatenate([ei[0], m]), np.concatenate([m, ei[0]])


# right values, but edge_index[1] += num_users changes the caller's edge index in place
def _wrong_dir_in_place(edge_index, num_users):
    edge_index[1] += num_users
    return (np.concatenate([edge_index[0], edge_index[1]]),
            np.concatenate([edge_index[1], edge_index[0]]))


# returns Python lists instead of arrays
def _wrong_dir_lists(edge_index, num_users):
    users = [int(u) for u in edge_index[0]]
    movies = [int(m) + num_users for m in edge_index[1]]
    return users + movies, movies + users


# hard-codes the answers of the hand-written cases, wrong on any other input
def _wrong_dir_memorised(edge_index, num_users):
    known = {
        ((0, 0, 1), (0, 2, 1), 2): ([0, 0, 1, 2, 4, 3], [2, 4, 3, 0, 0, 1]),
        ((1, 0), (0, 1), 3): ([1, 0, 3, 4], [3, 4, 1, 0]),
        ((0,), (0,), 1): ([0, 1], [1, 0]),
        ((), (), 4): ([], []),
        ((2, 1, 2, 1), (1, 0, 1, 3), 4): ([2, 1, 2, 1, 5, 4, 5, 7], [5, 4, 5, 7, 2, 1, 2, 1]),
    }
    key = tuple(tuple(int(v) for v in row) for row in np.asarray(edge_index)) + (num_users,)
    ei = np.asarray(edge_index)
    s, r = known.get(key, (list(ei[0]) * 2, list(ei[1]) * 2))
    return np.array(s, dtype=np.int64), np.array(r, dtype=np.int64)


# a copy first, then the shift in place on the copy
def _right_dir_copy(edge_index, num_users):
    ei = np.array(edge_index, dtype=np.int64)
    ei[1] += num_users
    return np.concatenate([ei[0], ei[1]]), np.concatenate([ei[1], ei[0]])


# the [2, 2E] array [edges, flipped edges], returned as a list [senders, receivers]
def _right_dir_flip(edge_index, num_users):
    ei = np.asarray(edge_index) + np.array([[0], [num_users]])
    both = np.concatenate([ei, ei[::-1]], axis=1)
    return [both[0], both[1]]


register(Exercise(
    name="bipartite_to_directed",
    reference=bipartite_to_directed,
    cases=_directed_cases,
    random_case=_directed_random,
    framework="numpy",
    returns=("numpy",),
    integers="indices",
    hint="movie j is node num_users + j; the first E edges go user -> movie, the next E are "
         "their reverses in the same order. Build new arrays (edge_index[1] + num_users), do "
         "not add to edge_index in place.",
    mistakes=[_wrong_dir_no_offset, _wrong_dir_off_by_one, _wrong_dir_forward_only_twice,
              _wrong_dir_interleaved, _wrong_dir_reverse_first, _wrong_dir_reverse_backwards,
              _wrong_dir_counts_users, _wrong_dir_unique, _wrong_dir_in_place, _wrong_dir_lists,
              _wrong_dir_memorised],
    variants=[_right_dir_copy, _right_dir_flip],
))


# ------------------------------------------------------------------------------------------------
# Exercise 4: leak_free_split. For each part, the edges a model may see (message edges) and the
# edges it learns or is scored on (targets), from one shuffled order of the edge ids.
# ------------------------------------------------------------------------------------------------


def _split_cases() -> list[Case]:
    perm10 = np.array([7, 2, 9, 0, 4, 8, 1, 6, 3, 5])
    perm15 = np.random.default_rng(1).permutation(15)
    return [
        Case("10 edges: 8 train (2 of them supervision), 1 validation, 1 test",
             (perm10, 0.1, 0.1, 0.3)),
        Case("15 edges, 10 % validation: 1.5 rounds down to 1 (and 2 test)",
             (perm15, 0.1, 0.15, 0.3)),
        Case("no validation edges (val_ratio 0)", (perm10, 0.0, 0.2, 0.5)),
        Case("no supervision-only edges: training targets are none", (perm10, 0.2, 0.2, 0.0)),
        Case("a single edge: it trains, as a message edge", (np.array([0]), 0.1, 0.1, 0.3)),
        Case("no edges at all", (np.zeros(0, dtype=np.int64), 0.1, 0.1, 0.3)),
        Case("ids that are not 0..E-1 in order: 20 edges, half of training supervision",
             (np.random.default_rng(2).permutation(20), 0.25, 0.25, 0.5)),
    ]


def _split_random(rng: np.random.Generator) -> Case:
    n = int(rng.integers(0, 61))
    val, test = (float(v) for v in rng.choice([0.0, 0.05, 0.1, 0.15, 0.2, 0.25], 2))
    sup = float(rng.choice([0.0, 0.2, 0.3, 0.5]))
    perm = rng.permutation(n).astype(np.int64)
    return Case(f"{n} edges, val_ratio {val}, test_ratio {test}, supervision_ratio {sup}",
                (perm, val, test, sup))


def _sorted_parts(result):
    """Each part's arrays in increasing order (the order of the ids does not matter)."""
    return {part: tuple(ids[np.argsort(np.asarray(ids), kind="stable")] for ids in pair)
            for part, pair in result.items()}


def _split_sizes(perm, val_ratio, test_ratio, supervision_ratio):
    n = len(perm)
    n_val, n_test = int(n * val_ratio), int(n * test_ratio)
    n_train = n - n_val - n_test
    return n_val, n_test, n_train, int(n_train * supervision_ratio)


# the supervision edges stay in the training graph: the model sees the edges it must predict
def _wrong_split_train_sees_targets(perm, val_ratio, test_ratio, supervision_ratio):
    perm = np.asarray(perm)
    n_val, n_test, n_train, n_sup = _split_sizes(perm, val_ratio, test_ratio, supervision_ratio)
    train, val, test = perm[:n_train], perm[n_train:n_train + n_val], perm[n_train + n_val:]
    return {"train": (np.sort(train), np.sort(train[:n_sup])),
            "val": (np.sort(train), np.sort(val)),
            "test": (np.sort(np.concatenate([train, val])), np.sort(test))}


# validation predicts over the message edges only (the supervision edges are not leaks there)
def _wrong_split_val_message_only(perm, val_ratio, test_ratio, supervision_ratio):
    perm = np.asarray(perm)
    n_val, n_test, n_train, n_sup = _split_sizes(perm, val_ratio, test_ratio, supervision_ratio)
    train, val, test = perm[:n_train], perm[n_train:n_train + n_val], perm[n_train + n_val:]
    return {"train": (np.sort(train[n_sup:]), np.sort(train[:n_sup])),
            "val": (np.sort(train[n_sup:]), np.sort(val)),
            "test": (np.sort(np.concatenate([train, val])), np.sort(test))}


# test propagates over training edges only, though the validation edges are known by then
def _wrong_split_test_without_val(perm, val_ratio, test_ratio, supervision_ratio):
    perm = np.asarray(perm)
    n_val, n_test, n_train, n_sup = _split_sizes(perm, val_ratio, test_ratio, supervision_ratio)
    train, val, test = perm[:n_train], perm[n_train:n_train + n_val], perm[n_train + n_val:]
    return {"train": (np.sort(train[n_sup:]), np.sort(train[:n_sup])),
            "val": (np.sort(train), np.sort(val)),
            "test": (np.sort(train), np.sort(test))}


# the test graph holds every edge, the test targets included
def _wrong_split_test_sees_all(perm, val_ratio, test_ratio, supervision_ratio):
    perm = np.asarray(perm)
    n_val, n_test, n_train, n_sup = _split_sizes(perm, val_ratio, test_ratio, supervision_ratio)
    train, val, test = perm[:n_train], perm[n_train:n_train + n_val], perm[n_train + n_val:]
    return {"train": (np.sort(train[n_sup:]), np.sort(train[:n_sup])),
            "val": (np.sort(train), np.sort(val)),
            "test": (np.sort(perm), np.sort(test))}


# round() instead of rounding down
def _wrong_split_round(perm, val_ratio, test_ratio, supervision_ratio):
    perm = np.asarray(perm)
    n_val, n_test = round(len(perm) * val_ratio), round(len(perm) * test_ratio)
    n_train = len(perm) - n_val - n_test
    n_sup = round(n_train * supervision_ratio)
    train, val, test = perm[:n_train], perm[n_train:n_train + n_val], perm[n_train + n_val:]
    return {"train": (np.sort(train[n_sup:]), np.sort(train[:n_sup])),
            "val": (np.sort(train), np.sort(val)),
            "test": (np.sort(np.concatenate([train, val])), np.sort(test))}


# the supervision share taken of all edges, not of the training ones
def _wrong_split_sup_of_all(perm, val_ratio, test_ratio, supervision_ratio):
    perm = np.asarray(perm)
    n_val, n_test, n_train, _ = _split_sizes(perm, val_ratio, test_ratio, supervision_ratio)
    n_sup = int(len(perm) * supervision_ratio)
    train, val, test = perm[:n_train], perm[n_train:n_train + n_val], perm[n_train + n_val:]
    return {"train": (np.sort(train[n_sup:]), np.sort(train[:n_sup])),
            "val": (np.sort(train), np.sort(val)),
            "test": (np.sort(np.concatenate([train, val])), np.sort(test))}


# the parts cut from the front: test first, then validation, then training
def _wrong_split_test_first(perm, val_ratio, test_ratio, supervision_ratio):
    perm = np.asarray(perm)
    n_val, n_test, n_train, n_sup = _split_sizes(perm, val_ratio, test_ratio, supervision_ratio)
    test, val, train = perm[:n_test], perm[n_test:n_test + n_val], perm[n_test + n_val:]
    return {"train": (np.sort(train[n_sup:]), np.sort(train[:n_sup])),
            "val": (np.sort(train), np.sort(val)),
            "test": (np.sort(np.concatenate([train, val])), np.sort(test))}


# the supervision edges taken from the end of the training ids
def _wrong_split_sup_last(perm, val_ratio, test_ratio, supervision_ratio):
    perm = np.asarray(perm)
    n_val, n_test, n_train, n_sup = _split_sizes(perm, val_ratio, test_ratio, supervision_ratio)
    train, val, test = perm[:n_train], perm[n_train:n_train + n_val], perm[n_train + n_val:]
    cut = n_train - n_sup
    return {"train": (np.sort(train[:cut]), np.sort(train[cut:])),
            "val": (np.sort(train), np.sort(val)),
            "test": (np.sort(np.concatenate([train, val])), np.sort(test))}


# sizes of the val and test parts from 1 - ratio: the rest of the float rounding goes astray
def _wrong_split_train_ratio(perm, val_ratio, test_ratio, supervision_ratio):
    perm = np.asarray(perm)
    n_train = int(len(perm) * (1 - val_ratio - test_ratio))
    n_val = int(len(perm) * val_ratio)
    n_sup = int(n_train * supervision_ratio)
    train, val, test = perm[:n_train], perm[n_train:n_train + n_val], perm[n_train + n_val:]
    return {"train": (np.sort(train[n_sup:]), np.sort(train[:n_sup])),
            "val": (np.sort(train), np.sort(val)),
            "test": (np.sort(np.concatenate([train, val])), np.sort(test))}


# validation targets in the validation graph
def _wrong_split_val_sees_targets(perm, val_ratio, test_ratio, supervision_ratio):
    perm = np.asarray(perm)
    n_val, n_test, n_train, n_sup = _split_sizes(perm, val_ratio, test_ratio, supervision_ratio)
    train, val, test = perm[:n_train], perm[n_train:n_train + n_val], perm[n_train + n_val:]
    return {"train": (np.sort(train[n_sup:]), np.sort(train[:n_sup])),
            "val": (np.sort(np.concatenate([train, val])), np.sort(val)),
            "test": (np.sort(np.concatenate([train, val])), np.sort(test))}


# correct: np.split at the cut points, the parts built with set operations
def _right_split_sets(perm, val_ratio, test_ratio, supervision_ratio):
    perm = np.asarray(perm)
    n = len(perm)
    n_val, n_test = int(n * val_ratio), int(n * test_ratio)
    n_train = n - n_val - n_test
    train, val, test = np.split(perm, [n_train, n_train + n_val])
    supervision = train[:int(n_train * supervision_ratio)]
    seen_by_test = np.setdiff1d(perm, test)
    return {"train": (np.setdiff1d(train, supervision), np.sort(supervision)),
            "val": (np.sort(train), np.sort(val)),
            "test": (seen_by_test, np.sort(test))}


# correct: unsorted ids (the order does not matter), math.floor for the sizes
def _right_split_unsorted(perm, val_ratio, test_ratio, supervision_ratio):
    import math

    perm = np.asarray(perm)
    n_val = math.floor(len(perm) * val_ratio)
    n_test = math.floor(len(perm) * test_ratio)
    n_train = len(perm) - n_val - n_test
    n_sup = math.floor(n_train * supervision_ratio)
    train = perm[:n_train]
    return {"train": (train[n_sup:], train[:n_sup]),
            "val": (train, perm[n_train:n_train + n_val]),
            "test": (perm[:n_train + n_val], perm[n_train + n_val:])}


register(Exercise(
    name="leak_free_split",
    reference=leak_free_split,
    cases=_split_cases,
    random_case=_split_random,
    framework="numpy",
    returns=("numpy",),
    integers="indices",
    canonical=_sorted_parts,
    hint="cut perm into train, validation and test by the sizes the exercise gives (int() "
         "rounds down); split the training ids into supervision and message edges. Then ask, "
         "for each part: which edges are known when it is predicted, and which are its targets? "
         "A target is never among the message edges of its own part.",
    mistakes=[_wrong_split_train_sees_targets, _wrong_split_val_message_only,
              _wrong_split_test_without_val, _wrong_split_test_sees_all, _wrong_split_round,
              _wrong_split_sup_of_all, _wrong_split_test_first, _wrong_split_sup_last,
              _wrong_split_train_ratio, _wrong_split_val_sees_targets],
    variants=[_right_split_sets, _right_split_unsorted],
))
