"""LightGCN beyond one process in PyG with PyTorch's own engine, ``torch.distributed`` and
``DistributedDataParallel`` (chapter 8; JAX twin: ``course_lib/jax/distributed.py``).

Every process holds the whole model and the whole normalised training adjacency, and
propagates over all of it on every step (LightGCN's embeddings of a batch depend on the
whole graph); the interactions are what is split. Each step's global batch of BPR triples
(:func:`course_lib.distributed.epoch_batches`) is cut into one equal part per process; each
process computes the BPR loss of its part, and ``DistributedDataParallel`` (DDP) averages
the gradients across the processes while ``backward()`` runs (an all-reduce of buckets of
gradients, overlapped with the rest of the backward pass). Every process then takes the
same Adam step from the same gradient, so the copies stay identical, and ``W`` processes
follow one process step for step (up to float rounding): the mean of the parts' mean
gradients is the global batch's mean gradient.

Run on one machine with ``N`` processes (gloo on CPUs, nccl when CUDA is available, one
GPU per process)::

    torchrun --standalone --nproc-per-node N -m course_lib.pyg.distributed \\
        --steps 20 --batch-size 8192 --out ddp.npz [--graph synthetic --fraction 0.01]

On several machines, the same command on each, with the node count, this machine's rank
among the nodes and one address every node can reach (node 0's, any free port)::

    torchrun --nnodes 2 --node-rank R --nproc-per-node N \\
        --master-addr HOST --master-port 29400 \\
        -m course_lib.pyg.distributed --steps 20 --batch-size 8192 --out ddp.npz

(``R`` is 0 on ``HOST`` and 1 on the other. With the dynamic rendezvous, ``--rdzv-backend
c10d --rdzv-endpoint HOST:29400 --rdzv-id ID`` in place of the last three options, torchrun
assigns the node ranks itself and ignores ``--node-rank``.) Each
machine needs the same code and data; the global batch size must be a multiple of the
total process count. torchrun sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``LOCAL_WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT`` in every process, which
:func:`setup` reads.

* :func:`setup` / :func:`teardown` - join (or create) the process group;
* :class:`BPRObjective` - the module DDP wraps: its ``forward`` propagates and returns the
  BPR loss of this process's part of the step;
* :func:`train_step` - one data-parallel Adam step;
* :func:`fit_data_parallel` - training for a number of steps or epochs: final weights,
  losses and speed;
* :func:`fit_row_sharded` - instead of the batch, the embedding table, its Adam moments
  and the adjacency split by rows over the processes (``--rows`` on the command line):
  rank ``r`` holds rows ``r*R ..`` of the table and the edges that end in them
  (:func:`course_lib.distributed.row_partition`); each layer gathers every process's rows
  (:func:`sharded_propagate`, PyTorch's differentiable functional all-gather) and the
  batch's rows come from the processes that hold them (:func:`gather_rows`);
* :func:`main` - the command line above (rank 0 writes ``--out``).

``torch_geometric.distributed`` (PyG's own, now deprecated, partitioned training) is not
used: nothing here is specific to graphs but the model.
"""

from __future__ import annotations

import datetime
import os
from functools import partial

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

import torch.distributed._functional_collectives as collectives

from .. import settings
from ..cf import normalized_adjacency
from ..distributed import (command_line, count_steps, from_rows, report, row_of,
                           row_partition, rows_per_shard, run_steps, to_rows, train_from)
from ..graph import BipartiteGraph
from .bpr import batch_ego, bpr_loss
from .data import Adjacency, to_normalized_adjacency
from .lightgcn import build_lightgcn, layer_mean
from .nn import chunked_propagate, numpy_weights, pair_scores

#: Chapter 8's settings (:data:`course_lib.settings.DISTRIBUTED`, read by the JAX twin too).
SETTINGS = settings.DISTRIBUTED


def setup(backend: str | None = None) -> tuple[int, int]:
    """Join the process group; returns ``(rank, world_size)``.

    Under ``torchrun`` (``RANK`` and ``WORLD_SIZE`` set) ``torch.distributed``'s
    ``init_process_group`` reads the rendezvous address from ``MASTER_ADDR`` and
    ``MASTER_PORT``. Without torchrun the process is a world of its own: a real gloo (or
    nccl) group of one process, whose store lives in memory (``HashStore``: no port, no
    socket), so that the same code, DDP included, runs in a notebook or a test. If the group
    exists already, nothing is done. ``backend``: ``'nccl'`` when CUDA is available (each
    process then uses GPU ``LOCAL_RANK``), else ``'gloo'``.

    Each process gets an equal share of the machine's cores for PyTorch's threads,
    ``max(1, cores // LOCAL_WORLD_SIZE)``, so that processes on one machine do not fight
    over them.
    """
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", 1))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    torch.set_num_threads(max(1, (cores or 1) // local_world))
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    timeout = datetime.timedelta(minutes=10)
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        dist.init_process_group(backend, init_method="env://", timeout=timeout)
    else:
        dist.init_process_group(backend, store=dist.HashStore(), rank=0, world_size=1,
                                timeout=timeout)
    return dist.get_rank(), dist.get_world_size()


def teardown() -> None:
    """Leave the process group (if any)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def process_device(backend: str | None = None) -> torch.device:
    """The device of this process: its GPU (``LOCAL_RANK``) under nccl, else the CPU."""
    backend = backend or (dist.get_backend() if dist.is_initialized() else None)
    if backend == "nccl":
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device("cpu")


class BPRObjective(nn.Module):
    """LightGCN and its BPR loss as one module, so that DDP sees the propagation:
    DDP's gradient hooks fire during ``backward()`` of what its ``forward``
    returned.

    ``forward(adj, users, positives, negatives)`` (node ids ``[b]`` of this
    process's part of the step; a movie's node id is its index plus the number of
    users) propagates the ego embeddings over the whole ``adj`` and returns the loss
    of the part, as :func:`course_lib.pyg.bpr.train_step` computes it: the mean of
    ``-log sigmoid(s(u, i) - s(u, j))`` plus ``weight_decay`` times the part's ego
    sum of squares over ``2 b``. Both terms are means over the part, so the average
    of the processes' gradients (DDP's) is the gradient of the whole step's loss."""

    def __init__(self, model: nn.Module, weight_decay: float):
        super().__init__()
        self.model = model
        self.weight_decay = weight_decay

    def forward(self, adj: Adjacency, users, positives, negatives) -> torch.Tensor:
        z = self.model.get_embedding(adj)
        ids = torch.cat([users, positives, negatives])
        ego = batch_ego(self.model.embedding.weight, ids)
        return bpr_loss(pair_scores(z, users, positives),
                        pair_scores(z, users, negatives),
                        ego, self.weight_decay)


def create_ddp(graph: BipartiteGraph, *, seed: int = SETTINGS["seed"],
               embedding_dim: int = SETTINGS["embedding_dim"],
               num_layers: int = SETTINGS["num_layers"],
               weight_decay: float = SETTINGS["weight_decay"], start: dict | None = None,
               device=None) -> DistributedDataParallel:
    """:class:`BPRObjective` over LightGCN wrapped in DDP (the process group must exist).

    The ego embeddings are Xavier-uniform, seeded with ``seed`` as in
    :func:`course_lib.pyg.bpr.create_state` (or ``start``'s weights, numpy arrays under
    PyG's names), so every process builds the same model; DDP broadcasts rank 0's weights
    anyway when it wraps them."""
    torch.manual_seed(seed)
    model = build_lightgcn(graph.num_nodes, embedding_dim, num_layers)
    if start is not None:
        model.load_state_dict({k: torch.as_tensor(v) for k, v in start.items()})
    device = device or process_device()
    objective = BPRObjective(model, weight_decay).to(device)
    return DistributedDataParallel(objective,
                                   device_ids=[device] if device.type == "cuda" else None)


def train_step(ddp: DistributedDataParallel, optimizer: torch.optim.Optimizer,
               adj: Adjacency, batch) -> torch.Tensor:
    """One data-parallel Adam step on this process's part ``(users, positives,
    negatives)`` (node id tensors) of the step's batch; returns this process's loss,
    a 0-d tensor (not ``.item()``, which would wait for the step to finish)."""
    ddp.train()
    optimizer.zero_grad()
    loss = ddp(adj, *batch)
    loss.backward()          # DDP all-reduces (averages) the gradients here
    optimizer.step()
    return loss.detach()


def fit_data_parallel(graph: BipartiteGraph, edge_ids, *, steps: int | None = None,
                      epochs: int | None = None, batch_size: int = SETTINGS["batch_size"],
                      seed: int = SETTINGS["seed"], lr: float = SETTINGS["lr"],
                      embedding_dim: int = SETTINGS["embedding_dim"],
                      num_layers: int = SETTINGS["num_layers"],
                      weight_decay: float = SETTINGS["weight_decay"],
                      start: dict | None = None, progress: bool = False) -> dict:
    """Train LightGCN with BPR on the interactions ``edge_ids``, data-parallel over the
    process group (:func:`setup` is called, and the group left again, if none exists).

    ``batch_size`` is the **global** batch: each of the ``W`` processes trains on
    ``batch_size / W`` triples per step (a multiple of ``W``), the triples of
    :func:`course_lib.distributed.epoch_batches` (the same for any ``W``). Training stops
    after ``steps`` steps, or after ``epochs`` epochs (each ``len(edge_ids) // batch_size``
    steps), whichever comes first (one epoch if neither is given). Every process propagates
    over the normalised adjacency of all ``edge_ids``.

    Returns, on every process, a dict: ``params`` (the final weights, numpy arrays under
    PyG's names: ``'embedding.weight'`` ``[N, D]``), ``losses`` (per step, the mean of the
    processes' losses: the global batch's loss), ``seconds_per_step`` (the median of the
    steps after the first, which warms up, as rank 0 saw them: the step and its all-reduce,
    from the moment its part of the batch is drawn, as the JAX twin times it), ``interactions_per_second`` (``batch_size`` over that),
    ``world_size``, ``steps`` and ``batch_size``.
    """
    owns_group = not dist.is_initialized()
    rank, world = setup()
    try:
        # in a function of its own, so that DDP (and its reference to the process group)
        # is gone before the group is destroyed: gloo's destructor, run from DDP's, would
        # wait for a thread that waits for the GIL
        return _train(graph, edge_ids, rank, world, steps=steps, epochs=epochs,
                      batch_size=batch_size, seed=seed, lr=lr, embedding_dim=embedding_dim,
                      num_layers=num_layers, weight_decay=weight_decay, start=start,
                      progress=progress)
    finally:
        if owns_group:
            teardown()


def _train(graph, edge_ids, rank, world, *, steps, epochs, batch_size, seed, lr,
           embedding_dim, num_layers, weight_decay, start, progress) -> dict:
    device = process_device()
    adj = to_normalized_adjacency(graph, edge_ids).to(device)
    ddp = create_ddp(graph, seed=seed, embedding_dim=embedding_dim, num_layers=num_layers,
                     weight_decay=weight_decay, start=start, device=device)
    optimizer = torch.optim.Adam(ddp.parameters(), lr=lr)
    steps = count_steps(len(edge_ids), batch_size, steps, epochs)

    def step(*ids):
        loss = train_step(ddp, optimizer, adj, [torch.from_numpy(i).to(device) for i in ids])
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return loss

    losses, per_step = run_steps(graph, edge_ids, batch_size, world, rank, seed, steps,
                                 step, progress)
    losses = torch.stack(losses)
    dist.all_reduce(losses)                 # one all-reduce for every step's loss
    losses = (losses / world).cpu().numpy()
    return {"params": numpy_weights(ddp.module.model), "losses": losses,
            "seconds_per_step": per_step, "interactions_per_second": batch_size / per_step,
            "world_size": world, "steps": steps, "batch_size": batch_size}


# --------------------------------------------------------------------------------------------------
# Row-sharded: the embedding table and the adjacency split by rows over the processes
# --------------------------------------------------------------------------------------------------


def sharded_propagate(x_local: torch.Tensor, senders: torch.Tensor,
                      receivers: torch.Tensor, weights: torch.Tensor, group=None,
                      num_chunks: int = 1) -> torch.Tensor:
    """On each process of ``group`` (the default group if ``None``): this
    process's rows of ``A @ x``, where ``x_local`` ``[R, D]`` is its block of
    ``x`` (rows ``r*R .. (r+1)*R-1`` of the whole table on rank ``r``) and
    ``senders``, ``receivers``, ``weights`` ``[E_r]`` are the edges ending in its
    rows (senders as rows of the whole table, receivers as rows of the block;
    padding edges weigh 0). Every process's block is gathered first (PyTorch's
    functional all-gather, differentiable: its backward pass is a
    reduce-scatter, which sums each block's gradient from every process and
    hands it to the block's owner), then the weighted rows are added,
    :func:`course_lib.pyg.nn.chunked_propagate` with ``num_chunks``. JAX twin
    (inside ``shard_map``, ``axis_name`` for ``group``):
    :func:`course_lib.jax.distributed.sharded_propagate`."""
    x_all = collectives.all_gather_single_autograd(x_local, 0,
                                                   group or dist.group.WORLD)
    return chunked_propagate(x_all, senders, receivers, weights, x_local.shape[0],
                             num_chunks)


def gather_rows(x_local: torch.Tensor, rows: torch.Tensor, group=None) -> torch.Tensor:
    """``[B, D]``, the rows ``rows`` (of the whole sharded table,
    :func:`course_lib.distributed.row_of`) of the row-sharded ``x``, the same on every
    process: each fills the rows it holds, zeros elsewhere, and a differentiable all-reduce
    adds the parts. Only ``B`` rows travel, not the table."""
    per_process = x_local.shape[0]
    local = rows - dist.get_rank(group) * per_process
    mine = (local >= 0) & (local < per_process)
    part = torch.where(mine[:, None], x_local[local.clamp(0, per_process - 1)],
                       x_local.new_zeros(()))
    return collectives.all_reduce(part, "sum", group or dist.group.WORLD)


def sharded_loss(table: torch.Tensor, block, rows, *, num_layers: int,
                 num_chunks: int = 1,
                 weight_decay: float = SETTINGS["weight_decay"], group=None,
                 propagate=sharded_propagate) -> torch.Tensor:
    """LightGCN's BPR loss of the whole batch, computed alike on every process
    from its rows ``table`` ``[R, D]`` of the embedding table and its ``block``
    of the adjacency (``(senders, receivers, weights)``,
    :func:`course_lib.distributed.row_partition`); ``rows`` are the batch's
    ``(users, positives, negatives)`` as rows of the sharded table
    (:func:`course_lib.distributed.row_of`). The collectives' backward passes
    add up every process's gradient, so each process calls ``backward()`` on
    this loss over the number of processes."""
    z = layer_mean(table, lambda x: propagate(x, *block, group, num_chunks),
                   num_layers)
    zu, zp, zn = (gather_rows(z, ids, group) for ids in rows)
    ego = gather_rows(table, torch.cat(rows), group)
    return bpr_loss((zu * zp).sum(-1), (zu * zn).sum(-1), ego, weight_decay)


def shard_rows(graph: BipartiteGraph, edge_ids, rank: int, world: int, *,
               seed: int = SETTINGS["seed"], embedding_dim: int = SETTINGS["embedding_dim"],
               num_layers: int = SETTINGS["num_layers"], start: dict | None = None,
               device=None) -> tuple[nn.Parameter, tuple[torch.Tensor, ...]]:
    """Rank ``rank``'s share of a row-sharded LightGCN over ``world`` processes:
    ``(table, block)``, its rows ``[R, D]`` of the embedding table (initialised as by
    :func:`create_ddp`, or from ``start``; :func:`course_lib.distributed.row_of`) as a
    parameter, and its block ``(senders, receivers, weights)`` of the normalised adjacency
    of ``edge_ids`` (:func:`course_lib.distributed.row_partition`)."""
    device = device or process_device()
    torch.manual_seed(seed)
    model = build_lightgcn(graph.num_nodes, embedding_dim, num_layers)
    if start is not None:
        model.load_state_dict({k: torch.as_tensor(v) for k, v in start.items()})
    per_process = rows_per_shard(graph.num_nodes, world)
    mine = slice(rank * per_process, (rank + 1) * per_process)
    table = to_rows(model.embedding.weight.detach().numpy(), world)[mine]
    table = nn.Parameter(torch.from_numpy(table.copy()).to(device))
    s, r, w = normalized_adjacency(graph.edge_index[:, np.asarray(edge_ids)],
                                   graph.num_users, graph.num_movies)
    blocks = row_partition(s, r, w, graph.num_nodes, world)
    block = tuple(torch.from_numpy(b[rank]).to(device, torch.int64 if i < 2 else None)
                  for i, b in enumerate(blocks))
    return table, block


def fit_row_sharded(graph: BipartiteGraph, edge_ids, *, steps: int | None = None,
                    epochs: int | None = None, batch_size: int = SETTINGS["batch_size"],
                    seed: int = SETTINGS["seed"], lr: float = SETTINGS["lr"],
                    embedding_dim: int = SETTINGS["embedding_dim"],
                    num_layers: int = SETTINGS["num_layers"],
                    weight_decay: float = SETTINGS["weight_decay"], num_chunks: int = 1,
                    start: dict | None = None, progress: bool = False) -> dict:
    """Train LightGCN with BPR with the embedding table, its Adam moments and the
    normalised adjacency of ``edge_ids`` split by rows over the process group (:func:`setup`
    is called, and the group left again, if none exists): rank ``r`` of ``W`` holds rows
    ``r*R .. (r+1)*R-1`` of the table (:func:`course_lib.distributed.row_of`, nodes dealt
    out in turn) and the edges that end in them. Every process sees each step's whole
    batch (the triples of :func:`course_lib.distributed.epoch_batches`, as one process
    draws them), so ``W`` processes follow one process step for step. The start is the
    table of :func:`create_ddp` (seeded alike) or ``start``.

    Returns, on every process, the dict of :func:`fit_data_parallel` (``params`` holds the
    whole node-ordered table, gathered), plus ``rows_per_shard`` (``R``) and
    ``edges_per_shard`` (the largest block, padding included). JAX twin (the shards are a
    mesh's devices): :func:`course_lib.jax.distributed.fit_row_sharded`."""
    owns_group = not dist.is_initialized()
    rank, world = setup()
    try:
        device = process_device()
        table, block = shard_rows(graph, edge_ids, rank, world, seed=seed,
                                  embedding_dim=embedding_dim, num_layers=num_layers,
                                  start=start, device=device)
        per_process = table.shape[0]
        optimizer = torch.optim.Adam([table], lr=lr)
        steps = count_steps(len(edge_ids), batch_size, steps, epochs)

        def step(*nodes):
            rows = tuple(torch.from_numpy(row_of(ids, graph.num_nodes, world)).to(device)
                         for ids in nodes)
            optimizer.zero_grad()
            loss = sharded_loss(table, block, rows, num_layers=num_layers,
                                num_chunks=num_chunks, weight_decay=weight_decay)
            (loss / world).backward()        # the collectives add the W processes' parts
            optimizer.step()
            return loss.detach()

        # every process takes the whole batch, as one process draws it
        losses, per_step = run_steps(graph, edge_ids, batch_size, 1, 0, seed, steps, step,
                                     progress and rank == 0)
        whole = collectives.all_gather_single(table.detach(), 0, dist.group.WORLD)
        return {"params": {"embedding.weight": from_rows(whole.cpu().numpy(),
                                                         graph.num_nodes, world)},
                "losses": torch.stack(losses).cpu().numpy(), "seconds_per_step": per_step,
                "interactions_per_second": batch_size / per_step, "world_size": world,
                "steps": steps, "batch_size": batch_size, "rows_per_shard": per_process,
                "edges_per_shard": len(block[0])}
    finally:
        if owns_group:
            teardown()


def main(argv=None) -> dict:
    """The command line (see the module's docstring): trains, and rank 0 prints the progress
    and writes ``--out`` (:func:`course_lib.distributed.report`; also ``backend``,
    ``graph``, ``num_nodes``, ``num_interactions``)."""
    p = command_line("torchrun ... -m course_lib.pyg.distributed",
                     "Data-parallel LightGCN (BPR) with DDP, or with the table and the "
                     "adjacency split by rows over the processes (--rows).")
    p.add_argument("--backend", choices=("gloo", "nccl"), default=None)
    p.add_argument("--rows", action="store_true",
                   help="split the table and the adjacency by rows (fit_row_sharded)")
    p.add_argument("--chunks", type=int, default=1,
                   help="with --rows: propagate the edges in this many slices")
    args = p.parse_args(argv)
    rank, world = setup(args.backend)
    try:
        fit = (partial(fit_row_sharded, num_chunks=args.chunks) if args.rows
               else fit_data_parallel)
        graph, edge_ids, result = train_from(args, fit)
        if rank == 0:
            extra = ({k: result[k] for k in ("rows_per_shard", "edges_per_shard")}
                     if args.rows else {})
            report(result, args, f"{world} process(es), {dist.get_backend()}: ",
                   backend=dist.get_backend(), graph=args.graph, num_nodes=graph.num_nodes,
                   num_interactions=len(edge_ids), **extra)
        return result
    finally:
        teardown()


if __name__ == "__main__":
    main()
