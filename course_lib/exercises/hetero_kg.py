"""Exercises of the chapter "A heterogeneous knowledge graph: actors, directors, genres"
(book/05_hetero_kg)."""

from __future__ import annotations

import pandas as pd

from ..jax.hetero import sum_by_destination
from ..kg import relation_edge_index
from ..pyg.hetero import mean_by_relation
from . import Case, Exercise, register


def _relation_cases() -> list[Case]:
    directors = pd.DataFrame({"movie": [4, 0, 2, 2, 7],
                              "directorID": ["nolan", "scott", "scott", "nolan", "kubrick"]})
    return [
        Case("5 facts, 3 directors who are all nodes (ids are strings, not 0..n-1)",
             (directors, "directorID", ["kubrick", "nolan", "scott"])),
        Case("a director who is not a node (appears in one movie only) is dropped",
             (directors, "directorID", ["nolan", "scott"])),
        Case("a fact listed twice becomes one edge; rows come unsorted",
             (pd.DataFrame({"movie": [3, 1, 3, 0], "actorID": [20, 10, 20, 10]}), "actorID",
              [10, 20])),
        Case("no fact names a node", (directors, "directorID", ["lynch"])),
    ]


register(Exercise(
    name="relation_edge_index",
    reference=relation_edge_index,
    cases=_relation_cases,
    hint="map each row's entity to its position in `entities` (pd.Index(entities).get_indexer "
         "gives -1 for unknown ones), keep rows with a position >= 0, stack [movie, position] "
         "as int64 and remove duplicate columns with np.unique(..., axis=1), which also sorts.",
))


def _mean_by_relation_cases() -> list[Case]:
    import torch

    x = torch.arange(12, dtype=torch.float32).reshape(4, 3)
    return [
        Case("4 movies -> 3 directors with 1, 2 and 1 movies",
             (x, torch.tensor([[0, 1, 2, 3], [0, 1, 1, 2]]), 3)),
        Case("a destination without edges (1) gets zeros; more destinations than sources",
             (x, torch.tensor([[3, 2], [0, 5]]), 6)),
        Case("sources and destinations of different types: row 0 indexes x_src only",
             (x[:2], torch.tensor([[1, 0, 1], [3, 3, 0]]), 4)),
        Case("no edges", (x, torch.zeros(2, 0, dtype=torch.long), 2)),
    ]


register(Exercise(
    name="mean_by_relation",
    reference=mean_by_relation,
    cases=_mean_by_relation_cases,
    hint="gather x_src[edge_index[0]], add the rows into a [num_dst, F] zero tensor at "
         "edge_index[1] (index_add_ or scatter_add), and divide by each destination's number of "
         "edges (torch.bincount with minlength=num_dst), using 1 where it is 0.",
))


def _sum_cases() -> list[Case]:
    import jax.numpy as jnp

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


register(Exercise(
    name="sum_by_destination",
    reference=sum_by_destination,
    cases=_sum_cases,
    hint="loop over the items; the destination type is the third entry of the edge-type key "
         "(src, relation, dst). Start each destination with its first output and add the rest.",
))
