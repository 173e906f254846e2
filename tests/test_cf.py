"""``course_lib/cf.py`` (chapter 6, framework-neutral): interaction edges, the normalised
adjacency (and both frameworks' sparse copies of it), BPR batches, the popularity ranker."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib.cf import (bpr_batches, evaluate_scores, interaction_edges, normalized_adjacency,
                           popularity_scores)
from course_lib.jax.data import to_normalized_adjacency as jax_adjacency
from course_lib.pyg.data import to_normalized_adjacency as pyg_adjacency


def test_normalized_adjacency_equals_the_dense_formula(tiny_graph, tiny_laplacian):
    s, r, w = normalized_adjacency(tiny_graph.edge_index, 4, 5)
    assert len(s) == 2 * tiny_graph.num_edges and w.dtype == np.float32
    sparse = np.zeros((9, 9))
    sparse[r, s] = w
    np.testing.assert_allclose(sparse, tiny_laplacian, rtol=1e-6)
    # isolated user 3 and movie 4 have no edges at all
    assert not np.isin([3, 4 + 4], np.concatenate([s, r])).any()


def test_both_frameworks_hold_the_same_sparse_adjacency(graph, split):
    edges = interaction_edges(split, "train")
    pyg = pyg_adjacency(graph, edges)
    adj = jax_adjacency(graph, edges)
    assert pyg.shape == adj.shape == (graph.num_nodes, graph.num_nodes)
    assert adj.data.shape[0] == pyg.data.shape[0] == 2 * len(edges)
    for a, b in zip(pyg, adj):
        np.testing.assert_array_equal(a.numpy(), np.asarray(b))
    x = np.random.default_rng(0).normal(size=(graph.num_nodes, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(adj.propagate(x)),
                               pyg.propagate(torch.from_numpy(x)).numpy(),
                               rtol=1e-5, atol=1e-6)
    # the symmetric normalisation keeps the largest eigenvalue at 1: L @ sqrt(d) = sqrt(d)
    user_deg, movie_deg = graph.degrees(edges)
    v = np.sqrt(np.concatenate([user_deg, movie_deg])).astype(np.float32)[:, None]
    np.testing.assert_allclose(np.asarray(adj.propagate(v)), v, rtol=1e-4, atol=1e-5)


def test_interaction_edges_follow_the_split(split):
    assert np.array_equal(interaction_edges(split, "train"), split.train)
    assert np.array_equal(interaction_edges(split, "val"), split.train)
    assert len(interaction_edges(split, "test")) == len(split.train) + len(split.val)
    assert not np.isin(split.test, interaction_edges(split, "test")).any()
    with pytest.raises(ValueError, match="part must be"):
        interaction_edges(split, "all")


def test_bpr_batches_negatives_are_never_training_interactions(graph, split):
    edges = interaction_edges(split, "train")
    batches = list(bpr_batches(graph, edges, 5000, np.random.default_rng(0)))
    assert len(batches) == len(edges) // 5000
    seen = set(graph.pair_codes(graph.edge_index[:, edges]).tolist())
    users = np.concatenate([b[0] for b in batches])
    pos = np.concatenate([b[1] for b in batches])
    neg = np.concatenate([b[2] for b in batches])
    assert all(c in seen for c in (users * graph.num_movies + pos)[::50].tolist())
    assert not np.isin(users * graph.num_movies + neg, list(seen)).any()
    assert len(np.unique(users * graph.num_movies + pos)) == len(users)   # each positive once
    # uniform over the movies: about as many negatives in each half of the catalogue
    assert abs((neg < graph.num_movies // 2).mean() - 0.5) < 0.02
    again = list(bpr_batches(graph, edges, 5000, np.random.default_rng(0)))
    assert all(np.array_equal(a[2], b[2]) for a, b in zip(batches, again))


def test_popularity_scores_rank_by_training_interactions(graph, split):
    edges = interaction_edges(split, "val")
    scores = popularity_scores(graph, edges)
    _, degree = graph.degrees(edges)
    assert scores.shape == (graph.num_users, graph.num_movies)
    assert np.array_equal(scores[3], degree)
    m = evaluate_scores(scores, graph, split, "test")
    assert 0.05 < m["recall@20"] < 0.2 and set(m) == {
        f"{x}@{k}" for x in ("recall", "precision", "ndcg") for k in (10, 20)}
    with pytest.raises(ValueError, match="part must be"):
        evaluate_scores(scores, graph, split, "train")


def test_interaction_mask_marks_exactly_the_given_edges(graph, split):
    from course_lib.cf import interaction_mask

    mask = interaction_mask(graph, split.test)
    users, movies = graph.edge_index[:, split.test]
    assert mask.shape == (graph.num_users, graph.num_movies) and mask.dtype == bool
    assert mask[users, movies].all()
    assert mask.sum() == len(set(zip(users.tolist(), movies.tolist())))
    seen = interaction_mask(graph, interaction_edges(split, "test"))
    assert not (seen & mask).any()          # the test pairs are not among the seen ones
