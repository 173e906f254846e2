"""The course's small graphs (``course_lib.small_graphs``): sizes, splits, reproducibility."""

from __future__ import annotations

import numpy as np

from course_lib.small_graphs import cycle_dataset, karate_club, les_miserables, split_links


def test_small_graph_figures():
    karate, labelled = karate_club()
    assert (karate.num_nodes, karate.num_edges) == (34, 78)
    assert np.bincount(karate.y).tolist() == [17, 17]
    assert karate.y[labelled].tolist() == [0, 0, 1, 1]
    lesmis = les_miserables()
    assert (lesmis.num_nodes, lesmis.num_edges) == (77, 254)
    split = split_links(lesmis, seed=0)
    held_out_positives = split.val[0].shape[1] // 2 + split.test[0].shape[1] // 2
    assert split.train_pos.shape[1] + held_out_positives == 254
    held_out = {tuple(p) for p in np.concatenate([split.val[0], split.test[0]], 1).T.tolist()}
    assert not held_out & {tuple(p) for p in split.train_graph.edge_index.T.tolist()}
    graphs = cycle_dataset()
    labels = np.array([g.y for g in graphs])
    assert len(graphs) == 1000 and 0.4 < labels.mean() < 0.6
    # the edge count alone does not decide: every graph has at most n - 1 edges
    assert all(g.num_edges <= g.num_nodes - 1 for g in graphs)
    assert [g.y for g in cycle_dataset(seed=0)[:20]] == labels[:20].tolist()  # reproducible
