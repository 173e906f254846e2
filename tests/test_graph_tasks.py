"""The three graph tasks in both frameworks (``course_lib/{pyg,jax}/graph_tasks.py``), on tiny
graphs: the models agree from the same weights, the steps learn, the trainers keep their promises.

The full-size runs (karate club, *Les Misérables*, 1,000 cycle graphs) and their accuracy
thresholds live in ``book/01_graph_tasks.ipynb``, asserted in hidden cells that nbval runs.
Parity tolerance: float32 in both frameworks, ``atol=rtol=1e-5``.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest
import torch
from torch_geometric.data import Batch

import course_lib.jax.graph_tasks as jax_tasks
import course_lib.pyg.graph_tasks as pyg_tasks
from course_lib.jax.state import TrainState
from course_lib.metrics import accuracy
from course_lib.pyg.nn import numpy_weights
from course_lib.pyg.state import TrainState as PygState
from course_lib.small_graphs import (
    Graph,
    cycle_dataset,
    karate_club,
    split_graphs,
    split_links,
)

FRAMEWORKS = {"pyg": pyg_tasks, "jax": jax_tasks}
ATOL = RTOL = 1e-5


def two_cliques() -> tuple[Graph, np.ndarray]:
    """Two 4-cliques joined by the edge 3-4, one-hot features, a label per clique; one labelled
    node in each."""
    edges = [(a, b) for block in (range(4), range(4, 8)) for a in block for b in block if a < b]
    edges.append((3, 4))
    und = np.array(edges).T
    return Graph(num_nodes=8, edge_index=np.concatenate([und, und[::-1]], axis=1),
                 x=np.eye(8, dtype=np.float32), y=np.repeat([0, 1], 4)), np.array([0, 7])


def tiny_graph_set() -> tuple[list[Graph], list[Graph]]:
    return split_graphs(cycle_dataset(num_graphs=24, min_nodes=4, max_nodes=7, seed=0),
                        test_ratio=0.25, seed=0)


# --------------------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------------------


def test_both_frameworks_train_with_the_same_settings():
    assert pyg_tasks.SETTINGS == jax_tasks.SETTINGS
    assert set(pyg_tasks.SETTINGS) == {"node", "link", "graph"}


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_an_unknown_setting_is_an_error(framework):
    graph, labelled = two_cliques()
    with pytest.raises(TypeError, match="unknown settings \\['epochs'\\]"):
        FRAMEWORKS[framework].train_node_classifier(graph, labelled, epochs=3)


# --------------------------------------------------------------------------------------------------
# Parity: the same weights give the same outputs
# --------------------------------------------------------------------------------------------------


def _jax_apply(module, pyg_model, *inputs):
    return np.asarray(module.apply(jax_tasks.params_from_pyg(numpy_weights(pyg_model)), *inputs))


@pytest.mark.usefixtures("full_precision")
def test_node_models_agree_from_the_same_weights():
    graph, _ = two_cliques()
    torch.manual_seed(0)
    pyg_model = pyg_tasks.GCN(8, 4, 2)
    data = pyg_tasks.to_data(graph)
    expected = pyg_tasks.node_eval_step(PygState(pyg_model, None), data).numpy()
    out = _jax_apply(jax_tasks.GCN(4, 2), pyg_model, jax_tasks.to_graphstuple(graph))
    np.testing.assert_allclose(out, expected, atol=ATOL, rtol=RTOL)


@pytest.mark.usefixtures("full_precision")
def test_link_models_agree_from_the_same_weights():
    split = split_links(karate_club()[0], seed=0)
    torch.manual_seed(0)
    pyg_model = pyg_tasks.LinkPredictor(34, 8, 4)
    pairs = split.val[0]
    expected = pyg_tasks.link_eval_step(PygState(pyg_model, None),
                                        pyg_tasks.to_data(split.train_graph),
                                        torch.as_tensor(pairs)).numpy()
    out = _jax_apply(jax_tasks.LinkPredictor(8, 4), pyg_model,
                     jax_tasks.to_graphstuple(split.train_graph), pairs)
    np.testing.assert_allclose(out, expected, atol=ATOL, rtol=RTOL)


@pytest.mark.usefixtures("full_precision")
def test_graph_models_agree_from_the_same_weights_padding_included():
    graphs = tiny_graph_set()[0][:5]
    torch.manual_seed(0)
    pyg_model = pyg_tasks.GraphClassifier(graphs[0].x.shape[1], 8, 2, num_layers=3)
    batch = Batch.from_data_list([pyg_tasks.to_data(g) for g in graphs])
    expected = pyg_tasks.graph_eval_step(PygState(pyg_model, None), batch).numpy()
    padded = jax_tasks.batch_and_pad(graphs, max_nodes=9, max_edges=20)
    assert padded.n_node.shape == (6,) and padded.nodes.shape[0] == 5 * 9 + 1
    out = _jax_apply(jax_tasks.GraphClassifier(8, 2, num_layers=3), pyg_model, padded)
    np.testing.assert_allclose(out[:5], expected, atol=ATOL, rtol=RTOL)


def test_without_the_graph_no_edge_is_left():
    graph, _ = two_cliques()
    assert pyg_tasks.to_data(graph, use_graph=False).edge_index.shape == (2, 0)
    gt = jax_tasks.to_graphstuple(graph, use_graph=False)
    assert gt.senders.shape == gt.receivers.shape == (0,) and gt.n_edge.tolist() == [0]


# --------------------------------------------------------------------------------------------------
# Training steps and trainers
# --------------------------------------------------------------------------------------------------


def test_node_train_steps_decrease_the_loss():
    graph, labelled = two_cliques()
    torch.manual_seed(0)
    model = pyg_tasks.GCN(8, 4, 2)
    pyg_state = PygState.create(model, torch.optim.Adam(model.parameters(), lr=0.05))
    data, train = pyg_tasks.to_data(graph), torch.as_tensor(labelled)
    pyg_losses = []
    for _ in range(10):
        pyg_state, loss = pyg_tasks.node_train_step(pyg_state, data, data.y, train)
        pyg_losses.append(loss)

    import optax

    gt = jax_tasks.to_graphstuple(graph)
    module = jax_tasks.GCN(4, 2)
    state = TrainState.create(apply_fn=module.apply, params=module.init(jax.random.key(0), gt),
                              tx=optax.adam(0.05))
    jax_losses = []
    for _ in range(10):
        state, loss = jax_tasks.node_train_step(state, gt, graph.y, labelled)
        jax_losses.append(float(loss))
    assert int(state.step) == 10
    for losses in (pyg_losses, jax_losses):
        assert losses[-1] < 0.8 * losses[0], losses


HISTORY_KEYS = {"node": "accuracy", "link": "val_auc", "graph": "val_accuracy"}


def _train(tasks, task: str, max_epochs: int):
    """Train ``task`` on a tiny input; return the model, the history and the metric of the
    returned weights, computed afresh."""
    if task == "node":
        graph, labelled = two_cliques()
        model, history, _ = tasks.train_node_classifier(graph, labelled,
                                                        max_epochs=max_epochs, lr=0.05)
        return model, history, accuracy(tasks.predict_nodes(model, graph), graph.y)
    if task == "link":
        split = split_links(karate_club()[0], seed=0)
        model, history, _ = tasks.train_link_predictor(split, max_epochs=max_epochs)
        return model, history, tasks.evaluate_links(model, split, "val")
    train, val = tiny_graph_set()
    model, history, _ = tasks.train_graph_classifier(train, val, max_epochs=max_epochs,
                                                      batch_size=6)
    return model, history, tasks.evaluate_graphs(model, val)


@pytest.mark.parametrize("task", HISTORY_KEYS)
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_trainers_learn_for_a_fixed_number_of_epochs_and_keep_the_last_weights(framework, task):
    _, history, metric = _train(FRAMEWORKS[framework], task, max_epochs=12)
    key = HISTORY_KEYS[task]
    assert set(history) == {"loss", key, "seconds", "best_epoch", "best"}
    assert len(history["loss"]) == len(history[key]) == len(history["seconds"]) == 12
    assert np.mean(history["loss"][-3:]) < history["loss"][0], history["loss"]
    assert metric == pytest.approx(history[key][-1])  # the last epoch's weights, not the best
