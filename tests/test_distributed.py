"""``course_lib/distributed.py``: which interactions each process trains on, and the
adjacency split by rows (chapter 8)."""

from __future__ import annotations

import numpy as np
import pytest

from course_lib.distributed import (epoch_batches, from_rows, load_graph, row_of,
                                    row_partition, rows_per_shard, shard_epoch, to_rows)


@pytest.mark.parametrize("num,batch,world", [(100, 8, 2), (97, 12, 4), (64, 16, 1), (7, 8, 2)])
def test_parts_of_a_step_are_one_global_batch(num, batch, world):
    whole = shard_epoch(num, batch, 1, 0, np.random.default_rng(3))
    parts = [shard_epoch(num, batch, world, r, np.random.default_rng(3)) for r in range(world)]
    assert len(whole) == num // batch
    for step, ids in enumerate(whole):
        joined = np.concatenate([p[step] for p in parts])
        np.testing.assert_array_equal(joined, ids)            # consecutive parts, in order
        assert all(len(p[step]) == batch // world for p in parts)
    seen = np.concatenate(whole) if whole else np.array([], int)
    assert len(np.unique(seen)) == len(seen)                 # each interaction at most once
    assert not np.array_equal(seen, np.arange(len(seen))) or len(seen) < 2   # shuffled


def test_shard_epoch_refuses_parts_of_different_sizes():
    with pytest.raises(ValueError, match="multiple of world_size"):
        shard_epoch(10, 5, 2, 0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="rank 2"):
        shard_epoch(10, 4, 2, 2, np.random.default_rng(0))


def test_epoch_batches_give_every_process_count_the_same_triples(graph, split):
    from course_lib.cf import interaction_edges

    edges = interaction_edges(split, "train")
    one = list(epoch_batches(graph, edges, 512, 1, 0, seed=5, epoch=2))
    two = [list(epoch_batches(graph, edges, 512, 2, r, seed=5, epoch=2)) for r in range(2)]
    assert len(one) == len(two[0]) == len(two[1]) == len(edges) // 512
    for step, triple in enumerate(one):
        for k in range(3):
            np.testing.assert_array_equal(np.concatenate([two[0][step][k], two[1][step][k]]),
                                          triple[k])
    # negatives are unseen movies; another epoch is another shuffle
    users, _, negatives = one[0]
    seen = set(graph.pair_codes(graph.edge_index[:, edges]).tolist())
    assert not any(u * graph.num_movies + m in seen for u, m in zip(users, negatives))
    other = next(epoch_batches(graph, edges, 512, 1, 0, seed=5, epoch=3))
    assert not np.array_equal(other[0], one[0][0])


@pytest.mark.parametrize("num_nodes,shards", [(10, 3), (7, 1), (9, 4), (5, 8)])
def test_row_partition_holds_every_edge_once_in_its_block(num_nodes, shards):
    rng = np.random.default_rng(num_nodes)
    e = 40
    s, r = rng.integers(0, num_nodes, e), rng.integers(0, num_nodes, e)
    w = rng.normal(size=e).astype(np.float32)
    bs, br, bw = row_partition(s, r, w, num_nodes, shards)
    rows = rows_per_shard(num_nodes, shards)
    assert rows * shards >= num_nodes > (rows - 1) * shards
    assert bs.shape == br.shape == bw.shape and bs.shape[0] == shards
    dense = np.zeros((num_nodes, num_nodes), np.float32)
    np.add.at(dense, (r, s), w)
    rebuilt = np.zeros((rows * shards, rows * shards), np.float32)     # in table rows
    for d in range(shards):
        assert br[d].min() >= 0 and br[d].max() < rows
        np.add.at(rebuilt, (br[d] + d * rows, bs[d]), bw[d])   # padding adds weight 0
    # back in node order, the same matrix
    order = row_of(np.arange(num_nodes), num_nodes, shards)
    np.testing.assert_allclose(rebuilt[np.ix_(order, order)], dense, atol=1e-6)
    x = rng.normal(size=(num_nodes, 3))
    np.testing.assert_array_equal(from_rows(to_rows(x, shards), num_nodes, shards), x)
    assert len(np.unique(order)) == num_nodes and order.max() < rows * shards


def test_load_graph_names_its_choices(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="'small', 'synthetic', 'ml-25m', 'ml-32m'"):
        load_graph("ml-20m")
    # a full release from COURSE_DATA_DIR: every interaction
    folder = tmp_path / "ml-25m"
    folder.mkdir()
    (folder / "movies.csv").write_text("movieId,title,genres\n1,A (1995),Comedy\n"
                                       "7,B (1996),Drama\n")
    (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n"
                                        "4,7,3.5,1\n2,1,4.0,2\n4,1,5.0,3\n")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    graph, edges = load_graph("ml-25m")
    assert (graph.num_users, graph.num_movies) == (2, 2)
    np.testing.assert_array_equal(edges, [0, 1, 2])
    np.testing.assert_array_equal(graph.edge_index, [[1, 0, 1], [1, 0, 0]])
    graph, edges = load_graph("synthetic", fraction=0.01)
    assert len(edges) == graph.num_edges == 250_001
