"""Chapter 4: rating prediction with GCNs in PyG and JAX - parity, baselines, training, top-N."""

from __future__ import annotations

import jax
import numpy as np
import pytest
import torch

from course_lib.jax import gcn as jgcn
from course_lib.pyg import gcn as pgcn
from course_lib.ratings import (BiasedMF, baseline_table, errors, global_mean, mae,
                                movie_mean, part_pairs, rmse, user_mean)
from course_lib.recommend import rated_movies, recommend, top_n_unseen

# float32 parity tolerance (largest deviation seen: 7e-7 on MovieLens, predictions ~3 stars)
RTOL, ATOL = 1e-5, 1e-5
ENCODERS = ("gcn", "hetero")


def _parity(graph, split, encoder, hidden):
    torch.manual_seed(0)
    model = pgcn.build_model(graph, encoder, hidden=hidden)
    pairs = graph.edge_index
    pyg = pgcn.predict(model, pgcn.rating_graphs(graph, split)["test"], pairs)
    params = jgcn.params_from_pyg(pgcn.numpy_weights(model), encoder)
    flax_model = jgcn.build_model(graph, encoder, hidden=hidden)
    gt = jgcn.rating_graphs(graph, split)["test"]
    init = flax_model.init(jax.random.key(0), gt, pairs[:, :2])
    assert jax.tree.map(np.shape, init) == jax.tree.map(np.shape, params)
    z_pyg = model.embed(pgcn.rating_graphs(graph, split)["test"])
    z_jax = flax_model.apply(params, gt, method="embed")
    return pyg, np.asarray(flax_model.apply(params, gt, pairs)), z_pyg, z_jax


@pytest.mark.usefixtures("full_precision")
@pytest.mark.parametrize("encoder", ENCODERS)
def test_parity_on_a_tiny_graph(tiny_graph, encoder):
    from course_lib.graph import split_edges

    split = split_edges(tiny_graph, val_ratio=0.25, test_ratio=0.25, seed=0)
    pyg, jx, z_pyg, z_jax = _parity(tiny_graph, split, encoder, hidden=8)
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


@pytest.mark.usefixtures("full_precision")
def test_gcn_layer_is_jraph_graph_convolution_with_an_mlp_update():
    import jraph

    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 4)).astype(np.float32)
    # both directions of every edge, as in the course's graphs; node 5 is isolated
    ei = np.array([[0, 1, 1, 2, 3, 4], [1, 0, 2, 1, 4, 3]])
    torch.manual_seed(0)
    layer = pgcn.GCNLayer(4)
    with torch.no_grad():
        out_pyg = layer(torch.tensor(x), torch.tensor(ei)).numpy()
    w = {k: v.numpy() for k, v in layer.mlp.state_dict().items()}
    mlp_params = {"params": {n: {"kernel": w[f"{n}.weight"].T, "bias": w[f"{n}.bias"]}
                             for n in ("lin1", "lin2")}}
    mlp = jgcn.MLP(4)
    conv = jraph.GraphConvolution(update_node_fn=lambda h: mlp.apply(mlp_params, h),
                                  add_self_edges=True, symmetric_normalization=True)
    gt = jraph.GraphsTuple(nodes=x, edges=None, senders=ei[0], receivers=ei[1],
                           n_node=np.array([6]), n_edge=np.array([6]), globals=None)
    np.testing.assert_allclose(np.asarray(conv(gt).nodes), out_pyg, rtol=RTOL, atol=ATOL)
    # on a directed graph the two differ: jraph scales a message by the sender's *out*-degree,
    # PyG's GCN normalisation by its in-degree (node 4 below sends to 3 but receives nothing)
    directed = np.array([[0, 1, 1, 2, 4], [1, 0, 2, 1, 3]])
    with torch.no_grad():
        out_pyg = layer(torch.tensor(x), torch.tensor(directed)).numpy()
    gt = gt._replace(senders=directed[0], receivers=directed[1], n_edge=np.array([5]))
    assert not np.allclose(np.asarray(conv(gt).nodes)[3], out_pyg[3], atol=1e-3)


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


# --------------------------------------------------------------------------------------------------
# Baselines
# --------------------------------------------------------------------------------------------------


def test_metrics():
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


@pytest.fixture(scope="module")
def baselines(graph, split):
    return baseline_table(graph, split, BiasedMF(dim=16, reg=10.0).fit(graph, split))


def test_baselines_order_on_movielens(baselines):
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


# --------------------------------------------------------------------------------------------------
# Training (one run per model and framework, the chapter's settings)
# --------------------------------------------------------------------------------------------------

SETTINGS = {"gcn": dict(hidden=32, lr=0.005, epochs=600, patience=50),
            "hetero": dict(hidden=64, lr=0.003, epochs=600, patience=50)}


@pytest.fixture(scope="module")
def trained(graph, split):
    out = {}
    for encoder, kwargs in SETTINGS.items():
        out["pyg", encoder] = pgcn.fit(graph, split, encoder=encoder, **kwargs)
        out["jax", encoder] = jgcn.fit(graph, split, encoder=encoder, **kwargs)
    return out


def _test_errors(trained, graph, split, framework, encoder):
    module = pgcn if framework == "pyg" else jgcn
    return module.evaluate(trained[framework, encoder][0], graph, split, "test")


@pytest.mark.parametrize("framework", ["pyg", "jax"])
def test_hetero_graph_conv_beats_every_baseline_but_mf(trained, baselines, graph, split,
                                                       framework):
    test = _test_errors(trained, graph, split, framework, "hetero")
    assert test["MAE"] <= 0.68
    assert test["MAE"] < 0.95 * baselines["per-user mean"]["test MAE"]
    assert test["RMSE"] < baselines["per-user mean"]["test RMSE"]


@pytest.mark.parametrize("framework", ["pyg", "jax"])
def test_gcn_beats_the_mean_baselines(trained, baselines, graph, split, framework):
    test = _test_errors(trained, graph, split, framework, "gcn")
    assert test["MAE"] < baselines["per-user mean"]["test MAE"]
    history = trained[framework, "gcn"][1]
    assert history["val_loss"][history["best_epoch"] - 1] == min(history["val_loss"])


@pytest.mark.parametrize("encoder", ENCODERS)
def test_frameworks_agree_on_test_mae(trained, graph, split, encoder):
    a = _test_errors(trained, graph, split, "pyg", encoder)["MAE"]
    b = _test_errors(trained, graph, split, "jax", encoder)["MAE"]
    assert abs(a - b) < 0.02


def test_recommendations_are_unseen_and_sorted(trained, graph, split, ml):
    model, _ = trained["pyg", "hetero"]
    state, _ = trained["jax", "hetero"]
    for user in (0, 413):
        seen = rated_movies(graph, user)
        for scores in (pgcn.predict_user(model, graph, split, user),
                       jgcn.predict_user(state, graph, split, user)):
            assert scores.shape == (graph.num_movies,)
            assert scores.min() >= 0.5 and scores.max() <= 5.0
            table = recommend(ml, scores, seen, n=10, score_name="predicted rating")
            assert len(table) == 10
            assert table["predicted rating"].is_monotonic_decreasing
            top = top_n_unseen(scores, seen, 10)
            assert not set(top.tolist()) & set(seen.tolist())
            assert list(table["title"]) == list(ml.movies["title"].iloc[top])
