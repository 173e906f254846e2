"""The mini-project's format check (chapter 7): a well-formed table passes with the right
summary; each way a learner's table can be malformed is rejected with what to fix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from course_lib.exercises import ExerciseFailed
from course_lib.project import ProjectFormatError, check_project


def _runs(gap: float = 0.02) -> pd.DataFrame:
    rows = [{"model": "popularity", "setting": s, "seed": 0, "recall@20": r, "ndcg@20": n}
            for s, r, n in (("uniform negatives", 0.1213, 0.1305),
                            ("hard negatives", 0.1213, 0.1305))]
    for seed, noise in enumerate((-0.002, 0.0, 0.002)):
        rows.append({"model": "LightGCN", "setting": "uniform negatives", "seed": seed,
                     "recall@20": 0.25 + noise, "ndcg@20": 0.23 + noise})
        rows.append({"model": "LightGCN", "setting": "hard negatives", "seed": seed,
                     "recall@20": 0.25 + gap + noise, "ndcg@20": 0.23 + gap + noise})
    return pd.DataFrame(rows)


def test_a_well_formed_table_passes_and_is_summarised(capsys):
    table = _runs()
    before = table.copy()
    summary = check_project(table)
    pd.testing.assert_frame_equal(table, before)         # not changed in place
    row = summary.loc[("hard negatives", "LightGCN")]
    assert row[("recall@20", "mean")] == pytest.approx(0.27)
    assert row[("recall@20", "std")] == pytest.approx(0.002)
    assert row[("recall@20", "count")] == 3
    out = capsys.readouterr().out
    assert "format is right" in out
    assert "LightGCN: recall@20 0.2700 (hard negatives) against 0.2500" in out
    assert "a difference" in out and "not a difference" not in out


def test_a_gap_within_the_seed_spread_is_called_so(capsys):
    check_project(_runs(gap=0.003))
    assert "not a difference these seeds can show" in capsys.readouterr().out


def test_nothing_yet_is_not_attempted(capsys):
    assert check_project(None) is None
    assert "not attempted yet" in capsys.readouterr().out


def _with(table: pd.DataFrame, **changes) -> pd.DataFrame:
    table = table.copy()
    for column, value in changes.items():
        table[column] = value
    return table


WRONG = {
    "a list of dicts": (lambda: _runs().to_dict("records"), "expected a pandas DataFrame"),
    "a column misnamed": (lambda: _runs().rename(columns={"recall@20": "Recall@20"}),
                          "missing column"),
    "no rows": (lambda: _runs().iloc[:0], "no rows"),
    "a model without a name": (lambda: _with(_runs(), model=[None] + ["LightGCN"] * 7),
                               "non-empty names"),
    "seeds as text": (lambda: _with(_runs(), seed=["a"] * 8), "whole numbers"),
    "a NaN metric": (lambda: _with(_runs(), **{"ndcg@20": [np.nan] + [0.2] * 7}), "NaN"),
    "recall in percent": (lambda: _with(_runs(), **{"recall@20": _runs()["recall@20"] * 100}),
                          "in percent"),
    "recall without ndcg": (lambda: _with(_runs(), **{"ndcg@20": [0.0] + [0.2] * 7}),
                            "both count the same hits"),
    "a run listed twice": (lambda: pd.concat([_runs(), _runs().iloc[[3]]]), "appears twice"),
    "one setting only": (lambda: _with(_runs(), setting="uniform negatives").drop_duplicates(
        ["model", "setting", "seed"]), "only one setting"),
    "no popularity in a setting": (lambda: _runs().drop(index=1), "has no 'popularity' row"),
    "one seed per model": (lambda: _runs().query("seed == 0"), "at least 3 seeds"),
    "seeds in one setting only": (lambda: _runs().drop(index=[3, 5]), "at least 3 seeds"),
}


@pytest.mark.parametrize("name", sorted(WRONG))
def test_each_malformed_table_is_rejected_with_what_to_fix(name):
    make, message = WRONG[name]
    with pytest.raises(ProjectFormatError, match="project: ") as e:
        check_project(make())
    assert message in str(e.value)
    assert isinstance(e.value, ExerciseFailed)      # shown without a stack trace in Jupyter
