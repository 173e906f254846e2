"""Exercises of the chapter "A heterogeneous knowledge graph: actors, directors, genres"
(book/05_hetero_kg)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..kg import relation_edge_index, slice_recall
from . import Case, Exercise, listed, register

# -------------------------------------------------------------------------------------------------
# relation_edge_index: build_knowledge_graph passes a DataFrame (index reset, or repeated after
# DataFrame.explode for genres), the entity column's name and `entities` as a list (genres) or a
# pandas Series (directors["id"], actors["id"]); the notebook passes a sorted numpy array.
# -------------------------------------------------------------------------------------------------


def _relation_cases() -> list[Case]:
    directors = pd.DataFrame({"movie": [4, 0, 2, 2, 7],
                              "directorID": ["nolan", "scott", "scott", "nolan", "kubrick"]})
    genres = pd.DataFrame({"genre": ["Drama", "Comedy", "(no genres listed)", "Drama", "Action",
                                     "Comedy"], "movie": [2, 2, 1, 0, 0, 2]},
                          index=[2, 2, 1, 0, 0, 2])
    actors = pd.DataFrame({"movie": [5, 1, 5, 3, 1, 0],
                           "actorID": ["pitt", "hanks", "norton", "hanks", "ryan", "ryan"],
                           "actorName": ["Brad Pitt", "Tom Hanks", "Edward Norton", "Tom Hanks",
                                         "Meg Ryan", "Meg Ryan"]})
    return [
        Case("5 facts, 3 directors who are all nodes (ids are strings, not 0..n-1)",
             (directors, "directorID", ["kubrick", "nolan", "scott"])),
        Case("a director who is not a node (appears in one movie only) is dropped",
             (directors, "directorID", ["nolan", "scott"])),
        Case("a fact listed twice becomes one edge; rows come unsorted",
             (pd.DataFrame({"movie": [3, 1, 3, 0], "actorID": [20, 10, 20, 10]}), "actorID",
              [10, 20])),
        Case("no fact names a node", (directors, "directorID", ["lynch"])),
        Case("genres as build_knowledge_graph passes them: a list of names, a table whose index "
             "repeats (after DataFrame.explode), '(no genres listed)' is not a node",
             (genres, "genre", ["Action", "Comedy", "Drama"])),
        Case("entities as a pandas Series (build_knowledge_graph passes actors['id']) and an "
             "extra name column", (actors, "actorID", pd.Series(["hanks", "pitt", "ryan"],
                                                                name="id"))),
        Case("entities not in sorted order (a numpy array): the node index is the position in "
             "`entities`", (actors, "actorID", np.array(["ryan", "norton", "hanks"],
                                                        dtype=object))),
        Case("an empty table: no facts at all",
             (directors.iloc[:0], "directorID", ["nolan", "scott"])),
    ]


def _relation_random(rng: np.random.Generator) -> Case:
    column = str(rng.choice(["directorID", "actorID", "genre"]))
    n_pool = int(rng.integers(3, 9))
    strings = column == "genre" or rng.random() < 0.6
    if column == "genre":
        names = ["Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Drama",
                 "Fantasy", "Horror", "Musical", "Romance", "Sci-Fi"]
    else:
        names = ["allen", "burton", "coen", "davis", "eastwood", "fincher", "gerwig", "hanks",
                 "iñárritu", "jackson", "kubrick", "lynch"]
    if strings:
        pool = rng.choice(np.array(names, dtype=object), n_pool, replace=False)
    else:
        pool = rng.choice(np.arange(10, 100), n_pool, replace=False).astype(np.int64)
    n_nodes = int(rng.integers(1, n_pool + 1))
    nodes = rng.choice(pool, n_nodes, replace=False)
    if rng.random() < 0.35:
        nodes = np.sort(nodes)
    ordered = list(nodes) == sorted(nodes)
    n_rows = 0 if rng.random() < 0.05 else int(rng.integers(1, 7))  # <= 6 edges: printed in full
    movie = rng.integers(0, 10, n_rows).astype(np.int64)
    entity = pool[rng.integers(0, n_pool, n_rows)]
    n_again = int(rng.integers(1, 4)) if n_rows and rng.random() < 0.8 else 0
    again = rng.integers(0, n_rows, n_again)
    movie, entity = np.concatenate([movie, movie[again]]), np.concatenate([entity, entity[again]])
    n_dup = len(movie) - len(set(zip(movie.tolist(), entity.tolist())))
    order = rng.permutation(len(movie))
    table = pd.DataFrame({"movie": movie[order],
                          column: entity[order] if strings else entity[order].astype(np.int64)})
    if rng.random() < 0.4:
        table[column.replace("ID", "") + "Name"] = [f"name of {e}" for e in table[column]]
    index_kind = rng.choice(["reset", "repeated", "shuffled"])
    if index_kind == "repeated":  # as after DataFrame.explode
        table.index = np.sort(rng.integers(0, max(len(table) // 2, 1), len(table)))
    elif index_kind == "shuffled":
        table.index = rng.permutation(len(table)) + 100
    kind = str(rng.choice(["list", "Series", "numpy array"]))
    values = [v if strings else int(v) for v in nodes]
    entities = {"list": values, "Series": pd.Series(values, name="id"),
                "numpy array": np.array(values, dtype=object if strings else np.int64)}[kind]
    return Case(f"{len(table)} facts ({n_dup} repeated), {n_nodes} of the {n_pool} "
                f"{'string' if strings else 'integer'} ids are nodes, entities as a {kind} "
                f"({'sorted' if ordered else 'not sorted'}), {index_kind} table index",
                (table, column, entities))


# codes of the entity column's own categories, not positions in `entities`; duplicates kept
def _wrong_rel_codes_not_positions(table, column, entities):
    known = table[table[column].isin(list(entities))]
    return np.stack([known["movie"].to_numpy(), known[column].astype("category").cat.codes
                     .to_numpy()]).astype(np.int64)


# a fact listed twice gives two edges, and the edges keep the table's order
def _wrong_rel_keeps_duplicates(table, column, entities):
    pos = pd.Index(entities).get_indexer(table[column])
    keep = pos >= 0
    return np.stack([table["movie"].to_numpy()[keep], pos[keep]]).astype(np.int64)


# rows the wrong way round: [entity, movie] instead of [movie, entity]
def _wrong_rel_entity_first(table, column, entities):
    pos = pd.Index(entities).get_indexer(table[column])
    keep = pos >= 0
    return np.unique(np.stack([pos[keep], table["movie"].to_numpy()[keep]]).astype(np.int64),
                     axis=1)


# entities that are not nodes are kept, with the position -1 get_indexer gives them
def _wrong_rel_unknown_as_last(table, column, entities):
    pos = pd.Index(entities).get_indexer(table[column])
    return np.unique(np.stack([table["movie"].to_numpy(), pos]).astype(np.int64), axis=1)


# list.index: only works when `entities` is a Python list (a Series or array has no .index())
def _wrong_rel_list_index(table, column, entities):
    pairs = sorted({(int(m), entities.index(e)) for m, e in zip(table["movie"], table[column])
                    if e in list(entities)})
    return np.array(pairs, dtype=np.int64).reshape(-1, 2).T


# np.searchsorted assumes `entities` is sorted; the notebook's is, but positions are what count
def _wrong_rel_searchsorted(table, column, entities):
    ent = np.asarray(entities)
    values = table[column].to_numpy()
    pos = np.clip(np.searchsorted(ent, values), 0, max(len(ent) - 1, 0))
    keep = (ent[pos] == values) if len(ent) else np.zeros(len(values), dtype=bool)
    pairs = np.stack([table["movie"].to_numpy()[keep], pos[keep]]).astype(np.int64)
    return np.unique(pairs, axis=1)


# drop_duplicates without sorting: the edges come in the table's order
def _wrong_rel_unsorted(table, column, entities):
    lookup = {e: i for i, e in enumerate(entities)}
    known = table[table[column].isin(list(lookup))]
    pairs = pd.DataFrame({"m": known["movie"], "e": known[column].map(lookup)}).drop_duplicates()
    return pairs.to_numpy(np.int64).T.reshape(2, -1)


# uses the table's index as the movie (it is a row label, not the movie column)
def _wrong_rel_table_index(table, column, entities):
    pos = pd.Index(entities).get_indexer(table[column])
    keep = pos >= 0
    pairs = np.stack([table.index.to_numpy()[keep], pos[keep]]).astype(np.int64)
    return np.unique(pairs, axis=1) if pairs.shape[1] else pairs


# Series.map gives float positions (NaN for unknown entities): float indices, not int64
def _wrong_rel_float_positions(table, column, entities):
    lookup = {e: i for i, e in enumerate(entities)}
    pos = table[column].map(lookup)
    keep = pos.notna().to_numpy()
    pairs = np.stack([table["movie"].to_numpy()[keep], pos.to_numpy()[keep]])
    return np.unique(pairs, axis=1) if pairs.shape[1] else pairs.reshape(2, 0)


# writes the positions into the caller's table (changes the argument in place)
def _wrong_rel_in_place(table, column, entities):
    table[column] = pd.Index(entities).get_indexer(table[column])
    kept = table[table[column] >= 0]
    pairs = np.stack([kept["movie"].to_numpy(), kept[column].to_numpy()]).astype(np.int64)
    return np.unique(pairs, axis=1) if pairs.shape[1] else pairs.reshape(2, 0)


# memorises the hand-written cases (copied from failure messages), no edge otherwise
def _wrong_rel_memorised(table, column, entities):
    known = {(5, "kubrick"): [[0, 2, 2, 4, 7], [2, 1, 2, 1, 0]],
             (5, "nolan"): [[0, 2, 2, 4], [1, 0, 1, 0]], (4, 10): [[0, 1, 3], [0, 0, 1]],
             (6, "Action"): [[0, 0, 2, 2], [0, 2, 1, 2]],
             (6, "hanks"): [[0, 1, 1, 3, 5], [2, 0, 2, 0, 1]],
             (6, "ryan"): [[0, 1, 1, 3, 5], [0, 0, 2, 2, 1]]}
    first = list(entities)[0]
    return np.array(known.get((len(table), first), [[], []]), dtype=np.int64).reshape(2, -1)


# a dictionary from entity to position, then a set of (movie, position) pairs, sorted
def _right_rel_dict(table, column, entities):
    lookup = {e: i for i, e in enumerate(entities)}
    pairs = sorted({(int(m), lookup[e]) for m, e in zip(table["movie"], table[column])
                    if e in lookup})
    return np.array(pairs, dtype=np.int64).reshape(-1, 2).T


# a merge with a table of node positions, then drop_duplicates and sort_values
def _right_rel_merge(table, column, entities):
    nodes = pd.DataFrame({column: list(entities), "pos": np.arange(len(entities))})
    edges = (table[["movie", column]].merge(nodes, on=column)[["movie", "pos"]]
             .drop_duplicates().sort_values(["movie", "pos"]))
    return edges.to_numpy(np.int64).T.reshape(2, -1)


register(Exercise(
    name="relation_edge_index",
    reference=relation_edge_index,
    cases=_relation_cases,
    random_case=_relation_random,
    returns=("numpy",),
    integers="indices",
    hint="map each row's entity to its position in `entities` (pd.Index(entities).get_indexer "
         "gives -1 for unknown ones), keep rows with a position >= 0, stack [movie, position] "
         "as int64 and remove duplicate columns with np.unique(..., axis=1), which also sorts.",
    mistakes=[_wrong_rel_codes_not_positions, _wrong_rel_keeps_duplicates,
              _wrong_rel_entity_first, _wrong_rel_unknown_as_last, _wrong_rel_list_index,
              _wrong_rel_searchsorted, _wrong_rel_unsorted, _wrong_rel_table_index,
              _wrong_rel_float_positions, _wrong_rel_in_place, _wrong_rel_memorised],
    variants=[_right_rel_dict, _right_rel_merge],
))

# -------------------------------------------------------------------------------------------------
# slice_recall: the notebook passes popularity scores (float64 [U, M], every user the same row),
# the test positives and the test-time message-passing edges ([2, n] int64 from the split) and
# the cold movies (sorted int64) or every movie; link_report passes a model's scores z_u . z_m.
# The result is a Python float, printed and put in the chapter's table.
# -------------------------------------------------------------------------------------------------


def _pairs(pairs) -> np.ndarray:
    return np.array(pairs, dtype=np.int64).reshape(-1, 2).T.copy()


def _slice_cases() -> list[Case]:
    scores = np.array([[4.0, 3.0, 2.0, 1.0, 0.5, 0.0],
                       [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]])
    tied = np.array([[1.0, 2.0, 2.0, 2.0, 0.0], [3.0, 3.0, 1.0, 3.0, 3.0]])
    return [
        Case("2 users, 6 movies, slice = movies 2..5, k = 2; user 0 rated movie 2 already",
             (scores, _pairs([(0, 3), (0, 5), (1, 5), (1, 0)]), _pairs([(0, 2)]),
              np.array([2, 3, 4, 5]), 2)),
        Case("user 1's only held-out movie (0) is outside the slice: user 1 is not counted",
             (scores, _pairs([(0, 4), (1, 0)]), _pairs([]), np.array([3, 4]), 1)),
        Case("ties: movies 1, 2 and 3 score 2 for user 0; the lower index wins, k = 1",
             (tied, _pairs([(0, 2), (1, 4)]), _pairs([(1, 0)]), np.array([1, 2, 3, 4]), 1)),
        Case("the slice given unsorted and with a repeat; a held-out pair listed twice",
             (scores, _pairs([(0, 1), (0, 1), (0, 4), (1, 1)]), _pairs([]),
              np.array([4, 1, 4, 0]), 2)),
        Case("a held-out pair the user has also seen cannot be found: it is not counted",
             (scores, _pairs([(0, 0), (0, 3), (1, 2)]), _pairs([(0, 0), (1, 5)]),
              np.array([0, 1, 2, 3, 4, 5]), 3)),
        Case("k larger than the slice: every unseen movie of the slice is in the top k",
             (scores, _pairs([(0, 5), (1, 1)]), _pairs([(1, 2)]), np.array([1, 2, 5]), 10)),
        Case("every movie is the slice: plain recall@k",
             (scores, _pairs([(0, 0), (0, 5), (1, 5), (1, 4), (1, 0)]), _pairs([(1, 3)]),
              np.arange(6), 2)),
        Case("negative scores in the slice, higher ones outside it: outside movies must not "
             "compete (a 0 in their place would beat the slice)",
             (np.array([[-1.0, -0.5, 2.0, 3.0]]), _pairs([(0, 0), (0, 1)]), _pairs([]),
              np.array([0, 1]), 1)),
        Case("24 movies, 20 of them tied: the lower index wins (a sort that is not stable "
             "reorders ties beyond 16 items)",
             (np.array([[1.0] * 20 + [0.5, 3.0, 0.2, 0.1]]),
              _pairs([(0, 2), (0, 19), (0, 21)]), _pairs([(0, 0)]), np.arange(24), 3)),
    ]


def _slice_random(rng: np.random.Generator) -> Case:
    while True:
        users, movies = int(rng.integers(1, 5)), int(rng.integers(3, 9))
        if rng.random() < 0.5:   # few distinct values: ties everywhere
            scores = rng.integers(0, 4, (users, movies)).astype(np.float64)
        else:
            scores = rng.normal(size=(users, movies)).round(2)
        held = _pairs(np.stack([rng.integers(0, users, 6), rng.integers(0, movies, 6)]).T)
        seen = _pairs(np.stack([rng.integers(0, users, 4), rng.integers(0, movies, 4)]).T)
        part = rng.choice(movies, int(rng.integers(1, movies + 1)),
                          replace=bool(rng.random() < 0.3))
        k = int(rng.integers(1, 6))
        try:
            slice_recall(scores, held, seen, part, k)
        except ValueError:   # no user with a held-out movie in the slice: draw again
            continue
        return Case(f"{users} users, {movies} movies, held out {held.T.tolist()}, seen "
                    f"{seen.T.tolist()}, slice [{listed(part)}], k = {k}",
                    (scores, held, seen, part, k))


# ranks with numpy's default argsort, which need not keep ties in index order
def _wrong_slice_unstable(scores, held_out, seen, movies, k):
    s = np.full(scores.shape, -np.inf)
    cols = np.unique(movies)
    s[:, cols] = scores[:, cols]
    s[seen[0], seen[1]] = -np.inf
    recalls = []
    for u in range(s.shape[0]):
        rel = {int(m) for uu, m in held_out.T if uu == u and s[u, m] > -np.inf}
        if rel:
            top = np.argsort(-s[u])[:k]
            recalls.append(len(rel & set(top.tolist())) / len(rel))
    return float(np.mean(recalls))


# multiplies the scores by the slice mask: a movie outside it scores 0, beating negative scores
def _wrong_slice_multiplies_mask(scores, held_out, seen, movies, k):
    in_slice = np.isin(np.arange(scores.shape[1]), movies)
    s = scores * in_slice
    s[seen[0], seen[1]] = -np.inf
    recalls = []
    for u in range(s.shape[0]):
        rel = {int(m) for uu, m in held_out.T if uu == u and in_slice[m] and s[u, m] > -np.inf}
        if rel:
            top = np.argsort(-s[u], kind="stable")[:k]
            recalls.append(len(rel & set(top.tolist())) / len(rel))
    return float(np.mean(recalls))


# ranks every movie and counts only the slice's held-out movies: the slice competes with the head
def _wrong_slice_ranks_everything(scores, held_out, seen, movies, k):
    in_slice = np.isin(np.arange(scores.shape[1]), movies)
    s = np.array(scores, dtype=float)
    s[seen[0], seen[1]] = -np.inf
    recalls = []
    for u in range(s.shape[0]):
        rel = {int(m) for uu, m in held_out.T if uu == u and in_slice[m] and s[u, m] > -np.inf}
        if rel:
            top = np.lexsort((np.arange(s.shape[1]), -s[u]))[:k]
            recalls.append(len(rel & set(top.tolist())) / len(rel))
    return float(np.mean(recalls))


# forgets to remove the movies a user has already seen
def _wrong_slice_keeps_seen(scores, held_out, seen, movies, k):
    s = np.full(scores.shape, -np.inf)
    cols = np.unique(movies)
    s[:, cols] = scores[:, cols]
    recalls = []
    for u in range(s.shape[0]):
        rel = {int(m) for uu, m in held_out.T if uu == u and m in cols}
        if rel:
            top = np.lexsort((np.arange(s.shape[1]), -s[u]))[:k]
            recalls.append(len(rel & set(top.tolist())) / len(rel))
    return float(np.mean(recalls))


# averages over every user, counting a user with nothing to find as recall 0
def _wrong_slice_all_users(scores, held_out, seen, movies, k):
    s = np.full(scores.shape, -np.inf)
    cols = np.unique(movies)
    s[:, cols] = scores[:, cols]
    s[seen[0], seen[1]] = -np.inf
    recalls = []
    for u in range(s.shape[0]):
        rel = {int(m) for uu, m in held_out.T if uu == u and s[u, m] > -np.inf}
        top = np.lexsort((np.arange(s.shape[1]), -s[u]))[:k]
        recalls.append(len(rel & set(top.tolist())) / len(rel) if rel else 0.0)
    return float(np.mean(recalls))


# divides by all of the user's held-out movies, inside the slice or not
def _wrong_slice_denominator_all(scores, held_out, seen, movies, k):
    s = np.full(scores.shape, -np.inf)
    cols = np.unique(movies)
    s[:, cols] = scores[:, cols]
    s[seen[0], seen[1]] = -np.inf
    recalls = []
    for u in range(s.shape[0]):
        mine = {int(m) for uu, m in held_out.T if uu == u}
        rel = {m for m in mine if s[u, m] > -np.inf}
        if rel:
            top = np.lexsort((np.arange(s.shape[1]), -s[u]))[:k]
            recalls.append(len(rel & set(top.tolist())) / len(mine))
    return float(np.mean(recalls))


# divides the hits by k: that is precision@k, not recall
def _wrong_slice_precision(scores, held_out, seen, movies, k):
    s = np.full(scores.shape, -np.inf)
    cols = np.unique(movies)
    s[:, cols] = scores[:, cols]
    s[seen[0], seen[1]] = -np.inf
    recalls = []
    for u in range(s.shape[0]):
        rel = {int(m) for uu, m in held_out.T if uu == u and s[u, m] > -np.inf}
        if rel:
            top = np.lexsort((np.arange(s.shape[1]), -s[u]))[:k]
            recalls.append(len(rel & set(top.tolist())) / k)
    return float(np.mean(recalls))


# divides by min(|R_u|, k), another metric's convention, not the chapter's recall
def _wrong_slice_capped(scores, held_out, seen, movies, k):
    s = np.full(scores.shape, -np.inf)
    cols = np.unique(movies)
    s[:, cols] = scores[:, cols]
    s[seen[0], seen[1]] = -np.inf
    recalls = []
    for u in range(s.shape[0]):
        rel = {int(m) for uu, m in held_out.T if uu == u and s[u, m] > -np.inf}
        if rel:
            top = np.lexsort((np.arange(s.shape[1]), -s[u]))[:k]
            recalls.append(len(rel & set(top.tolist())) / min(len(rel), k))
    return float(np.mean(recalls))


# argsort(...)[::-1]: the best first, but ties go to the higher movie index
def _wrong_slice_reversed_ties(scores, held_out, seen, movies, k):
    s = np.full(scores.shape, -np.inf)
    cols = np.unique(movies)
    s[:, cols] = scores[:, cols]
    s[seen[0], seen[1]] = -np.inf
    recalls = []
    for u in range(s.shape[0]):
        rel = {int(m) for uu, m in held_out.T if uu == u and s[u, m] > -np.inf}
        if rel:
            top = np.argsort(s[u], kind="stable")[::-1][:k]
            recalls.append(len(rel & set(top.tolist())) / len(rel))
    return float(np.mean(recalls))


# counts a held-out pair listed twice twice (a list, not a set, of relevant movies)
def _wrong_slice_duplicates(scores, held_out, seen, movies, k):
    s = np.full(scores.shape, -np.inf)
    cols = np.unique(movies)
    s[:, cols] = scores[:, cols]
    s[seen[0], seen[1]] = -np.inf
    recalls = []
    for u in range(s.shape[0]):
        rel = [int(m) for uu, m in held_out.T if uu == u and s[u, m] > -np.inf]
        if rel:
            top = set(np.lexsort((np.arange(s.shape[1]), -s[u]))[:k].tolist())
            recalls.append(sum(m in top for m in rel) / len(rel))
    return float(np.mean(recalls))


# counts a held-out movie the user has already seen among the movies to find (it never can be)
def _wrong_slice_counts_seen_relevant(scores, held_out, seen, movies, k):
    s = np.full(scores.shape, -np.inf)
    cols = np.unique(movies)
    s[:, cols] = scores[:, cols]
    rel_all = [{int(m) for uu, m in held_out.T if uu == u and m in cols}
               for u in range(s.shape[0])]
    s[seen[0], seen[1]] = -np.inf
    recalls = []
    for u, rel in enumerate(rel_all):
        if rel:
            top = np.lexsort((np.arange(s.shape[1]), -s[u]))[:k]
            recalls.append(len(rel & set(top.tolist())) / len(rel))
    return float(np.mean(recalls))


# writes -inf into the caller's scores: right here, wrong for every later use of the scores
def _wrong_slice_in_place(scores, held_out, seen, movies, k):
    outside = ~np.isin(np.arange(scores.shape[1]), movies)
    scores[:, outside] = -np.inf
    scores[seen[0], seen[1]] = -np.inf
    recalls = []
    for u in range(scores.shape[0]):
        rel = {int(m) for uu, m in held_out.T if uu == u and scores[u, m] > -np.inf}
        if rel:
            top = np.lexsort((np.arange(scores.shape[1]), -scores[u]))[:k]
            recalls.append(len(rel & set(top.tolist())) / len(rel))
    return float(np.mean(recalls))


# returns each user's recall (an array) instead of their mean
def _wrong_slice_per_user(scores, held_out, seen, movies, k):
    s = np.full(scores.shape, -np.inf)
    cols = np.unique(movies)
    s[:, cols] = scores[:, cols]
    s[seen[0], seen[1]] = -np.inf
    recalls = []
    for u in range(s.shape[0]):
        rel = {int(m) for uu, m in held_out.T if uu == u and s[u, m] > -np.inf}
        if rel:
            top = np.lexsort((np.arange(s.shape[1]), -s[u]))[:k]
            recalls.append(len(rel & set(top.tolist())) / len(rel))
    return np.array(recalls)


# a loop over users with Python sets
def _right_slice_loop(scores, held_out, seen, movies, k):
    in_slice = set(int(m) for m in movies)
    recalls = []
    for u in range(scores.shape[0]):
        seen_u = {int(m) for uu, m in seen.T if uu == u}
        candidates = [m for m in range(scores.shape[1]) if m in in_slice and m not in seen_u]
        rel = {int(m) for uu, m in held_out.T if uu == u and int(m) in candidates}
        if rel:
            ranked = sorted(candidates, key=lambda m: (-scores[u, m], m))[:k]
            recalls.append(len(rel.intersection(ranked)) / len(rel))
    return float(np.mean(recalls))


# a stable argsort of the negated scores (ties keep the lower index) on a masked copy
def _right_slice_stable_argsort(scores, held_out, seen, movies, k):
    s = np.where(np.isin(np.arange(scores.shape[1]), movies), scores, -np.inf)
    s[seen[0], seen[1]] = -np.inf
    relevant = np.zeros(s.shape, dtype=bool)
    relevant[held_out[0], held_out[1]] = True
    relevant &= np.isfinite(s)
    users = relevant.any(axis=1)
    top = np.argsort(-s[users], axis=1, kind="stable")[:, :k]
    hits = np.take_along_axis(relevant[users], top, axis=1).sum(axis=1)
    return (hits / relevant[users].sum(axis=1)).mean()


register(Exercise(
    name="slice_recall",
    reference=slice_recall,
    cases=_slice_cases,
    random_case=_slice_random,
    returns=("numpy",),
    hint="on a copy of the scores, set every movie outside the slice and every (user, movie) in "
         "`seen` to -inf; a user's relevant movies are the held-out ones still finite (a set: a "
         "pair listed twice counts once); rank with ties to the lower index (np.argsort(-s, "
         "kind='stable')); recall = hits in the top k / number relevant, averaged over the users "
         "with at least one relevant movie.",
    mistakes=[_wrong_slice_ranks_everything, _wrong_slice_keeps_seen, _wrong_slice_all_users,
              _wrong_slice_denominator_all, _wrong_slice_precision, _wrong_slice_capped,
              _wrong_slice_reversed_ties, _wrong_slice_duplicates,
              _wrong_slice_counts_seen_relevant, _wrong_slice_in_place, _wrong_slice_per_user,
              _wrong_slice_unstable, _wrong_slice_multiplies_mask],
    variants=[_right_slice_loop, _right_slice_stable_argsort],
))
