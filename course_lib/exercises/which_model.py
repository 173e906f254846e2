"""Exercises of the chapter "Which model, when" (book/07_which_model)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..jax.serving import masked_top_k
from ..metrics import full_ranking_recall
from ..serving import fold_in, recall_vs_exact
from . import Case, Exercise, listed, register

# -------------------------------------------------------------------------------------------------
# full_ranking_recall (numpy): the chapter's protocol. The next cell passes popularity's scores
# (float64 [U, M], every user the same row), the dense masks of the users' training and
# validation interactions (seen) and of their test interactions (held_out), both bool [U, M]
# and disjoint, and k = 20, and compares the result with the leaderboard's popularity row.
# -------------------------------------------------------------------------------------------------


def _masks(rows: list[list[int]]) -> np.ndarray:
    return np.array(rows, dtype=bool)


def _protocol_cases() -> list[Case]:
    tied = [1.0] * 20 + [0.5, 3.0, 0.2, 0.1]  # 20 movies tied at 1.0, movie 21 the best
    return [
        Case("user 0's two best movies are seen: they take no place in the top 2",
             (np.array([[0.9, 0.8, 0.3, 0.5, 0.1]]), _masks([[1, 1, 0, 0, 0]]),
              _masks([[0, 0, 1, 0, 0]]), 2)),
        Case("negative scores: a seen movie scored 0 would beat every unseen one",
             (np.array([[-3.0, -1.0, -2.0, -5.0, -4.0]]), _masks([[0, 1, 0, 0, 1]]),
              _masks([[0, 0, 1, 1, 0]]), 2)),
        Case("scores of +-1000: a seen movie set to -100 would still beat the unseen ones",
             (np.array([[-500.0, 800.0, -300.0, -900.0, 200.0]]), _masks([[0, 1, 0, 0, 1]]),
              _masks([[0, 0, 0, 1, 0]]), 3)),
        Case("user 1 has 3 held-out movies and k = 2: at most 2 of 3 can be found (recall "
             "divides by 3, not by k)",
             (np.array([[0.1, 0.9, 0.8, 0.2, 0.3], [0.7, 0.6, 0.1, 0.5, 0.9]]),
              _masks([[0, 0, 0, 0, 1], [0, 0, 0, 0, 1]]),
              _masks([[0, 1, 0, 0, 0], [1, 1, 0, 1, 0]]), 2)),
        Case("user 1 has no held-out movie: it is left out of the mean (not counted as 0)",
             (np.array([[0.5, 0.4, 0.3, 0.2], [0.1, 0.2, 0.3, 0.4], [0.4, 0.1, 0.2, 0.3]]),
              _masks([[0, 0, 0, 1], [1, 0, 0, 0], [0, 1, 0, 0]]),
              _masks([[1, 0, 1, 0], [0, 0, 0, 0], [0, 0, 1, 1]]), 1)),
        Case("users with 1 and 4 held-out movies: the mean of the users' recalls, not all "
             "hits over all held-out movies",
             (np.array([[0.9, 0.1, 0.2, 0.3, 0.4, 0.5], [0.9, 0.8, 0.1, 0.2, 0.3, 0.4]]),
              _masks([[0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]]),
              _masks([[1, 0, 0, 0, 0, 0], [0, 0, 1, 1, 1, 1]]), 2)),
        Case("24 movies, 20 tied at 1.0, movie 0 seen, k = 5: ties go to the lower index, so "
             "movies 2 and 4 are in the top 5 (behind movie 21) and movie 19 is not (a sort "
             "that is not stable reorders ties beyond 16 items)",
             (np.array([tied]), _masks([[1] + [0] * 23]),
              _masks([[0, 0, 1, 0, 1] + [0] * 14 + [1] + [0] * 4]), 5)),
        Case("user 0 has only 2 unseen movies and k = 3: both are in its top 3",
             (np.array([[0.1, 0.9, 0.2, 0.8], [0.3, 0.2, 0.4, 0.1]]),
              _masks([[0, 1, 0, 1], [0, 0, 0, 0]]), _masks([[1, 0, 1, 0], [0, 0, 0, 1]]), 3)),
        Case("no user has a held-out movie: the recall is undefined (nan)",
             (np.array([[0.2, 0.1, 0.3]]), _masks([[1, 0, 0]]), _masks([[0, 0, 0]]), 2)),
    ]


def _protocol_random(rng: np.random.Generator) -> Case:
    users = int(rng.integers(1, 5))
    movies = int(rng.choice([6, 9, 24]))
    k = int(rng.integers(1, 6))
    if movies == 24:  # many ties: only a stable order gives the lower index first
        scores = rng.integers(0, 3, (users, movies)).astype(np.float64)
    else:
        scores = rng.integers(-8, 9, (users, movies)) * float(rng.choice([0.25, 100.0]))
    if rng.random() < 0.5:
        scores = -np.abs(scores) - 1.0  # all negative
    draw = rng.random((users, movies))
    seen = draw < 0.3
    held_out = (draw >= 0.3) & (draw < rng.uniform(0.4, 0.7))
    what = []
    if rng.random() < 0.4:  # each user has seen their best movie
        np.put_along_axis(seen, np.argmax(scores, axis=1)[:, None], True, axis=1)
        held_out &= ~seen
        what.append("the best movie seen")
    if rng.random() < 0.3:  # one user without a held-out movie
        held_out[int(rng.integers(users))] = False
        what.append("a user without held-out movies")
    n = held_out.sum(axis=1).tolist()
    return Case(f"{users} user{'s' if users > 1 else ''}, {movies} movies, k = {k}, held-out "
                f"movies per user {n}, {(seen.sum(axis=1)).tolist()} seen"
                + "".join(f", {w}" for w in what), (scores, seen, held_out, k))


def _recall_of(top, held_out):
    hits = np.take_along_axis(held_out, top, axis=1).sum(axis=1)
    n = held_out.sum(axis=1)
    return float((hits[n > 0] / n[n > 0]).mean()) if (n > 0).any() else float("nan")


def _stable_top(masked, k):
    return np.argsort(-masked, axis=1, kind="stable")[:, :k]


# forgets the mask: seen movies take places in the top k
def _wrong_protocol_no_mask(scores, seen, held_out, k):
    return _recall_of(_stable_top(scores, k), held_out)


# multiplies by ~seen: a seen movie scores 0, which beats every negative unseen score
def _wrong_protocol_zero_mask(scores, seen, held_out, k):
    return _recall_of(_stable_top(scores * ~seen, k), held_out)


# masks with -100: scores can be lower than that
def _wrong_protocol_minus_100(scores, seen, held_out, k):
    return _recall_of(_stable_top(np.where(seen, -100.0, scores), k), held_out)


# divides the hits by k (that is precision@k)
def _wrong_protocol_divide_by_k(scores, seen, held_out, k):
    top = _stable_top(np.where(seen, -np.inf, scores), k)
    hits = np.take_along_axis(held_out, top, axis=1).sum(axis=1)
    n = held_out.sum(axis=1)
    return float((hits[n > 0] / k).mean()) if (n > 0).any() else float("nan")


# divides by min(held-out, k): another definition of recall, not the chapter's
def _wrong_protocol_min_k(scores, seen, held_out, k):
    top = _stable_top(np.where(seen, -np.inf, scores), k)
    hits = np.take_along_axis(held_out, top, axis=1).sum(axis=1)
    n = held_out.sum(axis=1)
    keep = n > 0
    return float((hits[keep] / np.minimum(n[keep], k)).mean()) if keep.any() else float("nan")


# pools the users: all hits over all held-out movies
def _wrong_protocol_pooled(scores, seen, held_out, k):
    top = _stable_top(np.where(seen, -np.inf, scores), k)
    total = held_out.sum()
    hits = np.take_along_axis(held_out, top, axis=1).sum()
    return float(hits / total) if total else float("nan")


# counts a user without held-out movies as recall 0
def _wrong_protocol_empty_as_zero(scores, seen, held_out, k):
    top = _stable_top(np.where(seen, -np.inf, scores), k)
    hits = np.take_along_axis(held_out, top, axis=1).sum(axis=1)
    return float((hits / np.maximum(held_out.sum(axis=1), 1)).mean())


# np.argsort's default sort, which does not keep ties in index order
def _wrong_protocol_unstable(scores, seen, held_out, k):
    return _recall_of(np.argsort(-np.where(seen, -np.inf, scores), axis=1)[:, :k], held_out)


# argpartition: the right k best, but a tie at the k-th place is broken arbitrarily
def _wrong_protocol_argpartition(scores, seen, held_out, k):
    masked = np.where(seen, -np.inf, scores)
    return _recall_of(np.argpartition(-masked, k - 1, axis=1)[:, :k], held_out)


# an ascending sort's last k: ties go to the higher index
def _wrong_protocol_ascending(scores, seen, held_out, k):
    masked = np.where(seen, -np.inf, scores)
    return _recall_of(np.argsort(masked, axis=1, kind="stable")[:, -k:], held_out)


# the top k + 1: one place too many
def _wrong_protocol_off_by_one(scores, seen, held_out, k):
    return _recall_of(_stable_top(np.where(seen, -np.inf, scores), k + 1), held_out)


# returns each user's recall: the next cell compares one number with the leaderboard
def _wrong_protocol_per_user(scores, seen, held_out, k):
    top = _stable_top(np.where(seen, -np.inf, scores), k)
    hits = np.take_along_axis(held_out, top, axis=1).sum(axis=1)
    n = held_out.sum(axis=1)
    return hits[n > 0] / n[n > 0]


# sets the seen scores to -inf in place: the caller's score table is changed
def _wrong_protocol_in_place(scores, seen, held_out, k):
    scores[seen] = -np.inf
    return _recall_of(_stable_top(scores, k), held_out)


# right on the examples' sizes only (up to 6 movies); forgets the mask otherwise
def _wrong_protocol_memorised(scores, seen, held_out, k):
    if scores.shape[1] <= 6:
        return _recall_of(_stable_top(np.where(seen, -np.inf, scores), k), held_out)
    return _recall_of(_stable_top(scores, k), held_out)


# lexsort on (index, -score): ties broken by index explicitly
def _right_protocol_lexsort(scores, seen, held_out, k):
    masked = np.where(seen, -np.inf, scores)
    recalls = []
    for row, found in zip(masked, held_out):
        if found.any():
            top = np.lexsort((np.arange(len(row)), -row))[:k]
            recalls.append(found[top].sum() / found.sum())
    return float(np.mean(recalls)) if recalls else float("nan")


# a Python loop over users with sorted() and sets
def _right_protocol_python(scores, seen, held_out, k):
    recalls = []
    for u in range(len(scores)):
        truth = set(np.flatnonzero(held_out[u]).tolist())
        if not truth:
            continue
        unseen = [m for m in range(scores.shape[1]) if not seen[u, m]]
        top = sorted(unseen, key=lambda m: (-scores[u, m], m))[:k]
        recalls.append(len(truth & set(top)) / len(truth))
    return sum(recalls) / len(recalls) if recalls else float("nan")


# torch: scores - inf where seen, a stable sort
def _right_protocol_torch(scores, seen, held_out, k):
    import torch

    s = torch.as_tensor(scores, dtype=torch.float64).masked_fill(torch.as_tensor(seen),
                                                                  float("-inf"))
    top = torch.sort(s, dim=1, descending=True, stable=True).indices[:, :k]
    found = torch.as_tensor(held_out).gather(1, top).sum(1).double()
    n = torch.as_tensor(held_out).sum(1)
    keep = n > 0
    return (found[keep] / n[keep]).mean().item() if keep.any() else float("nan")


register(Exercise(
    name="full_ranking_recall",
    reference=full_ranking_recall,
    cases=_protocol_cases,
    random_case=_protocol_random,
    returns=("numpy",),
    hint="a seen movie must rank below every unseen one whatever the scores (they can be "
         "large and negative), without changing the caller's array; on a tie the lower movie "
         "index comes first, which takes a stable sort. A user's recall divides the hits by "
         "that user's number of held-out movies; average over the users who have one (nan "
         "if none does).",
    mistakes=[_wrong_protocol_no_mask, _wrong_protocol_zero_mask, _wrong_protocol_minus_100,
              _wrong_protocol_divide_by_k, _wrong_protocol_min_k, _wrong_protocol_pooled,
              _wrong_protocol_empty_as_zero, _wrong_protocol_unstable,
              _wrong_protocol_argpartition, _wrong_protocol_ascending,
              _wrong_protocol_off_by_one, _wrong_protocol_per_user, _wrong_protocol_in_place,
              _wrong_protocol_memorised],
    variants=[_right_protocol_lexsort, _right_protocol_python, _right_protocol_torch],
))

# -------------------------------------------------------------------------------------------------
# Exercise 1: fold_in (numpy). The next cell passes the trained model's movie embeddings
# (float32 [M, D], the recommender's own table), the new user's rated movies (int64 movie indices
# 0 .. M-1, in the order the user gave them, not node ids) and their weights (float64, from
# fold_in_weights: equal, 1 / sqrt(degree) or stars / 5), then ranks every movie by
# movie_emb @ fold_in(...) and shows the scores.
# -------------------------------------------------------------------------------------------------


def _emb(rows: list[list[float]]) -> np.ndarray:
    return np.array(rows, dtype=np.float32)


def _fold_in_cases() -> list[Case]:
    emb4 = _emb([[1.0, 0.0], [0.0, 1.0], [-1.0, 2.0], [0.5, 0.5]])
    emb5 = _emb([[0.2, -1.0, 0.5], [1.0, 0.0, -0.3], [-0.4, 0.8, 0.1], [0.0, 0.6, 1.2],
                 [0.9, 0.3, -0.7]])
    return [
        Case("two rated movies (2 and 0) with weights 1 and 3: the result lies 3/4 of the way "
             "from movie 2 to movie 0", (emb4, np.array([2, 0]), np.array([1.0, 3.0]))),
        Case("a single rated movie: the user's embedding is that movie's row, whatever its "
             "weight", (emb4, np.array([3]), np.array([0.4]))),
        Case("unsorted movies 4, 1, 3 with unequal weights: each weight goes with its own movie",
             (emb5, np.array([4, 1, 3]), np.array([0.2, 1.0, 0.6]))),
        Case("movie 2 listed twice: it counts as two entries (weights 0.5 and 0.5)",
             (emb5, np.array([2, 0, 2]), np.array([0.5, 1.0, 0.5]))),
        Case("1 / sqrt(degree) weights, which do not sum to 1",
             (emb5, np.array([3, 0, 4, 1]), 1.0 / np.sqrt(np.array([1.0, 4.0, 9.0, 2.0])))),
        Case("equal weights: the plain mean of the rated rows (the last rows, not the first)",
             (emb4, np.array([3, 2]), np.array([1.0, 1.0]))),
    ]


def _fold_in_random(rng: np.random.Generator) -> Case:
    num_movies, dim = int(rng.integers(4, 8)), int(rng.integers(2, 5))
    n = int(rng.integers(2, 6)) if rng.random() < 0.9 else 1
    movies = rng.choice(num_movies, min(n, num_movies), replace=False)  # unsorted
    if rng.random() < 0.35:  # a movie listed twice
        movies = np.append(movies, rng.choice(movies))
        movies = movies[rng.permutation(len(movies))]
    kind = rng.choice(["stars / 5", "1 / sqrt(degree)", "equal"], p=[0.5, 0.4, 0.1])
    if kind == "stars / 5":
        weights = rng.integers(1, 11, len(movies)) * 0.5 / 5.0
    elif kind == "1 / sqrt(degree)":
        weights = 1.0 / np.sqrt(rng.integers(1, 30, len(movies)).astype(np.float64))
    else:
        weights = np.ones(len(movies))
    emb = rng.normal(size=(num_movies, dim)).round(2).astype(np.float32)
    repeated = len(movies) - len(np.unique(movies))
    return Case(f"{len(movies)} rated movies {listed(movies)} ({repeated} repeated) of "
                f"{num_movies}, D = {dim}, {kind} weights", (emb, movies.astype(np.int64),
                                                             weights))


# divides by the number of rated movies instead of the sum of the weights
def _wrong_fold_in_divide_by_count(movie_emb, movies, weights):
    return (weights[:, None] * movie_emb[movies]).sum(axis=0) / len(movies)


# forgets the weights: the plain mean of the rated rows
def _wrong_fold_in_no_weights(movie_emb, movies, weights):
    return movie_emb[movies].mean(axis=0)


# the weighted sum without dividing by the total weight
def _wrong_fold_in_no_normalisation(movie_emb, movies, weights):
    return (weights @ movie_emb[movies]).astype(movie_emb.dtype)


# weights [n] broadcast along the D columns instead of the n rows (an error unless n == D)
def _wrong_fold_in_wrong_axis(movie_emb, movies, weights):
    return (movie_emb[movies] * weights).sum(axis=0) / weights.sum()


# sums over axis=1 (each movie's coordinates) instead of over the movies
def _wrong_fold_in_sum_axis_1(movie_emb, movies, weights):
    return (weights[:, None] * movie_emb[movies]).sum(axis=1) / weights.sum()


# scales the rated rows in place (fancy-index assignment writes into the caller's table)
def _wrong_fold_in_in_place(movie_emb, movies, weights):
    movie_emb[movies] *= weights[:, None].astype(movie_emb.dtype)
    return movie_emb[movies].sum(axis=0) / weights.sum()


# the first len(movies) rows instead of the rated ones
def _wrong_fold_in_first_rows(movie_emb, movies, weights):
    rows = movie_emb[:len(movies)]
    return (weights[:, None] * rows).sum(axis=0) / weights.sum()


# reads the movie indices as MovieLens's 1-based movieId and subtracts 1
def _wrong_fold_in_one_based(movie_emb, movies, weights):
    rows = movie_emb[np.asarray(movies) - 1]
    return (weights[:, None] * rows).sum(axis=0) / weights.sum()


# np.unique(movies) sorts the movies (and drops repeats): the weights no longer pair with them
def _wrong_fold_in_unique(movie_emb, movies, weights):
    rows = movie_emb[np.unique(movies)]
    w = weights[:len(rows)]
    return (w[:, None] * rows).sum(axis=0) / w.sum()


# a dict {movie: weight}: a movie listed twice keeps one entry (its last weight)
def _wrong_fold_in_dict(movie_emb, movies, weights):
    by_movie = dict(zip(movies.tolist(), weights.tolist()))
    total = sum(w * movie_emb[m].astype(np.float64) for m, w in by_movie.items())
    return (total / sum(by_movie.values())).astype(movie_emb.dtype)


# right on the examples' table sizes only ([4, 2] and [5, 3]); the plain mean otherwise
def _wrong_fold_in_memorised(movie_emb, movies, weights):
    if movie_emb.shape in {(4, 2), (5, 3)}:
        return (weights[:, None] * movie_emb[movies]).sum(axis=0) / weights.sum()
    return movie_emb[movies].mean(axis=0)


# np.average with weights, cast back to the embeddings' dtype
def _right_fold_in_average(movie_emb, movies, weights):
    return np.average(movie_emb[movies], axis=0, weights=weights).astype(movie_emb.dtype)


# the weights as a row vector times the rated rows (float64 result: values are what count)
def _right_fold_in_matmul(movie_emb, movies, weights):
    return weights @ movie_emb[movies] / weights.sum()


# normalise the weights first, then a loop in float32
def _right_fold_in_loop(movie_emb, movies, weights):
    w = np.asarray(weights, dtype=np.float32) / np.float32(np.sum(weights))
    out = np.zeros(movie_emb.shape[1], dtype=np.float32)
    for m, wi in zip(movies, w):
        out = out + wi * movie_emb[m]
    return out


register(Exercise(
    name="fold_in",
    reference=fold_in,
    cases=_fold_in_cases,
    random_case=_fold_in_random,
    returns=("numpy",),
    rtol=1e-5,
    atol=1e-6,
    hint="take the rows movie_emb[movies] (one per rated movie, in the given order: repeats "
         "count twice), multiply each by its weight (weights[:, None]), sum over the movies "
         "(axis=0) and divide by weights.sum(). Build new arrays: no *= into movie_emb.",
    mistakes=[_wrong_fold_in_divide_by_count, _wrong_fold_in_no_weights,
              _wrong_fold_in_no_normalisation, _wrong_fold_in_wrong_axis,
              _wrong_fold_in_sum_axis_1, _wrong_fold_in_in_place, _wrong_fold_in_first_rows,
              _wrong_fold_in_one_based, _wrong_fold_in_unique, _wrong_fold_in_dict,
              _wrong_fold_in_memorised],
    variants=[_right_fold_in_average, _right_fold_in_matmul, _right_fold_in_loop],
))

# -------------------------------------------------------------------------------------------------
# Exercise 2: masked_top_k (JAX, inside course_lib.jax.serving's jitted exact_top_k, k static).
# The next cell passes scores = queries @ movie_emb.T (float32 jax array [B, M]) and the seen
# mask (bool jax array [B, M]), then turns the indices into movie ids with
# np.where(np.isneginf(values), -1, indices): a row with fewer than k unseen movies must end in
# values -inf, and the indices there are not used (the checker ignores them too).
# -------------------------------------------------------------------------------------------------

_TOPK_MOVIES = 5  # every case has 5 movies: JAX compiles op by op once per shape (and per k)


def _topk(rows: list[list[float]], seen: list[list[int]]) -> tuple:
    return jnp.array(rows, dtype=jnp.float32), jnp.array(seen, dtype=bool)


def _topk_cases() -> list[Case]:
    return [
        Case("negative scores: movies 1 and 4 are seen (a seen score set to 0 would beat every "
             "unseen one)", (*_topk([[-3.0, -1.0, -2.0, -5.0, -4.0]], [[0, 1, 0, 0, 1]]), 2)),
        Case("3 users whose seen movies have the highest scores",
             (*_topk([[0.9, 0.1, 0.8, 0.3, 0.2], [0.5, 0.7, 0.6, 0.4, 0.9],
                      [2.0, 1.0, 0.0, -1.0, 3.0]],
                     [[1, 0, 1, 0, 0], [0, 1, 0, 0, 1], [1, 0, 0, 0, 1]]), 2)),
        Case("ties among unseen movies: the lower index comes first (1 before 3, then 0 before "
             "2)", (*_topk([[0.5, 2.0, 0.5, 2.0, 1.0]], [[0, 0, 0, 0, 1]]), 3)),
        Case("a tie between seen movie 1 and unseen movie 2: only movie 2 may appear",
             (*_topk([[1.0, 3.0, 3.0, 0.0, -2.0]], [[0, 1, 0, 0, 0]]), 2)),
        Case("3 users: one with exactly k = 3 unseen movies, one with only 2 unseen (its last "
             "value is -inf), one with none seen",
             (*_topk([[4.0, 1.0, 3.0, 2.0, 0.0], [1.0, 2.0, 3.0, 4.0, 5.0],
                      [0.3, 0.1, 0.4, 0.1, 0.5]],
                     [[1, 0, 0, 1, 0], [1, 0, 1, 1, 0], [0, 0, 0, 0, 0]]), 3)),
        Case("k = 1 for 3 users",
             (*_topk([[0.2, 0.4, 0.1, 0.3, 0.0], [-1.0, -2.0, -0.5, -3.0, -4.0],
                      [5.0, 5.0, 5.0, 5.0, 5.0]],
                     [[0, 1, 0, 0, 0], [0, 0, 1, 0, 0], [1, 0, 0, 0, 0]]), 1)),
        Case("scores of +-1000: a seen movie set to -100 would still beat the unseen ones",
             (*_topk([[-500.0, 800.0, -300.0, -900.0, 200.0]], [[0, 1, 0, 0, 1]]), 3)),
        Case("24 movies, 20 of them tied, 2 users: ties go to the lower index (a sort that is "
             "not stable reorders ties beyond 16 items)",
             (*_topk([[1.0] * 20 + [0.5, 3.0, 0.2, 0.1], [-2.0] * 21 + [1.0, -3.0, -1.0]],
                     [[1, 0, 0, 1] + [0] * 20, [0, 0, 1] + [0] * 21]), 6)),
    ]


def _topk_random(rng: np.random.Generator) -> Case:
    b, m = int(rng.choice([1, 3])), _TOPK_MOVIES
    k = int(rng.integers(1, 4))
    scale = float(rng.choice([0.5, 250.0]))  # 250: scores up to +-1000
    negative = rng.random() < 0.5  # all scores below 0
    scores = rng.integers(-4, 1 if negative else 5, (b, m)) * scale  # few values: ties
    seen = rng.random((b, m)) < rng.uniform(0.2, 0.5)
    what = []
    if rng.random() < 0.4:  # each user has seen their best movies
        best = np.argsort(-scores, axis=1, kind="stable")[:, :int(rng.integers(1, 3))]
        np.put_along_axis(seen, best, True, axis=1)
        what.append("the best movies seen")
    if rng.random() < 0.3:  # one user has only k or fewer unseen movies
        row, left = int(rng.integers(b)), int(rng.integers(max(k - 1, 0), k + 1))
        seen[row] = True
        seen[row, rng.choice(m, left, replace=False)] = False
        what.append(f"user {row} has {left} unseen")
    ties = sum(len(r[~s]) - len(np.unique(r[~s])) for r, s in zip(scores, seen))
    what.append(f"{ties} tie(s) among unseen scores")
    span = f"between -{4 * scale:g} and 0" if negative else f"within +-{4 * scale:g}"
    return Case(f"{b} user{'s' if b > 1 else ''}, {m} movies, k = {k}, scores {span}, "
                f"{', '.join(what)}",
                (jnp.asarray(scores, dtype=jnp.float32), jnp.asarray(seen), k))


def _unused_slots_ignored(out):
    """(values, indices) with the indices of -inf values set to -1, as the next cell does: there
    the user has no unseen movie left, and which seen index fills the slot does not matter."""
    values, indices = out
    xp = jnp if isinstance(indices, jax.Array) else np
    return values, xp.where(xp.isneginf(values), -1, indices)


# multiplies by ~seen: a seen movie scores 0, which beats every negative unseen score
def _wrong_topk_zero_mask(scores, seen, k):
    return jax.lax.top_k(scores * ~seen, k)


# subtracts the mask: a seen movie loses only 1 point
def _wrong_topk_minus_seen(scores, seen, k):
    return jax.lax.top_k(scores - seen, k)


# masks with -100: real scores (dot products of unnormalised embeddings) can be lower
def _wrong_topk_minus_100(scores, seen, k):
    return jax.lax.top_k(jnp.where(seen, -100.0, scores), k)


# masks with the lowest float32 instead of -inf: a user with fewer than k unseen movies gets
# seen movies with a finite score, which the next cell (np.isneginf) takes as recommendations
def _wrong_topk_finfo_min(scores, seen, k):
    return jax.lax.top_k(jnp.where(seen, jnp.finfo(scores.dtype).min, scores), k)


# forgets the mask: recommends movies the user has already seen
def _wrong_topk_no_mask(scores, seen, k):
    return jax.lax.top_k(scores, k)


# the mask the wrong way round: keeps only the seen movies
def _wrong_topk_mask_inverted(scores, seen, k):
    return jax.lax.top_k(jnp.where(seen, scores, -jnp.inf), k)


# an ascending argsort's last k: the right movies, worst first
def _wrong_topk_ascending(scores, seen, k):
    masked = jnp.where(seen, -jnp.inf, scores)
    indices = jnp.argsort(masked, axis=1)[:, -k:]
    return jnp.take_along_axis(masked, indices, axis=1), indices


# an ascending argsort reversed: best first, but ties come out with the higher index first
def _wrong_topk_reversed_argsort(scores, seen, k):
    masked = jnp.where(seen, -jnp.inf, scores)
    indices = jnp.argsort(masked, axis=1)[:, ::-1][:, :k]
    return jnp.take_along_axis(masked, indices, axis=1), indices


# boolean indexing per user, scores[b][~seen[b]]: right eagerly, but its shape depends on the
# values, so it fails under jax.jit
def _wrong_topk_boolean_index(scores, seen, k):
    values, indices = [], []
    for row, mask in zip(scores, seen):
        unseen = jnp.flatnonzero(~mask)
        v, i = jax.lax.top_k(row[~mask], min(k, len(unseen)))
        pad = k - len(v)
        values.append(jnp.concatenate([v, jnp.full(pad, -jnp.inf, dtype=v.dtype)]))
        indices.append(jnp.concatenate([unseen[i], jnp.zeros(pad, dtype=i.dtype)]))
    return jnp.stack(values), jnp.stack(indices)


# numpy's argsort, converted back to jax: right eagerly, but a traced array cannot become a
# numpy array under jax.jit
def _wrong_topk_numpy(scores, seen, k):
    masked = np.where(np.asarray(seen), -np.inf, np.asarray(scores))
    indices = np.argsort(-masked, axis=1, kind="stable")[:, :k]
    values = np.take_along_axis(masked, indices, axis=1)
    return jnp.asarray(values, dtype=scores.dtype), jnp.asarray(indices, dtype=jnp.int32)


# returns the indices only: the next cell unpacks (values, indices)
def _wrong_topk_indices_only(scores, seen, k):
    return jax.lax.top_k(jnp.where(seen, -jnp.inf, scores), k)[1]


# returns (indices, values): the next cell unpacks the values first
def _wrong_topk_swapped(scores, seen, k):
    values, indices = jax.lax.top_k(jnp.where(seen, -jnp.inf, scores), k)
    return indices, values


# a stable descending argsort of the masked scores, values gathered from it
def _right_topk_argsort(scores, seen, k):
    masked = jnp.where(seen, -jnp.inf, scores)
    indices = jnp.argsort(-masked, axis=1)[:, :k]
    return jnp.take_along_axis(masked, indices, axis=1), indices


# an argsort that need not keep tied movies in index order
def _wrong_topk_unstable(scores, seen, k):
    masked = jnp.where(seen, -jnp.inf, scores)
    indices = jnp.argsort(-masked, axis=1, stable=False)[:, :k]
    return jnp.take_along_axis(masked, indices, axis=1), indices


# subtracts inf where seen: a finite score minus inf is -inf
def _right_topk_subtract_inf(scores, seen, k):
    return jax.lax.top_k(scores - jnp.where(seen, jnp.inf, 0.0), k)


# one user at a time, vectorised with jax.vmap
def _right_topk_vmap(scores, seen, k):
    def one(row, mask):
        return jax.lax.top_k(jnp.where(mask, -jnp.inf, row), k)

    return jax.vmap(one)(scores, seen)


register(Exercise(
    name="masked_top_k",
    reference=masked_top_k,
    cases=_topk_cases,
    random_case=_topk_random,
    framework="jax",
    returns=("jax",),
    integers="indices",
    static_argnames=("k",),
    jit_cases=3,
    canonical=_unused_slots_ignored,
    hint="set the seen entries to -jnp.inf with jnp.where (not 0 or -100: scores can be "
         "negative and large), then jax.lax.top_k(masked, k) gives (values, indices), best "
         "first, ties with the lower index first. No boolean indexing and no numpy: it runs "
         "under jax.jit.",
    mistakes=[_wrong_topk_zero_mask, _wrong_topk_minus_seen, _wrong_topk_minus_100,
              _wrong_topk_finfo_min, _wrong_topk_no_mask, _wrong_topk_mask_inverted,
              _wrong_topk_ascending, _wrong_topk_reversed_argsort, _wrong_topk_boolean_index,
              _wrong_topk_numpy, _wrong_topk_indices_only, _wrong_topk_swapped,
              _wrong_topk_unstable],
    variants=[_right_topk_argsort, _right_topk_subtract_inf, _right_topk_vmap],
))

# -------------------------------------------------------------------------------------------------
# recall_vs_exact (numpy). The next cell passes two int64 arrays [B, k] of movie indices, the
# approximate index's top-k and the exact top-k for the same B users (-1 where a search returned
# fewer than k), and prints the result as the approximate search's recall next to its speed-up.
# -------------------------------------------------------------------------------------------------


def _ids(rows: list[list[int]]) -> np.ndarray:
    return np.array(rows, dtype=np.int64)


def _recall_cases() -> list[Case]:
    return [
        Case("the approximate list in another order: order is ignored (recall 1)",
             (_ids([[3, 1, 2]]), _ids([[1, 2, 3]]))),
        Case("the index returned fewer than k (-1 pads the approximate lists)",
             (_ids([[4, 2, -1], [7, -1, -1]]), _ids([[2, 4, 5], [7, 8, 9]]))),
        Case("fewer than k true results (-1 pads the exact lists too): -1 is no movie",
             (_ids([[5, -1, -1], [1, 0, -1]]), _ids([[5, -1, -1], [0, 6, -1]]))),
        Case("the index returned movie 3 twice: it counts once",
             (_ids([[3, 3, 8]]), _ids([[3, 4, 8]]))),
        Case("user 1 has no true result (exact all -1): left out of the mean",
             (_ids([[1, 2], [-1, -1], [4, 0]]), _ids([[2, 1], [-1, -1], [4, 5]]))),
        Case("k = 1 for 3 users", (_ids([[3], [5], [2]]), _ids([[3], [4], [2]]))),
        Case("no user has a true result: the recall is undefined (nan)",
             (_ids([[1, -1]]), _ids([[-1, -1]]))),
    ]


def _recall_random(rng: np.random.Generator) -> Case:
    b = 1 if rng.random() < 0.15 else int(rng.integers(2, 5))
    k, catalogue = int(rng.integers(1, 6)), 10
    approx = np.full((b, k), -1, dtype=np.int64)
    exact = np.full((b, k), -1, dtype=np.int64)
    no_truth = rng.random() < 0.08  # no user has a true result: the recall is nan
    n_true, n_found, twice = [], [], 0
    for row in range(b):
        draw = rng.random()
        n = k if draw < 0.4 else (0 if draw < 0.6 else int(rng.integers(1, k + 1)))
        n = 0 if no_truth else n
        movies = rng.permutation(catalogue)
        truth, others = movies[:n], movies[n:]
        exact[row, :n] = truth
        found = int(rng.integers(0, n + 1))
        returned = int(rng.integers(found, k + 1)) if rng.random() < 0.7 else found
        picks = np.concatenate([rng.choice(truth, found, replace=False),
                                others[:returned - found]])
        if len(picks) >= 2 and rng.random() < 0.5:  # the index returns a movie twice
            picks[-1] = picks[0]  # a found true result if there is one
            twice += 1
        picks = picks[rng.permutation(len(picks))]
        approx[row, :len(picks)] = picks
        n_true.append(n)
        n_found.append(len(set(picks.tolist()) & set(truth.tolist())))
    return Case(f"{b} user{'s' if b > 1 else ''}, k = {k}, true results per user {n_true}, "
                f"found {n_found}, {twice} user(s) with a movie returned twice",
                (approx, exact))


# compares position by position: the same movies in another order count as misses
def _wrong_recall_positional(approx, exact):
    return float((np.asarray(approx) == np.asarray(exact)).mean())


# plain sets: -1 in both lists counts as a found movie and as a true result
def _wrong_recall_minus_one_hits(approx, exact):
    shares = [len(set(a.tolist()) & set(e.tolist())) / len(set(e.tolist()))
              for a, e in zip(approx, exact)]
    return float(np.mean(shares))


# removes -1 from the true results but intersects the raw sets: -1 == -1 is a hit
def _wrong_recall_intersect_raw(approx, exact):
    shares = []
    for a, e in zip(approx, exact):
        truth = set(e[e >= 0].tolist())
        if truth:
            shares.append(len(set(a.tolist()) & set(e.tolist())) / len(truth))
    return float(np.mean(shares)) if shares else float("nan")


# divides by k (the row's length) instead of the number of true results
def _wrong_recall_divide_by_k(approx, exact):
    shares = []
    for a, e in zip(approx, exact):
        truth = set(e[e >= 0].tolist())
        if truth:
            shares.append(len(truth & set(a[a >= 0].tolist())) / len(e))
    return float(np.mean(shares)) if shares else float("nan")


# np.isin over the approximate list: a movie returned twice is counted twice
def _wrong_recall_isin_counts_repeats(approx, exact):
    shares = []
    for a, e in zip(approx, exact):
        truth = e[e >= 0]
        if len(truth):
            shares.append(np.isin(a[a >= 0], truth).sum() / len(truth))
    return float(np.mean(shares)) if shares else float("nan")


# pools all users: total found over total true results, not the mean of each user's share
def _wrong_recall_pooled(approx, exact):
    hits = total = 0
    for a, e in zip(approx, exact):
        truth = set(e[e >= 0].tolist())
        hits += len(truth & set(a[a >= 0].tolist()))
        total += len(truth)
    return hits / total if total else float("nan")


# a user without true results counts as recall 0 instead of being left out
def _wrong_recall_empty_as_zero(approx, exact):
    shares = []
    for a, e in zip(approx, exact):
        truth = set(e[e >= 0].tolist())
        shares.append(len(truth & set(a[a >= 0].tolist())) / max(len(truth), 1))
    return float(np.mean(shares))


# a user without true results counts as recall 1 ("nothing to find, nothing missed")
def _wrong_recall_empty_as_one(approx, exact):
    shares = []
    for a, e in zip(approx, exact):
        truth = set(e[e >= 0].tolist())
        shares.append(len(truth & set(a[a >= 0].tolist())) / len(truth) if truth else 1.0)
    return float(np.mean(shares))


# sum / max(count, 1): 0 instead of nan when no user has a true result
def _wrong_recall_zero_when_undefined(approx, exact):
    shares = []
    for a, e in zip(approx, exact):
        truth = set(e[e >= 0].tolist())
        if truth:
            shares.append(len(truth & set(a[a >= 0].tolist())) / len(truth))
    return sum(shares) / max(len(shares), 1)


# returns every user's share: the next cell prints one number
def _wrong_recall_per_user(approx, exact):
    shares = []
    for a, e in zip(approx, exact):
        truth = set(e[e >= 0].tolist())
        if truth:
            shares.append(len(truth & set(a[a >= 0].tolist())) / len(truth))
    return np.array(shares)


# vectorised: which true result appears anywhere in the approximate row (-1 never does)
def _right_recall_broadcast(approx, exact):
    approx, exact = np.asarray(approx), np.asarray(exact)
    valid = exact >= 0
    found = (exact[:, :, None] == approx[:, None, :]).any(axis=2) & valid
    n_true = valid.sum(axis=1)
    keep = n_true > 0
    if not keep.any():
        return float("nan")
    return float((found.sum(axis=1)[keep] / n_true[keep]).mean())


# np.isin over the unique movies each row returned
def _right_recall_isin_unique(approx, exact):
    shares = []
    for a, e in zip(approx, exact):
        truth = np.unique(e[e >= 0])
        if truth.size:
            shares.append(np.isin(np.unique(a[a >= 0]), truth).sum() / truth.size)
    return np.mean(shares) if shares else np.nan


# Python sets, -1 discarded from both
def _right_recall_sets(approx, exact):
    shares = []
    for a, e in zip(approx.tolist(), exact.tolist()):
        truth, got = set(e) - {-1}, set(a) - {-1}
        if truth:
            shares.append(len(truth & got) / len(truth))
    return sum(shares) / len(shares) if shares else float("nan")


register(Exercise(
    name="recall_vs_exact",
    reference=recall_vs_exact,
    cases=_recall_cases,
    random_case=_recall_random,
    returns=("numpy",),
    hint="for each user: the true results are the exact row's entries other than -1 (skip the "
         "user if there are none); the share found is len(true & set(approx row without -1)) "
         "/ len(true), with sets so that order and repeats do not matter. Return the mean of "
         "the shares as a float (nan if no user is left).",
    mistakes=[_wrong_recall_positional, _wrong_recall_minus_one_hits,
              _wrong_recall_intersect_raw, _wrong_recall_divide_by_k,
              _wrong_recall_isin_counts_repeats, _wrong_recall_pooled,
              _wrong_recall_empty_as_zero, _wrong_recall_empty_as_one,
              _wrong_recall_zero_when_undefined, _wrong_recall_per_user],
    variants=[_right_recall_broadcast, _right_recall_isin_unique, _right_recall_sets],
))
