"""Results tables formatted for reading, framework-neutral.

:func:`readable` turns a table of numbers into the table a reader sees: a missing value as a dash,
whole numbers as integers (thousands separated), other numbers with one number of decimals per
column, 4 significant digits of its largest value by default (at least 2 for a smaller one, at
most 4 decimals), the rows, columns and their order unchanged.
It returns a DataFrame of strings, so a notebook displays it as any DataFrame (the book theme's
table style, the same text in the plain-text output) while the numbers themselves stay in the
table it was given.
"""

from __future__ import annotations

import math
import numbers

import pandas as pd

#: what a missing value (NaN, None) shows as
DASH = "–"


def _decimals(value: float, digits: int) -> int:
    """Decimals that show ``value`` (not 0) with ``digits`` significant digits, at least 0."""
    return max(0, digits - 1 - math.floor(math.log10(abs(value))))


def format_number(value, decimals: int | None = None, digits: int = 4, na: str = DASH) -> str:
    """One value as the tables show it: ``na`` for NaN or None, a whole number with thousands
    separators, another number with ``decimals`` decimals (by default ``digits`` significant
    digits); anything else as ``str``."""
    if value is None or (isinstance(value, numbers.Real) and math.isnan(value)):
        return na
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return str(value)
    if isinstance(value, numbers.Integral):
        return f"{value:,}"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if decimals is None:
        if value == 0:
            return "0"
        decimals = _decimals(value, digits)
    return f"{value:,.{decimals}f}"


def _real(value) -> bool:
    """A finite number (not a bool)."""
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and math.isfinite(value))


def _column(values, digits: int, decimals: int | None, most: int | None,
            na: str) -> list[str]:
    """A column's cells: whole numbers as integers if every number in it is whole; otherwise one
    number of decimals (``decimals``, or ``digits`` significant digits of the column's largest
    value), more where a smaller value would keep fewer than 2 significant digits, at most
    ``most`` (unless ``decimals`` says otherwise); 0 as ``0``."""
    values = list(values)
    reals = [v for v in values if _real(v)]
    if reals and all(float(v).is_integer() for v in reals):
        return [format_number(int(v) if _real(v) else v, na=na) for v in values]
    cap = decimals if decimals is not None else most if most is not None else math.inf
    if decimals is None:
        nonzero = [abs(v) for v in reals if v != 0]
        decimals = _decimals(max(nonzero), digits) if nonzero else 0
    return [format_number(v, min(cap, max(decimals, _decimals(v, 2))), na=na)
            if _real(v) and v != 0 else "0" if _real(v) else format_number(v, na=na)
            for v in values]


def readable(table, digits: int = 4, decimals: int | None = None, max_decimals: int | None = 4,
             na: str = DASH) -> pd.DataFrame:
    """``table`` (a DataFrame, or a Series shown as one column) as a DataFrame of strings, the
    same index and columns in the same order, each column formatted for reading: ``na`` for a
    missing value, a column of whole numbers as integers with thousands separators, another
    column's numbers with one number of decimals, ``decimals`` or else ``digits`` significant
    digits of its largest value but no more than ``max_decimals`` (the chapters' 4 decimals:
    a standard deviation of 0.0048 is not shown to six places); text is kept as it is."""
    if isinstance(table, pd.Series):
        table = table.to_frame()
    shown = pd.DataFrame(index=table.index, columns=table.columns, dtype=object)
    for i in range(table.shape[1]):
        shown.iloc[:, i] = _column(table.iloc[:, i], digits, decimals, max_decimals, na)
    return shown
