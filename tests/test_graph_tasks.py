"""The three tasks, trained for real in both frameworks, beat their thresholds and baselines."""

from __future__ import annotations

import numpy as np
import pytest

import course_lib.jax.graph_tasks as jax_tasks
import course_lib.pyg.graph_tasks as pyg_tasks
from course_lib.metrics import accuracy, majority_baseline, roc_auc
from course_lib.small_graphs import (cycle_dataset, karate_club, les_miserables, split_graphs,
                                     split_links)

FRAMEWORKS = {"pyg": pyg_tasks, "jax": jax_tasks}


def test_small_graph_figures():
    karate, labelled = karate_club()
    assert (karate.num_nodes, karate.num_edges) == (34, 78)
    assert np.bincount(karate.y).tolist() == [17, 17]
    assert karate.y[labelled].tolist() == [0, 0, 1, 1]
    lesmis = les_miserables()
    assert (lesmis.num_nodes, lesmis.num_edges) == (77, 254)
    split = split_links(lesmis, seed=0)
    assert split.train_pos.shape[1] + split.val[0].shape[1] // 2 + split.test[0].shape[1] // 2 == 254
    held_out = {tuple(p) for p in np.concatenate([split.val[0], split.test[0]], 1).T.tolist()}
    assert not held_out & {tuple(p) for p in split.train_graph.edge_index.T.tolist()}
    graphs = cycle_dataset()
    labels = np.array([g.y for g in graphs])
    assert len(graphs) == 1000 and 0.4 < labels.mean() < 0.6
    # the edge count alone does not decide: every graph has at most n - 1 edges
    assert all(g.num_edges <= g.num_nodes - 1 for g in graphs)
    assert [g.y for g in cycle_dataset(seed=0)[:20]] == labels[:20].tolist()  # reproducible


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_karate_node_classification(framework):
    tasks = FRAMEWORKS[framework]
    graph, labelled = karate_club()
    test = np.setdiff1d(np.arange(graph.num_nodes), labelled)
    model, history = tasks.train_node_classifier(graph, labelled)
    acc = accuracy(tasks.predict_nodes(model, graph)[test], graph.y[test])
    baseline = majority_baseline(graph.y[labelled], graph.y[test])
    no_graph, _ = tasks.train_node_classifier(graph, labelled, use_graph=False)
    no_graph_acc = accuracy(tasks.predict_nodes(no_graph, graph, use_graph=False)[test],
                            graph.y[test])
    assert acc >= 0.9 > baseline + 0.3
    assert no_graph_acc <= 0.6  # one-hot ids without edges cannot generalise
    assert history["loss"][-1] < history["loss"][0] / 5


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_les_miserables_link_prediction(framework):
    tasks = FRAMEWORKS[framework]
    split = split_links(les_miserables(), seed=0)
    model, history = tasks.train_link_predictor(split)
    auc = tasks.evaluate_links(model, split, "test")
    # trivial baseline: random scores (AUC 0.5); a structural one: degree product
    degree = np.bincount(split.train_graph.edge_index[0], minlength=77)
    pairs, labels = split.test
    assert auc >= 0.85
    assert auc > roc_auc(degree[pairs[0]] * degree[pairs[1]], labels)
    assert max(history["val_auc"]) >= 0.85


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_cycle_graph_classification(framework):
    tasks = FRAMEWORKS[framework]
    train, test = split_graphs(cycle_dataset(), seed=0)
    model, history = tasks.train_graph_classifier(train, test)
    acc = tasks.evaluate_graphs(model, test)
    baseline = majority_baseline([g.y for g in train], [g.y for g in test])
    assert acc >= 0.95 and acc > baseline + 0.3
    assert history["test_accuracy"][-1] == pytest.approx(acc)


def test_early_stopping_keeps_the_best_checkpoint_and_stops_after_patience():
    from course_lib.utils import EarlyStopping

    stopper = EarlyStopping(patience=2, mode="max")
    stops = [stopper.update(e, v, lambda v=v: f"weights@{v}")
             for e, v in enumerate([0.5, 0.7, 0.6, 0.7, 0.65], start=1)]
    assert stops == [False, False, False, True, True]  # a tie is not an improvement
    assert (stopper.best, stopper.best_epoch, stopper.best_checkpoint) == (0.7, 2, "weights@0.7")
    low = EarlyStopping(patience=1, mode="min")
    assert not low.update(1, 0.9, lambda: 1) and not low.update(2, 0.8, lambda: 2)
    assert low.update(3, 0.85, lambda: 3) and low.best_checkpoint == 2
    with pytest.raises(FloatingPointError, match="NaN at epoch 4"):
        low.update(4, float("nan"), lambda: 4)
    with pytest.raises(ValueError, match="'max' or 'min'"):
        EarlyStopping(3, mode="best")
