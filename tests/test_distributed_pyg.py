"""``course_lib/pyg/distributed.py`` (chapter 8): data-parallel LightGCN with
``torch.distributed`` and ``DistributedDataParallel``, launched by ``torchrun``.

Two processes follow one process step for step (the same global batches, gradients averaged
by DDP), and a one-process DDP run is the ordinary :func:`course_lib.pyg.bpr.train_step`.

Tolerance: the two processes' gradient is the mean of two half-batch gradients, summed in
another order than the whole batch's, so it differs in the last bits; Adam divides each
gradient entry by its running root mean square, so an entry near zero keeps only a few
correct digits and its step (at most ``lr``) can differ by a noticeable part of ``lr``. At
the chapter's ``lr=0.05`` five steps differ by up to 6e-6 (ml-latest-small, 16 dimensions);
the tests use ``lr=0.01``, where they differ by 6e-7, under the 1e-5 asserted."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from course_lib.cf import interaction_edges
from course_lib.distributed import epoch_batches, launch
from course_lib.pyg import bpr as pbpr
from course_lib.pyg.data import to_normalized_adjacency
from course_lib.pyg.distributed import fit_data_parallel

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN = {"steps": 5, "batch_size": 1024, "embedding_dim": 16, "num_layers": 2, "lr": 0.01,
       "seed": 0}
TOL = 1e-5


def _torchrun(nproc: int, out) -> dict:
    """``torchrun --standalone --nproc-per-node nproc -m course_lib.pyg.distributed`` on
    ml-latest-small with :data:`RUN` (:func:`course_lib.distributed.launch`); returns rank
    0's ``--out``."""
    return launch("pyg", nproc, out, graph="small", timeout=180, **RUN)


def _initial_embedding(graph) -> np.ndarray:
    torch.manual_seed(RUN["seed"])
    from course_lib.pyg.lightgcn import build_lightgcn

    model = build_lightgcn(graph.num_nodes, RUN["embedding_dim"], RUN["num_layers"])
    return model.embedding.weight.detach().numpy()


def test_two_processes_follow_one(tmp_path, graph):
    one = _torchrun(1, tmp_path / "one.npz")
    two = _torchrun(2, tmp_path / "two.npz")
    assert int(one["world_size"]) == 1 and int(two["world_size"]) == 2
    assert one["losses"].shape == two["losses"].shape == (RUN["steps"],)
    # training moved: the loss fell from log 2 and the weights left their start
    assert one["losses"][-1] < one["losses"][0] - 1e-3
    start = _initial_embedding(graph)
    assert one["embedding"].shape == start.shape
    assert np.abs(one["embedding"] - start).max() > 100 * TOL
    # ... and the two runs moved alike
    np.testing.assert_allclose(two["losses"], one["losses"], rtol=0, atol=TOL)
    diff = np.abs(two["embedding"] - one["embedding"]).max()
    assert diff <= TOL, f"2 processes differ from 1 by {diff:.2e}"


def test_one_process_ddp_is_the_ordinary_step(graph, split):
    edges = interaction_edges(split, "train")
    ddp = fit_data_parallel(graph, edges, **RUN)
    assert ddp["world_size"] == 1 and len(ddp["losses"]) == RUN["steps"]

    adj = to_normalized_adjacency(graph, edges)
    state = pbpr.create_state(graph, adj, model="lightgcn", seed=RUN["seed"], lr=RUN["lr"],
                              embedding_dim=RUN["embedding_dim"],
                              num_layers=RUN["num_layers"])
    start = state.model.embedding.weight.detach().numpy().copy()
    losses = []
    for users, pos, neg in epoch_batches(graph, edges, RUN["batch_size"], 1, 0, RUN["seed"],
                                         epoch=0):
        batch = [torch.from_numpy(ids) for ids in (users, pos + graph.num_users,
                                                   neg + graph.num_users)]
        state, loss = pbpr.train_step(state, adj, batch, pbpr.WEIGHT_DECAY)
        losses.append(loss)
        if len(losses) == RUN["steps"]:
            break
    ours = ddp["params"]["embedding.weight"]
    theirs = state.model.embedding.weight.detach().numpy()
    assert np.abs(theirs - start).max() > 100 * TOL            # the reference trained
    np.testing.assert_allclose(ddp["losses"], losses, rtol=0, atol=TOL)
    diff = np.abs(ours - theirs).max()
    assert diff <= TOL, f"DDP on one process differs from train_step by {diff:.2e}"


def test_row_sharded_two_processes_follow_one(tmp_path, graph):
    """The table and the adjacency split by rows over two processes (``--rows``, the edges
    in 3 slices) take the steps of one process's data-parallel run: the same losses and
    weights; each process held half the table's rows and about half the edges."""
    one = _torchrun(1, tmp_path / "one.npz")
    two = launch("pyg", 2, tmp_path / "rows.npz", graph="small", timeout=180, rows=True,
                 chunks=3, **RUN)
    assert int(two["world_size"]) == 2
    assert int(two["rows_per_shard"]) == -(-graph.num_nodes // 2)
    edges = 2 * int(one["num_interactions"])            # directed training edges
    assert edges / 2 <= int(two["edges_per_shard"]) < 0.55 * edges
    start = _initial_embedding(graph)
    assert np.abs(two["embedding"] - start).max() > 100 * TOL       # it trained
    np.testing.assert_allclose(two["losses"], one["losses"], rtol=0, atol=TOL)
    diff = np.abs(two["embedding"] - one["embedding"]).max()
    assert diff <= TOL, f"row-sharded over 2 processes differs from 1 by {diff:.2e}"


def test_gather_rows_and_sharded_propagate_on_one_process(graph, split):
    """With one process the collectives are the identity: ``sharded_propagate`` is the
    product with the normalised adjacency and ``gather_rows`` indexes the table."""
    import torch.distributed as dist

    from course_lib.cf import normalized_adjacency
    from course_lib.distributed import row_partition
    from course_lib.pyg.distributed import gather_rows, setup, sharded_propagate, teardown

    edges = interaction_edges(split, "train")
    adj = to_normalized_adjacency(graph, edges)
    x = torch.randn(graph.num_nodes, 8, generator=torch.Generator().manual_seed(0))
    s, r, w = (torch.from_numpy(b[0]) for b in row_partition(
        *normalized_adjacency(graph.edge_index[:, edges], graph.num_users,
                              graph.num_movies), graph.num_nodes, 1))
    owns = not dist.is_initialized()
    if owns:
        setup("gloo")
    try:
        got = sharded_propagate(x, s.long(), r.long(), w, None, 4)
        rows = torch.tensor([0, 5, graph.num_nodes - 1, 5])
        np.testing.assert_array_equal(gather_rows(x, rows).numpy(), x[rows].numpy())
    finally:
        if owns:
            teardown()
    np.testing.assert_allclose(got.numpy(), adj.propagate(x).numpy(), atol=1e-5)


@pytest.mark.gpu
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="nccl needs 2 CUDA GPUs; none here")
def test_two_gpus_nccl_follow_one(tmp_path):
    """Under CUDA :func:`~course_lib.pyg.distributed.setup` picks nccl, one GPU a process."""
    one = _torchrun(1, tmp_path / "one.npz")
    two = _torchrun(2, tmp_path / "two.npz")
    assert int(two["world_size"]) == 2 and str(two["backend"]) == "nccl"
    np.testing.assert_allclose(two["losses"], one["losses"], rtol=0, atol=TOL)
    assert np.abs(two["embedding"] - one["embedding"]).max() <= TOL
    # the row-sharded run on the GPUs too (nccl's all-gather and reduce-scatter)
    rows = launch("pyg", 2, tmp_path / "rows.npz", graph="small", timeout=180, rows=True,
                  chunks=3, **RUN)
    assert str(rows["backend"]) == "nccl"
    assert np.abs(rows["embedding"] - one["embedding"]).max() <= TOL
