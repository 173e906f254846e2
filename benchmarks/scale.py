"""Chapter 8's records: what LightGCN needs at MovieLens-25M scale, and what each kind of
parallelism buys. Writes ``course_lib/records/scale.json``.

Usage (from the repository root, after ``make setup``; about 8 minutes on 2 cores)::

    python benchmarks/scale.py            # print the tables
    python benchmarks/scale.py --write    # ... and store them in records/scale.json

Every measurement runs in a process of its own (JAX fixes its device count when it first
runs; a process's peak memory is read from ``/proc/self/status`` after resetting it):

* ``memory``: per dataset shape (:data:`course_lib.scale.MOVIELENS_SHAPES`), one training step
  of LightGCN (64 dimensions, 3 layers, BPR on 8,192 triples, Adam):
  - the sizes that follow from the shape: table, gradient, Adam moments, the edge list,
    the layers E(0)..E(L) (held until their mean is formed);
  - JAX, read from the compiled step (``memory_analysis``, nothing allocated, so exact at any
    size): the course's CSR product (:class:`course_lib.jax.data.Adjacency`), all edges'
    messages at once, and 64 chunks (:func:`course_lib.jax.nn.chunked_propagate`);
  - PyTorch, measured: the step's peak resident memory above what the process held before
    it (large allocations mapped and unmapped one by one, so that it follows the live
    tensors), on synthetic graphs of 1 %, 3 % and 10 % of MovieLens-25M
    (:func:`course_lib.scale.synthetic_graph`), fitted as ``a + b * edges`` and
    **extrapolated** to the full shapes;
* ``time``: seconds per step of each framework's chapter-6 step (:func:`course_lib.pyg.bpr.train_step`,
  :func:`course_lib.jax.bpr.train_step`, the CSR product, the global batch of
  :data:`course_lib.settings.DISTRIBUTED`) on the same synthetic graphs, the median of 5
  after a warm-up; an epoch is ``ratings / batch`` steps; fitted as ``a + b * edges`` and
  **extrapolated** to the full shapes;
* ``devices``: memory per device of the row-sharded step on 1, 2, 4 and 8 simulated CPU
  devices at MovieLens-25M's shape (:func:`course_lib.jax.distributed.memory_per_device`);
* ``processes``: data-parallel steps per second with 1 and 2 processes on this machine, for
  ``torchrun`` + DDP (gloo) and ``jax.distributed`` (gloo), on 1 % of MovieLens-25M;
* ``rows_processes``: PyTorch's row-sharded step (``fit_row_sharded``) over 1, 2 and 4
  processes on 10 % of MovieLens-25M, all edges at once and in 64 chunks: what each process
  holds and how much its memory grows during a step.

PyTorch's step on the real ``ml-latest-small`` (all its ratings) is measured too, not
extrapolated: it is smaller than the synthetic graphs. ``--only-small`` measures just that
and adds it to the stored record (with ``--write``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RECORD = ROOT / "course_lib" / "records" / "scale.json"
FRACTIONS = (0.01, 0.03, 0.1)
DIM, LAYERS, BATCH, CHUNKS = 64, 3, 8192, 64
PROCESSES_FRACTION, PROCESSES_STEPS = 0.01, 20
ROWS_FRACTION = 0.1


def _status(key: str) -> int:
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


# ------------------------------------------------------------------------------------------------
# One measurement per process
# ------------------------------------------------------------------------------------------------


def child_torch_memory(fraction: float | str, mode: str) -> dict:
    """One PyTorch step's memory growth on a synthetic graph of ``fraction`` of ML-25M, or
    on the real ``'ml-latest-small'`` (all its ratings)."""
    import ctypes

    import torch

    # Every allocation over 64 kB gets pages of its own, handed back when freed, so that the
    # resident set follows the live tensors (glibc's default threshold grows to 32 MB and
    # keeps freed chunks for reuse, which the resident set cannot tell from live ones).
    libc = ctypes.CDLL("libc.so.6")
    libc.mallopt(-3, 64 * 1024)             # M_MMAP_THRESHOLD

    from course_lib.cf import normalized_adjacency
    from course_lib.distributed import epoch_batches
    from course_lib.pyg.bpr import batch_ego, bpr_loss
    from course_lib.pyg.data import to_normalized_adjacency
    from course_lib.pyg.lightgcn import layer_mean
    from course_lib.pyg.nn import chunked_propagate, pair_scores
    from course_lib.scale import synthetic_graph

    torch.set_num_threads(2)
    if fraction == "ml-latest-small":
        from course_lib.data import load_movielens
        from course_lib.graph import build_graph

        graph = build_graph(load_movielens())
    else:
        graph = synthetic_graph("ml-25m", fraction, seed=0)
    edges = range(graph.num_edges)
    if mode == "csr":
        propagate = to_normalized_adjacency(graph, edges).propagate
    else:
        s, r, w = (torch.from_numpy(a) for a in normalized_adjacency(
            graph.edge_index, graph.num_users, graph.num_movies))
        chunks = 1 if mode == "at_once" else CHUNKS

        def propagate(x):
            return chunked_propagate(x, s, r, w, graph.num_nodes, chunks)
    users, pos, neg = next(epoch_batches(graph, list(edges), BATCH, 1, 0, 0, 0))
    batch = [torch.from_numpy(a) for a in (users, pos + graph.num_users,
                                           neg + graph.num_users)]
    ego = torch.nn.Parameter(torch.randn(graph.num_nodes, DIM) * 0.01)
    opt = torch.optim.Adam([ego], lr=0.01)

    def step():
        opt.zero_grad()
        z = layer_mean(ego, propagate, LAYERS)
        loss = bpr_loss(pair_scores(z, batch[0], batch[1]), pair_scores(z, batch[0], batch[2]),
                        batch_ego(ego, torch.cat(batch)), 1e-4)
        loss.backward()
        opt.step()

    step()                                  # Adam's moments exist from here on
    libc.malloc_trim(0)
    before = _status("VmRSS")
    _reset_peak()
    step()
    return {"fraction": fraction, "mode": mode, "edges": 2 * graph.num_edges,
            "step_peak_bytes": _status("VmHWM") - before}


def child_jax_memory(users: int, movies: int, ratings: int) -> dict:
    import jax
    import jax.numpy as jnp
    import optax

    from course_lib.jax import bpr
    from course_lib.jax.data import Adjacency
    from course_lib.jax.distributed import memory_per_device
    from course_lib.jax.lightgcn import build_lightgcn
    from course_lib.jax.state import TrainState

    n, e = users + movies, 2 * ratings
    out = {}
    for name, chunks in (("at_once", 1), ("chunked", CHUNKS)):
        m = memory_per_device(n, e, 1, embedding_dim=DIM, num_layers=LAYERS,
                              num_chunks=chunks, batch_size=BATCH)
        out[name] = {"arguments": m["arguments"], "temporaries": m["temporaries"]}
    # the course's CSR product (chapter 6's step), lowered on shapes alone
    i32, f32 = jnp.int32, jnp.float32
    sds = jax.ShapeDtypeStruct
    adj = Adjacency(sds((e,), f32), sds((e,), i32), sds((n + 1,), i32), sds((e,), i32),
                    sds((e,), i32), sds((e,), i32), sds((n + 1,), i32))
    model = build_lightgcn(n, DIM, LAYERS)
    params = {"params": {"embedding": sds((n, DIM), f32)}}
    state = jax.eval_shape(lambda p: TrainState.create(apply_fn=model.apply, params=p,
                                                       tx=optax.adam(0.01),
                                                       key=jax.random.key(0)), params)
    batch = tuple(sds((BATCH,), i32) for _ in range(3))
    m = bpr.train_step.lower(state, adj, batch, 1e-4).compile().memory_analysis()
    out["csr"] = {"arguments": int(m.argument_size_in_bytes),
                  "temporaries": int(m.temp_size_in_bytes)}
    return out


def child_time(framework: str, fraction: float) -> dict:
    import numpy as np

    from course_lib.distributed import epoch_batches
    from course_lib.scale import synthetic_graph

    graph = synthetic_graph("ml-25m", fraction, seed=0)
    edges = np.arange(graph.num_edges)
    batches = [tuple(np.asarray(a, np.int64) for a in (u, p + graph.num_users,
                                                        n + graph.num_users))
               for u, p, n in epoch_batches(graph, edges, BATCH, 1, 0, 0, 0)][:6]
    if framework == "pyg":
        import torch

        from course_lib.pyg import bpr

        torch.set_num_threads(2)
        adj = bpr.to_normalized_adjacency(graph, edges)
        state = bpr.create_state(graph, adj, model="lightgcn", embedding_dim=DIM,
                                 num_layers=LAYERS, lr=0.01)
        batches = [[torch.from_numpy(a) for a in b] for b in batches]

        def step(state, b):
            state, loss = bpr.train_step(state, adj, b, 1e-4)
            float(loss)
            return state
    else:
        import jax

        from course_lib.jax import bpr

        adj = jax.device_put(bpr.to_normalized_adjacency(graph, edges))
        state = bpr.create_state(graph, adj, model="lightgcn", embedding_dim=DIM,
                                 num_layers=LAYERS, lr=0.01)
        batches = [tuple(a.astype(np.int32) for a in b) for b in batches]

        def step(state, b):
            state, loss = bpr.train_step(state, adj, b, 1e-4)
            float(loss)
            return state
    state = step(state, batches[0])                  # warm-up (JAX: compiles)
    times = []
    for b in batches[1:]:
        start = time.perf_counter()
        state = step(state, b)
        times.append(time.perf_counter() - start)
    return {"framework": framework, "fraction": fraction, "edges": 2 * graph.num_edges,
            "interactions": graph.num_edges, "seconds_per_step": float(np.median(times))}


def child_devices() -> list[dict]:
    import jax

    jax.config.update("jax_num_cpu_devices", 8)
    from course_lib.jax.distributed import memory_per_device
    from course_lib.scale import MOVIELENS_SHAPES

    shape = MOVIELENS_SHAPES["ml-25m"]
    n, e = shape["users"] + shape["movies"], 2 * shape["ratings"]
    return [memory_per_device(n, e, d, embedding_dim=DIM, num_layers=LAYERS, num_chunks=c,
                              batch_size=BATCH) | {"chunks": c}
            for c in (1, CHUNKS) for d in (1, 2, 4, 8)]


def rows_child(fraction: float, chunks: int) -> None:
    """Run under ``torchrun``, one process per shard: one step of PyTorch's row-sharded
    LightGCN (:func:`course_lib.pyg.distributed.fit_row_sharded`'s step) on a synthetic
    graph; rank 0 prints, for every process, what it holds (its rows of the table, their
    gradient and Adam moments, its block of the adjacency; from the tensors' sizes) and how
    much its resident memory grew during a step (measured as in ``child_torch_memory``)."""
    import ctypes
    import gc

    import torch
    import torch.distributed as dist

    libc = ctypes.CDLL("libc.so.6")
    libc.mallopt(-3, 64 * 1024)             # M_MMAP_THRESHOLD, as in child_torch_memory

    from course_lib.distributed import epoch_batches, load_graph, row_of
    from course_lib.pyg.distributed import setup, shard_rows, sharded_loss, teardown

    rank, world = setup("gloo")
    graph, edges = load_graph("synthetic", fraction, 0)
    table, block = shard_rows(graph, edges, rank, world, embedding_dim=DIM,
                              num_layers=LAYERS)
    users, pos, neg = next(epoch_batches(graph, edges, BATCH, 1, 0, 0, 0))
    rows = tuple(torch.from_numpy(row_of(ids, graph.num_nodes, world)) for ids in
                 (users, pos + graph.num_users, neg + graph.num_users))
    optimizer = torch.optim.Adam([table], lr=0.01)

    def step():
        optimizer.zero_grad()
        loss = sharded_loss(table, block, rows, num_layers=LAYERS, num_chunks=chunks,
                            weight_decay=1e-4)
        (loss / world).backward()
        optimizer.step()

    step()                                  # Adam's moments exist from here on
    del graph, edges
    gc.collect()
    libc.malloc_trim(0)
    dist.barrier()
    before = _status("VmRSS")
    _reset_peak()
    step()
    growth = _status("VmHWM") - before
    held = 4 * table.numel() * 4 + sum(t.numel() * t.element_size() for t in block)
    mine = {"rank": rank, "held_bytes": held, "step_growth_bytes": growth,
            "rows": table.shape[0], "edges": len(block[0])}
    every = [None] * world
    dist.all_gather_object(every, mine)
    teardown()
    if rank == 0:
        print(json.dumps(every))


def rows_processes(fraction: float = ROWS_FRACTION) -> list[dict]:
    """PyTorch's row-sharded step over 1, 2 and 4 processes (``torchrun``, gloo), all edges
    at once and in chunks: per process, the largest of each measure over the processes."""
    out = []
    for chunks in (1, CHUNKS):
        for procs in (1, 2, 4):
            env = {**os.environ, "PYTHONPATH": str(ROOT), "MASTER_ADDR": "127.0.0.1",
                   "GLOO_SOCKET_IFNAME": "lo", "COURSE_NO_PROGRESS": "1"}
            done = subprocess.run(
                [sys.executable, "-m", "torch.distributed.run", "--standalone",
                 f"--nproc-per-node={procs}", str(ROOT / "benchmarks" / "scale.py"),
                 "--rows-child", str(fraction), str(chunks)],
                env=env, cwd=ROOT, capture_output=True, text=True, timeout=1200)
            if done.returncode:
                raise RuntimeError(f"rows {procs} processes failed:\n{done.stderr[-3000:]}")
            every = json.loads(done.stdout.strip().splitlines()[-1])
            out.append({"processes": procs, "chunks": chunks, "fraction": fraction,
                        **{k: max(e[k] for e in every) for k in
                           ("held_bytes", "step_growth_bytes", "rows", "edges")}})
            print(out[-1], flush=True)
    return out


CHILDREN = {"torch_memory": child_torch_memory, "jax_memory": child_jax_memory,
            "time": child_time, "devices": child_devices}


def _child(name: str, *args, threads: int = 2) -> dict | list:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(threads),
           "COURSE_NO_PROGRESS": "1"}
    code = (f"import json, sys; sys.path.insert(0, {str(ROOT)!r}); "
            f"from benchmarks.scale import CHILDREN; "
            f"print(json.dumps(CHILDREN[{name!r}](*{args!r})))")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          cwd=ROOT, timeout=1800)
    if done.returncode:
        raise RuntimeError(f"{name}{args} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------------------
# Several processes
# ------------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def processes(steps: int = PROCESSES_STEPS, fraction: float = PROCESSES_FRACTION
              ) -> list[dict]:
    import numpy as np

    common = ["--graph", "synthetic", "--fraction", str(fraction), "--steps", str(steps),
              "--batch-size", str(BATCH), "--embedding-dim", str(DIM)]
    runs = []
    for procs in (1, 2):
        out = Path(f"/tmp/scale-torch-{procs}.npz")
        env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(2 // procs),
               "MASTER_ADDR": "127.0.0.1", "GLOO_SOCKET_IFNAME": "lo"}
        subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                        f"--nproc-per-node={procs}", "-m", "course_lib.pyg.distributed",
                        *common, "--out", str(out)], env=env, cwd=ROOT, check=True,
                       capture_output=True, timeout=900)
        with np.load(out) as f:
            runs.append({"framework": "pyg", "processes": procs,
                         "seconds_per_step": float(f["seconds_per_step"])})
        out = Path(f"/tmp/scale-jax-{procs}.npz")
        env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(2 // procs),
               "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=" + ("true" if procs == 1
                                                                else "false")}
        extra = ([] if procs == 1 else ["--coordinator", f"127.0.0.1:{_free_port()}",
                                        "--num-processes", str(procs)])
        jobs = [subprocess.Popen([sys.executable, "-m", "course_lib.jax.distributed", *common,
                                  "--out", str(out), *extra,
                                  *([] if procs == 1 else ["--process-id", str(i)])],
                                 env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL) for i in range(procs)]
        for job in jobs:
            if job.wait(timeout=900):
                raise RuntimeError("jax.distributed run failed")
        with np.load(out) as f:
            runs.append({"framework": "jax", "processes": procs,
                         "seconds_per_step": float(f["seconds_per_step"])})
    for r in runs:
        r["interactions_per_second"] = round(BATCH / r["seconds_per_step"])
    return runs


# ------------------------------------------------------------------------------------------------
# The record
# ------------------------------------------------------------------------------------------------


def _fit(xs, ys):
    import numpy as np

    b, a = np.polyfit(np.asarray(xs, float), np.asarray(ys, float), 1)
    return float(a), float(b)


def pyg_measured_small() -> dict:
    """PyTorch's step on the real ml-latest-small graph, measured (not extrapolated)."""
    return {mode: _child("torch_memory", "ml-latest-small", mode)["step_peak_bytes"]
            for mode in ("csr", "at_once", "chunked")}


def measure() -> dict:
    from course_lib.scale import MOVIELENS_SHAPES

    shapes = {name: dict(s) for name, s in MOVIELENS_SHAPES.items()}
    print("PyTorch memory ...", flush=True)
    torch_mem = [_child("torch_memory", f, mode) for f in FRACTIONS
                 for mode in ("csr", "at_once", "chunked")]
    shapes["ml-latest-small"]["pyg_measured"] = pyg_measured_small()
    print("JAX memory ...", flush=True)
    for s in shapes.values():
        s["jax"] = _child("jax_memory", s["users"], s["movies"], s["ratings"])
    print("time ...", flush=True)
    times = [_child("time", fw, f) for fw in ("pyg", "jax") for f in FRACTIONS]
    print("devices ...", flush=True)
    devices = _child("devices")
    print("processes ...", flush=True)
    procs = processes()
    print("row-sharded PyTorch processes ...", flush=True)
    rows_procs = rows_processes()

    fits = {}
    for mode in ("csr", "at_once", "chunked"):
        rows = [m for m in torch_mem if m["mode"] == mode]
        fits[f"torch_{mode}"] = _fit([m["edges"] for m in rows],
                                     [m["step_peak_bytes"] for m in rows])
    for fw in ("pyg", "jax"):
        rows = [t for t in times if t["framework"] == fw]
        fits[f"step_{fw}"] = _fit([t["edges"] for t in rows],
                                  [t["seconds_per_step"] for t in rows])
    for s in shapes.values():
        n, e = s["users"] + s["movies"], 2 * s["ratings"]
        table = n * DIM * 4
        s["nodes"], s["edges"] = n, e
        s["sizes"] = {"table": table, "gradient": table, "adam": 2 * table,
                      "edge_list": 12 * e, "layers": (LAYERS + 1) * table}
        s["pyg_extrapolated"] = {mode: max(0, round(a + b * e)) for mode, (a, b) in
                                 ((m, fits[f"torch_{m}"]) for m in
                                  ("csr", "at_once", "chunked"))}
        s["steps_per_epoch"] = s["ratings"] // BATCH
        # only beyond the graphs measured (the line's intercept is not a small graph's time)
        s["epoch_seconds_extrapolated"] = {
            fw: round(s["steps_per_epoch"] * (fits[f"step_{fw}"][0] + fits[f"step_{fw}"][1] * e),
                      1) for fw in ("pyg", "jax")} if e > max(t["edges"] for t in times) else None
    return {
        "machine": f"{os.cpu_count()} CPU cores, {platform.machine()}, no GPU",
        "date": time.strftime("%Y-%m-%d"),
        "settings": {"embedding_dim": DIM, "num_layers": LAYERS, "batch_size": BATCH,
                     "chunks": CHUNKS, "optimizer": "Adam"},
        "fractions": list(FRACTIONS),
        "shapes": shapes, "torch_memory": torch_mem, "time": times, "fits": fits,
        "devices": devices, "processes": procs, "rows_processes": rows_procs,
        "processes_settings": {"graph": "synthetic_graph('ml-25m', fraction, seed=0)",
                               "fraction": PROCESSES_FRACTION, "steps": PROCESSES_STEPS,
                               "batch_size": BATCH, "embedding_dim": DIM},
    }


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--write", action="store_true", help=f"store the record in {RECORD}")
    p.add_argument("--rows-child", nargs=2, metavar=("FRACTION", "CHUNKS"),
                   help=argparse.SUPPRESS)
    p.add_argument("--only-rows", action="store_true",
                   help="measure only PyTorch's row-sharded processes and add them to the "
                        "stored record")
    p.add_argument("--only-small", action="store_true",
                   help="measure only PyTorch's step on ml-latest-small and add it to the "
                        "stored record")
    args = p.parse_args(argv)
    if args.rows_child:
        rows_child(float(args.rows_child[0]), int(args.rows_child[1]))
        return {}
    if args.only_rows:
        record = json.loads(RECORD.read_text())
        record["rows_processes"] = rows_processes()
        if args.write:
            RECORD.write_text(json.dumps(record, indent=1) + "\n")
            print("wrote", RECORD)
        return record
    if args.only_small:
        record = json.loads(RECORD.read_text())
        measured = pyg_measured_small()
        record["shapes"]["ml-latest-small"]["pyg_measured"] = measured
        print("PyG on ml-latest-small (GB):",
              {mode: round(v / 1e9, 4) for mode, v in measured.items()})
        if args.write:
            RECORD.write_text(json.dumps(record, indent=1) + "\n")
            print("wrote", RECORD)
        return record
    record = measure()
    gb = 1e9
    print(f"{'shape':<16}{'table':>8}{'JAX csr':>9}{'at once':>9}{'chunked':>9}"
          f"{'PyG csr*':>9}{'PyG ep*':>9}{'JAX ep*':>9}")
    for name, s in record["shapes"].items():
        j = s["jax"]
        print(f"{name:<16}{s['sizes']['table'] / gb:>8.3f}{j['csr']['temporaries'] / gb:>9.2f}"
              f"{j['at_once']['temporaries'] / gb:>9.2f}{j['chunked']['temporaries'] / gb:>9.2f}"
              f"{s['pyg_extrapolated']['csr'] / gb:>9.2f}"
              + "".join(f"{(s['epoch_seconds_extrapolated'] or {}).get(fw, float('nan')):>9.0f}"
                        for fw in ("pyg", "jax")))
    print("(GB; * extrapolated from synthetic graphs of", record["fractions"], "of ML-25M)")
    for d in record["devices"]:
        print(f"{d['devices']} device(s), {d['chunks']} chunk(s): "
              f"{(d['arguments'] + d['temporaries']) / gb:.2f} GB per device")
    for r in record["processes"]:
        print(f"{r['framework']} {r['processes']} process(es): {r['seconds_per_step']:.3f} s/step")
    if args.write:
        RECORD.write_text(json.dumps(record, indent=1) + "\n")
        print("wrote", RECORD)
    return record


if __name__ == "__main__":
    main()
