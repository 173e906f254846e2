"""``course_lib/metrics.py``: ranking and classification metrics."""

from __future__ import annotations

import numpy as np
import pytest

from course_lib.metrics import pairwise_auc, roc_auc


@pytest.mark.parametrize("seed", range(5))
def test_pairwise_auc_equals_sklearn(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 60)
    scores = np.round(rng.normal(size=60) + labels, 1)  # rounding makes ties
    assert pairwise_auc(scores, labels) == pytest.approx(roc_auc(scores, labels))
    with pytest.raises(ValueError, match="positive and one negative"):
        pairwise_auc(scores, np.ones(60))


def test_ndcg_at_k_by_hand():
    from course_lib.metrics import ndcg_at_k

    hits = np.array([[True, False, True], [False, False, False], [False, True, False]])
    got = ndcg_at_k(hits, np.array([2, 0, 5]), 3)
    d = 1 / np.log2([2, 3, 4])
    np.testing.assert_allclose(got, [(d[0] + d[2]) / (d[0] + d[1]), 0, d[1] / d.sum()])


def test_top_k_indices_breaks_ties_by_lower_index():
    from course_lib.metrics import top_k_indices

    s = np.array([[1.0, 3.0, 3.0, 2.0, 3.0], [0.0, 0.0, 0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(top_k_indices(s, 2), [[1, 2], [0, 1]])
    np.testing.assert_array_equal(top_k_indices(s, 9), [[1, 2, 4, 3, 0], [0, 1, 2, 3, 4]])


def _ranking_by_brute_force(scores, relevant, exclude, ks, candidates=None):
    num_users, num_movies = scores.shape
    rel = set(map(tuple, np.asarray(relevant).T))
    ex = set(map(tuple, np.asarray(exclude).T)) if exclude is not None else set()
    cand = range(num_movies) if candidates is None else sorted(set(candidates))
    out = {f"{m}@{k}": [] for k in ks for m in ("recall", "precision", "ndcg")}
    for u in range(num_users):
        allowed = [m for m in cand if (u, m) not in ex]
        wanted = {m for m in allowed if (u, m) in rel}
        if not wanted:
            continue
        ranked = sorted(allowed, key=lambda m: (-scores[u, m], m))
        for k in ks:
            hits = [m in wanted for m in ranked[:k]]
            dcg = sum(h / np.log2(i + 2) for i, h in enumerate(hits))
            idcg = sum(1 / np.log2(i + 2) for i in range(min(len(wanted), k)))
            out[f"recall@{k}"].append(sum(hits) / len(wanted))
            out[f"precision@{k}"].append(sum(hits) / k)
            out[f"ndcg@{k}"].append(dcg / idcg)
    return {name: float(np.mean(v)) if v else float("nan") for name, v in out.items()}


def test_ranking_metrics_by_hand():
    from course_lib.metrics import ranking_metrics

    scores = np.array([[0.9, 0.8, 0.7, 0.1],
                       [0.1, 0.2, 0.3, 0.4]])
    relevant = np.array([[0, 0, 1], [1, 3, 0]])      # user 0: movies 1, 3; user 1: movie 0
    exclude = np.array([[0], [0]])                    # user 0 already rated movie 0
    m = ranking_metrics(scores, relevant, exclude, ks=(1, 2))
    # user 0 ranks 1, 2, 3: hit at rank 1 -> recall@1 1/2, @2 1/2; ndcg@2 = 1 / (1 + 1/log2 3)
    # user 1 ranks 3, 2, 1, 0: movie 0 is last -> all zero
    assert m["recall@1"] == pytest.approx(0.25) and m["precision@1"] == pytest.approx(0.5)
    assert m["recall@2"] == pytest.approx(0.25) and m["precision@2"] == pytest.approx(0.25)
    assert m["ndcg@2"] == pytest.approx(0.5 / (1 + 1 / np.log2(3)))


@pytest.mark.parametrize("seed", range(40))
def test_ranking_metrics_match_ranking_by_brute_force(seed):
    from course_lib.metrics import ranking_metrics

    rng = np.random.default_rng(seed)
    num_users, num_movies = int(rng.integers(1, 7)), int(rng.integers(2, 13))
    ties = seed % 2 == 0
    scores = (rng.integers(0, 3, (num_users, num_movies)).astype(float) if ties
              else rng.normal(size=(num_users, num_movies)))
    codes = rng.choice(num_users * num_movies, int(rng.integers(1, num_users * num_movies + 1)),
                       replace=False)
    relevant = np.stack([codes // num_movies, codes % num_movies])
    ex = rng.choice(num_users * num_movies, int(rng.integers(0, num_users * num_movies // 2 + 1)),
                    replace=False)
    exclude = np.stack([ex // num_movies, ex % num_movies])
    candidates = None if seed % 3 else rng.choice(num_movies, int(rng.integers(1, num_movies + 1)),
                                                  replace=False)
    ks = (1, 3, 20)                                   # 20 > num_movies: shorter lists
    expected = _ranking_by_brute_force(scores, relevant, exclude, ks, candidates)
    if any(np.isnan(v) for v in expected.values()):
        with pytest.raises(ValueError, match="no user"):
            ranking_metrics(scores, relevant, exclude, ks, candidates)
        return
    got = ranking_metrics(scores, relevant, exclude, ks, candidates, chunk=2)
    for name in expected:
        assert got[name] == pytest.approx(expected[name], abs=1e-12), name


def test_ranking_metrics_on_movielens_size(graph, split):
    """Random scores on the real shapes: recall@K near K / (unseen movies), as chance predicts."""
    from course_lib.metrics import ranking_metrics

    rng = np.random.default_rng(0)
    scores = rng.random((graph.num_users, graph.num_movies))
    seen = graph.edge_index[:, split.message_edges("test")]
    m = ranking_metrics(scores, graph.edge_index[:, split.test], seen, ks=(20,))
    assert 0.5 * 20 / 9742 < m["recall@20"] < 2 * 20 / 9500
    chunked = ranking_metrics(scores, graph.edge_index[:, split.test], seen, ks=(20,), chunk=97)
    assert chunked == pytest.approx(m, rel=1e-12)


@pytest.mark.parametrize("seed", range(20))
def test_full_ranking_recall_is_ranking_metrics_recall_on_dense_masks(seed):
    """The chapter 7 exercise's reference (dense masks) and the protocol every chapter uses
    (edge lists) give the same recall@k, ties included."""
    from course_lib.metrics import full_ranking_recall, ranking_metrics

    rng = np.random.default_rng(seed)
    num_users, num_movies = int(rng.integers(1, 8)), int(rng.integers(3, 30))
    scores = (rng.integers(0, 3, (num_users, num_movies)).astype(float) if seed % 2
              else rng.normal(size=(num_users, num_movies)))
    draw = rng.random((num_users, num_movies))
    seen, held_out = draw < 0.3, (draw >= 0.3) & (draw < 0.5)
    k = int(rng.integers(1, 8))
    got = full_ranking_recall(scores, seen, held_out, k)
    if not held_out.any():
        assert np.isnan(got)
        return
    expected = ranking_metrics(scores, np.stack(np.nonzero(held_out)),
                               np.stack(np.nonzero(seen)), ks=(k,))[f"recall@{k}"]
    assert got == pytest.approx(expected, abs=1e-12)


def test_full_ranking_recall_by_hand():
    from course_lib.metrics import full_ranking_recall

    scores = np.array([[3.0, 2.0, 1.0, 1.0, 0.0], [-1.0, -2.0, -3.0, -4.0, -5.0]])
    seen = np.array([[1, 0, 0, 0, 0], [0, 0, 0, 0, 0]], dtype=bool)
    held_out = np.array([[0, 0, 0, 1, 1], [0, 0, 0, 0, 0]], dtype=bool)
    # user 0: top 2 unseen = movies 1, 2 (2 before 3 on the tie): no hit; user 1 has none
    assert full_ranking_recall(scores, seen, held_out, 2) == 0.0
    assert full_ranking_recall(scores, seen, held_out, 3) == 0.5
    assert full_ranking_recall(scores, seen, held_out, 10) == 1.0
