"""``course_lib/pyg/lightgcn.py`` and ``course_lib/jax/lightgcn.py`` (chapter 6): LightGCN is the
mean of the propagated layers, matrix factorisation has no propagation. (PyG-JAX parity:
``tests/test_bpr.py``.)"""

from __future__ import annotations

import jax
import numpy as np
import torch

from course_lib.jax import lightgcn as jlightgcn
from course_lib.jax.data import to_normalized_adjacency as jax_adjacency
from course_lib.pyg import lightgcn as plightgcn
from course_lib.pyg.data import to_normalized_adjacency as pyg_adjacency


def test_lightgcn_is_the_mean_of_propagated_layers(tiny_graph, tiny_laplacian):
    lap = tiny_laplacian
    model = plightgcn.build_lightgcn(tiny_graph.num_nodes, embedding_dim=3, num_layers=2)
    e = model.embedding.weight.detach().numpy().astype(np.float64)
    expected = (e + lap @ e + lap @ lap @ e) / 3
    with torch.no_grad():
        got = model.get_embedding(pyg_adjacency(tiny_graph, np.arange(8))).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)

    adj = jax_adjacency(tiny_graph, np.arange(8))
    flax_model = jlightgcn.build_lightgcn(tiny_graph.num_nodes, embedding_dim=3, num_layers=2)
    final, ego = flax_model.apply(flax_model.init(jax.random.key(0), adj), adj)
    e = np.asarray(ego, dtype=np.float64)
    np.testing.assert_allclose(np.asarray(final), (e + lap @ e + lap @ lap @ e) / 3,
                               rtol=1e-5, atol=1e-6)


def test_mf_is_lightgcn_without_propagation(tiny_graph):
    model = plightgcn.build_mf(tiny_graph.num_nodes, embedding_dim=4)
    with torch.no_grad():
        z = model.get_embedding(pyg_adjacency(tiny_graph, np.arange(8)))
    torch.testing.assert_close(z, model.embedding.weight.detach())
    adj = jax_adjacency(tiny_graph, np.arange(8))
    flax_model = jlightgcn.build_mf(tiny_graph.num_nodes, embedding_dim=4)
    final, ego = flax_model.apply(flax_model.init(jax.random.key(0), adj), adj)
    np.testing.assert_array_equal(np.asarray(final), np.asarray(ego))
