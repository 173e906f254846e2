"""Chapter 3: GraphSAGE link prediction, ``course_lib/pyg/sage.py`` and ``course_lib/jax/sage.py``.

Fast tests on tiny synthetic graphs (layers, parity, training steps, ``fit`` for two epochs) and
the parity check on MovieLens from the same untrained weights. Full-size training happens in the
chapter's notebook, which asserts its results (``book/03_link_prediction_sage.ipynb``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

from course_lib.graph import BipartiteGraph, split_edges
from course_lib.jax import sage as jsage
from course_lib.jax.data import split_graphstuple, to_graphstuple, with_adjacency
from course_lib.jax.state import TrainState
from course_lib.pyg import nn as pnn
from course_lib.pyg import sage as psage
from course_lib.pyg.data import RATES, split_heterodata, to_heterodata
from course_lib.pyg.state import TrainState as PygState

# float32 parity tolerance for embeddings and scores: values are of order 1 to 10; the largest
# deviation seen is 5e-7 here (untrained) and 4e-6 with trained weights (chapter 3 notebook)
RTOL, ATOL = 1e-5, 1e-5


@pytest.fixture
def small_graph():
    """30 users, 40 movies, 300 distinct ratings, 3 features: enough for a split and batches."""
    rng = np.random.default_rng(0)
    codes = np.sort(rng.choice(30 * 40, 300, replace=False))
    return BipartiteGraph(
        num_users=30, num_movies=40, edge_index=np.stack([codes // 40, codes % 40]),
        rating=rng.integers(1, 6, 300).astype(np.float32), timestamp=np.arange(300),
        movie_x=rng.random((40, 3)).astype(np.float32), feature_names=("a", "b", "c"))


# --------------------------------------------------------------------------------------------------
# Settings and layers
# --------------------------------------------------------------------------------------------------


def test_the_two_modes_differ_in_the_neighbour_sampling_only():
    """Chapter 3 compares PyG (sampled) with JAX (full graph) as runs that differ in one thing."""
    assert psage.SETTINGS is jsage.SETTINGS
    sampled, full = psage.SETTINGS["sampled"], psage.SETTINGS["full_graph"]
    assert sampled.keys() == full.keys()
    assert {k for k in sampled if sampled[k] != full[k]} == {"num_neighbors"}
    assert full["num_neighbors"] is None


def test_unknown_settings_are_refused(tiny_graph):
    split = split_edges(tiny_graph, seed=0)
    for fit in (psage.fit, jsage.fit):
        with pytest.raises(TypeError, match="unknown settings"):
            fit(tiny_graph, split, epochs=2)


# --------------------------------------------------------------------------------------------------
# Parity: the same weights give the same embeddings and scores
# --------------------------------------------------------------------------------------------------


def _parity(graph, hidden, seed=0):
    torch.manual_seed(seed)
    model = psage.build_model(graph, hidden=hidden)
    data = to_heterodata(graph)
    zu_pyg, zm_pyg = psage.embed_all(PygState(model, None), data)
    params = jsage.params_from_pyg(pnn.numpy_weights(model))
    flax_model = jsage.build_model(graph, hidden=hidden)
    state = TrainState.create(apply_fn=flax_model.apply, params=params, tx=optax.sgd(0.0))
    gt = with_adjacency(to_graphstuple(graph))
    zu_jax, zm_jax = jsage.embed_all(state, gt)
    pairs = np.stack([np.arange(graph.num_users) % graph.num_users,
                      np.arange(graph.num_users) % graph.num_movies])
    scores_pyg = psage.eval_step(PygState(model, None), data, torch.from_numpy(pairs)).numpy()
    scores_jax = np.asarray(jsage.eval_step(state, gt, jnp.asarray(pairs)))
    return (zu_pyg, zm_pyg, scores_pyg), (zu_jax, zm_jax, scores_jax)


@pytest.mark.usefixtures("full_precision")
def test_parity_on_a_tiny_graph_with_isolated_nodes(tiny_graph):
    pyg, jx = _parity(tiny_graph, hidden=8)
    for a, b in zip(pyg, jx):
        np.testing.assert_allclose(b, a, rtol=RTOL, atol=ATOL)
    # the isolated user 3 still gets an embedding from its root weights, not zeros or NaN
    assert np.isfinite(jx[0]).all() and np.abs(jx[0][3]).sum() > 0


@pytest.mark.usefixtures("full_precision")
def test_parity_on_movielens(graph):
    pyg, jx = _parity(graph, hidden=16)
    for a, b in zip(pyg, jx):
        np.testing.assert_allclose(b, a, rtol=RTOL, atol=ATOL)
    assert np.abs(pyg[2]).max() > 1  # not a vacuous comparison of zeros


def test_params_from_pyg_covers_every_flax_parameter(tiny_graph):
    model = psage.build_model(tiny_graph, hidden=8)
    converted = jsage.params_from_pyg(pnn.numpy_weights(model))
    init = jsage.build_model(tiny_graph, hidden=8).init(
        jax.random.key(0), with_adjacency(to_graphstuple(tiny_graph)), np.zeros((2, 1), np.int32))
    assert jax.tree.map(np.shape, converted) == jax.tree.map(np.shape, init)


# --------------------------------------------------------------------------------------------------
# Batches
# --------------------------------------------------------------------------------------------------


def test_link_loader_batches(graph, split):
    loaders = psage.link_loaders(split_heterodata(graph, split))
    batch = next(iter(loaders["train"]))
    store = batch[RATES]
    # batch_size positives and neg_ratio times as many sampled negatives, labelled 1 and 0
    size = psage.SETTINGS[psage.MODE]["batch_size"]
    assert store.edge_label.shape == (3 * size,)
    assert store.edge_label.sum() == size
    # pairs use local indices of the sampled subgraph; node_id maps them back
    assert store.edge_label_index[0].max() < batch["user"].num_nodes
    assert store.edge_label_index[1].max() < batch["movie"].num_nodes
    pos = store.edge_label_index[:, store.edge_label == 1]
    users = batch["user"].node_id[pos[0]].numpy()
    movies = batch["movie"].node_id[pos[1]].numpy()
    supervision = set(graph.pair_codes(graph.edge_index[:, split.train_supervision]).tolist())
    assert set((users * graph.num_movies + movies).tolist()) <= supervision
    # sampled edges are training message-passing edges only (no supervision edge leaks in)
    global_edges = np.stack([batch["user"].node_id[store.edge_index[0]].numpy(),
                             batch["movie"].node_id[store.edge_index[1]].numpy()])
    message = set(graph.pair_codes(graph.edge_index[:, split.train_message]).tolist())
    assert set(graph.pair_codes(global_edges).tolist()) <= message
    val = next(iter(loaders["val"]))
    assert val[RATES].edge_label.shape == (3 * size,)


def test_add_negatives_appends_labelled_random_pairs():
    positives = jnp.array([[0, 1, 2], [3, 4, 5]])
    pairs, labels = jsage.add_negatives(jax.random.key(0), positives, 4, 7, 2.0)
    assert pairs.shape == (2, 9) and labels.tolist() == [1.0] * 3 + [0.0] * 6
    np.testing.assert_array_equal(pairs[:, :3], positives)
    assert (pairs[0] < 4).all() and (pairs[1] < 7).all() and (pairs >= 0).all()
    other, _ = jsage.add_negatives(jax.random.key(1), positives, 4, 7, 2.0)
    assert not np.array_equal(pairs, other)  # a new key, new negatives


# --------------------------------------------------------------------------------------------------
# Training steps and fit, on a small synthetic graph
# --------------------------------------------------------------------------------------------------


def test_pyg_train_step_lowers_the_loss_on_a_fixed_batch(small_graph):
    split = split_edges(small_graph, seed=0)
    loader = psage.link_loaders(split_heterodata(small_graph, split), batch_size=16)["train"]
    batch = next(iter(loader))
    torch.manual_seed(0)
    model = psage.build_model(small_graph, hidden=8)
    state = PygState.create(model, torch.optim.Adam(model.parameters(), lr=1e-2))
    losses = []
    for _ in range(10):
        state, value = psage.train_step(state, batch, batch[RATES].edge_label_index,
                                        batch[RATES].edge_label)
        losses.append(value)
    assert all(isinstance(v, float) for v in losses)
    assert losses[-1] < losses[0]


def test_jax_train_step_lowers_the_loss_on_a_fixed_batch(small_graph):
    split = split_edges(small_graph, seed=0)
    graph = split_graphstuple(small_graph, split)["train"]
    positives = jnp.asarray(small_graph.edge_index[:, split.train_supervision[:16]])
    pairs, labels = jsage.add_negatives(jax.random.key(0), positives, 30, 40)
    model = jsage.build_model(small_graph, hidden=8)
    state = TrainState.create(apply_fn=model.apply, params=model.init(
        jax.random.key(0), graph, pairs), tx=optax.adam(1e-2))
    losses = []
    for _ in range(10):
        state, value = jsage.train_step(state, graph, pairs, labels)
        losses.append(float(value))
    assert int(state.step) == 10
    assert losses[-1] < losses[0]
    scores = jsage.eval_step(state, graph, pairs)
    assert scores.shape == (48,)


@pytest.mark.parametrize("module", [psage, jsage], ids=["pyg", "jax"])
def test_fit_two_epochs_restores_the_best_epoch(module, small_graph):
    split = split_edges(small_graph, seed=0)
    state, history, _ = module.fit(small_graph, split, hidden=8, batch_size=8, max_epochs=2)
    assert set(history) >= {"loss", "val_auc", "seconds", "best_epoch"}
    assert len(history["loss"]) == len(history["val_auc"]) == 2
    assert np.isfinite(history["loss"]).all()
    best = history["best_epoch"]
    assert history["val_auc"][best - 1] == max(history["val_auc"])
    pairs, labels = split.labelled_pairs(small_graph, "val")
    # both validate over the whole validation graph: the restored weights give the best AUC
    val_auc = module.evaluate(state, module.link_graphs(small_graph, split)["val"], pairs,
                              labels)
    assert val_auc == pytest.approx(max(history["val_auc"]), abs=1e-6)


@pytest.mark.parametrize("module", [psage, jsage], ids=["pyg", "jax"])
def test_fit_trains_with_the_loop_it_is_given(module, small_graph, monkeypatch):
    """Chapter 3 passes the learner's epoch loop to both fits: it must be the one that runs."""
    from course_lib.training import early_stopping_loop

    monkeypatch.setenv("COURSE_CHECKPOINTS", "off")
    calls = []

    def loop(state, train_epoch, validate, max_epochs, patience, mode="max",
             snapshot=lambda s: s):
        calls.append((max_epochs, patience, mode))
        return early_stopping_loop(state, train_epoch, validate, 1, patience, mode, snapshot)

    split = split_edges(small_graph, seed=0)
    fit = module.fit(small_graph, split, hidden=8, batch_size=8, max_epochs=3, loop=loop)
    assert calls == [(3, module.SETTINGS[module.MODE]["patience"], "max")]
    assert len(fit.history["loss"]) == 1 and fit.best_epoch == 1
