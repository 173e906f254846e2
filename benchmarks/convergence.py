"""Do the models of chapters 3 to 5 stop too early?

Chapter 3's GraphSAGE and chapter 5's heterogeneous models stop when validation AUC has not
improved for ``patience`` epochs (3); chapter 4's rating models when validation MAE has not for
150 epochs (GCN and GC-MC, at most 1,500) or 50 (HeteroGraphConv, at most 600). This script
trains each of them with its chapter's
``SETTINGS`` but a long patience and a higher epoch limit, and reads off the same run what the
chapter's patience would have given: the epoch where it stops, the best validation AUC up to
then, and how much validation AUC a longer wait gains. Training does not depend on the patience
(no schedule), so the chapter's run is a prefix of the long one.

Usage (from the repository root, after ``make setup``; about 20 minutes on 2 cores)::

    python benchmarks/convergence.py                 # every model
    python benchmarks/convergence.py --only "PyG GraphSAGE"
    python benchmarks/convergence.py --only "JAX GCN (ratings)" --max-epochs 3000

Prints one line per model; the figures of the last run are in the note of the issue that asked
(issue 15) and in the chapters' settings comments.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from course_lib.twins import twin  # noqa: E402

os.environ.setdefault("COURSE_NO_PROGRESS", "1")
os.environ["COURSE_CHECKPOINTS"] = "off"      # a checkpoint would skip the training we measure

MODELS = ("PyG GraphSAGE", "JAX GraphSAGE", "PyG HeteroSAGE + KG", "JAX HeteroSAGE + KG",
          "PyG HeteroGraphConv + KG", "JAX HeteroGraphConv + KG", "JAX HeteroSAGE, plain",
          "JAX HeteroGraphConv, plain", "PyG GCN (ratings)", "JAX GCN (ratings)",
          "PyG HeteroGraphConv (ratings)", "JAX HeteroGraphConv (ratings)",
          "PyG GC-MC (ratings)", "JAX GC-MC (ratings)")


def first_stop(values: list[float], patience: int, sign: float = 1.0) -> int:
    """1-based epoch at which early stopping with ``patience`` stops (maximising ``sign *
    value``): the first epoch that is ``patience`` epochs after the best so far; the last epoch
    if none is."""
    best, best_epoch = -float("inf"), 0
    for epoch, value in enumerate(values, start=1):
        value = sign * value
        if value > best:
            best, best_epoch = value, epoch
        elif epoch - best_epoch >= patience:
            return epoch
    return len(values)


def run(name: str, patience: int, max_epochs: int) -> dict:
    from course_lib.graph import movielens_graph_and_split

    fw, model = name.split(" ", 1)
    ml, graph, split = movielens_graph_and_split(seed=42)
    overrides = {"patience": patience, "max_epochs": max_epochs}
    start = time.perf_counter()
    metric, sign = "val_auc", 1.0
    if model == "GraphSAGE":
        module = twin(fw, "sage")
        chapter = module.SETTINGS[module.MODE]
        fit = module.fit(graph, split, **overrides)
    elif model == "GC-MC (ratings)":                                      # chapter 4's
        module = twin(fw, "gcmc")
        chapter = module.SETTINGS
        metric, sign = "val_mae", -1.0
        fit = module.fit(graph, split, **overrides)
    elif model.endswith("(ratings)"):                                     # chapter 4's
        module = twin(fw, "gcn")
        encoder = "gcn" if model.startswith("GCN") else "hetero"
        chapter = module.SETTINGS[encoder]
        metric, sign = "val_mae", -1.0
        fit = module.fit(graph, split, model=encoder, **overrides)
    else:
        from course_lib.data import join_side_information, load_hetrec
        from course_lib.kg import build_knowledge_graph

        module = twin(fw, "hetero")
        side = join_side_information(ml, load_hetrec(), top_k_actors=10)
        kg = build_knowledge_graph(ml, side, min_movies=2)                   # chapter 5's
        if model.endswith("plain"):
            kg = kg.without_side_information()
        architecture = "sage" if model.startswith("HeteroSAGE") else "graphconv"
        chapter = module.SETTINGS[architecture]
        fit = module.fit(graph, split, kg=kg, model=architecture, **overrides)
    history = fit.history
    values = [sign * v for v in history[metric]]          # larger is better from here on
    stop = min(first_stop(values, chapter["patience"]), chapter["max_epochs"])
    return {"model": name, "metric": metric, "chapter patience": chapter["patience"],
            "chapter max epochs": chapter["max_epochs"], "chapter stops": stop,
            "chapter best": sign * max(values[:stop]),
            "chapter best epoch": values.index(max(values[:stop])) + 1,
            "long best": sign * max(values), "long best epoch": values.index(max(values)) + 1,
            "epochs": len(values), "seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", choices=MODELS, help="models to run")
    parser.add_argument("--patience", type=int, default=None,
                        help="default: 10 (chapters 3 and 5), 150 (chapter 4)")
    parser.add_argument("--max-epochs", type=int, default=None,
                        help="default: 40 (chapters 3 and 5), 2000 (chapter 4)")
    args = parser.parse_args()
    for name in args.only or MODELS:
        ratings = name.endswith("(ratings)")
        patience = args.patience or (150 if ratings else 10)
        max_epochs = args.max_epochs or (2000 if ratings else 40)
        r = run(name, patience, max_epochs)
        print(f"{r['model']:30s} chapter (patience {r['chapter patience']}, at most "
              f"{r['chapter max epochs']}): stops at epoch {r['chapter stops']}, best "
              f"{r['metric']} {r['chapter best']:.4f} (epoch {r['chapter best epoch']}) | "
              f"patience {patience}: best {r['long best']:.4f} (epoch {r['long best epoch']}, "
              f"{r['epochs']} epochs, {r['seconds']:.0f} s) | "
              f"gain {abs(r['long best'] - r['chapter best']):.4f}", flush=True)


if __name__ == "__main__":
    main()
