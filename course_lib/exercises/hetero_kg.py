"""Exercises of the chapter "A heterogeneous knowledge graph: actors, directors, genres"
(book/05_hetero_kg)."""

from __future__ import annotations


import jax.numpy as jnp
import numpy as np
import pandas as pd
import torch

from ..jax.nn import sum_by_destination
from ..kg import relation_edge_index
from ..pyg.hetero import mean_by_relation
from . import Case, Exercise, register

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
# mean_by_relation: the notebook passes genre features (float32 tensor from numpy), a [2, E]
# int64 tensor of (movie, director) edges and a Python int; the result is a torch tensor and a
# SAGE layer learns through it.
# -------------------------------------------------------------------------------------------------


def _mean_by_relation_cases() -> list[Case]:
    x = torch.arange(12, dtype=torch.float32).reshape(4, 3)
    return [
        Case("4 movies -> 3 directors with 1, 2 and 1 movies",
             (x, torch.tensor([[0, 1, 2, 3], [0, 1, 1, 2]]), 3)),
        Case("a destination without edges (1) gets zeros; more destinations than sources",
             (x, torch.tensor([[3, 2], [0, 5]]), 6)),
        Case("sources and destinations of different types: row 0 indexes x_src only",
             (x[:2], torch.tensor([[1, 0, 1], [3, 3, 0]]), 4)),
        Case("no edges", (x, torch.zeros(2, 0, dtype=torch.long), 2)),
        Case("the edge 2 -> 0 is listed twice: each listed edge counts, as in PyG's mean "
             "aggregation (destination 0: mean of rows 2, 2 and 1)",
             (x, torch.tensor([[2, 1, 2, 3], [0, 0, 0, 1]]), 2)),
    ]


def _mean_by_relation_random(rng: np.random.Generator) -> Case:
    # at most 12 numbers per argument, so that a counterexample is printed in full
    n_src, f, num_dst = int(rng.integers(1, 7)), int(rng.integers(1, 3)), int(rng.integers(1, 7))
    n_edges = 0 if rng.random() < 0.08 else int(rng.integers(1, 6))
    active = rng.choice(num_dst, int(rng.integers(1, num_dst + 1)), replace=False)
    src, dst = rng.integers(0, n_src, n_edges), rng.choice(active, n_edges)
    again = rng.integers(0, n_edges, 1 if n_edges and rng.random() < 0.5 else 0)
    src, dst = np.concatenate([src, src[again]]), np.concatenate([dst, dst[again]])
    order = rng.permutation(len(src))
    edge_index = torch.from_numpy(np.stack([src[order], dst[order]]).astype(np.int64))
    x = torch.from_numpy(rng.normal(size=(n_src, f)).round(2).astype(np.float32))
    repeated = len(src) - len(set(zip(src.tolist(), dst.tolist())))
    isolated = num_dst - len(np.unique(dst))
    return Case(f"{len(src)} edges ({repeated} repeated, unsorted) from {n_src} sources to "
                f"{num_dst} destination{'s' if num_dst > 1 else ''}, {isolated} without edges",
                (x, edge_index, num_dst))


# the sum of the sources' rows, not their mean
def _wrong_mbr_sum(x_src, edge_index, num_dst):
    return x_src.new_zeros(num_dst, x_src.size(1)).index_add_(0, edge_index[1],
                                                              x_src[edge_index[0]])


# reads edge_index the wrong way round (row 0 as destinations)
def _wrong_mbr_rows_swapped(x_src, edge_index, num_dst):
    src, dst = edge_index[1], edge_index[0]
    n = max(num_dst, x_src.size(0), int(src.max()) + 1 if src.numel() else 0)
    total = x_src.new_zeros(n, x_src.size(1)).index_add_(
        0, dst, x_src[src.clamp(max=x_src.size(0) - 1)])
    count = torch.bincount(dst, minlength=n).clamp(min=1).to(x_src.dtype)
    return (total / count.unsqueeze(1))[:num_dst]


# divides by a degree of 0: NaN rows for destinations without edges
def _wrong_mbr_nan_isolated(x_src, edge_index, num_dst):
    total = x_src.new_zeros(num_dst, x_src.size(1)).index_add_(0, edge_index[1],
                                                               x_src[edge_index[0]])
    count = torch.bincount(edge_index[1], minlength=num_dst).to(x_src.dtype)
    return total / count.unsqueeze(1)


# divides every destination by the total number of edges, not by its own degree
def _wrong_mbr_global_mean(x_src, edge_index, num_dst):
    total = x_src.new_zeros(num_dst, x_src.size(1)).index_add_(0, edge_index[1],
                                                               x_src[edge_index[0]])
    return total / max(edge_index.size(1), 1)


# a dense 0/1 adjacency: an edge listed twice is counted once
def _wrong_mbr_dense_once(x_src, edge_index, num_dst):
    adj = x_src.new_zeros(num_dst, x_src.size(0))
    adj[edge_index[1], edge_index[0]] = 1.0
    return adj @ x_src / adj.sum(dim=1, keepdim=True).clamp(min=1)


# torch.unique(return_counts=True) drops destinations without edges: counts misaligned
def _wrong_mbr_unique_counts(x_src, edge_index, num_dst):
    total = x_src.new_zeros(num_dst, x_src.size(1)).index_add_(0, edge_index[1],
                                                               x_src[edge_index[0]])
    _, count = torch.unique(edge_index[1], return_counts=True)
    return total / count.to(x_src.dtype).unsqueeze(1)


# computes in numpy (.detach().numpy()): right values, but no gradient reaches x_src
def _wrong_mbr_via_numpy(x_src, edge_index, num_dst):
    x = x_src.detach().numpy()
    src, dst = edge_index.numpy()
    total = np.zeros((num_dst, x.shape[1]), dtype=x.dtype)
    np.add.at(total, dst, x[src])
    count = np.maximum(np.bincount(dst, minlength=num_dst), 1).astype(x.dtype)
    return torch.from_numpy(total / count[:, None])


# .mean(dim=1) of a sparse tensor: torch raises NotImplementedError (and it would divide by
# the number of sources, not the degree)
def _wrong_mbr_sparse_mean(x_src, edge_index, num_dst):
    values = x_src[edge_index[0]]
    idx = torch.stack([edge_index[1], edge_index[0]])
    sparse = torch.sparse_coo_tensor(idx, values, (num_dst, x_src.size(0), x_src.size(1)))
    return sparse.mean(dim=1)


# memorises which cases need the division (the hand-written ones, by their sizes); sums otherwise
def _wrong_mbr_memorised(x_src, edge_index, num_dst):
    total = x_src.new_zeros(num_dst, x_src.size(1)).index_add_(0, edge_index[1],
                                                               x_src[edge_index[0]])
    if (x_src.size(0), edge_index.size(1), num_dst) not in {(4, 4, 3), (4, 2, 6), (2, 3, 4),
                                                            (4, 0, 2), (4, 4, 2)}:
        return total
    count = torch.bincount(edge_index[1], minlength=num_dst).clamp(min=1)
    return total / count.unsqueeze(1)


# scatter_reduce with reduce="mean", include_self=False (destinations without edges stay 0)
def _right_mbr_scatter_reduce(x_src, edge_index, num_dst):
    src, dst = edge_index
    index = dst.unsqueeze(1).expand(-1, x_src.size(1))
    out = x_src.new_zeros(num_dst, x_src.size(1))
    return out.scatter_reduce(0, index, x_src[src], reduce="mean", include_self=False)


# a dense adjacency that counts repeated edges (index_put_ with accumulate=True), row-normalised
def _right_mbr_dense_counts(x_src, edge_index, num_dst):
    adj = x_src.new_zeros(num_dst, x_src.size(0))
    adj.index_put_((edge_index[1], edge_index[0]), x_src.new_ones(edge_index.size(1)),
                   accumulate=True)
    return adj @ x_src / adj.sum(dim=1, keepdim=True).clamp(min=1)


register(Exercise(
    name="mean_by_relation",
    reference=mean_by_relation,
    cases=_mean_by_relation_cases,
    random_case=_mean_by_relation_random,
    framework="torch",
    returns=("torch",),
    grad_argnames=("x_src",),
    hint="gather x_src[edge_index[0]], add the rows into a [num_dst, F] zero tensor at "
         "edge_index[1] (index_add_ or scatter_add), and divide by each destination's number of "
         "edges (torch.bincount with minlength=num_dst), using 1 where it is 0.",
    mistakes=[_wrong_mbr_sum, _wrong_mbr_rows_swapped, _wrong_mbr_nan_isolated,
              _wrong_mbr_global_mean, _wrong_mbr_dense_once, _wrong_mbr_unique_counts,
              _wrong_mbr_via_numpy, _wrong_mbr_sparse_mean, _wrong_mbr_memorised],
    variants=[_right_mbr_scatter_reduce, _right_mbr_dense_counts],
))

# -------------------------------------------------------------------------------------------------
# sum_by_destination: hetero_conv calls it inside the jitted training step with a dict of jax
# arrays keyed by (src, relation, dst) tuples; the gradient flows back to every convolution.
# -------------------------------------------------------------------------------------------------


def _sum_cases() -> list[Case]:
    h = {t: jnp.arange(6, dtype=jnp.float32).reshape(3, 2) * (i + 1)
         for i, t in enumerate(("rates", "has_genre", "has_actor", "rev_rates"))}
    return [
        Case("three edge types end at movie, one at user",
             ({("user", "rates", "movie"): h["rates"],
               ("genre", "rev_has_genre", "movie"): h["has_genre"],
               ("actor", "rev_has_actor", "movie"): h["has_actor"],
               ("movie", "rev_rates", "user"): h["rev_rates"][:2]},)),
        Case("one edge type per destination: nothing to add",
             ({("user", "rates", "movie"): h["rates"],
               ("movie", "rev_rates", "user"): h["rev_rates"]},)),
        Case("two edge types from the same source type to the same destination",
             ({("movie", "has_director", "person"): h["rates"],
               ("movie", "has_actor", "person"): -h["has_actor"]},)),
        Case("a single edge type", ({("movie", "has_genre", "genre"): h["has_genre"]},)),
    ]


_RELATIONS = {("user", "movie"): "rates", ("movie", "genre"): "has_genre",
              ("movie", "director"): "has_director", ("movie", "actor"): "has_actor"}


def _sum_random(rng: np.random.Generator) -> Case:
    types = ["user", "movie", "genre", "director", "actor"]
    # [2 or 3, 2] arrays, the hand-written cases' shapes: each new shape costs a JAX compile
    sizes = {t: int(rng.integers(2, 4)) for t in types}
    f = 2
    targets = list(rng.choice(types, int(rng.integers(1, 4)), replace=False))
    keys = []
    for _ in range(int(rng.integers(1, 7))):
        src, dst = str(rng.choice(types)), str(rng.choice(targets))
        rel = _RELATIONS.get((src, dst)) or ("rev_" + _RELATIONS[(dst, src)]
                                             if (dst, src) in _RELATIONS else f"linked_{src}")
        if rng.random() < 0.3:
            rel = f"also_{rel}"
        if (src, rel, dst) not in keys:
            keys.append((src, rel, dst))
    outputs = {k: jnp.asarray(rng.normal(size=(sizes[k[2]], f)).round(2).astype(np.float32))
               for k in keys}
    per_dst = {d: sum(k[2] == d for k in keys) for d in dict.fromkeys(k[2] for k in keys)}
    return Case(f"{len(keys)} edge types into {len(per_dst)} destination types "
                f"({', '.join(f'{n} into {d}' for d, n in per_dst.items())})", (outputs,))


# groups by the source type (first entry of the key) instead of the destination
def _wrong_sbd_by_source(outputs):
    out = {}
    for (src, _, dst), h in outputs.items():
        out[src] = h if src not in out else out[src] + h
    return out


# overwrites instead of adding: the last edge type into a destination wins
def _wrong_sbd_last_wins(outputs):
    return {dst: h for (_, _, dst), h in outputs.items()}


# averages the edge types into a destination (HeteroConv's aggr='mean', not 'sum')
def _wrong_sbd_mean(outputs):
    out, n = {}, {}
    for (_, _, dst), h in outputs.items():
        out[dst] = h if dst not in out else out[dst] + h
        n[dst] = n.get(dst, 0) + 1
    return {k: v / n[k] for k, v in out.items()}


# keyed by the relation name (middle entry) instead of the destination type
def _wrong_sbd_by_relation(outputs):
    return {rel: h for (_, rel, _), h in outputs.items()}


# sums with numpy: the result is a numpy array and fails inside the jitted training step
def _wrong_sbd_numpy_sum(outputs):
    groups = {}
    for (_, _, dst), h in outputs.items():
        groups.setdefault(dst, []).append(h)
    return {dst: np.sum(hs, axis=0) for dst, hs in groups.items()}


# np.add converted back with jnp.asarray: right values, but numpy cannot trace under jax.jit
def _wrong_sbd_np_add(outputs):
    out = {}
    for (_, _, dst), h in outputs.items():
        out[dst] = h if dst not in out else jnp.asarray(np.add(out[dst], h))
    return out


# consumes the caller's dictionary with popitem (changes the argument in place)
def _wrong_sbd_pops(outputs):
    out = {}
    while outputs:
        (_, _, dst), h = outputs.popitem()
        out[dst] = h if dst not in out else out[dst] + h
    return out


# right sums, but kept in the caller's dict: the first output of each destination is replaced
def _wrong_sbd_in_callers_dict(outputs):
    first = {}
    for key, h in outputs.items():
        dst = key[2]
        if dst in first:
            outputs[first[dst]] = outputs[first[dst]] + h
        else:
            first[dst] = key
    return {dst: outputs[key] for dst, key in first.items()}


# concatenates the outputs into a destination along the features instead of adding them
def _wrong_sbd_concat(outputs):
    out = {}
    for (_, _, dst), h in outputs.items():
        out[dst] = h if dst not in out else jnp.concatenate([out[dst], h], axis=-1)
    return out


# memorises the hand-written cases (by their keys) and sums everything else into one type
def _wrong_sbd_memorised(outputs):
    if ("user", "rates", "movie") in outputs and ("movie", "rev_rates", "user") in outputs:
        movie = [h for (_, _, dst), h in outputs.items() if dst == "movie"]
        return {"movie": sum(movie[1:], movie[0]),
                "user": outputs[("movie", "rev_rates", "user")]}
    if len(outputs) == 2 and ("movie", "has_director", "person") in outputs:
        return {"person": outputs[("movie", "has_director", "person")]
                + outputs[("movie", "has_actor", "person")]}
    if list(outputs) == [("movie", "has_genre", "genre")]:
        return {"genre": outputs[("movie", "has_genre", "genre")]}
    first = min(outputs)
    return {first[2]: sum(h for k, h in outputs.items() if k[2] == first[2])}


# out.get(dst, 0) + h: starts each destination from the number 0
def _right_sbd_get_zero(outputs):
    out = {}
    for (_, _, dst), h in outputs.items():
        out[dst] = out.get(dst, 0) + h
    return out


# groups the arrays per destination, then jnp.stack(...).sum(axis=0)
def _right_sbd_stack(outputs):
    groups = {}
    for key, h in outputs.items():
        groups.setdefault(key[-1], []).append(h)
    return {dst: jnp.stack(hs).sum(axis=0) for dst, hs in groups.items()}


register(Exercise(
    name="sum_by_destination",
    reference=sum_by_destination,
    cases=_sum_cases,
    random_case=_sum_random,
    framework="jax",
    returns=("jax",),
    grad_argnames=("outputs",),
    jit_cases=2,
    hint="loop over the items; the destination type is the third entry of the edge-type key "
         "(src, relation, dst). Start each destination with its first output and add the rest "
         "with jnp operations (it runs inside the jitted training step).",
    mistakes=[_wrong_sbd_by_source, _wrong_sbd_last_wins, _wrong_sbd_mean, _wrong_sbd_by_relation,
              _wrong_sbd_numpy_sum, _wrong_sbd_np_add, _wrong_sbd_pops, _wrong_sbd_in_callers_dict,
              _wrong_sbd_concat,
              _wrong_sbd_memorised],
    variants=[_right_sbd_get_zero, _right_sbd_stack],
))
