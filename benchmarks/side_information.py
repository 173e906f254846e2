"""Which side relations help? Chapter 5's ablation, one relation at a time (JAX HeteroSAGE).

Usage (from the repository root, after ``make setup``)::

    python benchmarks/side_information.py                      # HeteroSAGE, sum over relations
    python benchmarks/side_information.py --architecture graphconv
    python benchmarks/side_information.py --aggregate mean     # average the relations instead

Trains the chapter's model on the shared split (seed 42) with the chapter's settings
(``course_lib.jax.hetero.SETTINGS``; ``--aggregate`` overrides its ``relation_aggr``),
on the plain user-movie graph, with each side relation alone, and with all three, and prints
test AUC, recall@20 and their cold-start versions (movies with at most 5 test-time
message-passing ratings), with the training time. About 2 minutes on 2 CPU cores. One seed:
the chapter's ablation table comes from ``benchmarks/seeds.py --only ch5-ablation`` (the same
variants, seeds 0, 1 and 2, recorded).
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--architecture", default=None, choices=["sage", "graphconv"],
                        help="default: the chapter's")
    parser.add_argument("--aggregate", default=None, choices=["sum", "mean"],
                        help="how a node type combines its edge types (HeteroConv's aggr); "
                             "default: the chapter's")
    parser.add_argument("--seed", type=int, default=None,
                        help="default: the chapter's (course_lib.jax.hetero.SETTINGS)")
    args = parser.parse_args()
    os.environ.setdefault("COURSE_NO_PROGRESS", "1")

    import pandas as pd

    from course_lib.graph import movielens_graph_and_split
    from course_lib.jax import hetero
    from course_lib.kg import (HAS_ACTOR, HAS_DIRECTOR, HAS_GENRE, cold_start_movies,
                               link_report, movielens_knowledge_graph)

    architecture = args.architecture or next(iter(hetero.SETTINGS))
    chapter = hetero.SETTINGS[architecture]
    seed = chapter["seed"] if args.seed is None else args.seed
    aggregate = args.aggregate or chapter["relation_aggr"]
    ml, graph, split = movielens_graph_and_split()
    kg = movielens_knowledge_graph(ml)
    cold = cold_start_movies(graph, split.message_edges("test"))
    variants = {"none (plain)": [], "genres": [HAS_GENRE], "directors": [HAS_DIRECTOR],
                "actors": [HAS_ACTOR], "all three": [HAS_GENRE, HAS_DIRECTOR, HAS_ACTOR]}
    rows = {}
    for name, relations in variants.items():
        g = replace(kg, side_edges={r: kg.side_edges[r] for r in relations})
        start = time.perf_counter()
        state, history, _ = hetero.fit(graph, split, kg=g, model=architecture,
                                       relation_aggr=aggregate, seed=seed)
        z = hetero.embed_all(state, hetero.kg_graphs(g, graph, split)["test"])
        rows[name] = {**link_report(*z, graph, split, cold=cold),
                      "best epoch": history["best_epoch"],
                      "seconds": round(time.perf_counter() - start, 1)}
        print(f"{name}: {rows[name]}", flush=True)
    print(f"\nJAX {architecture}, relations combined by {aggregate}, seed {seed}")
    print(pd.DataFrame(rows).T.round(4).to_string())


if __name__ == "__main__":
    main()
