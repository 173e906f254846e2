"""MovieLens-shaped graphs at any scale, for the chapter that trains beyond one machine.

The full MovieLens releases (ML-25M, ML-32M) are large downloads; the chapter on training
LightGCN at that scale also needs graphs that can be made in seconds, anywhere, at any fraction
of the real size. :func:`synthetic_graph` makes one: a seeded :class:`BipartiteGraph` with the
node and edge counts of a MovieLens release scaled by ``fraction`` and MovieLens-like degrees
(every user rates at least 20 movies, a heavy tail of very active users, and a few blockbusters
that hold a large share of all ratings). :func:`degree_summary` gives the figures to compare it
with the real data (:func:`course_lib.data.load_movielens_release`).

Everything here is numpy: the graphs feed PyTorch Geometric and JAX alike.
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np

from .graph import BipartiteGraph

# The published sizes of each release: users who rated, movies in movies.csv (ML-1M:
# movies.dat, of which 3,706 are rated), ratings. The course's graphs have a node for every
# listed movie, rated or not.
MOVIELENS_SHAPES: dict[str, dict[str, int]] = {
    "ml-latest-small": {"users": 610, "movies": 9742, "ratings": 100_836},
    "ml-1m": {"users": 6040, "movies": 3883, "ratings": 1_000_209},
    "ml-25m": {"users": 162_541, "movies": 62_423, "ratings": 25_000_095},
    "ml-32m": {"users": 200_948, "movies": 87_585, "ratings": 32_000_204},
}

# The 20 genre columns of MovieLens (``str.get_dummies('|')`` of movies.csv, in that order).
GENRES: tuple[str, ...] = (
    "(no genres listed)", "Action", "Adventure", "Animation", "Children", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "IMAX", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
)

# MovieLens keeps only users with at least 20 ratings.
MIN_USER_DEGREE = 20
# Spread of the log-normal user activity (ml-latest-small: 1.06 for log-degrees above the
# 20-rating floor; a little wider gives the long tail of the larger releases).
USER_SIGMA = 1.2
# Movie popularity: the movie of popularity rank r (0-based) has weight (r + OFFSET)^-EXPONENT.
# This gives the top 1 % of movies about 37 % of all ratings at full ML-25M size, and 18 % at
# ml-latest-small size (the real file: 16 %, its most rated movie 329 ratings, here about 300).
POPULARITY_EXPONENT = 1.05
POPULARITY_OFFSET = 30.0
# The rating shares of ml-latest-small, 0.5 to 5.0 stars.
RATING_VALUES = np.arange(1, 11, dtype=np.float32) / 2
RATING_SHARES = np.array([0.0136, 0.0279, 0.0178, 0.0749, 0.0550,
                          0.1988, 0.1303, 0.2660, 0.0848, 0.1310])
# Timestamps start on 9 January 1995, the first rating of ML-25M, and span about 25 years.
FIRST_TIMESTAMP = 789_652_009
TIME_SPAN = 785_000_000

# A user whose rejection sampling would need more draws than this share of the movies is
# sampled exactly instead (one key per movie).
_EXACT_SHARE = 0.5


# ----------------------------------------------------------------------------------------------
# The synthetic graph
# ----------------------------------------------------------------------------------------------


def synthetic_graph(shape: str = "ml-25m", fraction: float = 0.01, seed: int = 0
                    ) -> BipartiteGraph:
    """A seeded MovieLens-like interaction graph, ``fraction`` of the size of release ``shape``.

    It has ``round(fraction * users)`` users, ``round(fraction * movies)`` movies and exactly
    ``round(fraction * ratings)`` interactions (sizes from :data:`MOVIELENS_SHAPES`), with no
    (user, movie) pair twice:

    * user degrees are log-normal, scaled to the interaction count, at least 20 (MovieLens keeps
      only users with 20 ratings or more; fewer only if the average degree is below 20) and at
      most half the movies, like the most active MovieLens raters (more only where the graph is
      too dense for that);
    * each user's movies are drawn without replacement from one Zipf-like popularity
      ``(rank + 30) ** -1.05`` over the movies in a random order, so a few blockbusters hold a
      large share of the interactions: about 37 % for the top 1 % of movies at full ML-25M
      size. A small fraction keeps the average user degree but has fewer movies, so the graph is
      denser, and the share is capped by the top movies being rated by every user;
    * ratings follow the star shares of ml-latest-small; edges come in time order, with strictly
      increasing int64 timestamps from January 1995 over about 25 years;
    * ``movie_x`` is all zeros, ``[movies, 20]`` float32, under the 20 MovieLens genre names.

    The same ``shape``, ``fraction`` and ``seed`` always give the same graph. On 2 CPU cores it
    takes under a second for 1/10 of ML-25M (2.5 M interactions) and about 12 s and 2 GB for
    all of it (``benchmarks/synthetic_scale.py``). ``fraction`` must be in (0, 1], and large
    enough for the interactions to fit into the ``users x movies`` pairs (at least about 0.0025
    for ML-25M).
    """
    if shape not in MOVIELENS_SHAPES:
        raise ValueError(f"unknown shape {shape!r}; expected one of {sorted(MOVIELENS_SHAPES)}")
    if (isinstance(fraction, bool) or not isinstance(fraction, Real)
            or not 0 < fraction <= 1):
        raise ValueError(f"fraction must be a number in (0, 1], got {fraction!r}")
    full = MOVIELENS_SHAPES[shape]
    num_users = round(fraction * full["users"])
    num_movies = round(fraction * full["movies"])
    num_edges = round(fraction * full["ratings"])
    if num_users < 1 or num_movies < 1 or num_edges > num_users * num_movies:
        smallest = full["ratings"] / (full["users"] * full["movies"])
        raise ValueError(
            f"fraction {fraction} of {shape} is too small: {num_edges} interactions do not fit "
            f"into {num_users} users x {num_movies} movies without repeated pairs. Use a "
            f"fraction of at least about {smallest:.2g}.")

    rng = np.random.default_rng(seed)
    degrees = _user_degrees(rng, num_users, num_movies, num_edges)
    popularity = _movie_popularity(rng, num_movies)
    users, movies = _sample_movies(rng, degrees, popularity)

    order = rng.permutation(num_edges)          # interleave the users into one time-ordered log
    edge_index = np.stack([users[order], movies[order]])
    del users, movies, order
    rating = RATING_VALUES[rng.choice(len(RATING_VALUES), size=num_edges,
                                      p=RATING_SHARES / RATING_SHARES.sum())]
    gap = max(1, TIME_SPAN // num_edges)
    timestamp = FIRST_TIMESTAMP + np.cumsum(rng.integers(1, 2 * gap, size=num_edges,
                                                         endpoint=True), dtype=np.int64)
    return BipartiteGraph(
        num_users=num_users,
        num_movies=num_movies,
        edge_index=edge_index,
        rating=rating,
        timestamp=timestamp,
        movie_x=np.zeros((num_movies, len(GENRES)), dtype=np.float32),
        feature_names=GENRES,
    )


def _user_degrees(rng: np.random.Generator, num_users: int, num_movies: int,
                  num_edges: int) -> np.ndarray:
    """Log-normal degrees in ``[min(20, E // U), high]`` that sum to exactly ``E``."""
    low = min(MIN_USER_DEGREE, num_edges // num_users, num_movies)
    # at most half the movies, like the most active MovieLens raters, unless the graph is so
    # dense that the users must rate more
    mean = -(-num_edges // num_users)
    high = max(-(-num_movies // 2), min(num_movies, 2 * mean))
    weight = rng.lognormal(0.0, USER_SIGMA, size=num_users)

    def total(scale: float) -> float:
        return float(np.clip(scale * weight, low, high).sum())

    lo, hi = 0.0, high / weight.min()           # total(lo) <= E <= total(hi) = U * high
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if total(mid) < num_edges else (lo, mid)
    exact = np.clip(hi * weight, low, high)
    degrees = np.floor(exact).astype(np.int64)
    # hand out what flooring lost, largest remainders first, to users with room left
    remainder = exact - degrees
    while (missing := num_edges - int(degrees.sum())) > 0:
        room = np.flatnonzero(degrees < high)
        pick = room[np.argsort(-remainder[room], kind="stable")[:missing]]
        degrees[pick] += 1
        remainder[pick] = 0.0
    return degrees


def _movie_popularity(rng: np.random.Generator, num_movies: int) -> np.ndarray:
    """Zipf-like probabilities over the movies, the ranks in a random order of the movies."""
    rank = rng.permutation(num_movies)
    weight = (rank + POPULARITY_OFFSET) ** -POPULARITY_EXPONENT
    return weight / weight.sum()


def _expected_draws(degrees: np.ndarray, popularity: np.ndarray) -> np.ndarray:
    """Draws with replacement expected to give each user ``degree`` distinct movies.

    The expected number of distinct movies after ``n`` draws is ``sum_j 1 - (1 - p_j)^n``; it is
    tabulated on a grid of ``n`` and inverted by interpolation."""
    grid = np.unique(np.geomspace(1, 64 * len(popularity), 256).round())
    log_miss = np.log1p(-np.minimum(popularity, 1 - 1e-12))
    distinct = np.array([np.sum(-np.expm1(n * log_miss)) for n in grid])
    return np.interp(degrees, distinct, grid, right=np.inf)


def _sample_movies(rng: np.random.Generator, degrees: np.ndarray,
                   popularity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each user ``u``, ``degrees[u]`` distinct movies drawn without replacement: the
    ``(users, movies)`` of every pair, grouped by sampling round, not by user.

    Sampling is successive: each next movie is drawn with probability proportional to
    ``popularity`` among the movies the user has not got yet. Most users are sampled with
    replacement (vectorised over all of them at once) keeping each movie's first draw, and drawn
    again with twice the draws if they got too few distinct movies; the few very active users
    for whom that would take too many draws get the exact weighted sampling of Efraimidis and
    Spirakis (the ``degree`` largest keys ``log(uniform) / p``)."""
    num_movies = len(popularity)
    draws = np.ceil(1.1 * _expected_draws(degrees, popularity) + 8)
    exact = draws > _EXACT_SHARE * num_movies
    draws = np.where(exact, 0, draws).astype(np.int64)
    cdf = np.cumsum(popularity)
    cdf /= cdf[-1]
    users_out, movies_out = [], []
    pending = np.flatnonzero(~exact)
    for _ in range(6):
        if len(pending) == 0:
            break
        done, users, movies = _first_draws(rng, pending, degrees, draws, cdf)
        users_out.append(users)
        movies_out.append(movies)
        pending = pending[~done]
        draws[pending] *= 2
    exact[pending] = True
    for chunk in _chunks(np.flatnonzero(exact), num_movies):
        keys = np.log(rng.random((len(chunk), num_movies))) / popularity
        order = np.argsort(-keys, axis=1, kind="stable")
        take = np.arange(num_movies) < degrees[chunk, None]
        users_out.append(np.repeat(chunk, degrees[chunk]))
        movies_out.append(order[take])
    return np.concatenate(users_out), np.concatenate(movies_out)


def _first_draws(rng: np.random.Generator, users: np.ndarray, degrees: np.ndarray,
                 draws: np.ndarray, cdf: np.ndarray):
    """One round of sampling with replacement for ``users`` (sorted): for each user, the first
    ``degree`` distinct movies in draw order. Returns which users are done and their pairs."""
    num_movies = len(cdf)
    n = draws[users]
    total = int(n.sum())
    movie = np.minimum(np.searchsorted(cdf, rng.random(total), side="right"), num_movies - 1)
    slot = np.repeat(np.arange(len(users)), n)
    # one sortable int64 per draw: (user slot, movie) first, the draw's position last, so that
    # sorting groups repeated pairs with their first draw in front
    pos_bits = max(1, total.bit_length())
    if (len(users) * num_movies).bit_length() + pos_bits > 63:
        raise OverflowError("too many draws in one round to encode in int64")
    key = (slot * num_movies + movie) << pos_bits | np.arange(total)
    key.sort()
    first = np.empty(total, dtype=bool)
    first[0] = True
    np.not_equal(key[1:] >> pos_bits, key[:-1] >> pos_bits, out=first[1:])
    position = np.sort(key[first] & ((1 << pos_bits) - 1))    # distinct pairs, in draw order
    del key, first
    slot_of = slot[position]
    starts = np.searchsorted(slot_of, np.arange(len(users)))
    got = np.diff(np.append(starts, len(slot_of)))
    done = got >= degrees[users]
    rank = np.arange(len(slot_of)) - starts[slot_of]
    keep = done[slot_of] & (rank < degrees[users][slot_of])
    return done, users[slot_of[keep]], movie[position[keep]]


def _chunks(rows: np.ndarray, width: int, cells: int = 1 << 22):
    """``rows`` in pieces of at most ``cells / width`` rows (at least one)."""
    step = max(1, cells // width)
    for i in range(0, len(rows), step):
        yield rows[i:i + step]


# ----------------------------------------------------------------------------------------------
# Comparing shapes
# ----------------------------------------------------------------------------------------------


def degree_summary(graph: BipartiteGraph) -> dict[str, float]:
    """The headline shape of an interaction graph, to set a synthetic graph beside the real one.

    Sizes and density; the least, median and largest user degree; the largest movie degree and
    the number of movies without interactions; and the share of all interactions held by the
    top 1 % of movies (at least one movie) by degree, the mark of a long-tailed popularity.
    """
    user_deg, movie_deg = graph.degrees()
    top = max(1, math.ceil(0.01 * graph.num_movies))
    edges = graph.num_edges
    top_share = float(np.sort(movie_deg)[::-1][:top].sum() / edges) if edges else 0.0
    return {
        "users": graph.num_users,
        "movies": graph.num_movies,
        "interactions": edges,
        "density": edges / (graph.num_users * graph.num_movies),
        "min user degree": int(user_deg.min()),
        "median user degree": float(np.median(user_deg)),
        "max user degree": int(user_deg.max()),
        "max movie degree": int(movie_deg.max()),
        "movies without interactions": int((movie_deg == 0).sum()),
        "top 1% movies' share": top_share,
    }
