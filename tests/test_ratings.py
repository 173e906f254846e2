"""``course_lib/ratings.py``: rating errors and the baselines a rating GNN must beat."""

from __future__ import annotations

import numpy as np
import pytest

from course_lib.ratings import (BiasedMF, baseline_table, errors, global_mean, mae, movie_mean,
                                part_pairs, rmse, user_mean)


def test_mae_and_rmse():
    assert mae([1, 2, 3], [2, 2, 5]) == pytest.approx(1.0)
    assert rmse([1, 2, 3], [2, 2, 5]) == pytest.approx(np.sqrt(5 / 3))


def test_mean_baselines_on_a_tiny_graph(tiny_graph):
    from course_lib.graph import EdgeSplit

    # training edges 0-5, the rest for evaluation
    split = EdgeSplit(train_message=np.arange(4), train_supervision=np.arange(4, 6),
                      val=np.array([6]), test=np.array([7]),
                      val_negatives=np.zeros((2, 0), int), test_negatives=np.zeros((2, 0), int),
                      seed=0, neg_ratio=0.0)
    r = tiny_graph.rating
    pairs = np.array([[0, 3, 2], [1, 4, 3]])  # user 3 and movie 4 have no training rating
    mu = r[:6].mean()
    np.testing.assert_allclose(global_mean(tiny_graph, split)(pairs), [mu] * 3)
    np.testing.assert_allclose(user_mean(tiny_graph, split)(pairs), [r[:3].mean(), mu, r[5]])
    np.testing.assert_allclose(movie_mean(tiny_graph, split)(pairs),
                               [(r[1] + r[3]) / 2, mu, r[4]])


def test_baselines_order_on_movielens(graph, split):
    baselines = baseline_table(graph, split, BiasedMF(dim=16, reg=10.0).fit(graph, split))
    mae_of = {k: v["test MAE"] for k, v in baselines.items()}
    assert mae_of["matrix factorisation"] < mae_of["per-user mean"] < mae_of["per-movie mean"]
    assert mae_of["per-movie mean"] < mae_of["global mean"]
    assert mae_of["matrix factorisation"] < 0.68
    assert 0.70 < mae_of["per-user mean"] < 0.76  # measured 0.733


def test_matrix_factorisation_fits_its_training_data(graph, split):
    mf = BiasedMF(dim=4, reg=1.0, iterations=5).fit(graph, split)
    ei, r = part_pairs(graph, split, "train")
    assert errors(mf(ei), r)["MAE"] < 0.6
    assert mf(ei).min() >= 0.5 and mf(ei).max() <= 5.0
