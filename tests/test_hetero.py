"""``course_lib/pyg/hetero.py`` and ``course_lib/jax/hetero.py`` (chapter 5): HeteroSAGE and
HeteroGraphConv on the knowledge graph - parity from the same weights, the heterogeneous layer,
the steps and ``fit`` on a tiny knowledge graph.

The thresholds on trained models (test AUC, recall@20, cold-start AUC, PyG against JAX, the
plain graph against the knowledge graph) are asserted in ``book/05_hetero_kg.ipynb``, where
the models are trained.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

from course_lib.graph import split_edges, supervision_batches
from course_lib.jax import hetero as jhetero
from course_lib.jax.state import TrainState
from course_lib.kg import (
    HAS_ACTOR,
    HAS_DIRECTOR,
    HAS_GENRE,
    KnowledgeGraph,
    movielens_knowledge_graph,
)
from course_lib.pyg import hetero as phetero
from course_lib.pyg.nn import numpy_weights
from course_lib.pyg.state import TrainState as PygState


def _jax_state(flax_model, params):
    return TrainState.create(apply_fn=flax_model.apply, params=params, tx=optax.sgd(0.0))

# float32 parity tolerance for embeddings of order 1-5: the largest deviation seen is 1e-6
RTOL, ATOL = 1e-5, 1e-5
ARCHITECTURES = ("sage", "graphconv")


@pytest.fixture(scope="module")
def kg(ml):
    return movielens_knowledge_graph(ml)


@pytest.fixture
def tiny_kg(tiny_graph):
    """The tiny rating graph plus 2 genres, 2 directors (one of them unused) and 3 actors."""
    return KnowledgeGraph(
        num_nodes={"user": 4, "movie": 5, "genre": 2, "director": 2, "actor": 3},
        names={"genre": np.array(["a", "b"])},
        movie_x=np.eye(5, 3, dtype=np.float32),
        feature_names=("a", "b", "c"),
        side_edges={HAS_GENRE: np.array([[0, 1, 2, 3, 4], [0, 1, 0, 1, 1]]),
                    HAS_DIRECTOR: np.array([[0, 2, 4], [0, 0, 0]]),
                    HAS_ACTOR: np.array([[0, 1, 1, 3], [0, 0, 2, 2]])},
    )


@pytest.fixture
def tiny_split(tiny_graph):
    return split_edges(tiny_graph, val_ratio=0.25, test_ratio=0.25, neg_ratio=1.0, seed=0)


def _embeddings(kg, graph, split, architecture, seed=0):
    torch.manual_seed(seed)
    model = phetero.build_model(kg, model=architecture)
    data = phetero.kg_graphs(kg, graph, split)["test"]
    zu_pyg, zm_pyg = phetero.embed_all(PygState(model, None), data)
    params = jhetero.params_from_pyg(numpy_weights(model))
    state = _jax_state(jhetero.build_model(kg, model=architecture), params)
    zu_jax, zm_jax = jhetero.embed_all(state, jhetero.kg_graphs(kg, graph, split)["test"])
    return (zu_pyg, zm_pyg), (zu_jax, zm_jax)


@pytest.mark.usefixtures("full_precision")
@pytest.mark.parametrize("architecture,side", list(itertools.product(
    ["sage", "graphconv"], [True, False])))
def test_parity_on_a_tiny_knowledge_graph(tiny_kg, tiny_graph, tiny_split, architecture, side):
    kg = tiny_kg if side else tiny_kg.without_side_information()
    split = tiny_split
    pyg, jx = _embeddings(kg, tiny_graph, split, architecture)
    for a, b in zip(pyg, jx):
        np.testing.assert_allclose(b, a, rtol=RTOL, atol=ATOL)
        assert np.isfinite(b).all()


@pytest.mark.usefixtures("full_precision")
@pytest.mark.parametrize("architecture", ["sage", "graphconv"])
def test_parity_on_the_movielens_knowledge_graph(kg, graph, split, architecture):
    pyg, jx = _embeddings(kg, graph, split, architecture)
    for a, b in zip(pyg, jx):
        np.testing.assert_allclose(b, a, rtol=RTOL, atol=ATOL)
    assert np.abs(pyg[1]).max() > 0.5               # not a comparison of zeros


@pytest.mark.parametrize("architecture", ["sage", "graphconv"])
def test_params_from_pyg_covers_every_flax_parameter(tiny_kg, tiny_graph, tiny_split,
                                                     architecture):
    split = tiny_split
    model = phetero.build_model(tiny_kg, model=architecture)
    mapped = jhetero.params_from_pyg(numpy_weights(model))
    graph = jhetero.kg_graphs(tiny_kg, tiny_graph, split)["train"]
    init = jhetero.build_model(tiny_kg, model=architecture).init(jax.random.key(0), graph,
                                                           np.zeros((2, 1), np.int32))
    assert jax.tree.structure(mapped) == jax.tree.structure(init)
    for a, b in zip(jax.tree.leaves(mapped), jax.tree.leaves(init)):
        assert a.shape == b.shape
    n_torch = sum(p.numel() for p in model.parameters())
    assert n_torch == sum(x.size for x in jax.tree.leaves(init))


def test_mean_by_relation_is_what_sage_aggregates():
    from torch_geometric.utils import scatter

    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 4, generator=g)
    ei = torch.tensor([[0, 5, 3, 3, 1], [2, 2, 0, 4, 2]])
    expected = scatter(x[ei[0]], ei[1], dim=0, dim_size=7, reduce="mean")
    torch.testing.assert_close(phetero.mean_by_relation(x, ei, 7), expected)


def test_unknown_architecture_is_a_clear_error(tiny_kg):
    for module in (phetero, jhetero):
        with pytest.raises(ValueError, match="model must be one of"):
            module.build_model(tiny_kg, model="gat")


@pytest.mark.usefixtures("full_precision")
def test_relation_mean_is_heteroconv_mean(tiny_kg, tiny_graph, tiny_split):
    torch.manual_seed(0)
    model = phetero.build_model(tiny_kg, model="sage", relation_aggr="mean")
    zu, zm = phetero.embed_all(PygState(model, None),
                               phetero.kg_graphs(tiny_kg, tiny_graph, tiny_split)["test"])
    flax_model = jhetero.build_model(tiny_kg, model="sage", relation_aggr="mean")
    ju, jm = jhetero.embed_all(_jax_state(flax_model,
                                          jhetero.params_from_pyg(numpy_weights(model))),
                               jhetero.kg_graphs(tiny_kg, tiny_graph, tiny_split)["test"])
    np.testing.assert_allclose(jm, zm, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(ju, zu, rtol=RTOL, atol=ATOL)


def test_settings_are_the_same_in_both_twins():
    assert phetero.SETTINGS is jhetero.SETTINGS


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_train_steps_decrease_the_loss_in_both_frameworks(tiny_kg, tiny_graph, tiny_split,
                                                          architecture):
    batches = list(supervision_batches(tiny_graph, tiny_split, 1, np.random.default_rng(0)))
    pairs, labels = batches[0]
    torch.manual_seed(0)
    model = phetero.build_model(tiny_kg, model=architecture, hidden=8, out_channels=4)
    pyg_state = PygState.create(model, torch.optim.Adam(model.parameters(), lr=0.05))
    data = phetero.kg_graphs(tiny_kg, tiny_graph, tiny_split)["train"]
    pyg = []
    for _ in range(10):
        pyg_state, value = phetero.train_step(pyg_state, data, torch.from_numpy(pairs),
                                              torch.from_numpy(labels))
        pyg.append(value)

    flax_model = jhetero.build_model(tiny_kg, model=architecture, hidden=8, out_channels=4)
    graph = jhetero.kg_graphs(tiny_kg, tiny_graph, tiny_split)["train"]
    params = flax_model.init(jax.random.key(0), graph, pairs)
    state = TrainState.create(apply_fn=flax_model.apply, params=params, tx=optax.adam(0.05))
    jx = []
    for _ in range(10):
        state, value = jhetero.train_step(state, graph, pairs, labels)
        jx.append(float(value))
    for losses in (pyg, jx):
        assert losses[-1] < losses[0]
    logits = jhetero.eval_step(state, graph, jnp.asarray(pairs))
    z_user, z_movie = jhetero.embed_all(state, graph)
    np.testing.assert_allclose(logits, (z_user[pairs[0]] * z_movie[pairs[1]]).sum(1),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("module", [phetero, jhetero], ids=["pyg", "jax"])
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_fit_keeps_the_best_epoch(tiny_kg, tiny_graph, tiny_split, module, architecture):
    model, history, _ = module.fit(tiny_graph, tiny_split, kg=tiny_kg, model=architecture,
                                   hidden=8, out_channels=4, batch_size=1, max_epochs=3,
                                   patience=None)
    assert set(history) >= {"loss", "val_auc", "seconds", "best_epoch"}
    assert len(history["loss"]) == 3
    best = history["best_epoch"]
    assert history["val_auc"][best - 1] == max(history["val_auc"])
    # the restored weights are the best epoch's: validation AUC as recorded there
    val_pairs, val_labels = tiny_split.labelled_pairs(tiny_graph, "val")
    auc = module.evaluate(model, module.kg_graphs(tiny_kg, tiny_graph, tiny_split)["val"],
                          val_pairs, val_labels)
    assert auc == pytest.approx(history["val_auc"][best - 1])
