"""Chapter 7's leaderboard: every model of chapters 3-6 that scores (user, movie) pairs, in both
frameworks, plus popularity and matrix factorisation, judged by one protocol on the shared split.

Usage (from the repository root, after ``make setup``; its rows add up to about 10 minutes of
training on 2 cores, plus a process start and an evaluation per row)::

    python benchmarks/leaderboard.py            # print the table
    python benchmarks/leaderboard.py --write    # and write course_lib/records/leaderboard.json
    python benchmarks/leaderboard.py --only "JAX LightGCN"   # one row (printed)
    python benchmarks/leaderboard.py --only "JAX LightGCN" --write   # and replaced in the record
    python benchmarks/leaderboard.py --seeds 0 1 2 --write   # LightGCN's seed spread
                                                # (course_lib/records/lightgcn_seeds.json)

Each model trains with its chapter's ``SETTINGS`` through the chapter's own ``fit`` (so early
stopping and the restored best epoch are the chapter's), in a subprocess of its own: its
training time is the wall time of ``fit`` and its peak memory the process's ``ru_maxrss``
(which includes loading the data and the frameworks: compare rows, not absolute values). The
models train even when a checkpoint exists (``COURSE_CHECKPOINTS=off``), so that the time is
a training time; set ``--use-checkpoints`` to load them instead (times then are the stored ones).

The protocol, the same for every row (test part of the seed-42 split):

* ``recall@20``, ``ndcg@20``: the full ranking of every movie the user has not interacted with
  in the training and validation interactions (``course_lib.cf.evaluate_scores``); the rating
  models rank by predicted rating;
* ``cold users recall@20``: the same, over the users in the lowest fifth of training
  interactions; ``cold movies recall@20``: the share of test interactions with movies that have
  at most 5 training-and-validation interactions found in the user's top 20 of the *full*
  ranking (a long-tail movie has to beat every popular one);
* ``auc``: ROC-AUC on the split's test pairs (positives and fixed negatives), chapter 3's
  metric; ``mae``: test MAE for the models that predict ratings;
* ``chapter metric``: the number the model's own chapter reports, recomputed here with the
  chapter's own function (``tests/test_leaderboard.py`` checks it against the chapter).
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RECORD = ROOT / "course_lib" / "records" / "leaderboard.json"
SEEDS_RECORD = ROOT / "course_lib" / "records" / "lightgcn_seeds.json"

from course_lib.twins import FRAMEWORKS, twin  # noqa: E402

# row name -> (family, framework, chapter)
MODELS = {
    "popularity": ("popularity", "numpy", 6),
    "MF (ALS, ratings)": ("als", "numpy", 4),
}
for fw in FRAMEWORKS:
    MODELS.update({
        f"{fw} GraphSAGE": ("sage", fw, 3),
        f"{fw} GCN (ratings)": ("gcn", fw, 4),
        f"{fw} HeteroGraphConv (ratings)": ("hetero", fw, 4),
        f"{fw} GC-MC (ratings)": ("gcmc", fw, 4),
        f"{fw} HeteroSAGE + KG": ("kg-sage", fw, 5),
        f"{fw} HeteroGraphConv + KG": ("kg-graphconv", fw, 5),
        f"{fw} MF-BPR": ("mf", fw, 6),
        f"{fw} NGCF": ("ngcf", fw, 6),
        f"{fw} LightGCN": ("lightgcn", fw, 6),
    })


def _all_pairs_scores(predict, num_users: int, num_movies: int, chunk: int = 32):
    """``[U, M]`` predicted ratings, ``chunk`` users at a time."""
    import numpy as np

    out = np.empty((num_users, num_movies), np.float32)
    movies = np.arange(num_movies)
    for start in range(0, num_users, chunk):
        users = np.arange(start, min(start + chunk, num_users))
        pairs = np.stack([np.repeat(users, num_movies), np.tile(movies, len(users))])
        out[users] = np.asarray(predict(pairs)).reshape(len(users), num_movies)
    return out


def _bpr(fw: str, family: str, ml, graph, split, **overrides):
    """Chapter 6's ``family`` fitted in framework ``fw``: ``(fit, [U, M] scores on the
    test-time graph, chapter metric)``."""
    from course_lib.cf import evaluate_scores, interaction_edges

    bpr = twin(fw, "bpr")
    fit = bpr.fit(graph, split, model=family, **overrides)
    adj = twin(fw, "data").to_normalized_adjacency(graph, interaction_edges(split, "test"))
    scores = bpr.score_all(fit.state, graph, adj)
    return fit, scores, {"recall@20": evaluate_scores(scores, graph, split, "test")
                         ["recall@20"]}


def _sage(fw: str, family: str, ml, graph, split):
    """Chapter 3's GraphSAGE: scores from the embeddings over the test-time graph."""
    sage = twin(fw, "sage")
    fit = sage.fit(graph, split)
    z_user, z_movie = sage.embed_all(fit.state, sage.link_graphs(graph, split)["test"])
    return fit, z_user @ z_movie.T, None


def _rating(fw: str, family: str, ml, graph, split):
    """Chapter 4's rating models: every pair's predicted rating, and test MAE."""
    module = twin(fw, "gcmc" if family == "gcmc" else "gcn")
    fit = module.fit(graph, split, **({} if family == "gcmc" else {"model": family}))
    data = module.rating_graphs(graph, split)["test"]
    scores = _all_pairs_scores(lambda p: module.predict(fit.state, data, p),
                               graph.num_users, graph.num_movies)
    return fit, scores, {"test mae": module.evaluate(fit.state, graph, split, "test")["MAE"]}


def _kg(fw: str, family: str, ml, graph, split):
    """Chapter 5's heterogeneous models on the knowledge graph: the chapter's link report."""
    from course_lib.data import join_side_information, load_hetrec
    from course_lib.kg import build_knowledge_graph, cold_start_movies, link_report

    side = join_side_information(ml, load_hetrec(), top_k_actors=10)
    kg = build_knowledge_graph(ml, side, min_movies=2)                    # chapter 5's
    hetero = twin(fw, "hetero")
    fit = hetero.fit(graph, split, kg=kg, model=family.split("-")[1])
    z_user, z_movie = hetero.embed_all(fit.state, hetero.kg_graphs(kg, graph, split)["test"])
    cold = cold_start_movies(graph, split.message_edges("test"), max_ratings=5)
    return fit, z_user @ z_movie.T, link_report(z_user, z_movie, graph, split, cold=cold)


#: family -> how to train it and score every pair, the same in both frameworks
FAMILIES = {"mf": _bpr, "ngcf": _bpr, "lightgcn": _bpr, "sage": _sage, "gcn": _rating,
            "hetero": _rating, "gcmc": _rating, "kg-sage": _kg, "kg-graphconv": _kg}


def run_one(name: str) -> dict:
    """Train (or load) one model and evaluate it; returns its row."""
    import numpy as np

    from course_lib.cf import evaluate_scores, interaction_edges, popularity_scores
    from course_lib.graph import movielens_graph_and_split
    from course_lib.metrics import ranking_metrics, roc_auc

    family, fw, chapter = MODELS[name]
    ml, graph, split = movielens_graph_and_split(seed=42)
    start = time.perf_counter()
    row: dict = {"model": name, "family": family, "framework": fw, "chapter": chapter}
    mae = None
    if family == "popularity":
        scores = popularity_scores(graph, interaction_edges(split, "test"))
        params = 0
    elif family == "als":
        from course_lib.ratings import BiasedMF, errors, part_pairs

        mf = BiasedMF(dim=16, reg=10.0, iterations=15).fit(graph, split)   # chapter 4's
        scores = _all_pairs_scores(mf, graph.num_users, graph.num_movies)
        params = int(mf.P.size + mf.Q.size)
        pairs, ratings = part_pairs(graph, split, "test")
        mae = errors(mf(pairs), ratings)["MAE"]
        row["chapter metric"] = {"test mae": mae}
    else:
        fit, scores, metric = FAMILIES[family](fw, family, ml, graph, split)
        params = twin(fw, "state").num_parameters(fit.state)
        if metric is not None:
            row["chapter metric"] = metric
        mae = metric.get("test mae") if metric else None
        row["best epoch"] = fit.best_epoch
    row["train seconds"] = time.perf_counter() - start
    scores = np.asarray(scores, dtype=np.float32)

    full = evaluate_scores(scores, graph, split, "test", ks=(20,))
    row["recall@20"], row["ndcg@20"] = full["recall@20"], full["ndcg@20"]
    seen = graph.edge_index[:, interaction_edges(split, "test")]
    held_out = graph.edge_index[:, split.test]
    user_degree, movie_degree = graph.degrees(interaction_edges(split, "train"))
    cold_users = np.flatnonzero(user_degree <= np.quantile(user_degree, 0.2))
    _, seen_movie_degree = graph.degrees(interaction_edges(split, "test"))
    cold_movies = np.flatnonzero(seen_movie_degree <= 5)
    for label, mask in (("cold users", np.isin(held_out[0], cold_users)),
                        ("cold movies", np.isin(held_out[1], cold_movies))):
        row[f"{label} recall@20"] = ranking_metrics(scores, held_out[:, mask], seen,
                                                    ks=(20,))["recall@20"]
        row[f"{label} test interactions"] = int(mask.sum())
    pairs, labels = split.labelled_pairs(graph, "test")
    row["auc"] = roc_auc(scores[pairs[0], pairs[1]], labels)
    row["mae"] = mae
    row["parameters"] = params
    row["peak MB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return row


def run_seed(framework: str, seed: int) -> dict:
    """Chapter 6's LightGCN with ``seed``: test recall@20 and NDCG@20, best epoch."""
    from course_lib.cf import evaluate_scores
    from course_lib.graph import movielens_graph_and_split

    ml, graph, split = movielens_graph_and_split(seed=42)
    start = time.perf_counter()
    fit, scores, _ = _bpr(framework, "lightgcn", ml, graph, split, seed=seed)
    test = evaluate_scores(scores, graph, split, "test", ks=(20,))
    return {"framework": framework, "seed": seed, "recall@20": test["recall@20"],
            "ndcg@20": test["ndcg@20"], "val recall@20": fit.history["best"],
            "best epoch": fit.best_epoch, "epochs": len(fit.history["loss"]),
            "train seconds": time.perf_counter() - start}


def _settings() -> dict:
    from course_lib import settings

    return {"bpr": settings.BPR, "sage": settings.SAGE, "gcn": settings.GCN,
            "gcmc": settings.GCMC, "hetero": settings.HETERO}


def _subprocess(args: list[str], env: dict) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], env=env, capture_output=True,
                         text=True)
    lines = [line for line in out.stdout.splitlines() if line.startswith("ROW ")]
    if out.returncode or not lines:
        sys.exit(f"{args} failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
    return json.loads(lines[-1][4:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help=f"write {RECORD.name}")
    parser.add_argument("--only", nargs="*", help="row names to run")
    parser.add_argument("--use-checkpoints", action="store_true")
    parser.add_argument("--seeds", type=int, nargs="*", help="LightGCN with these seeds")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--one-seed", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print("ROW " + json.dumps(run_one(args.one)), flush=True)
        return
    if args.one_seed:
        print("ROW " + json.dumps(run_seed(args.one_seed[0], int(args.one_seed[1]))),
              flush=True)
        return
    env = {**os.environ, "COURSE_NO_PROGRESS": "1", "PYTHONPATH": str(ROOT)}
    if not args.use_checkpoints:
        env["COURSE_CHECKPOINTS"] = "off"
    if args.seeds:
        rows = []
        for framework in FRAMEWORKS:
            for seed in args.seeds:
                rows.append(_subprocess(["--one-seed", framework, str(seed)], env))
                print(json.dumps(rows[-1]), flush=True)
        if args.write:
            SEEDS_RECORD.write_text(json.dumps({"settings": _settings()["bpr"], "rows": rows},
                                               indent=1) + "\n")
            print(f"wrote {SEEDS_RECORD.relative_to(ROOT)}")
        return
    rows = []
    partial = RECORD.with_suffix(".partial.json")     # rows so far, in case a run breaks off
    done = {r["model"]: r for r in json.loads(partial.read_text())} if (
        args.write and partial.exists()) else {}
    for name in args.only or MODELS:
        t = time.perf_counter()
        row = done.get(name) or _subprocess(["--one", name], env)
        rows.append(row)
        if args.write and not args.only:
            partial.write_text(json.dumps(rows))
        print(f"{name:28s} recall@20 {row['recall@20']:.4f}  ndcg@20 {row['ndcg@20']:.4f}  "
              f"auc {row['auc']:.4f}  {row['train seconds']:6.0f} s  "
              f"({time.perf_counter() - t:.0f} s)", flush=True)
    if args.write and args.only:            # replace those rows, keep the others
        record = json.loads(RECORD.read_text())
        current = json.loads(json.dumps(_settings()))
        fresh = {row["model"]: row for row in rows}
        # a changed SETTINGS entry is taken over only when every row trained with it is fresh
        family_key = {"mf": "bpr", "ngcf": "bpr", "lightgcn": "bpr", "sage": "sage",
                      "gcn": "gcn", "hetero": "gcn", "gcmc": "gcmc", "kg-sage": "hetero",
                      "kg-graphconv": "hetero"}
        for key, value in current.items():
            if record["settings"].get(key) == value:
                continue
            stale = [name for name, (family, _, _) in MODELS.items()
                     if family_key.get(family) == key and name not in fresh]
            if stale:
                sys.exit(f"SETTINGS[{key!r}] changed: re-run its rows too: {stale}")
            record["settings"][key] = value
        record["rows"] = [fresh.get(row["model"], row) for row in record["rows"]]
        RECORD.write_text(json.dumps(record, indent=1) + "\n")
        print(f"updated {len(fresh)} rows of {RECORD.relative_to(ROOT)}")
    elif args.write:
        RECORD.write_text(json.dumps({"settings": _settings(), "rows": rows}, indent=1) + "\n")
        partial.unlink()
        print(f"wrote {RECORD.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
