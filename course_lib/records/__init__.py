"""Results recorded by the scripts in ``benchmarks/`` that the chapters show (runs too long to
repeat inside a notebook): one JSON file per script, shipped with the library so that a chapter
opened in Colab finds them too. Each record names the settings it was made with; the tests check
them against the current ``SETTINGS``."""

from __future__ import annotations

import json
from pathlib import Path

RECORDS = Path(__file__).resolve().parent


def load(name: str) -> dict:
    """The record ``name`` (``'gcmc_settings'`` is ``records/gcmc_settings.json``)."""
    path = RECORDS / f"{name}.json"
    if not path.exists():
        known = sorted(p.stem for p in RECORDS.glob("*.json"))
        raise FileNotFoundError(f"no record {name!r}; recorded: {known}")
    return json.loads(path.read_text())
