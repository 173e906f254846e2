"""Epoch time and peak memory of GraphSAGE link prediction (chapter 3), PyG and JAX.

Usage (from the repository root, after ``make setup``)::

    python benchmarks/sage_epoch.py            # both frameworks, 3 epochs each
    python benchmarks/sage_epoch.py --epochs 5

Each framework runs in its own subprocess, so the peak resident memory (``ru_maxrss``) of one
does not hide the other's. Training settings are the chapter's (``course_lib.settings.SAGE``:
PyG ``LinkNeighborLoader`` mini-batches, JAX full-graph steps), through the chapter's own
``fit`` with only ``max_epochs`` and ``patience`` set to the number of epochs to time;
validation scores the fixed validation pairs over the whole graph in both. The first epoch
includes JAX's compilation and is reported separately.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from course_lib.twins import FRAMEWORKS  # noqa: E402


def run_framework(framework: str, epochs: int) -> dict:
    import numpy as np

    from course_lib.graph import movielens_graph_and_split
    from course_lib.twins import twin

    _, graph, split = movielens_graph_and_split()
    sage = twin(framework, "sage")
    fit = sage.fit(graph, split, max_epochs=epochs, patience=epochs)
    graphs = sage.link_graphs(graph, split)
    pairs, labels = split.labelled_pairs(graph, "val")
    start = time.perf_counter()  # JAX: already compiled by fit's validation
    sage.evaluate(fit.state, graphs["val"], pairs, labels)
    eval_time = time.perf_counter() - start
    times = fit.history["seconds"]  # the training passes only, validation excluded
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {"framework": framework, "epoch_seconds": [round(t, 2) for t in times],
            "first_epoch_s": round(times[0], 2),
            "steady_epoch_s": round(float(np.median(times[1:] or times)), 2),
            "val_eval_s": round(eval_time, 2), "peak_rss_mib": round(peak_mib)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--only", choices=FRAMEWORKS, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("COURSE_NO_PROGRESS", "1")
    if args.only:
        print(json.dumps(run_framework(args.only, args.epochs)))
        return
    print(f"GraphSAGE link prediction on MovieLens-small, {args.epochs} epochs per framework, "
          f"{os.cpu_count()} CPU cores")
    print(f"{'framework':>9} | {'1st epoch':>9} | {'epoch':>7} | {'val eval':>8} | {'peak RSS':>9}")
    for framework in FRAMEWORKS:
        cmd = [sys.executable, __file__, "--only", framework, "--epochs", str(args.epochs)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(f"{framework:>9} | {r['first_epoch_s']:>7.2f} s | {r['steady_epoch_s']:>5.2f} s | "
              f"{r['val_eval_s']:>6.2f} s | {r['peak_rss_mib']:>5} MiB")
    print("settings: course_lib.settings.SAGE ('sampled' for PyG, 'full_graph' for JAX)")
    print("epoch = median of the epochs after the first (the first includes JAX's compilation "
          "and PyG's loader warm-up); peak RSS = the process's maximum resident memory.")


if __name__ == "__main__":
    main()
