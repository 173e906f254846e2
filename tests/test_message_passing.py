"""Parity: the hand-written GCN layer (numpy, PyG, jraph) and the library layers (PyG's
``GCNConv``, :class:`course_lib.jax.nn.GCNConv` over ``jraph.GraphConvolution``) agree.

Tolerance: float32 against a float64 numpy reference, ``atol=1e-5, rtol=1e-5``.
"""

from __future__ import annotations

import jraph
import numpy as np
import pytest
import torch
from torch_geometric.nn import GCNConv

from course_lib import message_passing as M
from course_lib.jax.message_passing import GCNLayer as JaxGCNLayer
from course_lib.jax.message_passing import gcn_params
from course_lib.jax.nn import GCNConv as JaxGCNConv
from course_lib.pyg.message_passing import GCNLayer as PygGCNLayer
from course_lib.pyg.message_passing import set_gcn_weights
from course_lib.small_graphs import karate_club, les_miserables

ATOL = RTOL = 1e-5


def _graphs():
    tiny = (6, np.array([[0, 1, 1, 2, 3, 4], [1, 0, 2, 1, 4, 3]]))  # node 5 isolated
    empty = (3, np.zeros((2, 0), dtype=np.int64))                    # no edges at all
    karate, _ = karate_club()
    lesmis = les_miserables()
    return {"tiny with an isolated node": tiny, "no edges": empty,
            "karate": (karate.num_nodes, karate.edge_index),
            "les miserables": (lesmis.num_nodes, lesmis.edge_index)}


def _outputs(num_nodes, edge_index, x, weight, bias):
    xt, et = torch.tensor(x), torch.tensor(edge_index)
    gt = jraph.GraphsTuple(nodes=x, edges=None, senders=edge_index[0].astype(np.int32),
                           receivers=edge_index[1].astype(np.int32),
                           n_node=np.array([num_nodes]), n_edge=np.array([edge_index.shape[1]]),
                           globals=None)
    c_in, c_out = weight.shape
    with torch.no_grad():
        pyg_hand = set_gcn_weights(PygGCNLayer(c_in, c_out), weight, bias)(xt, et).numpy()
        pyg_lib = set_gcn_weights(GCNConv(c_in, c_out), weight, bias)(xt, et).numpy()
    jax_hand = np.asarray(JaxGCNLayer(c_out).apply(gcn_params(weight, bias), gt))
    jax_lib = np.asarray(JaxGCNConv(c_out).apply(gcn_params(weight, bias, library=True), gt))
    return {"PyG by hand": pyg_hand, "PyG GCNConv": pyg_lib, "jraph by hand": jax_hand,
            "jraph.GraphConvolution": jax_lib}


@pytest.mark.usefixtures("full_precision")
@pytest.mark.parametrize("name", list(_graphs()))
def test_all_gcn_layers_agree_with_the_numpy_reference(name):
    num_nodes, edge_index = _graphs()[name]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(num_nodes, 5)).astype(np.float32)
    weight = rng.normal(size=(5, 4)).astype(np.float32)
    bias = rng.normal(size=4).astype(np.float32)
    reference = M.gcn_layer(x, edge_index, weight, bias)
    for layer, out in _outputs(num_nodes, edge_index, x, weight, bias).items():
        assert out.shape == (num_nodes, 4), layer
        np.testing.assert_allclose(out, reference, atol=ATOL, rtol=RTOL, err_msg=layer)


def test_isolated_node_keeps_its_own_transformed_features():
    num_nodes, edge_index = _graphs()["tiny with an isolated node"]
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    weight, bias = np.eye(2, dtype=np.float32), np.ones(2, dtype=np.float32)
    for out in _outputs(num_nodes, edge_index, x, weight, bias).values():
        np.testing.assert_allclose(out[5], x[5] + 1, atol=ATOL)  # self loop weight 1/sqrt(1*1)


def test_reference_pieces_on_a_path():
    # path 0-1-2 with self loops: degrees 2, 3, 2
    s, r = M.add_self_loops(np.array([[0, 1, 1, 2], [1, 0, 2, 1]]), 3)
    w = M.symmetric_norm(s, r, 3)
    np.testing.assert_allclose(w[:2], 1 / np.sqrt(6))
    np.testing.assert_allclose(w[-3:], [1 / 2, 1 / 3, 1 / 2])
    np.testing.assert_allclose(M.aggregate_sum(np.ones(7), r, 3), [2, 3, 2])
    np.testing.assert_allclose(M.mean_readout(np.array([[1.0], [3.0], [5.0]]), [0, 0, 1], 3),
                               [[2.0], [5.0], [0.0]])


def test_layer_with_learner_pieces_matches_reference():
    num_nodes, edge_index = _graphs()["karate"]
    x = np.eye(num_nodes)
    weight = np.random.default_rng(3).normal(size=(num_nodes, 2))
    ref = M.gcn_layer(x, edge_index, weight, np.zeros(2))

    def my_norm(s, r, n):
        deg = np.bincount(r, minlength=n)
        return 1 / np.sqrt(deg[s] * deg[r])

    np.testing.assert_allclose(M.gcn_layer(x, edge_index, weight, np.zeros(2), norm=my_norm), ref)


