"""Framework-neutral metrics on numpy arrays (torch tensors and jax arrays are converted)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score


def _np(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu()
    return np.asarray(x)


def _floating(x) -> np.ndarray:
    """``x`` as a numpy float array: float32 and float64 kept (comparisons and ties are the same
    as in float64, and a float32 ranking reads half the memory), anything else as float64."""
    x = _np(x)
    return x if x.dtype in (np.float32, np.float64) else x.astype(np.float64)


def accuracy(predictions, labels) -> float:
    """Share of ``predictions`` (class ids, or ``[N, C]`` scores: argmax taken) equal to ``labels``."""
    predictions, labels = _np(predictions), _np(labels)
    if predictions.ndim == labels.ndim + 1:
        predictions = predictions.argmax(-1)
    if predictions.shape != labels.shape:
        raise ValueError(f"predictions {predictions.shape} and labels {labels.shape} differ in shape")
    return float((predictions == labels).mean())


def roc_auc(scores, labels) -> float:
    """Area under the ROC curve: the chance a random positive scores above a random negative."""
    return float(roc_auc_score(_np(labels), _np(scores)))


def majority_baseline(train_labels, test_labels) -> float:
    """Accuracy of always predicting the most common training label."""
    values, counts = np.unique(_np(train_labels), return_counts=True)
    return float((_np(test_labels) == values[counts.argmax()]).mean())


def pairwise_auc(scores, labels) -> float:
    """ROC-AUC by its definition: the share of (positive, negative) pairs in which
    the positive scores higher, ties counting one half. ``O(P * N)`` memory: for
    small inputs and teaching; :func:`roc_auc` gets the same number from ranks."""
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels)
    pos, neg = scores[labels == 1], scores[labels == 0]
    if len(pos) == 0 or len(neg) == 0:
        raise ValueError("AUC needs at least one positive and one negative label")
    diff = pos[:, None] - neg[None, :]
    return float((diff > 0).mean() + 0.5 * (diff == 0).mean())


# --------------------------------------------------------------------------------------------------
# Full-ranking metrics (top-K recommendation)
# --------------------------------------------------------------------------------------------------


def top_k_indices(scores, k: int) -> np.ndarray:
    """``[U, min(k, M)]``: each row's ``k`` highest-scoring columns of ``scores`` ``[U, M]``, best
    first; ties go to the lower index. Partial sort (``argpartition``), so ``O(M)`` per row."""
    s = _floating(scores)
    num_rows, num_cols = s.shape
    k = min(int(k), num_cols)
    if k == 0:
        return np.zeros((num_rows, 0), dtype=np.int64)
    top = (np.argpartition(-s, k - 1, axis=1)[:, :k] if k < num_cols
           else np.tile(np.arange(num_cols), (num_rows, 1)))
    order = np.lexsort((top, -np.take_along_axis(s, top, axis=1)), axis=1)
    top = np.take_along_axis(top, order, axis=1)
    # argpartition breaks a tie at the k-th place arbitrarily: redo those rows exactly
    cutoff = np.take_along_axis(s, top[:, -1:], axis=1)
    tied = (s == cutoff).sum(axis=1) > (np.take_along_axis(s, top, axis=1) == cutoff).sum(axis=1)
    for r in np.flatnonzero(tied):
        top[r] = np.lexsort((np.arange(num_cols), -s[r]))[:k]
    return top


def ndcg_at_k(hits, num_relevant, k: int) -> np.ndarray:
    """Per-user NDCG@k ``[U]`` from ranked hits.

    ``hits`` ``[U, n]`` (bool): ``hits[u, r]`` says whether the user's item at rank
    ``r + 1`` is relevant (``n`` may be shorter than ``k``; ranks past ``n`` count
    as misses). ``num_relevant`` ``[U]``: how many relevant items the user has. DCG
    sums ``1 / log2(rank + 1)`` over the hits in the top ``k``; the ideal DCG puts
    ``min(num_relevant, k)`` hits first. Users without relevant items get 0.
    """
    hits = np.asarray(hits, dtype=bool)[:, :k]
    num_relevant = np.asarray(num_relevant)
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (hits * discount[:hits.shape[1]]).sum(axis=1)
    ideal_dcg = np.concatenate([[0.0], np.cumsum(discount)])
    ideal = ideal_dcg[np.minimum(num_relevant, k)]
    return np.divide(dcg, ideal, out=np.zeros_like(dcg), where=ideal > 0)


def full_ranking_recall(scores, seen, held_out, k: int) -> float:
    """Recall@k of full rankings, averaged over the users with a held-out movie.

    ``scores`` ``[U, M]``: a score for every (user, movie). ``seen`` ``[U, M]``
    (bool): the movies each user interacted with in training, never ranked.
    ``held_out`` ``[U, M]`` (bool, disjoint from ``seen``): the movies to find.
    Per user: the share of the held-out movies among the ``k`` best-scoring
    unseen movies (ties go to the lower index). Users without a held-out movie
    are left out; ``nan`` if none is left. The dense form of
    :func:`ranking_metrics`' recall.
    """
    held_out = np.asarray(held_out, dtype=bool)
    scores = np.asarray(scores)
    scores = scores if scores.dtype.kind == "f" else scores.astype(np.float64)
    masked = np.where(np.asarray(seen, dtype=bool), -np.inf, scores)  # a new array
    # a stable sort of the negated scores: best first, ties keep the lower index
    top = np.argsort(-masked, axis=1, kind="stable")[:, :k]
    hits = np.take_along_axis(held_out, top, axis=1).sum(axis=1)
    num_held_out = held_out.sum(axis=1)
    users = num_held_out > 0
    if not users.any():
        return float("nan")
    return float((hits[users] / num_held_out[users]).mean())


def ranking_metrics(scores, relevant, exclude=None, ks=(10, 20), candidates=None,
                    chunk: int = 1024) -> dict[str, float]:
    """Recall@K, precision@K and NDCG@K of full rankings, averaged over users.

    ``scores`` ``[U, M]``: a score for every (user, movie). ``relevant`` ``[2, n]``: the
    (user, movie) pairs held out for evaluation. ``exclude`` ``[2, m]``: pairs that must not be
    ranked (the user's training interactions). ``candidates``: optional movie indices; only these
    are ranked. Users with no relevant pair among the candidates are left out of the averages.

    Per user, with ``hits`` the relevant movies among the top ``K`` and ``R`` the number of
    relevant movies: recall = hits / R, precision = hits / K, NDCG as :func:`ndcg_at_k`. Ties in
    the scores go to the lower movie index. Vectorised over users, ``chunk`` users at a time.
    """
    scores = _np(scores)
    num_users, num_movies = scores.shape
    relevant = np.asarray(relevant, dtype=np.int64).reshape(2, -1)
    ks = tuple(int(k) for k in ks)
    allowed = np.ones(num_movies, dtype=bool)
    if candidates is not None:
        allowed[:] = False
        allowed[np.asarray(candidates, dtype=np.int64)] = True
    keep = allowed[relevant[1]]
    if exclude is not None:
        exclude = np.asarray(exclude, dtype=np.int64).reshape(2, -1)
    users = np.unique(relevant[0, keep])
    totals = {f"{m}@{k}": 0.0 for k in ks for m in ("recall", "precision", "ndcg")}
    counted = 0
    for start in range(0, len(users), chunk):
        block = users[start:start + chunk]
        row = np.full(num_users, -1)
        row[block] = np.arange(len(block))
        s = np.array(_floating(scores[block]))       # a copy: excluded pairs become -inf
        s[:, ~allowed] = -np.inf
        if exclude is not None:
            ex = exclude[:, row[exclude[0]] >= 0]
            s[row[ex[0]], ex[1]] = -np.inf
        rel = np.zeros(s.shape, dtype=bool)
        sel = keep & (row[relevant[0]] >= 0)
        rel[row[relevant[0, sel]], relevant[1, sel]] = True
        rel &= np.isfinite(s)                  # an excluded pair cannot be found
        n_rel = rel.sum(axis=1)
        valid = n_rel > 0
        hit = np.take_along_axis(rel, top_k_indices(s, max(ks)), axis=1)[valid]
        n_rel = n_rel[valid]
        for k in ks:
            hits = hit[:, :k].sum(axis=1)
            totals[f"recall@{k}"] += float((hits / n_rel).sum())
            totals[f"precision@{k}"] += float((hits / k).sum())
            totals[f"ndcg@{k}"] += float(ndcg_at_k(hit, n_rel, k).sum())
        counted += int(valid.sum())
    if counted == 0:
        raise ValueError("no user has a relevant pair that is a candidate and not excluded")
    return {name: value / counted for name, value in totals.items()}
