"""The README's figures come from the records the benchmarks write, and its first screen has
the two commands."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from course_lib.records import load

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
sys.path.insert(0, str(ROOT / "benchmarks"))

import ci_times  # noqa: E402


def _find(pattern: str) -> tuple[str, ...]:
    found = re.search(pattern.replace(" ", r"\s+"), README)
    assert found, f"the README no longer says {pattern!r}"
    return found.groups()


def test_the_first_screen_has_the_two_commands_and_their_times():
    first_screen = "\n".join(README.splitlines()[:40])
    assert "make book" in first_screen and "make test" in first_screen
    assert "minutes**" in first_screen


def test_the_book_time_in_the_readme_is_the_record():
    record = load("book_times")
    minutes, seconds, date = _find(r"chapters of `make book` takes \*\*([\d.]+) minutes\*\* "
                                   r"\((\d+) s, ([\d-]+)\)")
    assert float(minutes) == round(record["book_seconds"] / 60, 1)
    assert int(seconds) == round(record["book_seconds"])
    assert date == record["date"]


def test_the_ci_time_and_test_counts_in_the_readme_are_the_record():
    record = load("ci")
    minutes, seconds, date, passed, skipped = _find(
        r"takes \*\*(\d+) minutes\*\* \((\d+) s, ([\d-]+): (\d+) tests passed, (\d+) skipped\)")
    assert int(minutes) == round(record["total_seconds"] / 60)
    assert int(seconds) == record["total_seconds"]
    assert date == record["date"]
    assert (int(passed), int(skipped), record["failed"]) == (
        record["passed"], record["skipped"], 0)
    install, = _find(r"skipped\), of which installing the environment took (\d+) s")
    assert int(install) == record["install_seconds"]


def test_the_grading_times_in_the_readme_are_the_records():
    record = load("grading")
    solved = [c["solved s"] for c in record["chapters"].values()]
    found = _find(r"took ([\d.]+) to ([\d.]+) s to grade, and a class of (\d+) such notebooks "
                  r"(\d+) s with `--jobs (\d+)`")
    assert [float(x) for x in found] == [
        min(solved), max(solved), record["class"]["notebooks"],
        record["class"]["seconds"], record["class"]["jobs"]]
    assert all(c["statuses"] == ["not attempted", "passed"] for c in record["chapters"].values())


def test_the_readme_links_only_to_files_that_exist():
    for target in re.findall(r"\]\(([^)#:]+)\)", README):
        assert (ROOT / target).exists(), target


LOG = """\
Environment ready: /tmp/v (95 s)
===== 1900 passed, 40 skipped, 1 xfailed in 1200.50s (0:20:00) =====
tests finished in 1300 s (install included)
Environment ready: /tmp/v (2 s)
book built in 120 s (from the stored outputs)
site check passed
site check finished in 70 s
CI finished in 1500 s (install, tests, book build and site check)
"""


def test_a_ci_log_is_read_into_the_record():
    record = ci_times.parse_log(LOG)
    assert record == {"install_seconds": 95, "tests_seconds": 1300, "book_html_seconds": 120,
                      "site_check_seconds": 70, "total_seconds": 1500, "passed": 1900,
                      "skipped": 40, "failed": 0, "site_check_passed": True}
    failing = LOG.replace("1900 passed", "2 failed, 1898 passed")
    record = ci_times.parse_log(failing.replace("site check passed", "site check FAILED"))
    assert record["failed"] == 2 and not record["site_check_passed"]


def test_an_unfinished_ci_log_is_refused():
    try:
        ci_times.parse_log(LOG.split("book built")[0])
    except ValueError as err:
        assert "book built" in str(err)
    else:
        raise AssertionError("an unfinished log was read")
