"""A random split against a split in time: how much does evaluating on the past flatter a model?

The course splits MovieLens at random (``split_edges``): a test rating can be older than the
training ratings, so a model learns from the "future" of what it is tested on, and every test
user has training interactions. A recommender in production only ever predicts the future.
``split_edges(..., order='time')`` trains on the oldest 80 % of the interactions, validates on
the next 10 % and tests on the newest 10 %. This script trains chapter 6's LightGCN (JAX, its
``SETTINGS``) on both splits and records, for each, test recall@20 and NDCG@20 of LightGCN and of
popularity, and how many test interactions involve a user or a movie the training part never saw.
Chapter 2 reads the record (``course_lib/records/temporal_split.json``).

Usage (from the repository root, after ``make setup``; about 4 minutes on 2 cores)::

    python benchmarks/temporal_split.py            # print
    python benchmarks/temporal_split.py --write    # and record
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
RECORD = ROOT / "course_lib" / "records" / "temporal_split.json"


def run(order: str) -> dict:
    import numpy as np

    from course_lib.cf import evaluate_scores, interaction_edges, popularity_scores
    from course_lib.data import load_movielens
    from course_lib.graph import build_graph, split_edges
    from course_lib.jax import bpr
    from course_lib.jax.data import to_normalized_adjacency

    graph = build_graph(load_movielens())
    split = split_edges(graph, seed=42, order=order)
    start = time.perf_counter()
    state, history, _ = bpr.fit(graph, split, model="lightgcn")
    adj = to_normalized_adjacency(graph, interaction_edges(split, "test"))
    lightgcn = evaluate_scores(bpr.score_all(state, graph, adj), graph, split, "test",
                               ks=(20,))
    popularity = evaluate_scores(popularity_scores(graph, interaction_edges(split, "test")),
                                 graph, split, "test", ks=(20,))
    train_users, train_movies = graph.degrees(split.train)
    test_users, test_movies = graph.edge_index[:, split.test]
    t = graph.timestamp
    day = 86_400
    return {
        "order": order,
        "test period": [int(t[split.test].min() // day), int(t[split.test].max() // day)],
        "test users": int(len(np.unique(test_users))),
        "test interactions of users new to training": float(np.mean(
            train_users[test_users] == 0)),
        "test interactions of movies new to training": float(np.mean(
            train_movies[test_movies] == 0)),
        "LightGCN recall@20": lightgcn["recall@20"], "LightGCN ndcg@20": lightgcn["ndcg@20"],
        "popularity recall@20": popularity["recall@20"],
        "popularity ndcg@20": popularity["ndcg@20"],
        "best epoch": int(history["best_epoch"]), "epochs": len(history["loss"]),
        "train seconds": time.perf_counter() - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help=f"write {RECORD.name}")
    args = parser.parse_args()
    from course_lib.jax import bpr

    rows = []
    for order in ("random", "time"):
        rows.append(run(order))
        print(json.dumps(rows[-1]), flush=True)
    if args.write:
        RECORD.write_text(json.dumps({"settings": bpr.SETTINGS["lightgcn"], "rows": rows},
                                     indent=1) + "\n")
        print(f"wrote {RECORD.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
