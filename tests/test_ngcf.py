"""``course_lib/pyg/ngcf.py`` and ``course_lib/jax/ngcf.py`` (chapter 6): the NGCF layer is the
paper's formula, its layers are distinct, dropout acts in training only. (PyG-JAX parity of the
whole model: ``tests/test_bpr.py``.)"""

from __future__ import annotations

import jax
import numpy as np
import torch

from course_lib.jax import ngcf as jngcf
from course_lib.jax.data import to_normalized_adjacency as jax_adjacency
from course_lib.pyg import ngcf as pngcf
from course_lib.pyg.data import to_normalized_adjacency as pyg_adjacency


def test_ngcf_layer_is_the_paper_formula(tiny_graph, tiny_laplacian):
    """One NGCF layer against LeakyReLU((L + I) E W1 + (L E * E) W2) with a dense L."""
    model = pngcf.NGCF(tiny_graph.num_nodes, embedding_dim=4, num_layers=1, message_dropout=0.0)
    model.eval()
    lap = tiny_laplacian
    e = model.embedding.weight.detach().numpy().astype(np.float64)
    w1 = model.convs[0].lin1.weight.detach().numpy().T
    w2 = model.convs[0].lin2.weight.detach().numpy().T
    h = (lap + np.eye(9)) @ e @ w1 + ((lap @ e) * e) @ w2
    expected = np.concatenate([e, np.where(h > 0, h, 0.2 * h)], axis=1)
    with torch.no_grad():
        got = model.get_embedding(pyg_adjacency(tiny_graph, np.arange(8))).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_output_shapes_in_both_frameworks(tiny_graph):
    adj = jax_adjacency(tiny_graph, np.arange(8))
    model = jngcf.NGCF(tiny_graph.num_nodes, embedding_dim=4, num_layers=2)
    final, ego = model.apply(model.init(jax.random.key(0), adj), adj)
    assert final.shape == (9, 4 * 3) and ego.shape == (9, 4)
    z = pngcf.NGCF(tiny_graph.num_nodes, embedding_dim=4, num_layers=2).get_embedding(
        pyg_adjacency(tiny_graph, np.arange(8)))
    assert z.shape == (9, 12)


def test_ngcf_layers_are_distinct(tiny_graph):
    model = pngcf.NGCF(tiny_graph.num_nodes, num_layers=3)
    weights = [conv.lin1.weight for conv in model.convs]
    assert len({id(w) for w in weights}) == 3
    assert not torch.allclose(weights[0], weights[1])


def test_ngcf_dropout_is_active_in_training_only(graph):
    adj = jax_adjacency(graph, np.arange(graph.num_edges))
    model = jngcf.NGCF(graph.num_nodes, embedding_dim=8, num_layers=1,
                       message_dropout=0.5, node_dropout=0.5)
    params = model.init(jax.random.key(0), adj)
    a = model.apply(params, adj)[0]
    b = model.apply(params, adj, train=True, rngs={"dropout": jax.random.key(1)})[0]
    np.testing.assert_array_equal(np.asarray(a), np.asarray(model.apply(params, adj)[0]))
    assert float(np.mean(np.asarray(b[:, 8:]) == 0)) > 0.4    # message dropout zeroes half
