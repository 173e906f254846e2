"""The end-of-course mini-project: the format of its results, checked.

The project is open (chapter 7 describes it: hard negatives for BPR, or an evaluation in time),
so its numbers cannot be checked against a reference. What can be checked is that the results
are a comparison the course would accept: one row per training run, the course's metrics on the
test part, at least two settings, the popularity baseline in each, and at least three seeds per
model so that a difference can be told from the seed-to-seed spread::

    model      setting               seed  recall@20  ndcg@20
    popularity uniform negatives        0     0.1213   0.1305
    LightGCN   uniform negatives        0     0.2504   0.2298
    LightGCN   uniform negatives        1     0.2479   0.2283
    ...

:func:`check_project` raises :class:`ProjectFormatError` naming the first problem, or returns the
mean and standard deviation per setting and model, and prints them with a verdict per model:
does its recall@20 differ between settings by more than twice the seed spread?
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .exercises import ExerciseFailed
from .tables import readable
from .utils import say

COLUMNS = ("model", "setting", "seed", "recall@20", "ndcg@20")
METRICS = ("recall@20", "ndcg@20")
BASELINE = "popularity"
MIN_SEEDS = 3


class ProjectFormatError(ExerciseFailed):
    """The project's results table is not in the format the course asks for."""


def _fail(problem: str) -> None:
    raise ProjectFormatError(f"project: {problem}")


def check_project(table) -> pd.DataFrame | None:
    """Check the mini-project's results ``table`` (see the module docstring) and summarise it.

    ``None`` (nothing yet) prints the format and returns ``None``. A table in the wrong format
    raises :class:`ProjectFormatError` with what to fix. Otherwise returns the mean, standard
    deviation and number of seeds of each metric per (setting, model), printed with a verdict
    per model that appears in two settings or more. The table itself is not changed.
    """
    if table is None:
        print("⏳ project: not attempted yet. Build a pandas DataFrame with one row per run\n"
              f"   and the columns {', '.join(COLUMNS)},\n"
              "   then run this cell again.")
        return None
    _check_format(table)
    summary = (table.groupby(["setting", "model"], sort=True)[list(METRICS)]
               .agg(["mean", "std", "count"]))
    print("✅ project: the format is right. Mean, standard deviation and runs per setting\n"
          "   and model:")
    print(readable(summary).to_string())   # a single run's deviation: a dash
    for parts in _verdicts(table):
        say(*parts)
    return summary


def _check_format(table) -> None:
    if not isinstance(table, pd.DataFrame):
        _fail(f"expected a pandas DataFrame with one row per run, got {type(table).__name__} "
              "(pd.DataFrame(list_of_dicts) builds one from a list of rows)")
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        _fail(f"missing column(s) {missing}; the table has {list(map(str, table.columns))} "
              "(the names are exact, lower case)")
    if len(table) == 0:
        _fail("the table has no rows")
    for column in ("model", "setting"):
        bad = [v for v in table[column] if not isinstance(v, str) or not v.strip()]
        if bad:
            _fail(f"column {column!r} must hold non-empty names (strings); found {bad[0]!r}")
    seeds = pd.to_numeric(table["seed"], errors="coerce")
    if seeds.isna().any() or not np.all(seeds == np.round(seeds)):
        _fail("column 'seed' must hold whole numbers (the random seed of each run)")
    for metric in METRICS:
        values = pd.to_numeric(table[metric], errors="coerce")
        if values.isna().any() or not np.all(np.isfinite(values)):
            _fail(f"column {metric!r} has a missing, NaN or non-numeric value: every run needs "
                  "its test metric")
        if values.max() > 1 or values.min() < 0:
            percent = " (in percent? give fractions: 0.25, not 25)" if values.max() <= 100 else ""
            _fail(f"{metric} must lie between 0 and 1; found {values.max():g}{percent}")
    recall, ndcg = (pd.to_numeric(table[m]) for m in METRICS)
    odd = table[(recall > 0) != (ndcg > 0)]
    if len(odd):
        row = odd.iloc[0]
        _fail(f"the run ({row['model']}, {row['setting']}, seed {row['seed']}) has recall@20 "
              f"{row['recall@20']:g} but ndcg@20 {row['ndcg@20']:g}: both count the same hits in "
              "the top 20, so both are 0 or neither is (columns swapped, or another k?)")
    runs = table[["model", "setting", "seed"]].astype(str)
    repeated = runs[runs.duplicated()]
    if len(repeated):
        row = repeated.iloc[0]
        _fail(f"the run ({row['model']}, {row['setting']}, seed {row['seed']}) appears twice: "
              "one row per run")
    settings = sorted(table["setting"].unique())
    if len(settings) < 2:
        _fail(f"only one setting ({settings[0]!r}): the project compares at least two (say "
              "'uniform negatives' and 'hard negatives', or 'random split' and 'split in "
              "time')")
    for setting in settings:
        if BASELINE not in set(table.loc[table["setting"] == setting, "model"]):
            _fail(f"setting {setting!r} has no {BASELINE!r} row: every setting needs the "
                  "baseline, evaluated the same way")
    compared = [model for model in sorted(set(table["model"]) - {BASELINE})
                if all(_seeds(table, model, s) >= MIN_SEEDS for s in settings)]
    if not compared:
        counts = {(m, s): _seeds(table, m, s) for m in sorted(set(table["model"]) - {BASELINE})
                  for s in settings}
        _fail(f"no model other than {BASELINE!r} has at least {MIN_SEEDS} seeds in every "
              f"setting (seeds per model and setting: {counts}): one run cannot tell a "
              "difference from the seed-to-seed spread")


def _seeds(table: pd.DataFrame, model: str, setting: str) -> int:
    rows = table[(table["model"] == model) & (table["setting"] == setting)]
    return int(rows["seed"].nunique())


def _verdicts(table: pd.DataFrame) -> list[tuple[str, ...]]:
    """For each model in every setting with enough seeds: is the gap in mean recall@20 between
    the best and the worst setting more than twice the larger of their standard deviations?
    Each verdict in parts that a line break may separate (:func:`course_lib.utils.say`)."""
    lines = []
    settings = sorted(table["setting"].unique())
    for model in sorted(set(table["model"]) - {BASELINE}):
        if not all(_seeds(table, model, s) >= MIN_SEEDS for s in settings):
            continue
        rows = table[table["model"] == model]
        stats = rows.groupby("setting")["recall@20"].agg(["mean", "std"])
        best, worst = stats["mean"].idxmax(), stats["mean"].idxmin()
        gap = stats.loc[best, "mean"] - stats.loc[worst, "mean"]
        spread = max(stats.loc[best, "std"], stats.loc[worst, "std"])
        verdict = ("more than twice the seed spread: a difference" if gap > 2 * spread
                   else "within twice the seed spread: not a difference these seeds can show")
        lines.append((f"{model}: recall@20 {stats.loc[best, 'mean']:.4f} ({best}) against "
                      f"{stats.loc[worst, 'mean']:.4f}", f"({worst}),",
                      f"a gap of {gap:.4f},", f"{verdict}",
                      f"(largest standard deviation {spread:.4f})"))
    return lines
