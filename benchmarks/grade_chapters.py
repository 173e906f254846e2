"""How long the grader takes per chapter notebook (target: at most 60 s on 2 CPU cores).

    python benchmarks/grade_chapters.py

For each chapter it grades the notebook as stored (every exercise "not attempted": the kernel,
the imports and one call per check) and the notebook with every reference solution pasted in
(every exercise "passed": all hand-written and random cases, jit and gradient checks), and prints
the wall-clock seconds of each, kernel start included.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from course_lib import grade
from course_lib.exercises import NOTEBOOKS, all_exercises, chapter_exercises

BOOK = Path(__file__).resolve().parents[1] / "book"


def main() -> None:
    exercises = all_exercises()
    print(f"{'chapter':28} {'exercises':>9} {'stored (s)':>11} {'solved (s)':>11}  statuses")
    with tempfile.TemporaryDirectory() as tmp:
        for chapter, stem in NOTEBOOKS.items():
            path = BOOK / f"{stem}.ipynb"
            stored = grade.grade_notebook(path)
            nb = json.loads(path.read_text())
            for name in chapter_exercises(chapter):
                grade.paste_function(nb, name, exercises[name].reference)
            solved_path = Path(tmp) / f"{stem}.ipynb"
            solved_path.write_text(json.dumps(nb))
            solved = grade.grade_notebook(solved_path)
            statuses = {e["status"] for r in (stored, solved) for e in r["exercises"]}
            print(f"{stem:28} {len(solved['exercises']):>9} {stored['seconds']:>11.1f} "
                  f"{solved['seconds']:>11.1f}  {sorted(statuses)}")


if __name__ == "__main__":
    main()
