"""How long each chapter takes a learner: every notebook run alone under nbval, from an empty
checkpoint cache, and the slowest cells of each; then the whole book, chapter after chapter,
sharing one cache that starts empty, as ``make book`` runs it (targets: no chapter over 180 s
alone, the book at most 10 minutes, on 2 unloaded CPU cores).

    python benchmarks/book_times.py                    # every chapter, writes the record
    python benchmarks/book_times.py book/04_*.ipynb    # some chapters, prints only
    python benchmarks/book_times.py --runs 3 --write   # the median of three runs per chapter
    python benchmarks/book_times.py --update book/08_*.ipynb   # re-measure a chapter that
                                                       # loads no saved model, in the record

Each run is ``pytest --nbval-lax`` on one notebook in a fresh process, the machine's default
thread count (as a learner's kernel has) and no progress bars. Alone, a chapter gets a fresh,
empty ``COURSE_CACHE_DIR`` (no saved model: every model trains); in the book, the chapters
share one (chapter 7 loads chapter 6's LightGCN). The time of a chapter is the whole pytest
process, kernel start included; the time of a cell is nbval's (``--junitxml``). With
``--write`` (or no notebook named) the record ``course_lib/records/book_times.json`` gets each
chapter's median seconds alone and in the book, and its five slowest cells:
``scripts/run_times.py`` writes them into the introduction's table and each chapter's "Run
time" line, and the README quotes them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "course_lib" / "records" / "book_times.json"
SHARED_DATA = ROOT.parent / "shared" / "datasets"


def cell_times(junit: Path, notebook: Path) -> list[dict]:
    """``[{'cell': index, 'seconds': s, 'source': first line}]`` of nbval's items."""
    nb = json.loads(notebook.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    out = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = case.get("name", "")          # "Cell 12"
        if not name.startswith("Cell "):
            continue
        i = int(name.split()[1])
        first = "".join(code[i]["source"]).strip().splitlines() if i < len(code) else [""]
        out.append({"cell": i, "seconds": round(float(case.get("time", 0.0)), 2),
                    "source": (first[0] if first else "")[:80]})
    return out


def run_chapter(notebook: Path, cache: Path | None = None) -> dict:
    """One run of ``notebook`` under nbval, with the checkpoint cache ``cache`` (a fresh, empty
    one if None): seconds, cells, outcome."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "COURSE_CACHE_DIR": str(cache or Path(tmp) / "checkpoints"),
               "COURSE_NO_PROGRESS": "1"}
        if "COURSE_DATA_DIR" not in env and (SHARED_DATA / "ml-latest-small").is_dir():
            env["COURSE_DATA_DIR"] = str(SHARED_DATA)
        env.pop("OMP_NUM_THREADS", None)      # the learner's kernel: the default threads
        junit = Path(tmp) / "junit.xml"
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
             "--junitxml", str(junit), str(notebook)],
            cwd=ROOT, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        cells = cell_times(junit, notebook) if junit.exists() else []
    return {"seconds": round(seconds, 1), "passed": proc.returncode == 0, "cells": cells,
            "tail": proc.stdout[-2000:] if proc.returncode else ""}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--runs", type=int, default=1, help="runs per chapter (median kept)")
    parser.add_argument("--write", action="store_true", help="write the record")
    parser.add_argument("--update", action="store_true",
                        help="measure the chapters named, which load no saved model, and "
                             "replace their entries in the record (alone and in the book: "
                             "the same run)")
    args = parser.parse_args()
    notebooks = args.notebooks or sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))
    write = (args.write or not args.notebooks) and not args.update
    chapters = {}
    for nb in notebooks:
        nb = nb.resolve()
        runs = [run_chapter(nb) for _ in range(args.runs)]
        for r in runs:
            if not r["passed"]:
                print(f"{nb.name}: FAILED under nbval\n{r['tail']}", file=sys.stderr)
        median = statistics.median(r["seconds"] for r in runs)
        kept = min(runs, key=lambda r: abs(r["seconds"] - median))
        slowest = sorted(kept["cells"], key=lambda c: -c["seconds"])[:5]
        chapters[nb.stem] = {"seconds": median, "runs": [r["seconds"] for r in runs],
                             "passed": all(r["passed"] for r in runs), "slowest_cells": slowest}
        print(f"{nb.stem:28} {median:7.1f} s  runs {[r['seconds'] for r in runs]}  slowest: "
              + ", ".join(f"cell {c['cell']} {c['seconds']:.0f} s" for c in slowest[:3]),
              flush=True)
    total = None
    if write:        # the book: every chapter in order, one cache shared from empty
        with tempfile.TemporaryDirectory() as cache:
            for nb in notebooks:
                r = run_chapter(nb.resolve(), Path(cache))
                chapters[nb.resolve().stem]["in_book_seconds"] = r["seconds"]
                print(f"{nb.stem:28} {r['seconds']:7.1f} s in the book", flush=True)
        total = round(sum(c["in_book_seconds"] for c in chapters.values()), 1)
        print(f"{'book':28} {total:7.1f} s")
    if args.update:
        record = json.loads(RECORD.read_text())
        for stem, chapter in chapters.items():
            chapter["in_book_seconds"] = chapter["seconds"]
            record["chapters"][stem] = chapter
        record["book_seconds"] = round(sum(c["in_book_seconds"]
                                           for c in record["chapters"].values()), 1)
        record["updated"] = {stem: time.strftime("%Y-%m-%d") for stem in chapters}
        RECORD.write_text(json.dumps(record, indent=1) + "\n")
        print(f"updated {sorted(chapters)} in {RECORD.relative_to(ROOT)}")
    if write:
        record = {
            "what": "each chapter under nbval (pytest --nbval-lax), default threads, no "
                    "progress bars, kernel start included: 'seconds' alone from an empty "
                    "checkpoint cache (median of the runs; its five slowest cells), "
                    "'in_book_seconds' in the whole book run in order with one cache shared "
                    "from empty; 'book_seconds' is that run's total",
            "machine": f"{os.cpu_count()} CPU cores, {platform.machine()}, "
                       f"Python {platform.python_version()}",
            "date": time.strftime("%Y-%m-%d"),
            "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                     capture_output=True, text=True).stdout.strip(),
            "targets": {"chapter_seconds": 180, "book_seconds": 600},
            "chapters": chapters,
            "book_seconds": total,
        }
        RECORD.write_text(json.dumps(record, indent=1) + "\n")
        print(f"wrote {RECORD.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
