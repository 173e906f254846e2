"""The chapters' comparisons over three seeds: how far apart do two runs of the same model land?

A chapter trains each model once, from seed 0. When it says that one model beats another, the
gap has to be larger than the spread between runs of the same model. This script retrains the
models of each comparison with seeds 0, 1 and 2 (the seed of the initial weights and of the
batches; the split stays the seed-42 split) and records every run in
``course_lib/records/seeds.json``, which the chapters read (``course_lib.leaderboard.seed_table``)
and ``tests/test_leaderboard.py`` checks against the current ``SETTINGS``.

Usage (from the repository root, after ``make setup``)::

    python benchmarks/seeds.py --only ch6 --write   # replace chapter 6's rows in the record
    python benchmarks/seeds.py --write              # every comparison (about 35 minutes)

Comparisons (LightGCN's own seeds are in ``lightgcn_seeds.json``, from
``benchmarks/leaderboard.py --seeds``):

* ``ch3``: GraphSAGE in PyG and JAX: test AUC and recall@20, both on full neighbourhoods;
* ``ch5``: JAX HeteroSAGE and HeteroGraphConv with and without side information: test AUC,
  recall@20, and both on the long-tail ("cold") movies;
* ``ch5-ablation``: JAX HeteroSAGE with one side relation at a time (genres, directors,
  actors); with none and with all three it is ``ch5``'s plain and KG runs;
* ``ch6``: MF-BPR and NGCF in PyG and JAX: test recall@20 and NDCG@20 (full ranking).
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
os.environ["COURSE_CHECKPOINTS"] = "off"      # every run trains
RECORD = ROOT / "course_lib" / "records" / "seeds.json"
SEEDS = (0, 1, 2)

MODELS = {
    "ch3": ("PyG GraphSAGE", "JAX GraphSAGE"),
    "ch5": ("JAX HeteroSAGE, KG", "JAX HeteroSAGE, plain", "JAX HeteroGraphConv, KG",
            "JAX HeteroGraphConv, plain"),
    "ch5-ablation": ("JAX HeteroSAGE, genres", "JAX HeteroSAGE, directors",
                     "JAX HeteroSAGE, actors"),
    "ch6": ("PyG MF-BPR", "JAX MF-BPR", "PyG NGCF", "JAX NGCF"),
}
#: the side relations of each ch5-ablation model
ABLATION = {"genres": "has_genre", "directors": "has_director", "actors": "has_actor"}
BPR_NAMES = {"MF-BPR": "mf", "NGCF": "ngcf", "LightGCN": "lightgcn"}


def settings() -> dict:
    """The SETTINGS each comparison trains with (the record must name the current ones)."""
    from course_lib import settings as chapter

    return {"ch3": chapter.SAGE, "ch5": chapter.HETERO, "ch5-ablation": chapter.HETERO,
            "ch6": {name: chapter.BPR[name] for name in ("mf", "ngcf")}}


def run(chapter: str, model: str, seed: int) -> dict:
    """Train ``model`` of ``chapter`` with ``seed``; its test metrics."""
    from course_lib.graph import movielens_graph_and_split
    from course_lib.kg import link_report
    from course_lib.twins import twin

    ml, graph, split = movielens_graph_and_split(seed=42)
    fw, name = model.split(" ", 1)
    start = time.perf_counter()
    if chapter == "ch3":
        sage = twin(fw, "sage")
        fit = sage.fit(graph, split, seed=seed)
        z = sage.embed_all(fit.state, sage.link_graphs(graph, split)["test"])
        metrics = link_report(*z, graph, split)
    elif chapter in ("ch5", "ch5-ablation"):
        from dataclasses import replace

        from course_lib.data import join_side_information, load_hetrec
        from course_lib.kg import build_knowledge_graph, cold_start_movies

        side = join_side_information(ml, load_hetrec(), top_k_actors=10)
        kg = build_knowledge_graph(ml, side, min_movies=2)                   # chapter 5's
        if name.endswith("plain"):
            kg = kg.without_side_information()
        if chapter == "ch5-ablation":                 # one side relation of the three
            relation = next(r for r in kg.side_edges if r[1] == ABLATION[name.split(", ")[1]])
            kg = replace(kg, side_edges={relation: kg.side_edges[relation]})
        hetero = twin(fw, "hetero")
        architecture = "sage" if name.startswith("HeteroSAGE") else "graphconv"
        fit = hetero.fit(graph, split, kg=kg, model=architecture, seed=seed)
        z = hetero.embed_all(fit.state, hetero.kg_graphs(kg, graph, split)["test"])
        cold = cold_start_movies(graph, split.message_edges("test"), max_ratings=5)
        metrics = link_report(*z, graph, split, cold=cold)
    elif chapter == "ch6":
        from course_lib.cf import evaluate_scores, interaction_edges

        bpr = twin(fw, "bpr")
        fit = bpr.fit(graph, split, model=BPR_NAMES[name], seed=seed)
        adj = twin(fw, "data").to_normalized_adjacency(graph, interaction_edges(split, "test"))
        full = evaluate_scores(bpr.score_all(fit.state, graph, adj), graph, split, "test",
                               ks=(20,))
        metrics = {"recall@20": full["recall@20"], "ndcg@20": full["ndcg@20"]}
    else:
        raise ValueError(f"unknown comparison {chapter!r}")
    return {"chapter": chapter, "model": model, "seed": seed,
            **{k: float(v) for k, v in metrics.items()},
            "best epoch": int(fit.best_epoch), "epochs": len(fit.history["loss"]),
            "train seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", choices=sorted(MODELS), help="comparisons to run")
    parser.add_argument("--models", nargs="*", help="only these models of them")
    parser.add_argument("--seeds", type=int, nargs="*", default=list(SEEDS))
    parser.add_argument("--write", action="store_true", help=f"write {RECORD.name}")
    args = parser.parse_args()
    chapters = args.only or sorted(MODELS)
    rows = []
    for chapter in chapters:
        for model in MODELS[chapter]:
            if args.models and model not in args.models:
                continue
            for seed in args.seeds:
                rows.append(run(chapter, model, seed))
                print(json.dumps(rows[-1]), flush=True)
    if args.write:
        current = json.loads(json.dumps(settings()))
        record = json.loads(RECORD.read_text()) if RECORD.exists() else {"settings": {},
                                                                         "rows": []}
        fresh = {(r["chapter"], r["model"], r["seed"]) for r in rows}
        record["rows"] = [r for r in record["rows"]
                          if (r["chapter"], r["model"], r["seed"]) not in fresh] + rows
        record["rows"].sort(key=lambda r: (r["chapter"], r["model"], r["seed"]))
        for chapter in chapters:
            record["settings"][chapter] = current[chapter]
        RECORD.write_text(json.dumps(record, indent=1) + "\n")
        print(f"wrote {len(rows)} rows to {RECORD.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
