"""``course_lib/jax/distributed.py`` and the chunked propagation (chapter 8): sharded JAX
training equals unsharded training; ``jax.distributed`` over two processes equals one
process; chunked propagation equals the plain product, in both frameworks.

Tolerance 1e-5 after several Adam steps: the sharded runs add the same numbers in another
order (a mean of per-device means, a product in blocks), which changes the last bits of a
gradient; Adam's normalisation turns a difference in a near-zero entry into at most a small
part of the learning rate (0.01 here). Observed: below 1e-6."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from course_lib.distributed import launch
from course_lib.jax.nn import chunked_propagate as jax_chunked
from course_lib.pyg.nn import chunked_propagate as torch_chunked

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOL = 1e-5


def _env(threads: int = 1) -> dict:
    env = {**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": str(threads),
           "XLA_FLAGS": f"--xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'}"}
    env.pop("JAX_NUM_CPU_DEVICES", None)
    return env


@pytest.fixture(scope="module")
def mesh_run() -> dict:
    done = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "jax_mesh_equality.py")],
                          env=_env(2), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_data_parallel_over_4_devices_equals_one_device(mesh_run):
    assert mesh_run["devices"] == 4
    assert mesh_run["moved"] > 100 * TOL                   # the reference trained
    assert mesh_run["data_parallel"] <= TOL, mesh_run["data_parallel"]
    np.testing.assert_allclose(mesh_run["losses"][1], mesh_run["losses"][0], atol=TOL)
    assert mesh_run["dp_table_spec"] == "P(None, None)"    # replicated, as data parallelism is


def test_row_sharded_over_4_devices_equals_one_device(mesh_run):
    assert mesh_run["row_sharded"] <= TOL, mesh_run["row_sharded"]
    np.testing.assert_allclose(mesh_run["losses"][2], mesh_run["losses"][0], atol=TOL)
    # the table really is split: each device holds a quarter of the (padded) rows
    assert mesh_run["rows_table_spec"] == "P('rows', None)"
    assert sorted(mesh_run["rows_per_device"].values()) == [2588] * 4
    # nodes dealt out in turn: every device holds about a quarter of the edges
    assert mesh_run["largest_block"] < 1.1 * mesh_run["edges"] / 4


def test_fit_row_sharded_over_4_devices_equals_one_device(mesh_run):
    assert mesh_run["fit_row_sharded"] <= TOL, mesh_run["fit_row_sharded"]
    np.testing.assert_allclose(mesh_run["fit_losses"], mesh_run["losses"][0], atol=TOL)
    assert mesh_run["fit_rows_per_shard"] == 2588


def test_memory_per_device_falls_with_devices_and_chunks(mesh_run):
    naive, chunked = mesh_run["memory"][:3], mesh_run["memory"][3:]
    for runs in (naive, chunked):
        total = [m["arguments"] + m["temporaries"] for m in runs]
        assert total[0] > 1.5 * total[1] > 1.5 * 1.5 * total[2], total
        args = [m["arguments"] for m in runs]
        assert args[0] > 1.9 * args[1] > 1.9 * 1.9 * args[2], args
    for a, b in zip(naive, chunked):
        assert b["temporaries"] < a["temporaries"] / 2, (a, b)


def _jax_run(tmp_path, processes: int) -> dict:
    return launch("jax", processes, tmp_path / f"jax{processes}.npz", graph="small",
                  steps=4, batch_size=1024, embedding_dim=16, timeout=240)


def test_jax_distributed_two_processes_equal_one(tmp_path):
    one, two = _jax_run(tmp_path, 1), _jax_run(tmp_path, 2)
    assert int(one["world_size"]) == 1 and int(two["world_size"]) == 2
    assert one["losses"][-1] < one["losses"][0] - 1e-4          # it trained
    np.testing.assert_allclose(two["losses"], one["losses"], atol=TOL)
    diff = np.abs(two["embedding"] - one["embedding"]).max()
    assert diff <= TOL, f"2 processes differ from 1 by {diff:.2e}"


@pytest.mark.parametrize("num_chunks", [1, 2, 7, 64])
def test_chunked_propagation_equals_the_plain_product(num_chunks):
    rng = np.random.default_rng(num_chunks)
    n, e, d = 40, 301, 5
    s, r = rng.integers(0, n, e), rng.integers(0, n, e)
    w = rng.normal(size=e).astype(np.float32)
    x = rng.normal(size=(n, d)).astype(np.float32)
    dense = np.zeros((n, n), np.float32)
    np.add.at(dense, (r, s), w)
    expected = dense @ x
    g = rng.normal(size=(n, d)).astype(np.float32)            # a cotangent
    # JAX: values and the gradient A^T g
    fn = jax.jit(lambda x: jax_chunked(x, jnp.asarray(s), jnp.asarray(r), jnp.asarray(w), n,
                                       num_chunks))
    y, vjp = jax.vjp(fn, jnp.asarray(x))
    np.testing.assert_allclose(np.asarray(y), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(vjp(jnp.asarray(g))[0]), dense.T @ g, rtol=1e-5,
                               atol=1e-5)
    # PyG
    xt = torch.tensor(x, requires_grad=True)
    yt = torch_chunked(xt, torch.tensor(s), torch.tensor(r), torch.tensor(w), n, num_chunks)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(yt.detach().numpy(), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(xt.grad.numpy(), dense.T @ g, rtol=1e-5, atol=1e-5)


def test_chunked_propagation_keeps_fewer_temporaries():
    """What chunking is for: the compiled gradient of three layers holds about 1 / chunks
    of the messages."""
    n, e, d = 2_000, 400_000, 32
    args = (jax.ShapeDtypeStruct((n, d), jnp.float32),
            jax.ShapeDtypeStruct((e,), jnp.int32), jax.ShapeDtypeStruct((e,), jnp.int32),
            jax.ShapeDtypeStruct((e,), jnp.float32))

    def temporaries(chunks):
        def loss(x, s, r, w):
            for _ in range(3):
                x = jax_chunked(x, s, r, w, n, chunks)
            return jnp.sum(x ** 2)
        compiled = jax.jit(jax.grad(loss)).lower(*args).compile()
        return compiled.memory_analysis().temp_size_in_bytes

    messages = e * d * 4
    assert temporaries(1) > messages               # all the edges' messages at once
    assert temporaries(16) < messages / 2          # a sixteenth of them at a time


@pytest.mark.gpu
@pytest.mark.skipif(not any(d.platform == "gpu" for d in jax.devices()) or
                    len(jax.devices()) < 2, reason="a GPU mesh needs 2 CUDA devices; none here")
def test_gpu_mesh_data_parallel_equals_one_device():
    from course_lib.distributed import epoch_batches, load_graph
    from course_lib.jax import bpr, distributed as D
    from course_lib.jax.data import to_normalized_adjacency

    graph, edges = load_graph("small")
    adj = to_normalized_adjacency(graph, edges)
    state = D.create_state(graph.num_nodes, adj, embedding_dim=16)
    users, pos, neg = next(epoch_batches(graph, edges, 1024, 1, 0, 0, 0))
    batch = tuple(np.asarray(x, np.int32) for x in (users, pos + graph.num_users,
                                                     neg + graph.num_users))
    ref, _ = bpr.train_step(state, adj, batch)
    mesh = D.make_mesh()
    got, _ = D.train_step(state, adj, D.shard_batch(batch, mesh), mesh)
    diff = np.abs(np.asarray(got.params["params"]["embedding"]) -
                  np.asarray(ref.params["params"]["embedding"])).max()
    assert diff <= TOL


CUSTOM_GATHER = """
import jax
from course_lib.exercises import get
from course_lib.jax.distributed import sharded_propagate
from course_lib.jax.nn import chunked_propagate

def forgets_the_others(x_local, senders, receivers, weights, axis_name, num_chunks=1):
    # a hand-made differentiable all-gather whose backward pass keeps this device's slice
    # of its own gradient, without the other devices' parts (no reduce-scatter)
    rows = x_local.shape[0]

    @jax.custom_vjp
    def gather(x):
        return jax.lax.all_gather(x, axis_name, tiled=True)

    def backward(_, ct):
        me = jax.lax.axis_index(axis_name) * rows
        return (jax.lax.dynamic_slice_in_dim(ct, me, rows),)

    gather.defvjp(lambda x: (gather(x), None), backward)
    return chunked_propagate(gather(x_local), senders, receivers, weights, rows, num_chunks)

exercise = get("sharded_propagate")
print(jax.device_count(), exercise.run(sharded_propagate, seed=1).status)
bad = exercise.run(forgets_the_others, seed=1)
print(bad.status, "gradient" in bad.message)
"""


def test_sharded_propagate_checker_sees_each_devices_gradient():
    """With the devices there (the chapter's eight, the grader's four), the checker runs
    ``sharded_propagate`` under ``shard_map``: an all-gather whose backward pass forgets the
    other devices' gradient fails (under ``vmap`` its gradient arrives already summed)."""
    env = {**_env(2), "JAX_NUM_CPU_DEVICES": "4"}
    done = subprocess.run([sys.executable, "-c", CUSTOM_GATHER], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["4", "passed", "failed", "True"], done.stdout

