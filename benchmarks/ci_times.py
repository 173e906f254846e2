"""How long the README's two commands take on a fresh machine: ``.ci/run`` on a clean clone,
from an empty environment and an empty checkpoint cache (the first screen of the README quotes
this record; ``tests/test_readme.py`` checks it does).

    python benchmarks/ci_times.py                  # clone HEAD, run .ci/run, print the times
    python benchmarks/ci_times.py --write          # ... and write course_lib/records/ci.json
    python benchmarks/ci_times.py --log ci.log --commit abc1234 --write   # a run's log

``.ci/run`` creates the environment (``make setup`` inside ``make test``: the install time),
runs every test and every notebook under nbval (``make test``), builds the book from the stored
outputs and opens every page in Chromium (``make site-check``); each step prints its time, and
this script reads them from the log. A clone of this repository needs ``../shared`` beside it
for the datasets and the prebuilt PyG extension wheels, as on the course's CI machines.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "course_lib" / "records" / "ci.json"

PATTERNS = {
    "install_seconds": r"Environment ready: \S+ \((\d+) s\)",
    "tests_seconds": r"tests finished in (\d+) s",
    "book_html_seconds": r"book built in (\d+) s",
    "site_check_seconds": r"site check finished in (\d+) s",
    "total_seconds": r"CI finished in (\d+) s",
}


def parse_log(text: str) -> dict:
    """The times, test counts and outcome of one ``.ci/run`` log."""
    found: dict = {}
    for key, pattern in PATTERNS.items():
        match = re.search(pattern, text)           # the first: make test's own setup
        if match is None:
            raise ValueError(f"the log has no line matching {pattern!r}: did .ci/run finish?")
        found[key] = int(match.group(1))
    summaries = re.findall(r"^=+ (.*\d+ passed.*) in [\d.]+s", text, flags=re.M)
    if not summaries:
        raise ValueError("the log has no pytest summary line")
    for count, word in re.findall(r"(\d+) (passed|failed|skipped|errors?)", summaries[-1]):
        found[word.rstrip("s") if word.startswith("error") else word] = int(count)
    found.setdefault("failed", 0)
    found["site_check_passed"] = "site check passed" in text
    return found


def run_ci(commit: str) -> str:
    """Clone ``commit`` next to ``../shared`` and run its ``.ci/run`` from an empty environment."""
    with tempfile.TemporaryDirectory(dir=ROOT.parent) as tmp:
        clone, venv, cache = Path(tmp) / "clone", Path(tmp) / "venv", Path(tmp) / "cache"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        subprocess.run(["git", "-C", str(clone), "checkout", "-q", commit], check=True)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "COURSE_VENV")}
        env.update(COURSE_VENV=str(venv), COURSE_CACHE_DIR=str(cache))
        result = subprocess.run([str(clone / ".ci" / "run")], env=env, cwd=clone, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        print(result.stdout[-3000:])
        return result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", type=Path, help="read this .ci/run log instead of running it")
    parser.add_argument("--commit", help="the commit the log is of (default: HEAD)")
    parser.add_argument("--date", help="the day of the run (default: today)")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    commit = args.commit or subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                           capture_output=True, text=True).stdout.strip()
    text = args.log.read_text() if args.log else run_ci(commit)
    record = {"what": ".ci/run on a clean clone: a fresh environment (prebuilt PyG extension "
                      "wheels from ../shared/wheels) and an empty checkpoint cache",
              "machine": f"{os.cpu_count()} CPU cores", "commit": commit,
              "date": args.date or datetime.date.today().isoformat(), **parse_log(text)}
    print(json.dumps(record, indent=1))
    if args.write:
        RECORD.write_text(json.dumps(record, indent=1) + "\n")
        print(f"wrote {RECORD}")


if __name__ == "__main__":
    main()
