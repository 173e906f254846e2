"""The heterogeneous movie knowledge graph, framework-neutral (chapter 5).

Five node types and eight edge types:

========================================  ==========================================
edge type                                 built from
========================================  ==========================================
``(user, rates, movie)``                  the shared split's message-passing ratings
``(movie, has_genre, genre)``             ml-latest-small ``movies.csv`` genres
``(movie, has_director, director)``       HetRec 2011 ``movie_directors.dat``
``(movie, has_actor, actor)``             HetRec 2011 ``movie_actors.dat`` (top-billed)
``(movie, rev_rates, user)`` etc.         each of the above reversed (``rev_`` + name)
========================================  ==========================================

HetRec rows join ml-latest-small on the MovieLens movie id and are kept only where both datasets
give the same IMDb id (:func:`course_lib.data.join_side_information`). People who appear in only
one kept movie are dropped (``min_movies=2``): such a node links its movie to nothing else.

The rating relation is *not* stored here: it depends on what is being predicted. Both frameworks
call :meth:`KnowledgeGraph.edge_index_dict` with the split's message-passing edges of a part, so
PyG and JAX see the same graph, edge for edge. :meth:`KnowledgeGraph.without_side_information`
gives the plain user-movie graph with the same nodes, features and ids, for the comparison.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from .data import MovieLens, SideInformation
from .graph import BipartiteGraph, EdgeSplit
from .metrics import ranking_metrics, roc_auc

NODE_TYPES = ("user", "movie", "genre", "director", "actor")
RATES = ("user", "rates", "movie")
HAS_GENRE = ("movie", "has_genre", "genre")
HAS_DIRECTOR = ("movie", "has_director", "director")
HAS_ACTOR = ("movie", "has_actor", "actor")
SIDE_RELATIONS = (HAS_GENRE, HAS_DIRECTOR, HAS_ACTOR)
NO_GENRE = "(no genres listed)"


def reverse(edge_type: tuple[str, str, str]) -> tuple[str, str, str]:
    """``(src, name, dst)`` -> ``(dst, 'rev_' + name, src)``, PyG's ``ToUndirected`` naming."""
    src, name, dst = edge_type
    return dst, "rev_" + name, src


EDGE_TYPES = (RATES, *SIDE_RELATIONS, reverse(RATES), *map(reverse, SIDE_RELATIONS))


def relation_edge_index(table: pd.DataFrame, column: str, entities) -> np.ndarray:
    """The ``[2, E]`` edge index of one movie -> entity relation.

    ``table`` has one row per (movie, entity) fact: a ``movie`` column (movie index)
    and ``column`` (the entity's raw id or name). ``entities`` lists the entities
    that are nodes; the position of an entity in ``entities`` is its node index.
    Rows naming an entity not in ``entities`` are dropped, duplicate facts are kept
    once, and the edges are sorted by (movie, entity).
    """
    entities = pd.Index(entities)
    dst = entities.get_indexer(table[column])
    keep = dst >= 0
    pairs = np.stack([table["movie"].to_numpy(np.int64)[keep],
                      dst[keep].astype(np.int64)])
    return np.unique(pairs, axis=1) if pairs.shape[1] else pairs.reshape(2, 0)


def movie_features(ml: MovieLens) -> tuple[np.ndarray, tuple[str, ...]]:
    """Movie input features ``[M, 22]``: the 20 genre indicators, the release year standardised
    (mean 0, standard deviation 1 over the movies that have one) and a 0/1 "year unknown" flag
    (the standardised year is 0 there)."""
    year = ml.movies["year"].to_numpy(dtype=np.float64, na_value=np.nan)
    known = ~np.isnan(year)
    z = np.zeros_like(year)
    z[known] = (year[known] - year[known].mean()) / year[known].std()
    x = np.concatenate([ml.genres.to_numpy(np.float32), z[:, None], (~known)[:, None]], axis=1)
    return x.astype(np.float32), (*ml.genres.columns, "year (standardised)", "year unknown")


@dataclass
class KnowledgeGraph:
    """Node counts, names and features of the five types, and the side relations.

    * ``num_nodes[t]``: how many nodes of type ``t``; node ``i`` of type ``t`` is index ``i``.
    * ``names[t]``: a display name per node (genres, directors, actors, movie titles).
    * ``movie_x``: movie input features (:func:`movie_features`); other types have none and get
      a learned embedding in the models.
    * ``side_edges[edge_type]``: ``[2, E]`` (movie, entity) edges of each side relation.
    """

    num_nodes: dict[str, int]
    names: dict[str, np.ndarray]
    movie_x: np.ndarray
    feature_names: tuple[str, ...]
    side_edges: dict[tuple[str, str, str], np.ndarray] = field(default_factory=dict)

    @property
    def edge_types(self) -> tuple[tuple[str, str, str], ...]:
        """The edge types present: ``rates``, the side relations, then all their reverses."""
        forward = (RATES, *self.side_edges)
        return (*forward, *map(reverse, forward))

    @property
    def name(self) -> str:
        """``'side information'`` or ``'plain'`` (no side relations), for labels."""
        return "side information" if self.side_edges else "plain"

    @property
    def node_types(self) -> tuple[str, ...]:
        return tuple(t for t in NODE_TYPES if t in {e[0] for e in self.edge_types})

    def edge_index_dict(self, rating_edge_index: np.ndarray) -> dict[tuple, np.ndarray]:
        """Every edge type's ``[2, E]`` index (source row 0, destination row 1), with
        ``rating_edge_index`` (user, movie) as the ``rates`` relation; reverses are flipped."""
        forward = {RATES: np.asarray(rating_edge_index, dtype=np.int64), **self.side_edges}
        out = dict(forward)
        for edge_type, ei in forward.items():
            out[reverse(edge_type)] = ei[::-1].copy()
        return out

    def message_edges(self, graph: BipartiteGraph, split: EdgeSplit, part: str
                      ) -> dict[tuple, np.ndarray]:
        """:meth:`edge_index_dict` over ``part``'s message-passing ratings of ``split``."""
        return self.edge_index_dict(graph.edge_index[:, split.message_edges(part)])

    def without_side_information(self) -> KnowledgeGraph:
        """The plain user-movie graph: same nodes, features and ids, no side relations."""
        return replace(self, side_edges={})

    def summary(self) -> pd.DataFrame:
        """Node counts per type and edge counts per side relation (one direction)."""
        rows = [{"type": "node", "name": t, "count": n} for t, n in self.num_nodes.items()]
        rows += [{"type": "edge", "name": f"{s} -{r}-> {d}", "count": ei.shape[1]}
                 for (s, r, d), ei in self.side_edges.items()]
        return pd.DataFrame(rows)


def build_knowledge_graph(ml: MovieLens, side: SideInformation, *, min_movies: int = 2
                          ) -> KnowledgeGraph:
    """The knowledge graph of ml-latest-small plus the IMDb-consistent HetRec side information.

    Genres come from ml-latest-small (every movie has them; ``(no genres listed)`` is not a
    node). Directors and actors come from ``side`` and become nodes when they appear in at least
    ``min_movies`` kept movies; they are ordered by raw id.
    """
    genre_table = (ml.movies[["genres"]].assign(movie=np.arange(ml.num_movies))
                   .explode("genres").rename(columns={"genres": "genre"}))
    genres = [g for g in ml.genres.columns if g != NO_GENRE]

    def people(table: pd.DataFrame, id_col: str, name_col: str) -> pd.DataFrame:
        counts = table.groupby(id_col)["movie"].nunique()
        ids = np.sort(counts.index[counts >= min_movies].to_numpy())
        names = table.drop_duplicates(id_col).set_index(id_col)[name_col]
        return pd.DataFrame({"id": ids, "name": names.reindex(ids).fillna("").to_numpy()})

    directors = people(side.directors, "directorID", "directorName")
    actors = people(side.actors, "actorID", "actorName")
    x, feature_names = movie_features(ml)
    return KnowledgeGraph(
        num_nodes={"user": ml.num_users, "movie": ml.num_movies, "genre": len(genres),
                   "director": len(directors), "actor": len(actors)},
        names={"user": np.array([f"user {u}" for u in ml.user_ids]),
               "movie": ml.movies["title"].to_numpy(), "genre": np.array(genres),
               "director": directors["name"].to_numpy(), "actor": actors["name"].to_numpy()},
        movie_x=x,
        feature_names=feature_names,
        side_edges={
            HAS_GENRE: relation_edge_index(genre_table, "genre", genres),
            HAS_DIRECTOR: relation_edge_index(side.directors, "directorID", directors["id"]),
            HAS_ACTOR: relation_edge_index(side.actors, "actorID", actors["id"]),
        },
    )


def movielens_knowledge_graph(ml: MovieLens, *, top_k_actors: int = 10, min_movies: int = 2
                              ) -> KnowledgeGraph:
    """Load HetRec 2011 (same data directory rules as MovieLens) and build the graph."""
    from .data import join_side_information, load_hetrec

    side = join_side_information(ml, load_hetrec(), top_k_actors=top_k_actors)
    return build_knowledge_graph(ml, side, min_movies=min_movies)


# --------------------------------------------------------------------------------------------------
# Questions the chapter asks of the graph
# --------------------------------------------------------------------------------------------------


def cold_start_movies(graph: BipartiteGraph, edge_ids, max_ratings: int = 5) -> np.ndarray:
    """Movie indices with at most ``max_ratings`` ratings among ``graph``'s edges ``edge_ids``
    (the message-passing edges a model sees): little for collaborative filtering to go on."""
    _, movie_degree = graph.degrees(edge_ids)
    return np.flatnonzero(movie_degree <= max_ratings)


def relation_coverage(kg: KnowledgeGraph, movies) -> pd.Series:
    """Share of ``movies`` with at least one edge of each side relation."""
    movies = np.asarray(movies)
    return pd.Series({rel: float(np.isin(movies, ei[0]).mean())
                      for (_, rel, _), ei in kg.side_edges.items()}, name="share of movies")


def neighbourhood(kg: KnowledgeGraph, rating_edge_index: np.ndarray, movie: int,
                  max_per_type: int = 6) -> list[tuple[str, int, str, int]]:
    """Edges ``(movie_type, movie, other_type, other)`` around one movie: up to
    ``max_per_type`` neighbours of each type (users by index, people by billing order), then for
    one director or actor, the other movies they link to (the two-hop paths a GNN uses)."""
    edges = []
    two_hop = None
    for edge_type, ei in kg.edge_index_dict(rating_edge_index).items():
        src, _, dst = edge_type
        if src != "movie":
            continue
        others = ei[1, ei[0] == movie][:max_per_type]
        edges += [("movie", movie, dst, int(o)) for o in others]
        if dst in ("director", "actor") and len(others) and two_hop is None:
            two_hop = (dst, int(others[0]), ei)
    if two_hop is not None:
        dst, person, ei = two_hop
        films = [int(m) for m in ei[0, ei[1] == person] if m != movie][:max_per_type]
        edges += [("movie", m, dst, person) for m in films]
    return edges


def slice_recall(scores, held_out, seen, movies, k: int = 20) -> float:
    """Recall@k when only ``movies``, a slice of the catalogue, are ranked.

    ``scores`` ``[U, M]`` scores every (user, movie); ``held_out`` ``[2, n]`` holds
    the (user, movie) pairs to find, ``seen`` ``[2, m]`` the pairs each user already
    rated (never ranked). Per user, rank the movies of the slice the user has not
    seen (ties to the lower movie index) and count which share of the user's
    held-out movies *in the slice* are in the top ``k``; average over the users that
    have at least one such movie:

        recall@k = mean over those users u of |top_k(u) & R_u| / |R_u|,
        R_u = the movies of the slice held out for u and not seen by u.

    With every movie as the slice it is ``ranking_metrics``' recall@k; with the long
    tail (``cold_start_movies``), the tail competes with itself.
    """
    scores = np.array(scores, dtype=np.float64)  # a copy: the caller's stays intact
    in_slice = np.zeros(scores.shape[1], dtype=bool)
    in_slice[np.asarray(movies, dtype=np.int64)] = True
    scores[:, ~in_slice] = -np.inf               # outside the slice: never ranked
    seen = np.asarray(seen, dtype=np.int64).reshape(2, -1)
    scores[seen[0], seen[1]] = -np.inf           # already rated: never ranked
    held_out = np.asarray(held_out, dtype=np.int64).reshape(2, -1)
    # a set: a pair given twice counts once
    relevant = np.zeros(scores.shape, dtype=bool)
    relevant[held_out[0], held_out[1]] = True
    relevant &= np.isfinite(scores)              # R_u: in the slice and not seen
    num_relevant = relevant.sum(axis=1)
    users = np.flatnonzero(num_relevant)
    if len(users) == 0:
        raise ValueError("no user has an unseen held-out movie in the slice")
    # ties: the lower index first
    top = np.argsort(-scores[users], axis=1, kind="stable")[:, :k]
    hits = np.take_along_axis(relevant[users], top, axis=1).sum(axis=1)
    return float(np.mean(hits / num_relevant[users]))


def link_report(z_user, z_movie, graph: BipartiteGraph, split: EdgeSplit, part: str = "test", *,
                cold: np.ndarray | None = None, k: int = 20) -> dict[str, float]:
    """How well dot-product scores ``z_user @ z_movie.T`` find ``part``'s held-out ratings.

    * ``auc``: ROC-AUC on ``part``'s labelled pairs (positives and the split's fixed negatives);
    * ``recall@k``: full ranking of every movie the user has not rated in ``part``'s
      message-passing edges; the share of the user's held-out movies in the top ``k``;
    * with ``cold`` (movie indices), ``cold auc`` on the labelled pairs whose movie is cold and
      ``cold recall@k`` ranking only the cold movies, so the long tail competes with itself.
    """
    z_user, z_movie = np.asarray(z_user, np.float64), np.asarray(z_movie, np.float64)
    pairs, labels = split.labelled_pairs(graph, part)
    logits = (z_user[pairs[0]] * z_movie[pairs[1]]).sum(axis=1)
    scores = z_user @ z_movie.T
    seen = graph.edge_index[:, split.message_edges(part)]
    held_out = graph.edge_index[:, split.positives(part)]
    report = {"auc": roc_auc(logits, labels),
              f"recall@{k}": ranking_metrics(scores, held_out, seen, ks=(k,))[f"recall@{k}"]}
    if cold is not None:
        in_cold = np.isin(pairs[1], cold)
        report["cold auc"] = roc_auc(logits[in_cold], labels[in_cold])
        report[f"cold recall@{k}"] = slice_recall(scores, held_out, seen, cold, k)
    return report
