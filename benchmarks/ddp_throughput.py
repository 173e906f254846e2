"""Chapter 8's throughput of data-parallel LightGCN in PyG: ``torchrun`` with 1 and with 2
processes, ``course_lib.pyg.distributed`` (``DistributedDataParallel``, gloo on CPUs), the
same global batch and the same steps.

Usage (from the repository root, after ``make setup``)::

    python benchmarks/ddp_throughput.py                    # synthetic ML-25M shape, 1 %
    python benchmarks/ddp_throughput.py --fraction 0.05 --steps 30 --procs 1 2 4

Each process count is one ``torchrun --standalone`` job in its own subprocess, training
LightGCN with chapter 6's dimensions and layers (:data:`course_lib.settings.BPR`) on
:func:`course_lib.scale.synthetic_graph` (MovieLens-25M's shape, ``--fraction`` of its size;
ml-latest-small's training interactions when ``course_lib.scale`` is missing). Seconds per
step: the median over the steps after the first, as rank 0 saw them (drawing the batch, the
step, DDP's all-reduce); interactions per second: the global batch over that. The results go
to ``course_lib/records/ddp_throughput.json``, which chapter 8 shows.

Each process gets ``cores // processes`` threads (:func:`course_lib.pyg.distributed.setup`),
so on a machine of ``C`` cores ``P`` processes share the same ``C`` cores that one process
uses alone: the speed-up can never pass ``C / 1`` over one single-threaded process, and over
one process that already uses all ``C`` cores it has nothing to gain but what threads fail to
use. Data-parallel LightGCN also repeats the whole propagation on every process (only the
scoring of the batch is split), so on one machine it is slower, not faster: its gain is on
several GPUs or machines, where each process brings its own.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RECORD = ROOT / "course_lib" / "records" / "ddp_throughput.json"


def has_scale() -> bool:
    import importlib.util

    return importlib.util.find_spec("course_lib.scale") is not None


def run(procs: int, graph: str, fraction: float, steps: int, batch_size: int,
        timeout: float = 1800) -> dict:
    """One torchrun job; rank 0's results."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.npz"
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc-per-node={procs}", "-m", "course_lib.pyg.distributed",
               "--graph", graph, "--fraction", str(fraction), "--steps", str(steps),
               "--batch-size", str(batch_size), "--out", str(out)]
        env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
        if sys.platform.startswith("linux"):
            env["GLOO_SOCKET_IFNAME"] = "lo"
        started = time.perf_counter()
        done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True,
                              timeout=timeout)
        if done.returncode:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout[-2000:]}"
                               f"\n{done.stderr[-4000:]}")
        with np.load(out) as f:
            r = {k: f[k] for k in f.files}
    return {"processes": procs, "backend": str(r["backend"]),
            "seconds_per_step": round(float(r["seconds_per_step"]), 4),
            "interactions_per_second": round(float(r["interactions_per_second"])),
            "first_loss": round(float(r["losses"][0]), 5),
            "last_loss": round(float(r["losses"][-1]), 5),
            "job_s": round(time.perf_counter() - started, 1),
            "nodes": int(r["num_nodes"]), "interactions": int(r["num_interactions"])}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fraction", type=float, default=0.01)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=8192, help="global batch size")
    p.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    p.add_argument("--no-write", action="store_true", help="print only")
    args = p.parse_args(argv)
    import torch

    graph = "synthetic" if has_scale() else "small"
    rows = [run(n, graph, args.fraction, args.steps, args.batch_size) for n in args.procs]
    base = rows[0]["interactions_per_second"]
    for row in rows:
        row["speedup"] = round(row["interactions_per_second"] / base, 2)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    record = {
        "machine": f"{cores} CPU cores, {platform.machine()}, no GPU"
                   if not torch.cuda.is_available() else
                   f"{cores} CPU cores, {torch.cuda.device_count()} x "
                   f"{torch.cuda.get_device_name(0)}",
        "cores": cores, "torch": torch.__version__, "date": time.strftime("%Y-%m-%d"),
        "graph": (f"synthetic_graph('ml-25m', fraction={args.fraction})" if graph == "synthetic"
                  else "ml-latest-small, training interactions (course_lib.scale missing)"),
        "nodes": rows[0]["nodes"], "interactions": rows[0]["interactions"],
        "steps": args.steps, "batch_size": args.batch_size,
        "settings": "course_lib.settings.BPR['lightgcn'] (embedding_dim, num_layers, lr)",
        "note": (f"{cores} cores shared by every process count (cores // processes threads "
                 f"each): {max(args.procs)} processes on {cores} cores cannot show more than "
                 f"{cores}x, and data-parallel LightGCN repeats the whole propagation on "
                 f"every process, so on one CPU machine more processes are no faster; the "
                 f"gain comes with a GPU or a machine per process"),
        "runs": rows,
    }
    print(f"{record['graph']}: {record['nodes']:,} nodes, {record['interactions']:,} "
          f"interactions; global batch {args.batch_size:,}, {args.steps} steps; {cores} cores")
    print(f"{'processes':>9} {'s/step':>8} {'interactions/s':>15} {'speed-up':>9}")
    for row in rows:
        print(f"{row['processes']:>9} {row['seconds_per_step']:>8.4f} "
              f"{row['interactions_per_second']:>15,} {row['speedup']:>8.2f}x")
    if not args.no_write:
        RECORD.write_text(json.dumps(record, indent=1) + "\n")
        print(f"wrote {RECORD.relative_to(ROOT)}")
    return record


if __name__ == "__main__":
    main()
