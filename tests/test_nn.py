"""The layer twins of course_lib/pyg/nn.py and course_lib/jax/nn.py: the same weights give the
same outputs, on tiny graphs written out by hand."""

from __future__ import annotations

import jax.numpy as jnp
import jraph
import numpy as np
import pytest
import torch
from torch_geometric.nn import GCNConv

from course_lib.jax import nn as jnn
from course_lib.jax.data import Adjacency as JaxAdjacency
from course_lib.jax.nn import GCNConv as JaxGCNConv
from course_lib.jax.nn import hetero_conv
from course_lib.pyg import nn as pnn
from course_lib.pyg.data import Adjacency as PygAdjacency
from course_lib.sparse import symmetric_weights

RTOL, ATOL = 1e-5, 1e-5  # float32, the same weights: the twins agree to rounding


def test_library_layers_have_the_same_parameters_and_initialisation():
    import jax

    pyg = GCNConv(30, 20)
    names = sorted(dict(pyg.named_parameters()))
    params = JaxGCNConv(20).init(jax.random.key(0), jraph.GraphsTuple(
        nodes=np.zeros((3, 30), np.float32), edges=None, senders=np.array([0]),
        receivers=np.array([1]), n_node=np.array([3]), n_edge=np.array([1]), globals=None))
    flat = jax.tree_util.tree_flatten_with_path(params["params"])[0]
    assert names == ["bias", "lin.weight"]
    assert sorted(".".join(k.key for k in path) for path, _ in flat) == ["bias", "lin.kernel"]
    kernel = np.asarray(params["params"]["lin"]["kernel"])
    limit = np.sqrt(6 / (30 + 20))  # glorot uniform, as PyG's GCNConv
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.8 * limit
    assert np.abs(pyg.lin.weight.detach().numpy()).max() <= limit


@pytest.mark.filterwarnings("ignore:There exist node types")  # users and actors receive nothing
def test_sum_by_destination_matches_heteroconv():
    """PyG's HeteroConv(aggr='sum') output equals the sum of its per-edge-type convolutions."""
    import jax.numpy as jnp
    from torch_geometric.nn import HeteroConv, SAGEConv

    torch.manual_seed(0)
    x = {"user": torch.randn(3, 4), "movie": torch.randn(4, 4), "actor": torch.randn(2, 4)}
    edges = {("user", "rates", "movie"): torch.tensor([[0, 1, 2], [0, 3, 3]]),
             ("actor", "rev_has_actor", "movie"): torch.tensor([[0, 1], [3, 1]])}
    conv = HeteroConv({et: SAGEConv(4, 5) for et in edges}, aggr="sum")
    with torch.no_grad():
        expected = conv(x, edges)["movie"].numpy()
        parts = {et: conv.convs[et]((x[et[0]], x[et[2]]), ei).numpy() for et, ei in edges.items()}
    got = jnn.sum_by_destination({et: jnp.asarray(v) for et, v in parts.items()})
    assert set(got) == {"movie"}
    np.testing.assert_allclose(np.asarray(got["movie"]), expected, rtol=1e-6, atol=1e-6)


def test_hetero_conv_can_average_the_relations():
    x = {"user": jnp.ones((2, 3)), "movie": jnp.full((2, 3), 3.0)}
    edges = {"rates": ([0, 1], [0, 0], 2, 2), "rev_rates": ([0], [1], 2, 2),
             "self": ([0, 1], [0, 1], 2, 2)}
    adjacency = {rel: JaxAdjacency.from_edges(np.array(s), np.array(r), np.ones(len(s),
                                                                                np.float32),
                                              rows, cols)
                 for rel, (s, r, rows, cols) in edges.items()}
    types = [("user", "rates", "movie"), ("movie", "rev_rates", "user"),
             ("movie", "self", "movie")]

    def take_sources(edge_type):
        return lambda x_src, x_dst, adj: adj.propagate(x_src)

    summed = hetero_conv(take_sources, x, adjacency, types)
    mean = hetero_conv(take_sources, x, adjacency, types, relation_aggr="mean")
    np.testing.assert_allclose(summed["movie"][0], 2 * 1 + 3)       # two users + itself
    np.testing.assert_allclose(mean["movie"], summed["movie"] / 2)  # two relations reach movies
    np.testing.assert_allclose(mean["user"], summed["user"])        # one relation reaches users
    with pytest.raises(ValueError, match="relation_aggr"):
        hetero_conv(take_sources, x, adjacency, types, relation_aggr="max")


@pytest.mark.usefixtures("full_precision")
def test_gcn_layer_twins_agree_with_the_normalised_sum_after_an_mlp():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 4)).astype(np.float32)
    # both directions of every edge, as in the course's graphs; node 5 is isolated
    ei = np.array([[0, 1, 1, 2, 3, 4], [1, 0, 2, 1, 4, 3]])
    torch.manual_seed(0)
    layer = pnn.GCNLayer(4)
    adj = symmetric_weights(ei[0], ei[1], 6, self_loops=True)
    with torch.no_grad():
        out_pyg = layer(torch.tensor(x), PygAdjacency.from_edges(*adj, 6)).numpy()
    params = jnn.params_from_torch(pnn.numpy_weights(layer), jnn.flax_path)
    conv = jnn.GCNLayer(4)
    out_jax = np.asarray(conv.apply(params, x, JaxAdjacency.from_edges(*adj, 6)))
    np.testing.assert_allclose(out_jax, out_pyg, rtol=RTOL, atol=ATOL)
    # the formula: D^-1/2 (A + I) D^-1/2 MLP(X), and jraph's GraphConvolution computes it too
    with torch.no_grad():
        h = layer.mlp(torch.tensor(x)).numpy().astype(np.float64)
    a_hat = np.eye(6)
    a_hat[ei[1], ei[0]] = 1
    inv = 1 / np.sqrt(a_hat.sum(1))
    np.testing.assert_allclose(out_pyg, (inv[:, None] * a_hat * inv[None, :]) @ h,
                               rtol=1e-5, atol=1e-5)
    mlp = jnn.MLP(4)
    graph = jraph.GraphsTuple(nodes=jnp.asarray(x), edges=None, senders=jnp.asarray(ei[0]),
                              receivers=jnp.asarray(ei[1]), n_node=jnp.asarray([6]),
                              n_edge=jnp.asarray([6]), globals=None)
    conv = jraph.GraphConvolution(update_node_fn=lambda n: mlp.apply(
        {"params": params["params"]["mlp"]}, n), add_self_edges=True,
        symmetric_normalization=True)
    np.testing.assert_allclose(np.asarray(conv(graph).nodes), out_pyg, rtol=RTOL, atol=ATOL)


def test_mean_aggregate_twins_agree_and_give_zeros_without_edges():
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    senders, receivers = np.array([0, 1, 3, 2]), np.array([0, 0, 2, 2])
    expected = np.array([[1.5, 2.5, 3.5], [0, 0, 0], [7.5, 8.5, 9.5]], np.float32)
    pyg = pnn.mean_aggregate(torch.from_numpy(x), torch.from_numpy(senders),
                             torch.from_numpy(receivers), 3).numpy()
    jx = np.asarray(jnn.mean_aggregate(jnp.asarray(x), jnp.asarray(senders),
                                       jnp.asarray(receivers), 3))
    np.testing.assert_allclose(pyg, expected)
    np.testing.assert_allclose(jx, expected)


@pytest.mark.usefixtures("full_precision")
@pytest.mark.parametrize("layer", ["SAGEConv", "GraphConv"])
def test_conv_twins_agree_on_a_bipartite_graph(layer):
    rng = np.random.default_rng(0)
    x_src = rng.normal(size=(5, 4)).astype(np.float32)
    x_dst = rng.normal(size=(3, 6)).astype(np.float32)
    senders, receivers = np.array([0, 1, 4, 2, 2]), np.array([0, 0, 1, 1, 0])  # node 2: no edge
    torch.manual_seed(0)
    conv = getattr(pnn, layer)((4, 6), 7, aggr="mean")
    adj = PygAdjacency.from_edges(senders, receivers, np.ones(5, np.float32), 3, 5)
    with torch.no_grad():
        pyg = conv((torch.from_numpy(x_src), torch.from_numpy(x_dst)),
                   torch.from_numpy(np.stack([senders, receivers]))).numpy()
        # PyG's layer over the sparse adj_t gives the same as over edge_index
        np.testing.assert_allclose(conv((torch.from_numpy(x_src), torch.from_numpy(x_dst)),
                                        adj.to_sparse_csr()).numpy(), pyg,
                                   rtol=RTOL, atol=ATOL)
    params = jnn.params_from_torch(pnn.numpy_weights(conv), lambda name: tuple(
        name.replace("weight", "kernel").split(".")))
    jx = getattr(jnn, layer)(7).apply(
        params, x_src, x_dst, JaxAdjacency.from_edges(senders, receivers,
                                                      np.ones(5, np.float32), 3, 5))
    np.testing.assert_allclose(np.asarray(jx), pyg, rtol=RTOL, atol=ATOL)
    assert np.abs(pyg[2]).sum() > 0  # the root weight still maps the isolated receiver


def test_aggregate_over_the_adjacency_equals_the_mean_over_the_edge_list():
    rng = np.random.default_rng(1)
    senders, receivers = rng.integers(0, 40, 300), rng.integers(0, 30, 300)
    x = rng.normal(size=(40, 5)).astype(np.float32)
    adj = JaxAdjacency.from_edges(senders, receivers, np.ones(300, np.float32), 30, 40)
    np.testing.assert_allclose(np.asarray(jnn.aggregate(adj, x, "mean")),
                               np.asarray(jnn.mean_aggregate(x, senders, receivers, 30)),
                               rtol=1e-5, atol=1e-6)
    total = np.zeros((30, 5))
    np.add.at(total, receivers, x[senders])
    np.testing.assert_allclose(np.asarray(jnn.aggregate(adj, x, "add")), total, rtol=1e-5,
                               atol=1e-5)


def test_bce_loss_twins_agree():
    logits, labels = np.array([-3.0, 0.0, 2.5, 10.0]), np.array([0.0, 1.0, 1.0, 0.0])
    pyg = pnn.bce_loss(torch.from_numpy(logits), torch.from_numpy(labels)).item()
    jx = float(jnn.bce_loss(jnp.asarray(logits), jnp.asarray(labels)))
    assert pyg == pytest.approx(jx, rel=1e-6)
