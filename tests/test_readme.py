"""The README's figures come from the records the benchmarks write."""

from __future__ import annotations

import re
from pathlib import Path

from course_lib.records import load

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_the_grading_times_in_the_readme_are_the_records():
    record = load("grading")
    solved = [c["solved s"] for c in record["chapters"].values()]
    found = re.search(r"took ([\d.]+) to ([\d.]+) s to grade, and a class of (\d+) such\s+notebooks "
                      r"(\d+) s with `--jobs (\d+)`", README)
    assert found, "the README's grading times are gone or reworded"
    assert [float(x) for x in found.groups()] == [
        min(solved), max(solved), record["class"]["notebooks"],
        record["class"]["seconds"], record["class"]["jobs"]]
    assert all(c["statuses"] == ["not attempted", "passed"] for c in record["chapters"].values())
