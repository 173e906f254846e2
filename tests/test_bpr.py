"""``course_lib/pyg/bpr.py`` and ``course_lib/jax/bpr.py`` (chapter 6): the BPR loss, parity of
the three models from the same weights, ``train_step``, ``fit`` on a small graph, and MF trained
from the same weights on the same batches in both frameworks.

Full-size training happens in ``book/06_ngcf_lightgcn.ipynb``, which asserts the ordering of
the models and the PyG-JAX agreement (hidden cells, run under nbval)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

from course_lib.cf import bpr_batches, evaluate_scores, interaction_edges
from course_lib.graph import BipartiteGraph, split_edges
from course_lib.jax import bpr as jbpr
from course_lib.jax.data import to_normalized_adjacency as jax_adjacency
from course_lib.jax.state import TrainState
from course_lib.pyg import bpr as pbpr
from course_lib.pyg.data import to_normalized_adjacency as pyg_adjacency
from course_lib.pyg.nn import numpy_weights
from course_lib.pyg.state import TrainState as PygState


def _jax_state(flax_model, params):
    """A state to evaluate ``params`` with (no training)."""
    return TrainState.create(apply_fn=flax_model.apply, params=params, tx=optax.sgd(0.0))

# float32 parity tolerance: rtol 1e-5, plus an absolute tolerance of 1e-5 times the largest
# magnitude of the embeddings compared. The tests use N(0, 1) ego embeddings. A propagation sums
# up to 2,700 neighbours in a different order in each framework (torch's and XLA's CSR kernels),
# so entries that nearly cancel keep fewer digits: on MovieLens LightGCN's
# embeddings (up to ~3) differ by 1.1e-5, NGCF's (up to ~140: its (L E * E) term grows them layer
# by layer) by 7e-5; each framework is as far from a float64 reference as from the other.
RTOL, ATOL_RELATIVE = 1e-5, 1e-5

SMALL = {"embedding_dim": 8, "num_layers": 2, "batch_size": 32, "max_epochs": 2, "patience": 2,
         "eval_every": 1}


@pytest.fixture
def small_graph():
    """40 users, 60 movies, about 480 interactions, split like MovieLens."""
    rng = np.random.default_rng(0)
    codes = np.unique(rng.integers(0, 40, 600) * 60 + (60 * rng.random(600) ** 2).astype(int))
    edge_index = np.stack([codes // 60, codes % 60])
    e = edge_index.shape[1]
    graph = BipartiteGraph(num_users=40, num_movies=60, edge_index=edge_index,
                           rating=np.ones(e, np.float32), timestamp=np.arange(e, dtype=np.int64),
                           movie_x=np.zeros((60, 1), np.float32))
    return graph, split_edges(graph, seed=0)


def test_settings_are_the_same_in_both_frameworks():
    assert pbpr.SETTINGS is jbpr.SETTINGS
    assert set(pbpr.SETTINGS) == set(pbpr.MODELS) == set(jbpr.MODELS)
    assert all(s["model"] == name for name, s in pbpr.SETTINGS.items())


def test_bpr_loss_in_both_frameworks():
    pos, neg = np.array([2.0, 0.5, -1.0]), np.array([1.0, 1.5, -1.0])
    ego = np.arange(18, dtype=np.float32).reshape(9, 2) / 10
    expected = (-np.mean(np.log(1 / (1 + np.exp(-(pos - neg)))))
                + 0.1 * (ego ** 2).sum() / (2 * 3))
    got_jax = float(jbpr.bpr_loss(jnp.asarray(pos), jnp.asarray(neg), jnp.asarray(ego), 0.1))
    got_pyg = float(pbpr.bpr_loss(torch.tensor(pos), torch.tensor(neg), torch.tensor(ego), 0.1))
    assert got_jax == pytest.approx(expected, rel=1e-5)
    assert got_pyg == pytest.approx(expected, rel=1e-6)


def test_batch_ego_gives_the_penalty_and_gradient_of_the_stacked_rows():
    """``train_step`` passes ``batch_ego`` (each node once, scaled by sqrt(count)) to
    ``bpr_loss`` instead of the 3B stacked rows: same loss, same gradient, in both frameworks;
    repeated ids and nodes absent from the batch included."""
    rng = np.random.default_rng(0)
    table = rng.normal(size=(7, 3)).astype(np.float32)
    ids = np.array([5, 0, 5, 2, 5, 0])                  # 5 three times; 1, 3, 4 and 6 absent
    pos, neg = rng.normal(size=2).astype(np.float32), rng.normal(size=2).astype(np.float32)

    def pyg(ego_of):
        w = torch.tensor(table, requires_grad=True)
        loss = pbpr.bpr_loss(torch.tensor(pos), torch.tensor(neg), ego_of(w), 0.3)
        loss.backward()
        return float(loss), w.grad.numpy()

    def jax_(ego_of):
        def f(w):
            return jbpr.bpr_loss(jnp.asarray(pos), jnp.asarray(neg), ego_of(w), 0.3)
        loss, grad = jax.value_and_grad(f)(jnp.asarray(table))
        return float(loss), np.asarray(grad)

    stacked = pyg(lambda w: w[torch.tensor(ids)])
    for got in (pyg(lambda w: pbpr.batch_ego(w, torch.tensor(ids))),
                jax_(lambda w: w[jnp.asarray(ids)]),
                jax_(lambda w: jbpr.batch_ego(w, jnp.asarray(ids)))):
        assert got[0] == pytest.approx(stacked[0], rel=1e-6)
        np.testing.assert_allclose(got[1], stacked[1], rtol=1e-5, atol=1e-7)
    assert np.abs(stacked[1][[1, 3, 4, 6]]).max() == 0         # absent nodes: no penalty
    assert not np.allclose(stacked[1][5], 0)


# --------------------------------------------------------------------------------------------------
# Parity: the same ego embeddings (and NGCF weights) give the same final embeddings
# --------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("full_precision")
@pytest.mark.parametrize("name", ["mf", "ngcf", "lightgcn"])
@pytest.mark.parametrize("which", ["tiny", "movielens"])
def test_parity(name, which, tiny_graph, graph, split):
    g = tiny_graph if which == "tiny" else graph
    edges = np.arange(g.num_edges) if which == "tiny" else interaction_edges(split, "test")
    dim = 8 if which == "tiny" else 64
    torch.manual_seed(0)
    model = pbpr.build_model(g, model=name, embedding_dim=dim)
    with torch.no_grad():
        model.embedding.weight.normal_()          # order-1 values: a meaningful comparison
    z_pyg = pbpr.embed_all(PygState(model, None), g, pyg_adjacency(g, edges))
    params = jbpr.params_from_pyg(numpy_weights(model))
    flax_model = jbpr.build_model(g, model=name, embedding_dim=dim)
    z_jax = jbpr.embed_all(_jax_state(flax_model, params), g, jax_adjacency(g, edges))
    for a, b in zip(z_pyg, z_jax):
        np.testing.assert_allclose(b, a, rtol=RTOL, atol=ATOL_RELATIVE * np.abs(a).max())
    if name != "mf":
        # propagation really happened: final embeddings differ from the ego embeddings
        ego = model.embedding.weight.detach().numpy()[:g.num_users]
        assert not np.allclose(z_pyg[0][:, :ego.shape[1]] if name == "lightgcn" else
                               z_pyg[0][:, ego.shape[1]:2 * ego.shape[1]], ego)


def test_params_from_pyg_covers_every_flax_parameter(tiny_graph):
    adj = jax_adjacency(tiny_graph, np.arange(tiny_graph.num_edges))
    for name in ("mf", "ngcf", "lightgcn"):
        mapped = jbpr.params_from_pyg(numpy_weights(pbpr.build_model(tiny_graph, model=name)))
        init = jbpr.build_model(tiny_graph, model=name).init(jax.random.key(0), adj)
        assert jax.tree.structure(mapped) == jax.tree.structure(init), name
        assert all(a.shape == b.shape for a, b in
                   zip(jax.tree.leaves(mapped), jax.tree.leaves(init)))


def test_embedding_rows_users_then_movies(tiny_graph):
    """A pair's score is the dot product of rows u and U + j (the seed mixed the ranges up)."""
    model = pbpr.build_model(tiny_graph, model="mf", embedding_dim=4)
    scores = pbpr.score_all(PygState(model, None), tiny_graph,
                            pyg_adjacency(tiny_graph, np.arange(8)))
    e = model.embedding.weight.detach().numpy()
    np.testing.assert_allclose(scores[2, 3], e[2] @ e[4 + 3], rtol=1e-6, atol=1e-7)
    assert scores.shape == (4, 5)
    flax_model = jbpr.build_model(tiny_graph, model="mf", embedding_dim=4)
    params = jbpr.params_from_pyg(numpy_weights(model))
    jax_scores = jbpr.score_all(_jax_state(flax_model, params), tiny_graph,
                                jax_adjacency(tiny_graph, np.arange(8)))
    np.testing.assert_allclose(jax_scores, scores, rtol=1e-6)


# --------------------------------------------------------------------------------------------------
# train_step and fit on a small graph
# --------------------------------------------------------------------------------------------------


def _node_batch(graph, split, batch_size=64, seed=0):
    users, pos, neg = next(bpr_batches(graph, interaction_edges(split, "train"), batch_size,
                                       np.random.default_rng(seed)))
    return users, pos + graph.num_users, neg + graph.num_users


@pytest.mark.parametrize("name", ["mf", "ngcf", "lightgcn"])
def test_train_steps_decrease_the_loss_in_both_frameworks(name, small_graph):
    graph, split = small_graph
    edges = interaction_edges(split, "train")
    batch = _node_batch(graph, split)
    torch.manual_seed(0)
    model = pbpr.build_model(graph, model=name, embedding_dim=8, num_layers=2)
    pyg_state = PygState.create(model, torch.optim.Adam(model.parameters(), lr=1e-2))
    adj = pyg_adjacency(graph, edges)
    pyg_losses = []
    for _ in range(10):
        pyg_state, loss = pbpr.train_step(pyg_state, adj, [torch.from_numpy(b) for b in batch])
        pyg_losses.append(loss)
    assert pyg_losses[-1] < pyg_losses[0]

    flax_model = jbpr.build_model(graph, model=name, embedding_dim=8, num_layers=2)
    adj = jax_adjacency(graph, edges)
    state = TrainState.create(apply_fn=flax_model.apply,
                              params=flax_model.init(jax.random.key(0), adj), tx=optax.adam(1e-2),
                              key=jax.random.key(1))
    jax_losses = []
    for _ in range(10):
        state, loss = jbpr.train_step(state, adj, batch)
        jax_losses.append(float(loss))
    assert jax_losses[-1] < jax_losses[0]
    assert int(state.step) == 10


@pytest.mark.parametrize("name", ["mf", "ngcf", "lightgcn"])
def test_fit_restores_the_best_epoch(name, small_graph):
    graph, split = small_graph
    pyg_state, pyg, _ = pbpr.fit(graph, split, model=name, **SMALL)
    state, jax_, _ = jbpr.fit(graph, split, model=name, **SMALL)
    for history in (pyg, jax_):
        assert set(history) == {"loss", "val_recall@20", "seconds", "best_epoch", "best"}
        assert len(history["loss"]) == len(history["val_recall@20"]) == 2
        assert history["best"] == max(history["val_recall@20"])
        assert history["val_recall@20"][history["best_epoch"] - 1] == history["best"]
    val = {"ks": (20,)}
    pyg_scores = pbpr.score_all(pyg_state, graph,
                                pyg_adjacency(graph, interaction_edges(split, "val")))
    assert evaluate_scores(pyg_scores, graph, split, "val", **val)["recall@20"] == pyg["best"]
    jax_scores = jbpr.score_all(state, graph,
                                jax_adjacency(graph, interaction_edges(split, "val")))
    assert evaluate_scores(jax_scores, graph, split, "val", **val)["recall@20"] == jax_["best"]
    assert set(pbpr.evaluate(pyg_state, graph, split)) == set(jbpr.evaluate(state, graph, split))


def test_fit_rejects_unknown_settings(small_graph):
    graph, split = small_graph
    for bpr in (pbpr, jbpr):
        with pytest.raises(TypeError, match="unknown settings"):
            bpr.fit(graph, split, model="mf", epochs=2)
        with pytest.raises(ValueError, match="model must be one of"):
            bpr.fit(graph, split, model="gcn")


# --------------------------------------------------------------------------------------------------
# The same training, step by step
# --------------------------------------------------------------------------------------------------


def test_mf_from_the_same_weights_trains_identically_in_both_frameworks(graph, split):
    """MF from the same weights on the same MovieLens batches (the first 8 of an epoch): the same
    losses, and the same validation recall@20."""
    s = pbpr.SETTINGS["mf"]
    lr, num_batches = s["lr"], 8
    torch.manual_seed(0)
    model = pbpr.build_model(graph, model="mf")
    flax_model = jbpr.build_model(graph, model="mf")
    state = TrainState.create(apply_fn=flax_model.apply,
                              params=jbpr.params_from_pyg(numpy_weights(model)),
                              tx=optax.adam(lr), key=jax.random.key(0))
    pyg_state = PygState.create(model, torch.optim.Adam(model.parameters(), lr=lr))
    edges = interaction_edges(split, "train")
    pyg_adj, jax_adj = pyg_adjacency(graph, edges), jax_adjacency(graph, edges)
    batches = bpr_batches(graph, edges, 4096, np.random.default_rng(s["seed"]))
    pyg_losses, jax_losses = [], []
    for _, (users, pos, neg) in zip(range(num_batches), batches):
        batch = (users, pos + graph.num_users, neg + graph.num_users)
        pyg_state, loss = pbpr.train_step(pyg_state, pyg_adj,
                                          [torch.from_numpy(b) for b in batch])
        pyg_losses.append(loss)
        state, loss = jbpr.train_step(state, jax_adj, batch)
        jax_losses.append(float(loss))
    np.testing.assert_allclose(jax_losses, pyg_losses, rtol=1e-4)
    assert pyg_losses[-1] < pyg_losses[0]
    val_edges = interaction_edges(split, "val")
    pyg_val = evaluate_scores(pbpr.score_all(pyg_state, graph,
                                             pyg_adjacency(graph, val_edges)),
                              graph, split, "val", ks=(20,))["recall@20"]
    jax_val = evaluate_scores(jbpr.score_all(state, graph, jax_adjacency(graph, val_edges)),
                              graph, split, "val", ks=(20,))["recall@20"]
    assert jax_val == pytest.approx(pyg_val, abs=2e-3)


@pytest.mark.parametrize("name", ["mf", "lightgcn"])
def test_a_chunked_step_is_the_same_step(name, small_graph):
    """Scoring a batch in chunks (as a graph of millions needs) changes nothing: the same loss
    and the same parameters after the step, in both frameworks."""
    graph, split = small_graph
    edges = interaction_edges(split, "train")
    batch = _node_batch(graph, split, batch_size=100)
    torch.manual_seed(0)
    model = pbpr.build_model(graph, model=name, embedding_dim=8, num_layers=2)
    weights = numpy_weights(model)
    adj = pyg_adjacency(graph, edges)
    states = []
    for step in (pbpr.train_step, lambda *a: pbpr.chunked_train_step(*a[:3], 32)):
        m = pbpr.build_model(graph, model=name, embedding_dim=8, num_layers=2)
        m.load_state_dict({k: torch.as_tensor(v) for k, v in weights.items()})
        state, loss = step(PygState.create(m, torch.optim.Adam(m.parameters(), lr=1e-2)), adj,
                           [torch.from_numpy(b) for b in batch])
        states.append((numpy_weights(state.model), loss))
    (w1, l1), (w2, l2) = states
    assert l2 == pytest.approx(l1, rel=1e-5)
    for k in w1:
        np.testing.assert_allclose(w2[k], w1[k], rtol=1e-5, atol=1e-6)

    flax_model = jbpr.build_model(graph, model=name, embedding_dim=8, num_layers=2)
    adj = jax_adjacency(graph, edges)
    state = TrainState.create(apply_fn=flax_model.apply, params=jbpr.params_from_pyg(weights),
                              tx=optax.adam(1e-2), key=jax.random.key(0))
    whole, l1 = jbpr.train_step(state, adj, batch)
    chunked, l2 = jbpr.chunked_train_step(state, adj, batch, 32)
    assert float(l2) == pytest.approx(float(l1), rel=1e-5)
    for a, b in zip(jax.tree.leaves(whole.params), jax.tree.leaves(chunked.params)):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(jax.tree.leaves(chunked.params)[0]),
                               w2["embedding.weight"], rtol=1e-4, atol=1e-5)
