"""Top-N recommendation, framework-neutral: scores in, a table of unseen movies out.

Every model of the course ends in a score per (user, movie) pair. Given one user's scores for all
movies (a numpy array, whichever framework computed it), :func:`top_n_unseen` ranks the movies the
user has not rated and :func:`recommend` adds titles and genres.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .data import MovieLens
from .graph import BipartiteGraph


def rated_movies(graph: BipartiteGraph, user: int, edge_ids=None) -> np.ndarray:
    """Sorted movie indices that ``user`` rated among ``graph``'s edges ``edge_ids`` (all if
    None)."""
    ei = graph.edge_index if edge_ids is None else graph.edge_index[:, np.asarray(edge_ids)]
    return np.unique(ei[1, ei[0] == user])


def top_n_unseen(scores, seen, n: int = 10) -> np.ndarray:
    """Indices of the ``n`` highest ``scores``, skipping the indices in ``seen``,
    best first.

    Ties keep the lower index first, so the ranking is deterministic.
    """
    scores = np.asarray(scores, dtype=np.float64).copy()
    if scores.ndim != 1:
        raise ValueError(f"scores must be one score per movie, shape [M]; "
                         f"got {scores.shape}")
    scores[np.asarray(seen, dtype=np.int64)] = -np.inf
    order = np.argsort(-scores, kind="stable")
    order = order[np.isfinite(scores[order])]
    return order[:n]


def recommend(ml: MovieLens, scores, seen, n: int = 10, score_name: str = "score"
              ) -> pd.DataFrame:
    """A table of the top-``n`` unseen movies: rank, movie index, title, genres and the model's
    score. To leave out other movies too (say, those with too few ratings to trust), add them
    to ``seen``."""
    scores = np.asarray(scores)
    top = top_n_unseen(scores, seen, n)
    movies = ml.movies.iloc[top]
    return pd.DataFrame({
        "rank": np.arange(1, len(top) + 1),
        "movie": top,
        "title": movies["title"].to_numpy(),
        "genres": [", ".join(g) for g in movies["genres"]],
        score_name: np.round(scores[top].astype(np.float64), 3),
    }).set_index("rank")


def overlap(a, b) -> float:
    """Share of the items of list ``a`` that are also in list ``b`` (order ignored)."""
    a = list(np.asarray(a).tolist())
    return len(set(a) & set(np.asarray(b).tolist())) / len(a) if a else 1.0


def rank_agreement(scores_a, scores_b, seen) -> float:
    """Spearman rank correlation of two models' scores over the movies not in ``seen``: how
    much the two *whole* rankings agree (1 = same order), beyond their top few items."""
    from scipy.stats import spearmanr

    mask = np.ones(len(scores_a), dtype=bool)
    mask[np.asarray(seen, dtype=np.int64)] = False
    return float(spearmanr(np.asarray(scores_a)[mask], np.asarray(scores_b)[mask]).statistic)
