"""Chapter 7's leaderboard, framework-neutral: the record of ``benchmarks/leaderboard.py`` as a
table, and what each model needs.

Every row was computed by one protocol from a trained model (see the benchmark's docstring):
full-ranking recall@20 and NDCG@20 on the test interactions, the same for the users with the
fewest training interactions and for the long-tail movies, ROC-AUC on chapter 3's test pairs,
MAE where the model predicts ratings, training time, peak memory and size.
"""

from __future__ import annotations

import pandas as pd

from . import records

#: family -> what the model learns from (the legend of the chapter's plot)
GROUPS = {
    "popularity": "no learning",
    "als": "ratings (predicts stars)",
    "gcn": "ratings (predicts stars)",
    "hetero": "ratings (predicts stars)",
    "gcmc": "ratings (predicts stars)",
    "sage": "interactions + genres",
    "kg-sage": "interactions + side information",
    "kg-graphconv": "interactions + side information",
    "mf": "interactions only (BPR)",
    "ngcf": "interactions only (BPR)",
    "lightgcn": "interactions only (BPR)",
}

COLUMNS = {"recall@20": "recall@20", "ndcg@20": "ndcg@20",
           "cold users recall@20": "cold users", "cold movies recall@20": "cold movies",
           "auc": "AUC", "mae": "MAE", "train seconds": "train s", "peak MB": "peak MB",
           "parameters": "parameters", "chapter": "chapter"}


def leaderboard_table(record: dict | None = None) -> pd.DataFrame:
    """The leaderboard, best recall@20 first: one row per model, the columns of
    :data:`COLUMNS` and ``group`` (:data:`GROUPS`)."""
    record = record or records.load("leaderboard")
    table = pd.DataFrame(record["rows"]).set_index("model")
    table["group"] = table["family"].map(GROUPS)
    table = table[list(COLUMNS) + ["group"]].rename(columns=COLUMNS)
    return table.sort_values("recall@20", ascending=False)


def seed_runs(chapter: str) -> pd.DataFrame:
    """Every recorded run of ``chapter``'s comparison (``'ch3'``, ``'ch5'``, ``'ch5-ablation'``
    or ``'ch6'``), one row per (model, seed), from ``benchmarks/seeds.py``; chapter 6's include
    LightGCN's runs (``benchmarks/leaderboard.py --seeds``), the ablation chapter 5's HeteroSAGE
    runs with no side relation and with all three."""
    recorded = records.load("seeds")["rows"]
    rows = [r for r in recorded if r["chapter"] == chapter]
    if chapter == "ch5-ablation":     # no side relation and all three: chapter 5's own runs
        names = {"JAX HeteroSAGE, plain": "JAX HeteroSAGE, none (plain)",
                 "JAX HeteroSAGE, KG": "JAX HeteroSAGE, all three (KG)"}
        rows += [{**r, "chapter": chapter, "model": names[r["model"]]} for r in recorded
                 if r["chapter"] == "ch5" and r["model"] in names]
    if chapter == "ch6":
        rows += [{**r, "chapter": "ch6", "model": f"{r['framework']} LightGCN"}
                 for r in records.load("lightgcn_seeds")["rows"]]
    if not rows:
        raise KeyError(f"no recorded seeds for {chapter!r}: run benchmarks/seeds.py --only "
                       f"{chapter} --write")
    return pd.DataFrame(rows)


def seed_stats(chapter: str, metrics) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(mean, std)``: each model's (rows) mean and sample standard deviation (ddof 1) of each
    of ``metrics`` (columns) over ``chapter``'s recorded seeds."""
    groups = seed_runs(chapter).groupby("model")[list(metrics)]
    return groups.mean(), groups.std()


def seed_gap(stats: tuple[pd.DataFrame, pd.DataFrame], metric: str, better: str, worse: str
             ) -> tuple[float, float]:
    """``(gap, gap / sd)``: model ``better``'s mean ``metric`` minus model ``worse``'s, and that
    gap in units of the larger of their two standard deviations (``stats`` from
    :func:`seed_stats`). A gap of several standard deviations is beyond seed noise."""
    mean, std = stats
    gap = float(mean.loc[better, metric] - mean.loc[worse, metric])
    return gap, gap / float(max(std.loc[better, metric], std.loc[worse, metric]))


def seed_table(chapter: str, metrics, digits: int = 4) -> pd.DataFrame:
    """One row per model of ``chapter``'s comparison, best mean of the first metric first: each
    of ``metrics`` as "mean ± standard deviation" over the recorded seeds (sample standard
    deviation, ddof 1), and the number of seeds."""
    groups = seed_runs(chapter).groupby("model")
    mean, std = seed_stats(chapter, metrics)
    table = pd.DataFrame({m: [f"{mean.loc[i, m]:.{digits}f} ± {std.loc[i, m]:.{digits}f}"
                              for i in mean.index] for m in metrics}, index=mean.index)
    table["seeds"] = groups["seed"].nunique()
    return table.loc[mean[metrics[0]].sort_values(ascending=False).index]
