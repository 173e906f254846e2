"""One graph, one split, two frameworks: the same edges, no leakage, the same split for a seed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib.graph import (EdgeSplit, bipartite_to_directed, node_degrees,
                              sample_negatives, split_edges, to_edge_index)
from course_lib.jax.data import movie_offset, split_graphstuple, to_graphstuple
from course_lib.pyg.data import RATES, REV_RATES, split_heterodata, to_heterodata

SPLIT_FIELDS = ("train_message", "train_supervision", "val", "test", "val_negatives",
                "test_negatives")


def codes(num_movies: int, edge_index) -> set[int]:
    ei = np.asarray(edge_index)
    return set((ei[0].astype(np.int64) * num_movies + ei[1]).tolist())


def pyg_pairs(data, graph) -> set[int]:
    return codes(graph.num_movies, data[RATES].edge_index.numpy())


def jraph_pairs(gt, graph) -> set[int]:
    s, r = np.asarray(gt.senders), np.asarray(gt.receivers)
    forward = s < graph.num_users
    return codes(graph.num_movies, np.stack([s[forward], r[forward] - graph.num_users]))


# ---------------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------------


def test_to_edge_index_maps_raw_ids():
    ei = to_edge_index([7, 3, 7], [40, 10, 20], user_ids=[3, 5, 7], movie_ids=[10, 20, 40])
    np.testing.assert_array_equal(ei, [[2, 0, 2], [2, 0, 1]])
    assert ei.dtype == np.int64
    assert to_edge_index([], [], [1], [1]).shape == (2, 0)
    with pytest.raises(KeyError):
        to_edge_index([99], [10], [3], [10])


def test_node_degrees_counts_isolated_nodes(tiny_graph):
    users, movies = node_degrees(tiny_graph.edge_index, 4, 5)
    np.testing.assert_array_equal(users, [3, 2, 3, 0])
    np.testing.assert_array_equal(movies, [2, 2, 2, 2, 0])


def test_bipartite_to_directed_offsets_movies(tiny_graph):
    s, r = bipartite_to_directed(tiny_graph.edge_index, 4)
    e = tiny_graph.num_edges
    np.testing.assert_array_equal(s[:e], tiny_graph.edge_index[0])
    np.testing.assert_array_equal(r[:e], tiny_graph.edge_index[1] + 4)
    np.testing.assert_array_equal(s[e:], r[:e])
    np.testing.assert_array_equal(r[e:], s[:e])


def test_build_graph_matches_tables(ml, graph):
    assert (graph.num_users, graph.num_movies, graph.num_edges) == (610, 9742, 100_836)
    np.testing.assert_array_equal(graph.edge_index[0], ml.ratings["user"])
    np.testing.assert_array_equal(graph.edge_index[1], ml.ratings["movie"])
    np.testing.assert_array_equal(graph.rating, ml.ratings["rating"])
    assert graph.movie_x.shape == (9742, 20) and graph.movie_x.dtype == np.float32
    users, movies = graph.degrees()
    assert users.min() == 20 and (movies == 0).sum() == 18
    assert len(codes(graph.num_movies, graph.edge_index)) == graph.num_edges  # no duplicate pairs


# ---------------------------------------------------------------------------------------------
# The split
# ---------------------------------------------------------------------------------------------


def test_split_sizes_match_pyg_random_link_split(graph, split):
    # the seed tutorial's numbers: 56,469 message-passing / 24,201 supervision / 30,249 val pairs
    assert split.sizes() == {"train message": 56_469, "train supervision": 24_201, "val": 10_083,
                             "test": 10_083, "val negatives": 20_166, "test negatives": 20_166}
    from torch_geometric.transforms import RandomLinkSplit

    rls = RandomLinkSplit(num_val=0.1, num_test=0.1, disjoint_train_ratio=0.3,
                          neg_sampling_ratio=2.0, add_negative_train_samples=False,
                          edge_types=RATES, rev_edge_types=REV_RATES)
    train, val, test = rls(to_heterodata(graph))
    assert train[RATES].edge_index.shape[1] == len(split.train_message)
    assert train[RATES].edge_label.numel() == len(split.train_supervision)
    assert val[RATES].edge_index.shape[1] == len(split.message_edges("val"))
    assert val[RATES].edge_label.numel() == len(split.val) + split.val_negatives.shape[1]
    assert test[RATES].edge_index.shape[1] == len(split.message_edges("test"))


def test_split_partitions_the_edges(graph, split):
    every = np.concatenate([split.train_message, split.train_supervision, split.val, split.test])
    np.testing.assert_array_equal(np.sort(every), np.arange(graph.num_edges))


def test_same_seed_same_split_other_seed_other_split(graph, split):
    again = split_edges(graph, seed=42)
    for f in SPLIT_FIELDS:
        np.testing.assert_array_equal(getattr(split, f), getattr(again, f))
    other = split_edges(graph, seed=7)
    assert not np.array_equal(split.val, other.val)


def test_negatives_are_unrated_and_distinct(graph, split):
    rated = codes(graph.num_movies, graph.edge_index)
    neg = np.concatenate([split.val_negatives, split.test_negatives], axis=1)
    neg_codes = codes(graph.num_movies, neg)
    assert len(neg_codes) == neg.shape[1]  # distinct, also across val and test
    assert not neg_codes & rated
    assert neg[0].max() < graph.num_users and neg[1].max() < graph.num_movies


def test_labelled_pairs(graph, split):
    pairs, label = split.labelled_pairs(graph, "val")
    assert pairs.shape == (2, 30_249) and label.sum() == 10_083
    np.testing.assert_array_equal(pairs[:, :10_083], graph.edge_index[:, split.val])
    with pytest.raises(ValueError, match="sampled afresh"):
        split.labelled_pairs(graph, "train")
    with pytest.raises(ValueError, match="part must be"):
        split.message_edges("validation")


@pytest.mark.parametrize("framework", ["pyg", "jax"])
def test_no_evaluation_positive_is_a_message_passing_edge(graph, split, framework):
    if framework == "pyg":
        parts = {k: pyg_pairs(v, graph) for k, v in split_heterodata(graph, split).items()}
    else:
        parts = {k: jraph_pairs(v, graph) for k, v in split_graphstuple(graph, split).items()}
    val = codes(graph.num_movies, graph.edge_index[:, split.val])
    test = codes(graph.num_movies, graph.edge_index[:, split.test])
    sup = codes(graph.num_movies, graph.edge_index[:, split.train_supervision])
    assert len(parts["train"]) == 56_469
    assert not parts["train"] & (val | test | sup)
    assert not parts["val"] & (val | test)
    assert not parts["test"] & test
    assert sup <= parts["val"] and val <= parts["test"]  # as RandomLinkSplit widens it


def test_time_split_trains_on_the_past_and_tests_on_the_future(graph, split):
    timed = split_edges(graph, seed=42, order="time")
    t = graph.timestamp
    assert t[timed.train].max() <= t[timed.val].min()
    assert t[timed.val].max() <= t[timed.test].min()
    for f in ("train_message", "train_supervision", "val", "test"):
        assert len(getattr(timed, f)) == len(getattr(split, f)), f
    every = np.concatenate([timed.train_message, timed.train_supervision, timed.val, timed.test])
    np.testing.assert_array_equal(np.sort(every), np.arange(graph.num_edges))
    # supervision edges are drawn at random among the training edges, not the newest of them
    assert t[timed.train_supervision].min() < np.median(t[timed.train_message])
    again = split_edges(graph, seed=42, order="time")
    np.testing.assert_array_equal(timed.train_supervision, again.train_supervision)
    with pytest.raises(ValueError, match="order must be"):
        split_edges(graph, order="temporal")


def test_split_rejects_bad_ratios(graph):
    with pytest.raises(ValueError):
        split_edges(graph, val_ratio=0.6, test_ratio=0.5)
    with pytest.raises(ValueError):
        split_edges(graph, disjoint_train_ratio=1.0)


def test_sample_negatives_excludes_pairs(tiny_graph):
    rng = np.random.default_rng(0)
    free = tiny_graph.num_users * tiny_graph.num_movies - tiny_graph.num_edges
    neg = sample_negatives(tiny_graph, free, rng)  # every free pair, each once
    assert len(codes(5, neg)) == free and not codes(5, neg) & codes(5, tiny_graph.edge_index)
    with pytest.raises(ValueError, match="cannot sample"):
        sample_negatives(tiny_graph, free + 1, rng)


# ---------------------------------------------------------------------------------------------
# The two frameworks hold the same graph
# ---------------------------------------------------------------------------------------------


def test_heterodata_and_graphstuple_hold_the_same_edges(graph, split):
    for edge_ids in (None, split.train_message):
        data, gt = to_heterodata(graph, edge_ids), to_graphstuple(graph, edge_ids)
        e = data[RATES].edge_index.shape[1]
        assert int(gt.n_edge[0]) == 2 * e and int(gt.n_node[0]) == graph.num_nodes
        s, r = np.asarray(gt.senders), np.asarray(gt.receivers)
        # same edges in the same order: forward = rates, then reverse = rev_rates
        np.testing.assert_array_equal(s[:e], data[RATES].edge_index[0].numpy())
        np.testing.assert_array_equal(r[:e] - movie_offset(graph), data[RATES].edge_index[1].numpy())
        np.testing.assert_array_equal(s[e:] - movie_offset(graph), data[REV_RATES].edge_index[0].numpy())
        np.testing.assert_array_equal(r[e:], data[REV_RATES].edge_index[1].numpy())
        np.testing.assert_allclose(np.asarray(gt.edges["rating"][:e]), data[RATES].rating.numpy())


def test_node_features_line_up(graph):
    data, gt = to_heterodata(graph), to_graphstuple(graph)
    x = np.asarray(gt.nodes["x"])
    np.testing.assert_array_equal(x[movie_offset(graph):], data["movie"].x.numpy())
    assert not x[:graph.num_users].any()
    assert np.asarray(gt.nodes["is_movie"]).sum() == graph.num_movies
    assert torch.equal(data["user"].node_id, torch.arange(610))
    assert data["movie"].x.dtype == torch.float32


def test_tiny_graph_with_isolated_nodes(tiny_graph):
    gt = to_graphstuple(tiny_graph)
    assert int(gt.n_node[0]) == 9  # isolated user 3 and movie 4 are still nodes
    data = to_heterodata(tiny_graph)
    assert data["user"].num_nodes == 4 and data["movie"].num_nodes == 5


def test_edge_split_is_frozen(split):
    assert isinstance(split, EdgeSplit)
    with pytest.raises(AttributeError):
        split.seed = 3


@pytest.mark.gpu
def test_graphs_move_to_gpu(graph):
    import jax

    data = to_heterodata(graph).to("cuda")
    assert data[RATES].edge_index.is_cuda
    gt = to_graphstuple(graph)
    assert jax.default_backend() == "gpu"
    assert list(gt.senders.devices())[0].platform == "gpu"


def test_sample_negatives_says_how_many_pairs_are_free(tiny_graph):
    import re

    from course_lib.graph import sample_negatives

    rng = np.random.default_rng(0)
    # 4 x 5 = 20 pairs, 8 rated: 12 free
    assert sample_negatives(tiny_graph, 12, rng).shape == (2, 12)
    with pytest.raises(ValueError, match=re.escape("only 12 free pairs")):
        sample_negatives(tiny_graph, 13, rng)


def test_shared_split_has_the_seed_tutorials_sizes(graph, split):
    # RandomLinkSplit(num_val=0.1, num_test=0.1, disjoint_train_ratio=0.3,
    # neg_sampling_ratio=2.0) on ToUndirected data gives 56,469 / 24,201 / 30,249 / 30,249
    import torch_geometric.transforms as T

    data = T.ToUndirected()(to_heterodata(graph))
    del data[("movie", "rev_rates", "user")].rating
    rls = T.RandomLinkSplit(num_val=0.1, num_test=0.1, disjoint_train_ratio=0.3,
                            neg_sampling_ratio=2.0, add_negative_train_samples=False,
                            edge_types=RATES, rev_edge_types=("movie", "rev_rates", "user"))
    train, val, test = rls(data)
    parts = split_heterodata(graph, split)
    for ours, theirs in [(parts["train"], train), (parts["val"], val), (parts["test"], test)]:
        for key in ("edge_index", "edge_label_index"):
            assert ours[RATES][key].shape == theirs[RATES][key].shape
    assert train[RATES].edge_index.shape[1] == 56_469
    assert train[RATES].edge_label_index.shape[1] == 24_201
    assert val[RATES].edge_label_index.shape[1] == 30_249
    assert test[RATES].edge_label_index.shape[1] == 30_249


def test_supervision_batches_are_reproducible_and_cover_the_supervision_edges(graph, split):
    from course_lib.graph import supervision_batches

    a = list(supervision_batches(graph, split, 1000, np.random.default_rng(3)))
    b = list(supervision_batches(graph, split, 1000, np.random.default_rng(3)))
    assert len(a) == len(split.train_supervision) // 1000
    for (pa, la), (pb, lb) in zip(a, b):
        np.testing.assert_array_equal(pa, pb)
        np.testing.assert_array_equal(la, lb)
        assert pa.shape == (2, 3000) and la.sum() == 1000 and (la[:1000] == 1).all()
    positives = np.concatenate([p[:, :1000] for p, _ in a], axis=1)
    codes = graph.pair_codes(positives)
    assert len(np.unique(codes)) == positives.shape[1]          # each positive once
    assert np.isin(codes, graph.pair_codes(graph.edge_index[:, split.train_supervision])).all()


def test_leak_free_split_is_the_cut_split_edges_makes():
    """split_edges shuffles with its seed and cuts with leak_free_split; no part ever passes
    messages over its own targets, and each part sees every edge known before it."""
    from course_lib.graph import leak_free_split

    rng = np.random.default_rng(0)
    for n in (0, 1, 7, 15, 100):
        perm = rng.permutation(n)
        parts = leak_free_split(perm, 0.1, 0.2, 0.3)
        message, targets = parts["train"]
        val_message, val_targets = parts["val"]
        test_message, test_targets = parts["test"]
        for msg, tgt in parts.values():
            assert not np.intersect1d(msg, tgt).size
            assert np.all(np.diff(msg) > 0) and np.all(np.diff(tgt) > 0)
        assert np.array_equal(val_message, np.union1d(message, targets))
        assert np.array_equal(test_message, np.union1d(val_message, val_targets))
        assert np.array_equal(np.union1d(test_message, test_targets), np.arange(n))
        assert len(val_targets) == int(n * 0.1) and len(test_targets) == int(n * 0.2)
        assert len(targets) == int((n - int(n * 0.1) - int(n * 0.2)) * 0.3)


def test_bpr_batches_draws_negatives_with_the_sampler_it_is_given():
    from course_lib.cf import bpr_batches, draw_negatives
    from course_lib.graph import BipartiteGraph

    graph = BipartiteGraph(num_users=3, num_movies=4,
                           edge_index=np.array([[0, 0, 1, 2, 2], [0, 1, 2, 0, 3]]),
                           rating=np.full(5, 4.0, np.float32), timestamp=np.arange(5),
                           movie_x=np.zeros((4, 1), np.float32))
    calls = []

    def always_last(users, seen, num_movies, rng):
        calls.append(len(users))
        return np.full(len(users), num_movies - 1)

    batches = list(bpr_batches(graph, np.arange(5), 2, np.random.default_rng(0), always_last))
    assert calls == [2, 2] and all((neg == 3).all() for _, _, neg in batches)
    default = list(bpr_batches(graph, np.arange(5), 2, np.random.default_rng(0)))
    again = list(bpr_batches(graph, np.arange(5), 2, np.random.default_rng(0), draw_negatives))
    assert all(np.array_equal(a, b) for x, y in zip(default, again) for a, b in zip(x, y))
