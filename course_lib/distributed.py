"""Data-parallel training, framework-neutral (chapter 8): which interactions each process
trains on.

In data-parallel training every process (PyTorch: one ``torchrun`` worker; JAX: one device
of a mesh) holds a full copy of the model and computes the gradient of its own part of each
step's batch; an all-reduce then averages the gradients, and every copy takes the same step.
If the parts of one step together form exactly the batch a single process would have drawn,
the average of the parts' mean gradients is that batch's mean gradient, and training on ``W``
processes follows training on one step for step.

* :func:`shard_epoch` - this process's interaction ids for each step of an epoch (chapter 8's
  exercise): one shuffle, the same on every process, cut into global batches, each cut into
  ``world_size`` equal parts;
* :func:`epoch_batches` - this process's ``(users, positives, negatives)`` for each step, the
  negatives drawn for the whole global batch (the same on every process) so that 1 and ``W``
  processes see the same triples.
"""

from __future__ import annotations

import time

import numpy as np

from .cf import draw_negatives
from .graph import BipartiteGraph


def shard_epoch(num_interactions: int, batch_size: int, world_size: int, rank: int,
                rng: np.random.Generator) -> list[np.ndarray]:
    """This process's interaction ids (``0 .. num_interactions-1``) for each step of
    one epoch of data-parallel training, a list with one int64 array per step.

    ``rng`` is seeded alike on every process. Shuffle the ids once with
    ``rng.permutation``; the epoch has ``num_interactions // batch_size`` steps (the
    last, smaller batch is dropped); step ``s``'s global batch is the shuffled ids
    ``s * batch_size .. (s+1) * batch_size - 1``, and process ``rank`` takes the
    ``rank``-th of its ``world_size`` equal, consecutive parts. So the processes'
    parts are disjoint, together they are the global batch, and with
    ``world_size=1`` the one part is the whole batch. ``batch_size`` must be a
    multiple of ``world_size``."""
    if batch_size % world_size:
        raise ValueError(f"batch_size {batch_size} is not a multiple of world_size "
                         f"{world_size}: the processes' parts would differ in size")
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in 0 .. {world_size - 1}")
    order = rng.permutation(num_interactions)
    part = batch_size // world_size
    return [order[s * batch_size + rank * part:s * batch_size + (rank + 1) * part]
            for s in range(num_interactions // batch_size)]


def count_steps(num_interactions: int, batch_size: int, steps: int | None,
                epochs: int | None) -> int:
    """How many steps a run takes: ``steps``, or ``epochs`` epochs of
    ``num_interactions // batch_size`` steps, whichever comes first (one epoch if neither is
    given). A batch larger than the interactions is an error: no step."""
    per_epoch = num_interactions // batch_size
    if per_epoch == 0:
        raise ValueError(f"batch_size {batch_size} exceeds the {num_interactions} "
                         "interactions: no step")
    if steps is None:
        return (epochs or 1) * per_epoch
    return steps if epochs is None else min(steps, epochs * per_epoch)


def run_steps(graph: BipartiteGraph, edge_ids, batch_size: int, world_size: int, rank: int,
              seed: int, steps: int, step, progress: bool = False) -> tuple[list, float]:
    """The loop of every ``fit_*`` of chapter 8: ``step(users, positives, negatives)`` (node
    ids: movies offset by the users) on this process's part of each step's batch
    (:func:`epoch_batches`), epoch after epoch, ``steps`` times. Returns the steps' losses
    (what ``step`` returned) and the median seconds of a step after the first (which warms
    up or compiles), timed from the moment its batch is drawn; ``progress``: process 0
    prints each step's time."""
    losses, times, epoch = [], [], 0
    while len(losses) < steps:
        for users, positives, negatives in epoch_batches(graph, edge_ids, batch_size,
                                                         world_size, rank, seed, epoch):
            started = time.perf_counter()
            losses.append(step(users, positives + graph.num_users,
                               negatives + graph.num_users))
            times.append(time.perf_counter() - started)
            if progress and rank == 0:
                print(f"step {len(losses)}/{steps}: {times[-1]:.3f} s", flush=True)
            if len(losses) == steps:
                break
        epoch += 1
    return losses, float(np.median(times[1:] or times))


def epoch_batches(graph: BipartiteGraph, edge_ids, batch_size: int, world_size: int,
                  rank: int, seed: int, epoch: int, shard=shard_epoch,
                  sampler=draw_negatives):
    """Yields this process's ``(users, positives, negatives)`` int64 arrays (movie
    indices, not node ids) for each step of epoch ``epoch``: the positives are the
    interactions ``edge_ids`` that ``shard`` (:func:`shard_epoch`) gives this process, with
    an rng seeded ``(seed, epoch)``; the negatives (``sampler``, uniform among the movies a
    user has not interacted with) are drawn for the whole global batch with an rng seeded
    ``(seed, epoch, step)``, the same on every process, and this process keeps its part.
    So every process count sees the same global triples."""
    edge_ids = np.asarray(edge_ids)
    ei = graph.edge_index[:, edge_ids]
    seen = np.sort(graph.pair_codes(ei))
    mine = shard(len(edge_ids), batch_size, world_size, rank,
                 np.random.default_rng([seed, epoch]))
    every = shard(len(edge_ids), batch_size, 1, 0, np.random.default_rng([seed, epoch]))
    part = batch_size // world_size
    for step, (ids, global_ids) in enumerate(zip(mine, every)):
        negatives = sampler(ei[0, global_ids], seen, graph.num_movies,
                            np.random.default_rng([seed, epoch, step]))
        negatives = np.asarray(negatives, dtype=np.int64)[rank * part:(rank + 1) * part]
        yield ei[0, ids], ei[1, ids], negatives


# --------------------------------------------------------------------------------------------------
# The graph split by rows, for the embedding table and the adjacency sharded over devices
# --------------------------------------------------------------------------------------------------


def rows_per_shard(num_nodes: int, num_shards: int) -> int:
    """How many rows of the embedding table each of ``num_shards`` devices holds: the
    table is padded with zero rows to ``num_shards * rows_per_shard`` (a mesh splits an
    array into equal blocks)."""
    return -(-num_nodes // num_shards)


def row_of(nodes, num_nodes: int, num_shards: int):
    """The row of the sharded table that holds each node: nodes are dealt out to the
    devices in turn (node ``n`` to device ``n % num_shards``, as its ``n // num_shards``-th
    row), so every device gets users and movies alike and about ``1 / num_shards`` of the
    edges; device ``d`` holds rows ``d * R .. (d+1) * R - 1`` (``R``: :func:`rows_per_shard`).
    Works on numpy and JAX arrays."""
    return (nodes % num_shards) * rows_per_shard(num_nodes, num_shards) + nodes // num_shards


def to_rows(table, num_shards: int) -> np.ndarray:
    """A node-ordered ``[N, D]`` table laid out as the sharded table, ``[W * R, D]``
    (:func:`row_of`; the padding rows zero)."""
    table = np.asarray(table)
    n = table.shape[0]
    out = np.zeros((num_shards * rows_per_shard(n, num_shards),) + table.shape[1:],
                   table.dtype)
    out[row_of(np.arange(n), n, num_shards)] = table
    return out


def from_rows(rows, num_nodes: int, num_shards: int) -> np.ndarray:
    """The node-ordered ``[N, D]`` table of a sharded table's rows (:func:`to_rows`'s
    inverse)."""
    return np.asarray(rows)[row_of(np.arange(num_nodes), num_nodes, num_shards)]


def row_partition(senders, receivers, weights, num_nodes: int, num_shards: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The weighted edges ``senders -> receivers`` of a matrix over ``num_nodes`` nodes,
    split by receiver into the blocks of ``num_shards`` devices: device ``d`` holds the
    edges that end in its rows (:func:`row_of`). Returns ``(senders, receivers,
    weights)``, each ``[num_shards, E_max]``: senders as rows of the whole sharded table
    (any device's), receivers as rows within the device's block, each block sorted by
    receiver and padded to the largest block's count with edges of weight 0."""
    senders, receivers = np.asarray(senders, np.int64), np.asarray(receivers, np.int64)
    weights = np.asarray(weights, np.float32)
    rows = row_of(receivers, num_nodes, num_shards)
    senders = row_of(senders, num_nodes, num_shards)
    order = np.lexsort((senders, rows))
    senders, rows, weights = senders[order], rows[order], weights[order]
    per_shard = rows_per_shard(num_nodes, num_shards)
    block = rows // per_shard
    counts = np.bincount(block, minlength=num_shards)
    size = max(int(counts.max(initial=0)), 1)
    out_s = np.zeros((num_shards, size), np.int32)
    out_r = np.zeros((num_shards, size), np.int32)
    out_w = np.zeros((num_shards, size), np.float32)
    starts = np.concatenate([[0], np.cumsum(counts)])
    for d in range(num_shards):
        part = slice(starts[d], starts[d + 1])
        n = counts[d]
        out_s[d, :n], out_r[d, :n] = senders[part], rows[part] - d * per_shard
        out_w[d, :n] = weights[part]
    return out_s, out_r, out_w


#: The graphs the command lines train on (:func:`load_graph`).
GRAPHS = ("small", "synthetic", "ml-25m", "ml-32m")


def load_graph(name: str = "small", fraction: float = 0.01, seed: int = 0
               ) -> tuple[BipartiteGraph, np.ndarray]:
    """``(graph, edge_ids)``: the graph the command lines of
    :mod:`course_lib.pyg.distributed` and :mod:`course_lib.jax.distributed` train on, and
    its training interactions. ``'small'``: ml-latest-small, the training interactions of
    the course's split (:func:`course_lib.graph.split_edges`, seed 42); ``'synthetic'``:
    :func:`course_lib.scale.synthetic_graph` of MovieLens-25M's shape, ``fraction`` of its
    size, every interaction; ``'ml-25m'`` or ``'ml-32m'``: the full release
    (:func:`course_lib.data.load_movielens_release`: a download, or ``COURSE_DATA_DIR``),
    every interaction."""
    if name == "small":
        from .cf import interaction_edges
        from .data import load_movielens
        from .graph import build_graph, split_edges

        graph = build_graph(load_movielens())
        return graph, interaction_edges(split_edges(graph, seed=42), "train")
    if name == "synthetic":
        from .scale import synthetic_graph

        graph = synthetic_graph("ml-25m", fraction=fraction, seed=seed)
        return graph, np.arange(graph.num_edges)
    if name in ("ml-25m", "ml-32m"):
        from .data import load_movielens_release

        graph = load_movielens_release(name)
        return graph, np.arange(graph.num_edges)
    raise ValueError(f"graph must be one of {GRAPHS}, got {name!r}")


def launch(framework: str, processes: int, out, *, timeout: float = 600,
           **options) -> dict:
    """Run the command line of ``course_lib.<framework>.distributed`` (``'pyg'`` or
    ``'jax'``) as ``processes`` processes on this machine and return what process 0 wrote
    to ``out`` (an ``.npz``), as a dict of arrays. ``options`` become its flags
    (``steps=5`` -> ``--steps 5``, ``rows=True`` -> ``--rows``).

    PyG: one ``torchrun --standalone --nproc-per-node`` job (gloo over 127.0.0.1). JAX: the
    processes are started here and join through ``jax.distributed`` with process 0 as the
    coordinator on a free port of 127.0.0.1. Each process gets ``cores // processes``
    threads. A failed process raises ``RuntimeError`` with the end of its error output."""
    import os
    import socket
    import subprocess
    import sys

    if framework not in ("pyg", "jax"):
        raise ValueError(f"framework must be 'pyg' or 'jax', got {framework!r}")
    flags = [f"--{k.replace('_', '-')}" + ("" if v is True else f"={v}")
             for k, v in options.items() if v is not False] + [f"--out={out}"]
    threads = max(1, (os.cpu_count() or 1) // processes)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MASTER_ADDR": "127.0.0.1",
           "XLA_FLAGS": f"--xla_cpu_multi_thread_eigen={str(threads > 1).lower()}",
           "JAX_NUM_CPU_DEVICES": "1"}
    if sys.platform.startswith("linux"):
        env["GLOO_SOCKET_IFNAME"] = "lo"
    if framework == "pyg":
        commands = [[sys.executable, "-m", "torch.distributed.run", "--standalone",
                     f"--nproc-per-node={processes}", "-m", "course_lib.pyg.distributed",
                     *flags]]
    else:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        join = ([] if processes == 1 else
                [f"--coordinator=127.0.0.1:{port}", f"--num-processes={processes}"])
        commands = [[sys.executable, "-m", "course_lib.jax.distributed", *flags, *join,
                     *([f"--process-id={i}"] if processes > 1 else [])]
                    for i in range(processes)]
    jobs = [subprocess.Popen(c, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True) for c in commands]
    try:
        for job in jobs:
            _, err = job.communicate(timeout=timeout)
            if job.returncode:
                raise RuntimeError(f"{framework} on {processes} process(es) failed:\n"
                                   + err[-2000:])
    finally:
        for job in jobs:
            job.kill()
    with np.load(out) as f:
        return {k: f[k] for k in f.files}


def command_line(prog: str, description: str):
    """The options the command lines of :mod:`course_lib.pyg.distributed` and
    :mod:`course_lib.jax.distributed` share (the graph, the steps, the settings of
    :data:`course_lib.settings.DISTRIBUTED`, ``--out``); each adds its own."""
    import argparse

    from .settings import DISTRIBUTED as s

    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--graph", choices=GRAPHS, default="small")
    p.add_argument("--fraction", type=float, default=0.01,
                   help="size of the synthetic graph, a fraction of MovieLens-25M")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=s["batch_size"], help="global batch size")
    p.add_argument("--seed", type=int, default=s["seed"])
    p.add_argument("--lr", type=float, default=s["lr"])
    p.add_argument("--embedding-dim", type=int, default=s["embedding_dim"])
    p.add_argument("--num-layers", type=int, default=s["num_layers"])
    p.add_argument("--weight-decay", type=float, default=s["weight_decay"])
    p.add_argument("--out", default=None, help="where process 0 writes the result (.npz)")
    p.add_argument("--progress", action="store_true", help="print every step's time")
    return p


def train_from(args, fit) -> tuple[BipartiteGraph, np.ndarray, dict]:
    """``(graph, edge_ids, result)``: ``fit`` (a framework's ``fit_data_parallel``) on the
    graph and with the settings of the parsed :func:`command_line` ``args``."""
    graph, edge_ids = load_graph(args.graph, args.fraction, args.seed)
    result = fit(graph, edge_ids, steps=args.steps, epochs=args.epochs,
                 batch_size=args.batch_size, seed=args.seed, lr=args.lr,
                 embedding_dim=args.embedding_dim, num_layers=args.num_layers,
                 weight_decay=args.weight_decay, progress=args.progress)
    return graph, edge_ids, result


def report(result: dict, args, prefix: str = "", **extra) -> None:
    """What process 0 prints of a run, and writes to ``args.out`` (``.npz``: ``embedding``,
    ``losses``, ``seconds_per_step``, ``interactions_per_second``, ``world_size``,
    ``batch_size``, and ``extra``)."""
    print(f"{prefix}{result['steps']} steps, loss {result['losses'][0]:.4f} -> "
          f"{result['losses'][-1]:.4f}; {result['seconds_per_step']:.3f} s/step, "
          f"{result['interactions_per_second']:,.0f} interactions/s", flush=True)
    if args.out:
        np.savez(args.out, embedding=result["params"]["embedding.weight"],
                 losses=result["losses"], seconds_per_step=result["seconds_per_step"],
                 interactions_per_second=result["interactions_per_second"],
                 world_size=result["world_size"], batch_size=args.batch_size, **extra)
