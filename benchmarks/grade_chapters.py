"""How long the grader takes (targets: a chapter notebook in at most 30 s on 2 CPU cores; a
class graded in parallel with ``--jobs``).

    python benchmarks/grade_chapters.py            # print
    python benchmarks/grade_chapters.py --write    # and write course_lib/records/grading.json

For each chapter it grades the notebook as stored (every exercise "not attempted": nothing is
run) and the notebook with every reference solution pasted in (every exercise "passed": all
hand-written and random cases, jit and gradient checks, each in the sandbox), as an instructor
would (``python -m course_lib.grade``, a new process, the library imports included). Then a
class: ``--class-size`` solved notebooks (the chapters in turn) graded by one command with
``--jobs 2``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from course_lib import grade
from course_lib.exercises import NOTEBOOKS, all_exercises, chapter_exercises

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
RECORD = ROOT / "course_lib" / "records" / "grading.json"


def _grade(paths: list[Path], tmp: Path, *args: str) -> tuple[float, dict]:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "course_lib.grade", *map(str, paths), "--no-progress",
                    "--report", str(tmp / "report.json"), *args], check=False,
                   capture_output=True, cwd=tmp)
    seconds = time.perf_counter() - start
    return seconds, json.loads((tmp / "report.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--class-size", type=int, default=30)
    args = parser.parse_args()
    exercises = all_exercises()
    record: dict = {"cpu cores": os.cpu_count(), "chapters": {}}
    print(f"{'chapter':28} {'exercises':>9} {'stored (s)':>11} {'solved (s)':>11}  statuses")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        solved_paths = []
        for chapter, stem in NOTEBOOKS.items():
            path = BOOK / f"{stem}.ipynb"
            stored_s, stored = _grade([path], tmp)
            nb = json.loads(path.read_text())
            for name in chapter_exercises(chapter):
                grade.paste_function(nb, name, exercises[name].reference)
            solved_path = tmp / f"{stem}-solved.ipynb"
            solved_path.write_text(json.dumps(nb))
            solved_paths.append(solved_path)
            solved_s, solved = _grade([solved_path], tmp)
            statuses = sorted({e["status"] for r in (stored, solved)
                               for n in r["notebooks"] for e in n["exercises"]})
            count = len(chapter_exercises(chapter))
            print(f"{stem:28} {count:>9} {stored_s:>11.1f} {solved_s:>11.1f}  {statuses}")
            record["chapters"][stem] = {"exercises": count, "stored s": round(stored_s, 1),
                                        "solved s": round(solved_s, 1), "statuses": statuses}
        paths = []
        for i in range(args.class_size):
            source = solved_paths[i % len(solved_paths)]
            paths.append(tmp / f"learner{i:02d}-{source.name}")
            paths[-1].write_text(source.read_text())
        class_s, report = _grade(paths, tmp, "--jobs", "2")
        passed = sum(n["summary"]["passed"] for n in report["notebooks"])
        total = sum(len(n["exercises"]) for n in report["notebooks"])
        print(f"class of {len(paths)} solved notebooks, --jobs 2: {class_s:.0f} s "
              f"({passed} of {total} exercises passed)")
        record["class"] = {"notebooks": len(paths), "jobs": 2, "seconds": round(class_s),
                           "exercises passed": passed, "exercises": total}
    if args.write:
        RECORD.write_text(json.dumps(record, indent=1) + "\n")
        print(f"wrote {RECORD}")


if __name__ == "__main__":
    main()
