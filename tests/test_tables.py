"""course_lib.tables: results tables formatted for reading."""

import numpy as np
import pandas as pd
import pytest

from course_lib.tables import DASH, format_number, readable


def test_missing_values_show_as_a_dash():
    table = pd.DataFrame({"MAE": [0.7123, np.nan], "note": ["x", None]}, index=["a", "b"])
    shown = readable(table)
    assert shown.loc["b", "MAE"] == DASH == shown.loc["b", "note"] == "–"
    assert "NaN" not in shown.to_html() and "None" not in shown.to_string()
    assert readable(table, na="n/a").loc["b", "MAE"] == "n/a"


def test_whole_numbers_show_as_integers():
    # a column of counts stored as floats (a NaN made it float) reads as integers
    table = pd.DataFrame({"epochs": [np.nan, 13.0, 120.0], "edges": [90753, 5, 0],
                          "seconds": [1.0, 2.5, 3.0]})
    shown = readable(table)
    assert list(shown["epochs"]) == ["–", "13", "120"]
    assert list(shown["edges"]) == ["90,753", "5", "0"]
    assert list(shown["seconds"]) == ["1.000", "2.500", "3.000"]    # not all whole: decimals


def test_numbers_keep_four_significant_digits():
    table = pd.DataFrame({"recall@20": [0.245512, 0.07581, 0.1],
                          "train s": [0.51234, 3012.7, 12.345],
                          "small": [0.001234567, 0.004, 0.0]})
    shown = readable(table)
    # one number of decimals per column, from its largest value; a smaller value keeps 2
    # significant digits, zero reads 0
    assert list(shown["recall@20"]) == ["0.2455", "0.0758", "0.1000"]
    assert list(shown["train s"]) == ["0.51", "3,013", "12"]
    # at most 4 decimals, as the chapters print, unless asked for more
    assert list(shown["small"]) == ["0.0012", "0.0040", "0"]
    assert list(readable(table, max_decimals=None)["small"]) == ["0.001235", "0.004000", "0"]
    assert readable(table, digits=3).loc[0, "recall@20"] == "0.246"
    # a fixed number of decimals, where a table compares errors around 1
    errors = pd.DataFrame({"RMSE": [1.03124, 0.84071]})
    assert list(readable(errors)["RMSE"]) == ["1.031", "0.841"]
    assert list(readable(errors, decimals=4)["RMSE"]) == ["1.0312", "0.8407"]
    # the values themselves: the shown number rounds back to the stored one
    for column in ("recall@20",):
        for stored, text in zip(table[column], shown[column]):
            assert float(text.replace(",", "")) == pytest.approx(stored, rel=5e-4, abs=1e-9)


def test_rows_columns_and_text_keep_their_order():
    table = pd.DataFrame({"z": [1.5, 2.25], "a": ["kept as it is", "0.9395 ± 0.0018"],
                          "m": [True, False]}, index=pd.Index(["JAX", "PyG"], name="model"))
    shown = readable(table)
    assert list(shown.columns) == ["z", "a", "m"]
    assert list(shown.index) == ["JAX", "PyG"] and shown.index.name == "model"
    assert list(shown["a"]) == ["kept as it is", "0.9395 ± 0.0018"]
    assert list(shown["m"]) == ["True", "False"]
    # the table given is not changed
    assert table["z"].tolist() == [1.5, 2.25]


def test_a_series_becomes_one_column_and_multi_level_columns_survive():
    shown = readable(pd.Series({"auc": 0.843123, "recall@20": 0.1213}).rename("popularity"))
    assert list(shown.columns) == ["popularity"] and shown.loc["auc", "popularity"] == "0.8431"
    spread = pd.DataFrame(np.array([[0.71, 0.0012], [0.72, np.nan]]),
                          columns=pd.MultiIndex.from_tuples([("MAE", "mean"), ("MAE", "std")]))
    shown = readable(spread)
    assert list(shown.columns) == list(spread.columns)
    assert list(shown[("MAE", "std")]) == ["0.0012", "–"]


def test_single_values():
    assert format_number(np.nan) == "–" and format_number(None) == "–"
    assert format_number(np.int64(1234567)) == "1,234,567"
    assert format_number(0.000123456) == "0.0001235"
    assert format_number(-2.5, decimals=2) == "-2.50"
    assert format_number(float("inf")) == "∞" and format_number("text") == "text"


def test_no_table_in_the_book_shows_nan():
    """Every table a chapter displays goes through ``readable`` or has no missing value: no
    ``NaN`` in a stored table (the book is built from the stored outputs)."""
    import json
    from pathlib import Path

    book = Path(__file__).resolve().parents[1] / "book"
    shown = []
    for path in sorted(book.glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            for out in cell.get("outputs", []):
                html = "".join(out.get("data", {}).get("text/html", ""))
                if "<table" in html and ">NaN<" in html:
                    shown.append(f"{path.stem}: {''.join(cell['source'])[:60]!r}")
    assert not shown, f"NaN in a displayed table (use course_lib.tables.readable): {shown}"
