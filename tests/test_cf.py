"""Chapter 6: NGCF, LightGCN and MF with BPR in PyG and JAX - adjacency, batches, loss, parity,
full-ranking evaluation and the measured ordering of the models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib.cf import (LEARNING_RATES, bpr_batches, evaluate_scores, interaction_edges, normalized_adjacency,
                           popularity_scores)
from course_lib.jax import bpr as jbpr
from course_lib.jax.data import to_normalized_adjacency as jax_adjacency
from course_lib.metrics import ndcg_at_k, top_k_indices
from course_lib.pyg import bpr as pbpr
from course_lib.pyg.data import to_normalized_adjacency as pyg_adjacency

# float32 parity tolerance: rtol 1e-5, plus an absolute tolerance of 1e-5 times the largest
# magnitude of the embeddings compared. The tests use N(0, 1) ego embeddings. A propagation sums
# up to 2,700 neighbours in a different order in each framework (CSR spmm in torch, a sorted
# segment_sum in JAX), so entries that nearly cancel keep fewer digits: on MovieLens LightGCN's
# embeddings (up to ~3) differ by 1.1e-5, NGCF's (up to ~140: its (L E * E) term grows them layer
# by layer) by 7e-5; each framework is as far from a float64 reference as from the other.
RTOL, ATOL_RELATIVE = 1e-5, 1e-5


# --------------------------------------------------------------------------------------------------
# The normalised adjacency, kept sparse
# --------------------------------------------------------------------------------------------------


def _dense_laplacian(edge_index, num_users, num_movies):
    n = num_users + num_movies
    a = np.zeros((n, n))
    for u, m in np.asarray(edge_index).T:
        a[u, num_users + m] = a[num_users + m, u] = 1
    d = a.sum(1)
    inv = np.where(d > 0, 1 / np.sqrt(np.where(d > 0, d, 1)), 0)
    return inv[:, None] * a * inv[None, :]


def test_normalized_adjacency_equals_the_dense_formula(tiny_graph):
    s, r, w = normalized_adjacency(tiny_graph.edge_index, 4, 5)
    assert len(s) == 2 * tiny_graph.num_edges and w.dtype == np.float32
    sparse = np.zeros((9, 9))
    sparse[r, s] = w
    np.testing.assert_allclose(sparse, _dense_laplacian(tiny_graph.edge_index, 4, 5), rtol=1e-6)
    # isolated user 3 and movie 4 have no edges at all
    assert not np.isin([3, 4 + 4], np.concatenate([s, r])).any()


def test_both_frameworks_hold_the_same_sparse_adjacency(graph, split):
    edges = interaction_edges(split, "train")
    csr = pyg_adjacency(graph, edges)
    assert csr.layout == torch.sparse_csr and csr.shape == (graph.num_nodes, graph.num_nodes)
    adj = jax_adjacency(graph, edges)
    assert adj.weights.shape[0] == csr.values().shape[0] == 2 * len(edges)
    x = np.random.default_rng(0).normal(size=(graph.num_nodes, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(adj.propagate(x)),
                               torch.sparse.mm(csr, torch.from_numpy(x)).numpy(),
                               rtol=1e-5, atol=1e-6)
    # the symmetric normalisation keeps the largest eigenvalue at 1: L @ sqrt(d) = sqrt(d)
    _, movie_deg = graph.degrees(edges)
    user_deg, _ = graph.degrees(edges)
    v = np.sqrt(np.concatenate([user_deg, movie_deg])).astype(np.float32)[:, None]
    np.testing.assert_allclose(np.asarray(adj.propagate(v)), v, rtol=1e-4, atol=1e-5)


def test_interaction_edges_follow_the_split(split):
    assert np.array_equal(interaction_edges(split, "train"), split.train)
    assert np.array_equal(interaction_edges(split, "val"), split.train)
    assert len(interaction_edges(split, "test")) == len(split.train) + len(split.val)
    assert not np.isin(split.test, interaction_edges(split, "test")).any()
    with pytest.raises(ValueError, match="part must be"):
        interaction_edges(split, "all")


# --------------------------------------------------------------------------------------------------
# BPR batches and loss
# --------------------------------------------------------------------------------------------------


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


def test_bpr_loss_in_both_frameworks():
    import jax.numpy as jnp

    pos, neg = np.array([2.0, 0.5, -1.0]), np.array([1.0, 1.5, -1.0])
    ego = np.arange(18, dtype=np.float32).reshape(9, 2) / 10
    expected = (-np.mean(np.log(1 / (1 + np.exp(-(pos - neg)))))
                + 0.1 * (ego ** 2).sum() / (2 * 3))
    got_jax = float(jbpr.bpr_loss(jnp.asarray(pos), jnp.asarray(neg), jnp.asarray(ego), 0.1))
    got_pyg = float(pbpr.bpr_loss(torch.tensor(pos), torch.tensor(neg), torch.tensor(ego), 0.1))
    assert got_jax == pytest.approx(expected, rel=1e-5)
    assert got_pyg == pytest.approx(expected, rel=1e-6)


# --------------------------------------------------------------------------------------------------
# Parity: the same ego embeddings (and NGCF weights) give the same final embeddings
# --------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("full_precision")
@pytest.mark.parametrize("name", ["mf", "ngcf", "lightgcn"])
@pytest.mark.parametrize("which", ["tiny", "movielens"])
def test_parity(name, which, tiny_graph, graph, split):
    g = tiny_graph if which == "tiny" else graph
    edges = np.arange(g.num_edges) if which == "tiny" else interaction_edges(split, "test")
    torch.manual_seed(0)
    model = pbpr.build_model(name, g, embedding_dim=8 if which == "tiny" else 64)
    with torch.no_grad():
        model.embedding.weight.normal_()          # order-1 values: a meaningful comparison
    z_pyg = pbpr.embed_all(model, g, pyg_adjacency(g, edges))
    params = jbpr.params_from_pyg(pbpr.numpy_weights(model))
    flax_model = jbpr.build_model(name, g, embedding_dim=8 if which == "tiny" else 64)
    state = type("S", (), {"apply_fn": flax_model.apply, "params": params})()
    z_jax = jbpr.embed_all(state, g, jax_adjacency(g, edges))
    for a, b in zip(z_pyg, z_jax):
        np.testing.assert_allclose(b, a, rtol=RTOL, atol=ATOL_RELATIVE * np.abs(a).max())
    if name != "mf":
        # propagation really happened: final embeddings differ from the ego embeddings
        ego = model.embedding.weight.detach().numpy()[:g.num_users]
        assert not np.allclose(z_pyg[0][:, :ego.shape[1]] if name == "lightgcn" else
                               z_pyg[0][:, ego.shape[1]:2 * ego.shape[1]], ego)


def test_params_from_pyg_covers_every_flax_parameter(tiny_graph):
    import jax

    from course_lib.jax.data import to_normalized_adjacency

    adj = to_normalized_adjacency(tiny_graph, np.arange(tiny_graph.num_edges))
    for name in ("mf", "ngcf", "lightgcn"):
        mapped = jbpr.params_from_pyg(pbpr.numpy_weights(pbpr.build_model(name, tiny_graph)))
        init = jbpr.build_model(name, tiny_graph).init(jax.random.key(0), adj)
        assert jax.tree.structure(mapped) == jax.tree.structure(init), name
        assert all(a.shape == b.shape for a, b in
                   zip(jax.tree.leaves(mapped), jax.tree.leaves(init)))


def test_ngcf_layer_is_the_paper_formula(tiny_graph):
    """One NGCF layer against LeakyReLU((L + I) E W1 + (L E * E) W2) with a dense L."""
    model = pbpr.build_model("ngcf", tiny_graph, embedding_dim=4, num_layers=1,
                             message_dropout=0.0)
    lap = _dense_laplacian(tiny_graph.edge_index, 4, 5)
    e = model.embedding.weight.detach().numpy().astype(np.float64)
    w1 = model.convs[0].lin1.weight.detach().numpy().T
    w2 = model.convs[0].lin2.weight.detach().numpy().T
    h = (lap + np.eye(9)) @ e @ w1 + ((lap @ e) * e) @ w2
    expected = np.concatenate([e, np.where(h > 0, h, 0.2 * h)], axis=1)
    got = np.concatenate(pbpr.embed_all(model, tiny_graph,
                                        pyg_adjacency(tiny_graph, np.arange(8))))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_lightgcn_is_the_mean_of_propagated_layers(tiny_graph):
    model = pbpr.build_model("lightgcn", tiny_graph, embedding_dim=3, num_layers=2)
    lap = _dense_laplacian(tiny_graph.edge_index, 4, 5)
    e = model.embedding.weight.detach().numpy().astype(np.float64)
    expected = (e + lap @ e + lap @ lap @ e) / 3
    got = np.concatenate(pbpr.embed_all(model, tiny_graph,
                                        pyg_adjacency(tiny_graph, np.arange(8))))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)


def test_ngcf_dropout_is_active_in_training_only(graph, split):
    import jax

    adj = jax_adjacency(graph, interaction_edges(split, "train"))
    model = jbpr.build_model("ngcf", graph, embedding_dim=8, num_layers=1,
                             message_dropout=0.5, node_dropout=0.5)
    params = model.init(jax.random.key(0), adj)
    a = model.apply(params, adj)[0]
    b = model.apply(params, adj, train=True, rngs={"dropout": jax.random.key(1)})[0]
    np.testing.assert_array_equal(np.asarray(a), np.asarray(model.apply(params, adj)[0]))
    assert float(np.mean(np.asarray(b[:, 8:]) == 0)) > 0.4    # message dropout zeroes half


# --------------------------------------------------------------------------------------------------
# Full-ranking metrics: the pieces the exercises use
# --------------------------------------------------------------------------------------------------


def test_ndcg_at_k_by_hand():
    hits = np.array([[True, False, True], [False, False, False], [False, True, False]])
    got = ndcg_at_k(hits, np.array([2, 0, 5]), 3)
    d = 1 / np.log2([2, 3, 4])
    np.testing.assert_allclose(got, [(d[0] + d[2]) / (d[0] + d[1]), 0, d[1] / d.sum()])


def test_top_k_indices_breaks_ties_by_lower_index():
    s = np.array([[1.0, 3.0, 3.0, 2.0, 3.0], [0.0, 0.0, 0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(top_k_indices(s, 2), [[1, 2], [0, 1]])
    np.testing.assert_array_equal(top_k_indices(s, 9), [[1, 2, 4, 3, 0], [0, 1, 2, 3, 4]])


def test_popularity_scores_rank_by_training_interactions(graph, split):
    edges = interaction_edges(split, "val")
    scores = popularity_scores(graph, edges)
    _, degree = graph.degrees(edges)
    assert scores.shape == (graph.num_users, graph.num_movies)
    assert np.array_equal(scores[3], degree)
    m = evaluate_scores(scores, graph, split, "test")
    assert 0.05 < m["recall@20"] < 0.2 and set(m) == {
        f"{x}@{k}" for x in ("recall", "precision", "ndcg") for k in (10, 20)}


# --------------------------------------------------------------------------------------------------
# Training: the ordering measured on the shared split (figures in the chapter)
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def results(graph, split):
    out = {"popularity": evaluate_scores(
        popularity_scores(graph, interaction_edges(split, "test")), graph, split, "test")}
    histories = {}
    for name in ("mf", "ngcf", "lightgcn"):
        state, histories[f"jax {name}"] = jbpr.fit(name, graph, split, lr=LEARNING_RATES[name])
        out[f"jax {name}"] = jbpr.evaluate(state, graph, split, "test")
    model, histories["pyg lightgcn"] = pbpr.fit("lightgcn", graph, split,
                                                lr=LEARNING_RATES["lightgcn"])
    out["pyg lightgcn"] = pbpr.evaluate(model, graph, split, "test")
    return out, histories


def test_mf_from_the_same_weights_trains_identically_in_both_frameworks(graph, split):
    torch.manual_seed(0)
    init = jbpr.params_from_pyg(pbpr.numpy_weights(pbpr.build_model("mf", graph)))
    _, pyg = pbpr.fit("mf", graph, split, lr=5e-3, max_epochs=3, patience=3, seed=0)
    _, jax_ = jbpr.fit("mf", graph, split, lr=5e-3, max_epochs=3, patience=3, seed=0,
                       params=init)
    np.testing.assert_allclose(jax_["loss"], pyg["loss"], rtol=1e-4)
    np.testing.assert_allclose(jax_["val_recall@20"], pyg["val_recall@20"], atol=2e-3)


def test_models_rank_in_the_expected_order(results):
    """Measured on the shared split (chapter 6): LightGCN > NGCF > MF-BPR > popularity on
    recall@20 and NDCG@20 in JAX; LightGCN reaches 1.8x popularity's recall@20 (the 2x goal is
    not met, see the chapter)."""
    r, _ = results
    for metric in ("recall@20", "ndcg@20"):
        assert (r["jax lightgcn"][metric] > r["jax ngcf"][metric] > r["jax mf"][metric]
                > r["popularity"][metric]), metric
    assert r["jax lightgcn"]["recall@20"] > 1.6 * r["popularity"]["recall@20"]
    assert r["jax lightgcn"]["recall@20"] > 0.2
    assert abs(r["pyg lightgcn"]["recall@20"] - r["jax lightgcn"]["recall@20"]) < 0.01


def test_training_histories(results):
    _, histories = results
    for name, h in histories.items():
        assert h["val_recall@20"][h["best_epoch"] - 1] == max(h["val_recall@20"]), name
        assert h["loss"][-1] < h["loss"][0], name
        assert len(h["loss"]) < 100, name        # stopped early, before max_epochs


def test_embedding_rows_users_then_movies(tiny_graph):
    """A pair's score is the dot product of rows u and U + j (the seed mixed the ranges up)."""
    model = pbpr.build_model("mf", tiny_graph, embedding_dim=4)
    scores = pbpr.score_all(model, tiny_graph, pyg_adjacency(tiny_graph, np.arange(8)))
    e = model.embedding.weight.detach().numpy()
    np.testing.assert_allclose(scores[2, 3], e[2] @ e[4 + 3], rtol=1e-6)
    assert scores.shape == (4, 5)


def test_ngcf_layers_are_distinct(tiny_graph):
    model = pbpr.build_model("ngcf", tiny_graph, num_layers=3)
    weights = [conv.lin1.weight for conv in model.convs]
    assert len({id(w) for w in weights}) == 3
    assert not torch.allclose(weights[0], weights[1])
