"""GC-MC on chapter 4's split: the settings, one change at a time, and the spread over seeds.

Usage (from the repository root, after ``make setup``)::

    python benchmarks/gcmc_settings.py            # print the tables
    python benchmarks/gcmc_settings.py --write    # ... and store them for the chapter

Trains JAX GC-MC (``course_lib.jax.gcmc``) with the chapter's ``SETTINGS`` and with one setting
changed at a time (the ablation, chosen on validation MAE; test errors shown for reference),
including a run whose training edges all pass messages while carrying the loss (the label
leak that holding edges out prevents). Then the chapter's settings over seeds 0, 1 and 2 in both
frameworks, next to matrix factorisation. ``--write`` stores everything in
``course_lib/records/gcmc_settings.json``, which chapter 4 shows and ``tests/test_gcmc.py``
checks against the current ``SETTINGS``. About 12 minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import date

VARIANTS = {
    "the chapter's settings": {},
    "sum instead of stack": {"accum": "sum"},
    "sum instead of stack, learning rate 0.002": {"accum": "sum", "lr": 0.002},
    "no ordinal weight sharing": {"ordinal": False},
    "L1 loss on the expected rating": {"loss": "l1"},
    "hold out 20 % per epoch": {"supervision": 0.2},
    "hold out 30 % per epoch": {"supervision": 0.3},
    "no dropout": {"dropout": 0.0},
    "dropout 0.4": {"dropout": 0.4},
    "twice the width (200 / 64)": {"hidden": 200, "out": 64},
}
LEAK = "no hold-out: every training edge passes messages and carries the loss"
SEEDS = (0, 1, 2)


def leaky_fit(graph, split, **overrides):
    """JAX GC-MC trained the naive way: messages over every training edge, the loss on every
    training edge (so each label travels in a message to the pair that predicts it)."""
    import jax
    import numpy as np
    import optax

    from course_lib.jax import gcmc
    from course_lib.jax.state import TrainState
    from course_lib.ratings import mae, part_pairs, rating_level
    from course_lib.training import Fit, fit_loop, settings_for

    s = settings_for(gcmc.SETTINGS, overrides)
    graphs = gcmc.rating_graphs(graph, split)
    train_pairs, train_rating = part_pairs(graph, split, "train")
    pairs, level = jax.numpy.asarray(train_pairs), jax.numpy.asarray(rating_level(train_rating))
    val_pairs, val_rating = part_pairs(graph, split, "val")
    model = gcmc.build_model(graph, **overrides)
    init_key, dropout_key = jax.random.split(jax.random.key(s["seed"]))
    params = model.init(init_key, graphs["train"], pairs[:, :2])
    state = TrainState.create(apply_fn=model.apply, params=params, tx=optax.adam(s["lr"]),
                              key=dropout_key)

    @jax.jit
    def step(state):
        def loss_fn(params):
            logits = state.apply_fn(params, graphs["train"], pairs, train=True,
                                    rngs={"dropout": state.step_key()})
            return gcmc.loss(logits, level, s["loss"])
        value, grads = jax.value_and_grad(loss_fn)(state.params)
        return state.apply_gradients(grads=grads), value

    state, history, best = fit_loop(
        state, step,
        lambda s: mae(np.asarray(gcmc.eval_step(s, graphs["val"], val_pairs)), val_rating),
        snapshot=lambda s: s.params, max_epochs=s["max_epochs"], patience=s["patience"],
        mode="min", metric="val_mae", desc="leaky")
    return Fit(state.replace(params=best), history, history["best_epoch"])


def run(module, graph, split, fit=None, **overrides) -> dict:
    start = time.perf_counter()
    state, history, _ = (fit or module.fit)(graph, split, **overrides)
    seconds = time.perf_counter() - start
    row = {"best epoch": history["best_epoch"], "epochs": len(history["loss"]),
           "seconds": round(seconds, 1),
           "final training loss": round(history["loss"][-1], 4)}
    for part in ("val", "test"):
        for metric, value in module.evaluate(state, graph, split, part).items():
            row[f"{part} {metric}"] = round(value, 4)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true",
                        help="store the results in course_lib/records/gcmc_settings.json")
    parser.add_argument("--seeds-only", action="store_true",
                        help="keep the recorded sweep (its settings must be the current ones) "
                             "and run the seeds again: after a change to one framework's code "
                             "that leaves the JAX model as it was")
    args = parser.parse_args()
    os.environ.setdefault("COURSE_NO_PROGRESS", "1")

    import numpy as np
    import pandas as pd

    from course_lib.graph import movielens_graph_and_split
    from course_lib.jax import gcmc as jax_gcmc
    from course_lib.pyg import gcmc as pyg_gcmc
    from course_lib.ratings import BiasedMF, baseline_table
    from course_lib.records import RECORDS

    _, graph, split = movielens_graph_and_split(seed=42)
    pd.set_option("display.width", 160)

    if args.seeds_only:
        old = json.loads((RECORDS / "gcmc_settings.json").read_text())
        if old["settings"] != jax_gcmc.SETTINGS:
            raise SystemExit("the recorded sweep used other SETTINGS: run the whole script")
        sweep = old["sweep"]
    else:
        sweep = {}
        for name, overrides in VARIANTS.items():
            sweep[name] = {"overrides": overrides, **run(jax_gcmc, graph, split, **overrides)}
            print(f"{name}: {sweep[name]}", flush=True)
        sweep[LEAK] = {"overrides": {}, **run(jax_gcmc, graph, split, fit=leaky_fit)}
        print(f"{LEAK}: {sweep[LEAK]}", flush=True)
    print(pd.DataFrame(sweep).T.drop(columns="overrides").to_string())

    seeds = {"JAX": {0: sweep["the chapter's settings"]}, "PyG": {}}
    for framework, module in (("JAX", jax_gcmc), ("PyG", pyg_gcmc)):
        for seed in SEEDS:
            if seed not in seeds[framework]:
                seeds[framework][seed] = run(module, graph, split, seed=seed)
                print(f"{framework} seed {seed}: {seeds[framework][seed]}", flush=True)
    mf = baseline_table(graph, split, BiasedMF(dim=16, reg=10.0, iterations=15).fit(
        graph, split))["matrix factorisation"]
    summary = {}
    for framework, runs in seeds.items():
        for metric in ("test MAE", "test RMSE"):
            values = np.array([r[metric] for r in runs.values()])
            summary[f"{framework} {metric}"] = {"mean": round(values.mean(), 4),
                                               "sd": round(values.std(ddof=1), 4),
                                               "min": values.min(), "max": values.max()}
    print(pd.DataFrame(summary).T.to_string())
    print("matrix factorisation:", {k: round(v, 4) for k, v in mf.items()})

    if args.write:
        record = {
            "what": "benchmarks/gcmc_settings.py: JAX GC-MC, one setting changed at a time "
                    "(seed 0), and the chapter's settings over seeds in both frameworks",
            "date": date.today().isoformat(),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
            "settings": jax_gcmc.SETTINGS,
            "sweep": sweep,
            "seeds": {fw: {str(s): r for s, r in runs.items()} for fw, runs in seeds.items()},
            "matrix factorisation": {k: round(v, 4) for k, v in mf.items()},
        }
        path = RECORDS / "gcmc_settings.json"
        path.write_text(json.dumps(record, indent=1) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
