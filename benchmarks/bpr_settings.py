"""Chapter 6's BPR settings: batch size, learning rate and patience, chosen on validation
recall@20 and on how long a learner waits for it.

Usage (from the repository root, after ``make setup``; about 20 minutes on 2 cores)::

    python benchmarks/bpr_settings.py                  # print the table
    python benchmarks/bpr_settings.py --write          # ... and store it
    python benchmarks/bpr_settings.py --only lightgcn  # one model's rows

Trains each model of chapter 6 in JAX (seed 0, the seed-42 split) with each candidate
``(batch_size, lr)`` for up to ``max_epochs`` epochs with a long patience, validating every
epoch, and records the whole validation curve. Early stopping does not change training (no
schedule), so what a shorter patience would have given is read off the same curve: the epoch
where it stops and the best validation recall@20 up to then. Seconds per epoch are measured
in the same run. ``--write`` stores every row in ``course_lib/records/bpr_settings.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("COURSE_NO_PROGRESS", "1")
os.environ["COURSE_CHECKPOINTS"] = "off"
RECORD = ROOT / "course_lib" / "records" / "bpr_settings.json"

# model -> [(batch_size, lr, max_epochs)]; None: one full batch per epoch
GRID = {
    "mf": [(None, 0.01, 400), (16384, 0.005, 400), (16384, 0.01, 400), (4096, 0.002, 150)],
    "lightgcn": [(None, 0.02, 400), (None, 0.05, 400), (None, 0.1, 400), (16384, 0.02, 300)],
    "ngcf": [(4096, 0.001, 60), (16384, 0.002, 80), (16384, 0.004, 80), (16384, 0.008, 80)],
}
PATIENCES = (5, 20, 50, 100)


def stop(values: list[float], patience: int) -> tuple[int, int]:
    """(stopping epoch, best epoch) of early stopping with ``patience`` on ``values``
    (maximised, one per epoch)."""
    best, best_epoch = -float("inf"), 0
    for epoch, value in enumerate(values, start=1):
        if value > best:
            best, best_epoch = value, epoch
        elif epoch - best_epoch >= patience:
            return epoch, best_epoch
    return len(values), best_epoch


def run(model: str, batch_size, lr: float, max_epochs: int, seed: int = 0) -> dict:
    import numpy as np

    from course_lib.cf import evaluate_scores, interaction_edges
    from course_lib.graph import movielens_graph_and_split
    from course_lib.jax import bpr
    from course_lib.jax.data import to_normalized_adjacency

    _, graph, split = movielens_graph_and_split(seed=42)
    start = time.perf_counter()
    state, history, _ = bpr.fit(graph, split, model=model, batch_size=batch_size, lr=lr,
                                max_epochs=max_epochs, patience=max_epochs, eval_every=1,
                                seed=seed)
    seconds = time.perf_counter() - start
    curve = history["val_recall@20"]
    adj = to_normalized_adjacency(graph, interaction_edges(split, "test"))
    test = evaluate_scores(bpr.score_all(state, graph, adj), graph,
                           split, "test", ks=(20,))
    row = {"model": model, "batch_size": batch_size, "lr": lr, "seed": seed,
           "epochs": len(curve), "best epoch": int(np.argmax(curve)) + 1,
           "best val recall@20": float(max(curve)),
           "test recall@20 at the best epoch": test["recall@20"],
           "seconds per epoch": float(np.median(history["seconds"])),
           "seconds": seconds, "curve": [round(float(v), 5) for v in curve]}
    for p in PATIENCES:
        at, best = stop(curve, p)
        row[f"patience {p}"] = {"stops at": at, "best epoch": best,
                                "val recall@20": float(curve[best - 1])}
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", choices=sorted(GRID))
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    rows = []
    for model in args.only or GRID:
        for batch_size, lr, max_epochs in GRID[model]:
            row = run(model, batch_size, lr, max_epochs)
            rows.append(row)
            print(f"{model:9} batch {str(batch_size):>6} lr {lr:<6} best val "
                  f"{row['best val recall@20']:.4f} at epoch {row['best epoch']:>3} of "
                  f"{row['epochs']:>3}  test {row['test recall@20 at the best epoch']:.4f}  "
                  f"{row['seconds per epoch']:.3f} s/epoch  "
                  + "  ".join(f"p{p}: {row[f'patience {p}']['val recall@20']:.4f}@"
                              f"{row[f'patience {p}']['stops at']}" for p in PATIENCES),
                  flush=True)
    if args.write:
        old = json.loads(RECORD.read_text())["rows"] if RECORD.exists() else []
        keys = {(r["model"], r["batch_size"], r["lr"], r["seed"]) for r in rows}
        rows = [r for r in old if (r["model"], r["batch_size"], r["lr"], r["seed"])
                not in keys] + rows
        RECORD.write_text(json.dumps({"rows": rows}, indent=1) + "\n")
        print(f"wrote {RECORD.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
