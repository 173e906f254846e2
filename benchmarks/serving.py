"""Chapter 7's serving figures: latency of exact and approximate top-20 retrieval in both
frameworks, the approximate search's recall against exact, and fold-in for new users.

Usage (from the repository root, after ``make setup``; a few minutes on 2 cores, plus training
chapter 6's LightGCN in both frameworks when no checkpoint exists)::

    python benchmarks/serving.py            # print the figures
    python benchmarks/serving.py --write    # and write course_lib/records/serving.json

* **Latency**: LightGCN (chapter 6's ``SETTINGS``) final embeddings; one query is the top 20
  unseen movies of one known user over all 9,742 movies (batch of 1), or of 256 users at once.
  ``repeats`` timed calls after a warm-up, users drawn at random; p50 and p99 in milliseconds.
  JAX's first call of each shape compiles: that time is reported apart (``compile ms``). Run on
  an otherwise idle machine; ``OMP_NUM_THREADS`` as set in the environment.
* **Recall of approximate search**: the share of the exact top 20 that the approximate search
  returns, over every user (PyG: faiss IVF, 64 cells, 8 visited; JAX: ``approx_max_k``).
* **Fold-in**: for every user with at least ``n`` training interactions, a new-user embedding is
  folded in from ``n`` of them (drawn at random) and ranks the test movies as for a known user
  (the user's training and validation movies excluded); recall@20 against the user's trained
  embedding and popularity. The movies' embeddings were trained with these users in the graph,
  so this is the best case for fold-in of a truly new user.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RECORD = ROOT / "course_lib" / "records" / "serving.json"


def lightgcn_embeddings(framework: str, graph, split):
    """Chapter 6's LightGCN (loaded from its checkpoint, or trained): test-time embeddings."""
    from course_lib.cf import interaction_edges
    from course_lib.twins import twin

    bpr = twin(framework, "bpr")
    fit = bpr.fit(graph, split, model="lightgcn")
    return bpr.embed_all(fit.state, graph, twin(framework, "data").to_normalized_adjacency(
        graph, interaction_edges(split, "test")))


def latency(rec, repeats: int, seed: int = 0) -> dict:
    from course_lib.serving import latency_ms

    rng = np.random.default_rng(seed)
    out = {}
    for approximate in (False, True):
        kind = "approximate" if approximate else "exact"
        if approximate:          # PyG: faiss's index; JAX: approx_max_k needs none
            start = time.perf_counter()
            rec.build_index()
            out["index build ms"] = (time.perf_counter() - start) * 1e3
        for batch in (1, 256):
            # the first call of a shape apart (JAX compiles it; PyG warms up)
            start = time.perf_counter()
            rec.recommend_batch(np.arange(batch), 20, approximate)
            out[f"{kind} batch {batch} first call ms"] = (time.perf_counter() - start) * 1e3
            users = iter(rng.integers(0, rec.num_users, (repeats + 10, batch)))
            stats = latency_ms(lambda: rec.recommend_batch(next(users), 20, approximate),
                               repeats=repeats if batch == 1 else max(repeats // 10, 20))
            out[f"{kind} batch {batch}"] = stats
    return out


def fold_in_comparison(rec, graph, split, sizes=(5, 20), seed: int = 0) -> dict:
    from course_lib.cf import interaction_edges, popularity_scores
    from course_lib.metrics import ranking_metrics

    rng = np.random.default_rng(seed)
    train = graph.edge_index[:, interaction_edges(split, "train")]
    seen = graph.edge_index[:, interaction_edges(split, "test")]
    held_out = graph.edge_index[:, split.test]
    ratings = graph.rating[interaction_edges(split, "train")]
    user_emb, movie_emb = rec._user_emb_np, rec._movie_emb_np
    rows = {"trained embedding": ranking_metrics(user_emb @ movie_emb.T, held_out, seen,
                                                 ks=(20,))["recall@20"],
            "popularity": ranking_metrics(popularity_scores(graph, interaction_edges(
                split, "test")), held_out, seen, ks=(20,))["recall@20"]}
    for n in sizes:
        users = [u for u in range(graph.num_users) if (train[0] == u).sum() >= n]
        for weighting in ("equal", "degree", "rating"):
            queries = np.zeros_like(user_emb)
            for u in users:
                mine = np.flatnonzero(train[0] == u)
                pick = rng.choice(mine, n, replace=False)
                queries[u] = rec.fold_in(dict(zip(train[1, pick].tolist(),
                                                  ratings[pick].tolist())), weighting)
            keep = np.isin(held_out[0], users)
            rows[f"fold-in from {n} ratings, {weighting} weights"] = ranking_metrics(
                queries @ movie_emb.T, held_out[:, keep], seen, ks=(20,))["recall@20"]
        rows[f"users with at least {n} training interactions"] = len(users)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help=f"write {RECORD.name}")
    parser.add_argument("--repeats", type=int, default=1000)
    args = parser.parse_args()
    os.environ.setdefault("COURSE_NO_PROGRESS", "1")

    from course_lib.graph import movielens_graph_and_split
    from course_lib.serving import recall_vs_exact
    from course_lib.settings import BPR
    from course_lib.twins import FRAMEWORKS, twin

    _, graph, split = movielens_graph_and_split(seed=42)
    from course_lib.cf import interaction_edges

    seen = graph.edge_index[:, interaction_edges(split, "test")]
    record = {"settings": BPR, "omp threads": os.environ.get("OMP_NUM_THREADS", "unset")}
    for framework in FRAMEWORKS:
        rec = twin(framework, "serving").Recommender(*lightgcn_embeddings(framework, graph,
                                                                          split), seen)
        result = latency(rec, args.repeats)
        users = np.arange(rec.num_users)
        result["recall@20 vs exact"] = recall_vs_exact(
            rec.recommend_batch(users, 20, approximate=True), rec.recommend_batch(users, 20))
        record[framework] = result
        print(framework, json.dumps(result, indent=1), flush=True)
    # fold-in is numpy (course_lib.serving.fold_in): once, on the last framework's embeddings
    record[FRAMEWORKS[-1]]["fold-in recall@20"] = fold_in_comparison(rec, graph, split)
    print("fold-in", json.dumps(record[FRAMEWORKS[-1]]["fold-in recall@20"], indent=1))
    if args.write:
        RECORD.write_text(json.dumps(record, indent=1) + "\n")
        print(f"wrote {RECORD.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
