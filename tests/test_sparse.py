"""``course_lib/sparse.py`` and the two ``Adjacency`` twins: the cached CSR product equals
propagation edge by edge (gather, weight, scatter-add), its gradient equals the product with
the transpose, in both frameworks, under ``jax.jit`` too, on random graphs with duplicate
edges, isolated nodes, rectangular shapes and no edge at all."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from course_lib.jax.data import Adjacency as JaxAdjacency
from course_lib.jax.nn import pair_scores as jax_pair_scores
from course_lib.pyg.data import Adjacency as PygAdjacency
from course_lib.pyg.nn import pair_scores as pyg_pair_scores
from course_lib.sparse import csr_layout, mean_weights, symmetric_weights

SHAPES = [(7, 5, 20), (6, 6, 3), (4, 4, 0), (300, 200, 3000), (50, 80, 1)]


def _edges(rows, cols, num_edges, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, cols, num_edges), rng.integers(0, rows, num_edges),
            rng.uniform(0.1, 2.0, num_edges).astype(np.float32))


def _edge_by_edge(senders, receivers, weights, rows, x):
    """Propagation as message passing does it: gather, weight, scatter-add (float64)."""
    out = np.zeros((rows, x.shape[1]))
    np.add.at(out, receivers, weights[:, None].astype(np.float64) * x[senders])
    return out


def test_csr_layout_orders_rows_then_columns_and_holds_the_transpose():
    s, r, _ = _edges(9, 7, 40)
    layout = csr_layout(s, r, 9, 7)
    rows = np.repeat(np.arange(9), np.diff(layout.indptr))
    assert np.array_equal(rows, r[layout.order]) and np.array_equal(layout.indices,
                                                                    s[layout.order])
    assert np.all(np.diff(rows * 7 + layout.indices) >= 0)       # sorted by (row, column)
    t_rows = np.repeat(np.arange(7), np.diff(layout.t_indptr))
    assert np.array_equal(t_rows, s[layout.order][layout.t_perm])
    assert np.array_equal(layout.t_indices, r[layout.order][layout.t_perm])
    assert sorted(layout.t_perm.tolist()) == list(range(40))
    with pytest.raises(ValueError, match="outside"):
        csr_layout([0, 7], [0, 1], 9, 7)


@pytest.mark.parametrize("rows, cols, num_edges", SHAPES)
def test_both_products_equal_propagation_edge_by_edge(rows, cols, num_edges):
    s, r, w = _edges(rows, cols, num_edges)
    x = np.random.default_rng(1).normal(size=(cols, 4)).astype(np.float32)
    expected = _edge_by_edge(s, r, w, rows, x)
    pyg = PygAdjacency.from_edges(s, r, w, rows, cols)
    jx = JaxAdjacency.from_edges(s, r, w, rows, cols)
    assert pyg.shape == jx.shape == (rows, cols)
    np.testing.assert_allclose(pyg.propagate(torch.from_numpy(x)).numpy(), expected,
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(jax.jit(lambda a, x: a.propagate(x))(jx, x)),
                               expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("rows, cols, num_edges", SHAPES)
def test_both_gradients_are_the_product_with_the_transpose(rows, cols, num_edges):
    s, r, w = _edges(rows, cols, num_edges, seed=2)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(cols, 3)).astype(np.float32)
    g = rng.normal(size=(rows, 3)).astype(np.float32)
    dense = np.zeros((rows, cols))
    np.add.at(dense, (r, s), w)
    # the edge-by-edge propagation's own gradient (autograd through gather and scatter-add)
    xt = torch.from_numpy(x).requires_grad_()
    edge = torch.zeros(rows, 3).index_add_(0, torch.from_numpy(r),
                                           xt[torch.from_numpy(s)] * torch.from_numpy(w)[:, None])
    (edge * torch.from_numpy(g)).sum().backward()
    np.testing.assert_allclose(xt.grad.numpy(), dense.T @ g, rtol=1e-5, atol=1e-5)

    xp = torch.from_numpy(x).requires_grad_()
    (PygAdjacency.from_edges(s, r, w, rows, cols).propagate(xp)
     * torch.from_numpy(g)).sum().backward()
    np.testing.assert_allclose(xp.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-5)
    adj = JaxAdjacency.from_edges(s, r, w, rows, cols)
    grad = jax.jit(jax.grad(lambda x, a: jnp.sum(a.propagate(x) * g)))(x, adj)
    np.testing.assert_allclose(np.asarray(grad), xt.grad.numpy(), rtol=1e-5, atol=1e-5)


def test_new_edge_weights_keep_the_layout_and_change_both_directions():
    s, r, w = _edges(30, 20, 200, seed=4)
    w2 = np.random.default_rng(5).uniform(0, 1, 200).astype(np.float32)
    w2[::3] = 0.0                                           # dropped edges
    x = np.random.default_rng(6).normal(size=(20, 2)).astype(np.float32)
    g = np.random.default_rng(7).normal(size=(30, 2)).astype(np.float32)
    dense = np.zeros((30, 20))
    np.add.at(dense, (r, s), w2)
    pyg = PygAdjacency.from_edges(s, r, w, 30, 20).with_edge_weights(torch.from_numpy(w2))
    xp = torch.from_numpy(x).requires_grad_()
    out = pyg.propagate(xp)
    (out * torch.from_numpy(g)).sum().backward()
    np.testing.assert_allclose(out.detach().numpy(), dense @ x, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(xp.grad.numpy(), dense.T @ g, rtol=1e-5, atol=1e-5)
    jx = JaxAdjacency.from_edges(s, r, w, 30, 20)
    f = jax.jit(lambda x, a, w: jnp.sum(a.with_edge_weights(w).propagate(x) * g))
    np.testing.assert_allclose(np.asarray(jax.grad(f)(x, jx, w2)), dense.T @ g, rtol=1e-5,
                               atol=1e-5)


def test_symmetric_and_mean_weights_are_the_textbook_matrices():
    # a path 0 - 1 - 2 and an isolated node 3, both directions
    s, r = np.array([0, 1, 1, 2]), np.array([1, 0, 2, 1])
    a = np.zeros((4, 4))
    a[r, s] = 1
    d = a.sum(1)
    inv = np.where(d > 0, 1 / np.sqrt(np.maximum(d, 1)), 0)
    ss, rr, w = symmetric_weights(s, r, 4)
    dense = np.zeros((4, 4))
    dense[rr, ss] = w
    np.testing.assert_allclose(dense, inv[:, None] * a * inv[None, :], rtol=1e-6)
    ss, rr, w = symmetric_weights(s, r, 4, self_loops=True)
    a_hat = a + np.eye(4)
    inv = 1 / np.sqrt(a_hat.sum(1))
    dense = np.zeros((4, 4))
    dense[rr, ss] = w
    np.testing.assert_allclose(dense, inv[:, None] * a_hat * inv[None, :], rtol=1e-6)
    dense = np.zeros((4, 4))
    dense[r, s] = mean_weights(r, 4)
    np.testing.assert_allclose(dense, a / np.maximum(d, 1)[:, None], rtol=1e-6)


def test_row_sums_are_the_weighted_in_degrees():
    s, r, w = _edges(9, 7, 40, seed=8)
    expected = np.bincount(r, weights=w, minlength=9)
    np.testing.assert_allclose(PygAdjacency.from_edges(s, r, w, 9, 7).row_sums().numpy(),
                               expected, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(jax.jit(lambda a: a.row_sums())(
        JaxAdjacency.from_edges(s, r, w, 9, 7))), expected, rtol=1e-5)


@pytest.mark.parametrize("num_nodes, num_pairs", [(30, 200), (5, 1), (200, 50), (8, 64)])
def test_pair_scores_and_their_gradients_equal_the_gather_in_both(num_nodes, num_pairs):
    rng = np.random.default_rng(num_pairs)
    z = rng.normal(size=(num_nodes, 6)).astype(np.float32)
    rows = rng.integers(0, num_nodes, num_pairs)
    cols = rng.integers(0, num_nodes, num_pairs)       # repeated pairs and (i, i) included
    g = rng.normal(size=num_pairs)
    want = np.einsum("bd,bd->b", z[rows].astype(np.float64), z[cols])
    want_grad = np.zeros((num_nodes, 6))
    np.add.at(want_grad, rows, g[:, None] * z[cols])
    np.add.at(want_grad, cols, g[:, None] * z[rows])

    zt = torch.tensor(z, requires_grad=True)
    scores = pyg_pair_scores(zt, torch.as_tensor(rows), torch.as_tensor(cols))
    (scores * torch.tensor(g, dtype=torch.float32)).sum().backward()
    np.testing.assert_allclose(scores.detach().numpy(), want, atol=1e-5)
    np.testing.assert_allclose(zt.grad.numpy(), want_grad, atol=1e-5)

    f = lambda z: jnp.sum(jax_pair_scores(z, jnp.asarray(rows), jnp.asarray(cols))
                          * jnp.asarray(g, jnp.float32))
    np.testing.assert_allclose(jax_pair_scores(jnp.asarray(z), jnp.asarray(rows),
                                               jnp.asarray(cols)), want, atol=1e-5)
    np.testing.assert_allclose(jax.grad(f)(jnp.asarray(z)), want_grad, atol=1e-5)
