"""Seconds per epoch of every chapter model, in both frameworks: the training pass and the
validation, each the median over a few epochs after the first (which includes JAX's
compilation).

Usage (from the repository root, after ``make setup``; about 4 minutes on 2 cores)::

    python benchmarks/epoch_times.py            # print the table
    python benchmarks/epoch_times.py --write    # ... and store it in records/epoch_times.json

Every model trains through its chapter's own ``fit`` with its chapter's ``SETTINGS`` (only
``max_epochs`` lowered and early stopping off), with no saved model, in this process, with the
machine's default thread count. The module docstrings of the chapter modules quote these
figures.
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
RECORD = ROOT / "course_lib" / "records" / "epoch_times.json"

from course_lib import training  # noqa: E402
from course_lib.twins import FRAMEWORKS, twin  # noqa: E402

# (chapter module, model, extra overrides, epochs)
MODELS = [("sage", None, {}, 3), ("gcn", "gcn", {}, 20), ("gcn", "hetero", {}, 20),
          ("gcmc", None, {}, 20), ("hetero", "sage", {}, 3), ("hetero", "graphconv", {}, 3),
          ("bpr", "mf", {"eval_every": 1}, 12), ("bpr", "ngcf", {}, 3),
          ("bpr", "lightgcn", {"eval_every": 1}, 12)]


def timed(framework: str, module: str, model: str | None, overrides: dict, epochs: int):
    """(median training seconds, median validation seconds) of one model's epochs."""
    import jax
    import numpy as np

    from course_lib.graph import movielens_graph_and_split

    ml, graph, split = movielens_graph_and_split(seed=42)
    train, val = [], []
    loop = training.fit_loop

    def timing_loop(state, train_epoch, validate, **kwargs):
        def timed_train(state):
            start = time.perf_counter()
            out = jax.block_until_ready(train_epoch(state))
            train.append(time.perf_counter() - start)
            return out

        def timed_validate(state):
            start = time.perf_counter()
            out = float(validate(state))
            val.append(time.perf_counter() - start)
            return out

        return loop(state, timed_train, timed_validate, **kwargs)

    chapter = twin(framework, module)
    chapter.fit_loop = timing_loop
    try:
        kwargs = {"max_epochs": epochs, "patience": None, **overrides}
        if model is not None:
            kwargs["model"] = model
        if module == "hetero":
            from course_lib.kg import movielens_knowledge_graph

            kwargs["kg"] = movielens_knowledge_graph(ml)
        chapter.fit(graph, split, **kwargs)
    finally:
        chapter.fit_loop = loop
    return float(np.median(train[1:])), float(np.median(val[1:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    rows = []
    for module, model, overrides, epochs in MODELS:
        for framework in FRAMEWORKS:
            train, val = timed(framework, module, model, overrides, epochs)
            name = f"{framework} {module}" + (f" {model}" if model else "")
            rows.append({"model": name, "train s": round(train, 4),
                         "validate s": round(val, 4)})
            print(f"{name:24} train {train * 1e3:8.1f} ms/epoch   validate {val * 1e3:7.1f} ms",
                  flush=True)
    if args.write:
        RECORD.write_text(json.dumps({
            "what": "median seconds per epoch (training pass, validation) after the first, "
                    "each chapter's SETTINGS, no saved model, default threads",
            "machine": f"{os.cpu_count()} CPU cores", "date": time.strftime("%Y-%m-%d"),
            "rows": rows}, indent=1) + "\n")
        print(f"wrote {RECORD.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
