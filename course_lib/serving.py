"""Recommendations out of a trained model, framework-neutral (chapter 7).

Once trained, a two-tower model (MF, NGCF, LightGCN, the SAGE encoders: any model whose score is
the dot product ``z_user . z_movie``) is two tables of embeddings. Serving it is retrieval:

* **a known user**: the ``k`` movies with the highest ``z_user . z_movie`` among those the user
  has not seen, *exactly* (one matrix-vector product and a partial sort; ``masked_top_k`` in
  :mod:`course_lib.pyg.serving` and :mod:`course_lib.jax.serving`)
  or *approximately* (an index that skips most of the catalogue: PyG's ``ApproxMIPSKNNIndex``
  over faiss, ``jax.lax.approx_max_k`` in JAX);
* **a new user** with a handful of ratings, without retraining: *fold-in*. Every model here has
  an embedding table with one row per *training* user, so a new user has no row. LightGCN builds
  a user's embedding from the embeddings of the movies they interacted with (its first layer is
  ``sum_i z_i / sqrt(d_u d_i)``), so the new user's is built the same way from their movies
  (:func:`fold_in`, with :func:`fold_in_weights`);
* **similar movies**: the highest cosine similarity between movie embeddings.

:class:`BaseRecommender` holds the embeddings, what each user has seen, and the checks on the
input (:class:`ServingError` for an unknown user or movie, ``k`` out of range, a rating outside
0.5-5); ``course_lib.pyg.serving.Recommender`` and ``course_lib.jax.serving.Recommender`` add
the retrieval in their framework.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

RATING_MIN, RATING_MAX = 0.5, 5.0
WEIGHTINGS = ("equal", "degree", "rating")


class ServingError(ValueError):
    """Bad input to a recommender: the message says what was expected."""


# --------------------------------------------------------------------------------------------------
# The three pieces of chapter 7's exercises (each self-contained)
# --------------------------------------------------------------------------------------------------


def fold_in(movie_emb, movies, weights):
    """The embedding ``[D]`` of a user built from the movies they rated: the
    weighted mean ``sum_i w_i z_i / sum_i w_i`` of the rows ``movies`` (movie
    indices ``0 .. M-1``, not node ids) of ``movie_emb`` ``[M, D]``, with
    ``weights`` ``[n]`` (positive)."""
    movie_emb = np.asarray(movie_emb)
    w = np.asarray(weights, dtype=np.float64)
    rows = movie_emb[np.asarray(movies, dtype=np.int64)].astype(np.float64)
    return ((w[:, None] * rows).sum(axis=0) / w.sum()).astype(movie_emb.dtype)


def recall_vs_exact(approx, exact) -> float:
    """Mean over queries of the share of the exact top-k ``exact`` ``[B, k]`` that
    the approximate top-k ``approx`` ``[B, k]`` found (order ignored). ``-1`` marks
    an empty slot (an index may return fewer than ``k``); queries whose exact list
    is empty are left out."""
    approx, exact = np.asarray(approx), np.asarray(exact)
    shares = []
    for a, e in zip(approx, exact):
        truth = set(e[e >= 0].tolist())
        if truth:
            shares.append(len(truth & set(a[a >= 0].tolist())) / len(truth))
    return float(np.mean(shares)) if shares else float("nan")


# --------------------------------------------------------------------------------------------------
# The recommender
# --------------------------------------------------------------------------------------------------


def fold_in_weights(movies, ratings, weighting: str, movie_degree) -> np.ndarray:
    """The weight of each rated movie in :func:`fold_in`: ``'equal'`` (every rating is one
    interaction, as BPR trained), ``'degree'`` (``1 / sqrt(deg(movie))``, LightGCN's
    normalisation: a blockbuster says less about a user than a niche film; the default, the
    best of the three in ``benchmarks/serving.py``) or ``'rating'`` (the stars, ``rating / 5``)."""
    if weighting == "equal":
        return np.ones(len(movies))
    if weighting == "degree":
        return 1.0 / np.sqrt(np.maximum(np.asarray(movie_degree)[movies], 1))
    if weighting == "rating":
        return np.asarray(ratings, dtype=np.float64) / RATING_MAX
    raise ServingError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")


def latency_ms(fn, repeats: int = 200, warmup: int = 5) -> dict[str, float]:
    """Run ``fn()`` ``warmup`` times, then time ``repeats`` calls: p50, p99 and mean in ms."""
    for _ in range(warmup):
        fn()
    times = np.empty(repeats)
    for i in range(repeats):
        start = time.perf_counter()
        fn()
        times[i] = time.perf_counter() - start
    times *= 1e3
    return {"p50": float(np.percentile(times, 50)), "p99": float(np.percentile(times, 99)),
            "mean": float(times.mean())}


class BaseRecommender:
    """Top-k retrieval over saved embeddings; see :mod:`course_lib.serving`.

    ``user_emb`` ``[U, D]`` and ``movie_emb`` ``[M, D]``: final embeddings (``embed_all`` of a
    trained model); ``seen_edge_index`` ``[2, E]``: the (user, movie index) interactions never to
    recommend again (the training ones, say). Subclasses implement :meth:`_top_k` (and may
    prepare an approximate index in :meth:`build_index`).
    """

    def __init__(self, user_emb, movie_emb, seen_edge_index):
        # copies: the recommender owns its tables (writable, whatever the caller passed)
        user_emb, movie_emb = np.array(user_emb, np.float32), np.array(movie_emb, np.float32)
        if user_emb.ndim != 2 or movie_emb.ndim != 2 or user_emb.shape[1] != movie_emb.shape[1]:
            raise ServingError(f"embeddings must be [U, D] and [M, D] with the same D, got "
                               f"{user_emb.shape} and {movie_emb.shape}")
        self.num_users, self.num_movies = len(user_emb), len(movie_emb)
        seen = np.asarray(seen_edge_index, dtype=np.int64).reshape(2, -1)
        if seen.size and (seen[0].max() >= self.num_users or seen[1].max() >= self.num_movies):
            raise ServingError("seen_edge_index names users or movies beyond the embeddings")
        order = np.lexsort((seen[1], seen[0]))
        self._seen_movies = seen[1, order]
        self._seen_ptr = np.searchsorted(seen[0, order], np.arange(self.num_users + 1))
        self.movie_degree = np.bincount(seen[1], minlength=self.num_movies)
        self._user_emb_np, self._movie_emb_np = user_emb, movie_emb
        norms = np.linalg.norm(movie_emb, axis=1, keepdims=True)
        self._movie_unit_np = movie_emb / np.maximum(norms, 1e-12)
        self._setup()

    # --- what a framework provides ------------------------------------------------------------
    def _setup(self) -> None:
        """Move the embeddings to the framework (called once by ``__init__``)."""

    def _top_k(self, queries: np.ndarray, seen: np.ndarray, k: int, approximate: bool,
               table: str = "movie") -> np.ndarray:
        """``[B, k]`` movie indices with the highest ``queries @ table.T`` outside ``seen``
        (bool ``[B, M]``), best first, ``-1`` where fewer than ``k`` remain."""
        raise NotImplementedError

    def build_index(self, **kwargs) -> None:
        """Prepare approximate retrieval (nothing to prepare by default)."""

    # --- checks -----------------------------------------------------------------------------
    def _check_k(self, k) -> int:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise ServingError(f"k must be a whole number, got {k!r}")
        if not 1 <= k <= self.num_movies:
            raise ServingError(f"k must be between 1 and the catalogue's {self.num_movies} "
                               f"movies, got {k}")
        return int(k)

    def _check_ids(self, ids, limit: int, what: str) -> np.ndarray:
        arr = np.asarray(ids)
        if arr.dtype.kind not in "iu":
            raise ServingError(f"{what} ids must be whole numbers, got {ids!r}")
        bad = arr[(arr < 0) | (arr >= limit)]
        if bad.size:
            raise ServingError(f"unknown {what} {bad.flat[0]}: {what} ids run from 0 to "
                               f"{limit - 1}")
        return arr.astype(np.int64)

    def _check_ratings(self, ratings: dict) -> tuple[np.ndarray, np.ndarray]:
        if not isinstance(ratings, dict) or not ratings:
            raise ServingError("ratings must be a non-empty dict {movie id: rating}")
        movies = self._check_ids(list(ratings), self.num_movies, "movie")
        values = np.asarray(list(ratings.values()), dtype=np.float64)
        bad = values[~((values >= RATING_MIN) & (values <= RATING_MAX))]
        if bad.size:
            raise ServingError(f"ratings must lie between {RATING_MIN} and {RATING_MAX} stars, "
                               f"got {bad[0]}")
        return movies, values

    def seen(self, user: int) -> np.ndarray:
        """Sorted movie indices ``user`` has seen."""
        user = int(self._check_ids(user, self.num_users, "user"))
        return self._seen_movies[self._seen_ptr[user]:self._seen_ptr[user + 1]]

    def seen_mask(self, users: np.ndarray) -> np.ndarray:
        """``[len(users), num_movies]`` booleans: True where a user has seen the movie."""
        mask = np.zeros((len(users), self.num_movies), dtype=bool)
        for row, u in enumerate(users):
            mask[row, self._seen_movies[self._seen_ptr[u]:self._seen_ptr[u + 1]]] = True
        return mask

    # --- the API ----------------------------------------------------------------------------
    def recommend(self, user: int, k: int = 20, approximate: bool = False) -> np.ndarray:
        """The ``k`` best unseen movies for a known ``user``, best first."""
        return self.recommend_batch(np.array([user]), k, approximate)[0]

    def recommend_batch(self, users, k: int = 20, approximate: bool = False) -> np.ndarray:
        """``[B, k]``: :meth:`recommend` for each of ``users`` (``-1`` pads a user who has seen
        all but fewer than ``k`` movies)."""
        k = self._check_k(k)
        users = np.atleast_1d(self._check_ids(users, self.num_users, "user"))
        return self._top_k(self._user_emb_np[users], self.seen_mask(users), k, approximate)

    def fold_in(self, ratings: dict, weighting: str = "degree") -> np.ndarray:
        """``[D]``: the embedding of a new user from ``ratings`` ``{movie id: stars}``
        (:func:`fold_in` with :func:`fold_in_weights`)."""
        movies, values = self._check_ratings(ratings)
        return fold_in(self._movie_emb_np, movies,
                       fold_in_weights(movies, values, weighting, self.movie_degree))

    def recommend_new_user(self, ratings: dict, k: int = 20, weighting: str = "degree",
                           approximate: bool = False) -> np.ndarray:
        """The ``k`` best movies for a user the model never saw, from a handful of
        ``ratings`` ``{movie id: stars}``; the rated movies are excluded."""
        k = self._check_k(k)
        query = self.fold_in(ratings, weighting)[None]
        seen = np.zeros((1, self.num_movies), dtype=bool)
        seen[0, list(ratings)] = True
        return self._top_k(query, seen, k, approximate)[0]

    def similar_movies(self, movie: int, k: int = 10) -> np.ndarray:
        """The ``k`` movies whose embeddings have the highest cosine similarity with
        ``movie``'s (itself excluded)."""
        k = self._check_k(k)
        movie = int(self._check_ids(movie, self.num_movies, "movie"))
        if k >= self.num_movies:
            raise ServingError(f"k must be below the catalogue's {self.num_movies} movies (the "
                               f"movie itself is excluded), got {k}")
        seen = np.zeros((1, self.num_movies), dtype=bool)
        seen[0, movie] = True
        return self._top_k(self._movie_unit_np[movie][None], seen, k, False, table="unit")[0]

    # --- saving -----------------------------------------------------------------------------
    def save(self, path) -> Path:
        """Write the embeddings and the seen interactions to ``path`` (``.npz``)."""
        path = Path(path)
        users = np.repeat(np.arange(self.num_users), np.diff(self._seen_ptr))
        np.savez(path, user_emb=self._user_emb_np, movie_emb=self._movie_emb_np,
                 seen_edge_index=np.stack([users, self._seen_movies]))
        return path if path.suffix == ".npz" else path.with_suffix(".npz")

    @classmethod
    def load(cls, path):
        """A recommender from :meth:`save`'s file."""
        with np.load(path) as f:
            return cls(f["user_emb"], f["movie_emb"], f["seen_edge_index"])
