"""``course_lib/pyg/gcn.py`` and ``course_lib/jax/gcn.py`` (chapter 4): rating prediction with
GCNs - parity from the same weights, the layers, the steps and ``fit`` on a tiny graph.

The thresholds on trained models (test MAE against the baselines, PyG against JAX, the
recommendations) are asserted in ``book/04_gcn_ratings.ipynb``, where the models are trained.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

from course_lib.graph import split_edges
from course_lib.jax import gcn as jgcn
from course_lib.jax.state import TrainState
from course_lib.pyg import gcn as pgcn
from course_lib.pyg import nn as pnn
from course_lib.pyg.state import TrainState as PygState

# float32 parity tolerance (largest deviation seen: 7e-7 on MovieLens, predictions ~3 stars)
RTOL, ATOL = 1e-5, 1e-5
ENCODERS = ("gcn", "hetero")


@pytest.fixture
def tiny_split(tiny_graph):
    return split_edges(tiny_graph, val_ratio=0.25, test_ratio=0.25, seed=0)


def _parity(graph, split, encoder, hidden):
    torch.manual_seed(0)
    model = pgcn.build_model(graph, model=encoder, hidden=hidden)
    pairs = graph.edge_index
    pyg = pgcn.predict(PygState(model, None), pgcn.rating_graphs(graph, split)["test"], pairs)
    params = jgcn.params_from_pyg(pnn.numpy_weights(model))
    flax_model = jgcn.build_model(graph, model=encoder, hidden=hidden)
    gt = jgcn.rating_graphs(graph, split)["test"]
    init = flax_model.init(jax.random.key(0), gt, pairs[:, :2])
    assert jax.tree.map(np.shape, init) == jax.tree.map(np.shape, params)
    z_pyg = model.embed(pgcn.rating_graphs(graph, split)["test"])
    z_jax = flax_model.apply(params, gt, method="embed")
    return pyg, np.asarray(flax_model.apply(params, gt, pairs)), z_pyg, z_jax


@pytest.mark.usefixtures("full_precision")
@pytest.mark.parametrize("encoder", ENCODERS)
def test_parity_on_a_tiny_graph(tiny_graph, tiny_split, encoder):
    pyg, jx, z_pyg, z_jax = _parity(tiny_graph, tiny_split, encoder, hidden=8)
    np.testing.assert_allclose(jx, pyg, rtol=RTOL, atol=ATOL)
    for kind in ("user", "movie"):
        np.testing.assert_allclose(np.asarray(z_jax[kind]), z_pyg[kind].detach().numpy(),
                                   rtol=RTOL, atol=ATOL)


@pytest.mark.usefixtures("full_precision")
@pytest.mark.parametrize("encoder", ENCODERS)
def test_parity_on_movielens(graph, split, encoder):
    pyg, jx, _, _ = _parity(graph, split, encoder, hidden=32)
    np.testing.assert_allclose(jx, pyg, rtol=RTOL, atol=ATOL)
    assert pyg.std() > 1e-3  # predictions differ between edges: not a vacuous comparison


def test_scale_rating_and_masked_loss_agree_across_frameworks():
    logits = np.linspace(-40, 40, 9).astype(np.float32)
    a = pgcn.scale_rating(torch.tensor(logits)).numpy()
    b = np.asarray(jgcn.scale_rating(logits))
    np.testing.assert_allclose(a, b, rtol=1e-6)
    assert a.min() >= 0.5 and a.max() <= 5.0 and a[4] == pytest.approx(2.75)
    pred, target = np.array([1.0, 2.0, 4.0]), np.array([2.0, 2.0, 1.0])
    mask = np.array([True, True, False])
    assert float(jgcn.masked_l1_loss(pred, target, mask)) == pytest.approx(0.5)
    assert float(pgcn.masked_l1_loss(torch.tensor(pred), torch.tensor(target),
                                     torch.tensor(mask))) == pytest.approx(0.5)
    assert float(jgcn.masked_l1_loss(pred, target, np.zeros(3, bool))) == 0.0


def test_rating_graphs_never_pass_messages_over_the_edges_they_predict(graph, split):
    for module in (pgcn, jgcn):
        graphs = module.rating_graphs(graph, split)
        for part, ids in (("val", split.val), ("test", split.test)):
            g = graphs[part]
            if module is pgcn:
                ei = g["user", "rates", "movie"].edge_index.numpy()
            else:
                e = g.senders.shape[0] // 2
                ei = np.stack([np.asarray(g.senders[:e]),
                               np.asarray(g.receivers[:e]) - graph.num_users])
            used = set(graph.pair_codes(ei).tolist())
            assert not used & set(graph.pair_codes(graph.edge_index[:, ids]).tolist())
        masks = module.part_masks(graph, split)
        total = sum(np.asarray(m).sum() for m in masks.values())
        assert total == graph.num_edges  # the three parts cover every rating exactly once


def test_settings_are_the_same_in_both_twins():
    assert pgcn.SETTINGS is jgcn.SETTINGS
    assert set(pgcn.SETTINGS) == set(ENCODERS)
    assert all(s["model"] == name for name, s in pgcn.SETTINGS.items())


def test_unknown_encoder_is_a_clear_error(tiny_graph, tiny_split):
    for module in (pgcn, jgcn):
        with pytest.raises(ValueError, match="model must be one of"):
            module.build_model(tiny_graph, model="gat")
        with pytest.raises(TypeError, match="unknown settings"):
            module.fit(tiny_graph, tiny_split, max_epoch=3)


@pytest.mark.parametrize("encoder", ENCODERS)
def test_train_steps_decrease_the_loss_in_both_frameworks(tiny_graph, tiny_split, encoder):
    pairs, target = tiny_graph.edge_index, tiny_graph.rating
    mask = pgcn.part_masks(tiny_graph, tiny_split)["train"]
    torch.manual_seed(0)
    model = pgcn.build_model(tiny_graph, model=encoder, hidden=8)
    pyg_state = PygState.create(model, torch.optim.Adam(model.parameters(), lr=0.05))
    data = pgcn.rating_graphs(tiny_graph, tiny_split)["train"]
    args = torch.tensor(pairs), torch.tensor(target), torch.tensor(mask)
    pyg = []
    for _ in range(10):
        pyg_state, value = pgcn.train_step(pyg_state, data, *args)
        pyg.append(value)
    assert pyg_state.step == 10

    flax_model = jgcn.build_model(tiny_graph, model=encoder, hidden=8)
    gt = jgcn.rating_graphs(tiny_graph, tiny_split)["train"]
    params = flax_model.init(jax.random.key(0), gt, pairs[:, :2])
    state = TrainState.create(apply_fn=flax_model.apply, params=params, tx=optax.adam(0.05))
    jx = []
    for _ in range(10):
        state, value = jgcn.train_step(state, gt, jnp.asarray(pairs), jnp.asarray(target),
                                       jnp.asarray(mask))
        jx.append(float(value))
    for losses in (pyg, jx):
        assert losses[-1] < losses[0]
    pred = jgcn.eval_step(state, gt, jnp.asarray(pairs))
    assert pred.shape == (tiny_graph.num_edges,) and 0.5 <= float(pred.min()) <= 5.0


@pytest.mark.parametrize("module", [pgcn, jgcn], ids=["pyg", "jax"])
@pytest.mark.parametrize("encoder", ENCODERS)
def test_fit_keeps_the_best_epoch(tiny_graph, tiny_split, module, encoder):
    model, history, best_epoch = module.fit(tiny_graph, tiny_split, model=encoder, hidden=8,
                                            max_epochs=3, patience=None, eval_every=1)
    assert best_epoch == history["best_epoch"]
    assert set(history) >= {"loss", "val_mae", "seconds", "best_epoch"}
    assert len(history["val_mae"]) == 3
    best = history["best_epoch"]
    assert history["val_mae"][best - 1] == min(history["val_mae"])
    # the restored weights are the best epoch's: validation MAE as recorded there
    val = module.evaluate(model, tiny_graph, tiny_split, "val")["MAE"]
    assert val == pytest.approx(history["val_mae"][best - 1], rel=1e-5)
    scores = module.predict_user(model, tiny_graph, tiny_split, 0)
    assert scores.shape == (tiny_graph.num_movies,)
