"""Grade a learner's filled chapter notebook: ``python -m course_lib.grade NOTEBOOK.ipynb [...]``.

For each notebook the grader finds the exercise cells (the cells that call
``check("name", ...)``), runs them, and only them, in a fresh Jupyter kernel, each under a time
limit, after the ``import`` statements of the notebook's other cells (so no data is loaded and no
model is trained). It prints one line per exercise of the chapter::

    passed         the function passed every hand-written and random case of its checker
    failed         with the counterexample (or the error the cell raised, or the time-out)
    not attempted  the stub was left as it is
    missing        the notebook has no cell for this exercise

(``-v`` prints each failure's whole counterexample too) and writes a JSON report (``--report``, default ``grade-report.json``) that a course platform can
read. The exit status is 0 when every exercise of every notebook passed, 1 otherwise, 2 when the
command line is wrong.

What a pass guarantees: the learner's function gave the reference's result on the checker's
hand-written edge cases and on random cases drawn for the exercise's pitfalls (with the seed
shown in the report), did not change its arguments, returned the array type the next cells need,
and (JAX) compiled under ``jax.jit`` with the reference's gradient, or (torch) backpropagated
with the reference's gradient. What it does not guarantee: that the function is right on every
possible input, that it is fast on MovieLens-sized data, or anything about the rest of the
notebook (its narrative cells, the training cells, the learner's own answers in prose).
"""

from __future__ import annotations

import argparse
import ast
import datetime
import inspect
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from .exercises import NOTEBOOKS, REPORT_ENV, all_exercises, chapter_exercises

CELL_TIMEOUT = 60  # seconds for one exercise cell (each check also limits each case)
STARTUP_TIMEOUT = 120  # seconds for the kernel to start and run the imports
SYMBOLS = {"passed": "✅", "failed": "❌", "not attempted": "⏳", "missing": "❔"}
_QUIET = logging.getLogger("course_lib.grade.kernel")
_QUIET.setLevel(logging.CRITICAL)
_CHECK_CALL = re.compile(r"""\bcheck\(\s*["']([A-Za-z_][A-Za-z0-9_]*)["']""")


class NotebookError(Exception):
    """The notebook cannot be graded at all (unreadable, not a notebook, no exercise cells)."""


def exercise_cells(nb: dict) -> dict[str, int]:
    """``{exercise name: index of the code cell that checks it}`` (the last such cell wins)."""
    names = all_exercises()
    found: dict[str, int] = {}
    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        for name in _CHECK_CALL.findall(_source(cell)):
            if name in names:
                found[name] = i
    return found


def import_lines(nb: dict, skip: set[int]) -> list[str]:
    """The top-level ``import`` statements of the notebook's code cells other than ``skip``."""
    lines: list[str] = []
    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code" or i in skip:
            continue
        source = _source(cell)
        try:
            tree = ast.parse(_without_magics(source))
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                line = ast.unparse(node)
                if line not in lines and "__future__" not in line:
                    lines.append(line)
    return lines


PASTE_IMPORTS = "import numpy as np, pandas as pd, torch, jax, jax.numpy as jnp, jraph\n\n"


def paste_function(nb: dict, name: str, function) -> None:
    """Replace exercise ``name``'s cell in ``nb`` by ``function``'s source, renamed to the
    exercise, and the check line, as a learner who typed it in would have it (instructors: a
    notebook with every reference pasted in is a solution notebook; the tests use it). A class
    (a layer written as a module) comes with its module's imports and its base classes from
    that module."""
    if inspect.isclass(function):
        source = _class_source(function, name)
    else:
        source = textwrap.dedent(inspect.getsource(function))
        source = re.sub(r"^def \w+\(", f"def {name}(", source, count=1, flags=re.M)
    cell = exercise_cells(nb)[name]
    nb["cells"][cell]["source"] = (f"{PASTE_IMPORTS}{source}\n\n"
                                   f'{name} = check("{name}", {name})\n')


def _class_source(cls: type, name: str) -> str:
    module = inspect.getmodule(cls)
    text = inspect.getsource(module)
    imports = [ast.get_source_segment(text, node) for node in ast.parse(text).body
               if isinstance(node, ast.Import)
               or (isinstance(node, ast.ImportFrom) and node.level == 0
                   and node.module != "__future__")]
    bases = [textwrap.dedent(inspect.getsource(base)) for base in reversed(cls.__mro__[1:])
             if base.__module__ == cls.__module__]
    own = re.sub(r"^class \w+", f"class {name}", textwrap.dedent(inspect.getsource(cls)),
                 count=1, flags=re.M)
    return "\n".join(imports) + "\n\n\n" + "\n\n".join([*bases, own])


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _without_magics(source: str) -> str:
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                     for line in source.splitlines())


def _setup_source(imports: list[str]) -> str:
    """A first cell: every import in its own try (a failing one is reported, not fatal)."""
    body = ["import warnings", "warnings.filterwarnings('ignore')", "_grade_import_errors = []"]
    for line in imports:
        body += ["try:", f"    {line}", "except Exception as _e:",
                 f"    _grade_import_errors.append(({line!r}, repr(_e)))"]
    body.append("print(_grade_import_errors)")
    body.append("import course_lib.exercises  # without it no check can run: the grader stops")
    return "\n".join(body)


def _read_notebook(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotebookError(f"no such file: {path}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise NotebookError(f"cannot read {path}: {e}") from None
    try:
        nb = json.loads(text)
    except json.JSONDecodeError as e:
        raise NotebookError(f"{path} is not valid JSON (line {e.lineno}, column {e.colno}): "
                            "is it an .ipynb notebook, saved completely?") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise NotebookError(f"{path} is JSON but not a Jupyter notebook (no list of cells)")
    return nb


def _chapter_of(path: Path, found: dict[str, int]) -> str:
    exercises = all_exercises()
    chapters = {exercises[name].chapter for name in found}
    if len(chapters) == 1:
        return chapters.pop()
    if len(chapters) > 1:
        raise NotebookError(f"{path} has exercises of several chapters ({sorted(chapters)}); "
                            "grade one chapter notebook at a time")
    for chapter, stem in NOTEBOOKS.items():
        if path.stem.startswith(stem) or chapter in path.stem:
            return chapter
    raise NotebookError(f"{path} has no exercise cells (no `check(\"name\", ...)` line) and its "
                        "name matches no chapter")


def grade_notebook(path: str | Path, cell_timeout: float = CELL_TIMEOUT) -> dict:
    """Grade one notebook; returns its report (never raises for a bad notebook)."""
    path = Path(path)
    start = time.perf_counter()
    report: dict = {"notebook": str(path), "chapter": None, "status": "graded", "error": None,
                    "exercises": []}
    try:
        nb = _read_notebook(path)
        found = exercise_cells(nb)
        chapter = _chapter_of(path, found)
        report["chapter"] = chapter
        expected = chapter_exercises(chapter)
        results = _run_cells(nb, found, cell_timeout) if found else {}
    except NotebookError as e:
        report.update(status="error", error=str(e))
        results, expected = {}, []
    except Exception as e:  # noqa: BLE001 - a kernel that cannot start, and the like
        report.update(status="error", error=f"the notebook could not be run: "
                                            f"{type(e).__name__}: {e}")
        results, expected = {}, []
    for name in expected:
        entry = results.get(name) or {
            "status": "missing", "message": "the notebook has no cell that checks this exercise "
                                            f"(a line `{name} = check(\"{name}\", {name})`)"}
        report["exercises"].append({"exercise": name, **entry})
    report["summary"] = {s: sum(e["status"] == s for e in report["exercises"])
                         for s in SYMBOLS}
    report["seconds"] = round(time.perf_counter() - start, 2)
    return report


def _run_cells(nb: dict, found: dict[str, int], cell_timeout: float) -> dict[str, dict]:
    import nbformat
    from nbclient import NotebookClient

    cells = sorted(set(found.values()))
    graded = nbformat.v4.new_notebook()
    graded.cells.append(nbformat.v4.new_code_cell(_setup_source(import_lines(nb, set(cells)))))
    for i in cells:
        graded.cells.append(nbformat.v4.new_code_cell(_source(nb["cells"][i])))
    with tempfile.TemporaryDirectory(prefix="course-grade-") as tmp:
        record = Path(tmp) / "results.jsonl"
        env = {REPORT_ENV: str(record), "MPLBACKEND": "Agg", "PYTHONWARNINGS": "ignore"}
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            client = NotebookClient(
                graded, timeout=cell_timeout, startup_timeout=STARTUP_TIMEOUT,
                kernel_name="python3", allow_errors=True, interrupt_on_timeout=True,
                error_on_timeout={"ename": "CellTimeout", "evalue": f"the cell did not finish "
                                  f"within {cell_timeout:g} s", "traceback": []},
                resources={"metadata": {"path": tmp}})
            client.log = _QUIET  # nbclient logs time-outs as errors; the report says it instead
            # the kernel's own stderr (ZMQ transport warnings) is not the learner's output
            with client.setup_kernel(stderr=subprocess.DEVNULL):
                for index, cell in enumerate(graded.cells):
                    # the imports (torch, jax...) get the start-up time, not a cell's limit
                    client.timeout = STARTUP_TIMEOUT if index == 0 else cell_timeout
                    client.execute_cell(cell, index)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        setup_error = next((o for o in graded.cells[0].get("outputs", [])
                            if o.get("output_type") == "error"), None)
        if setup_error is not None and setup_error["ename"] == "CellTimeout":
            raise NotebookError(f"the imports of the notebook did not finish within "
                                f"{STARTUP_TIMEOUT} s (an overloaded machine?)")
        if setup_error is not None:
            raise NotebookError(
                "the grading kernel cannot import the course library "
                f"({setup_error['ename']}: {setup_error['evalue']}): run the grader with the "
                "course's Python environment (`make setup`, then its venv), or `pip install` "
                "the course library into the kernel's environment")
        checked: dict[str, dict] = {}
        if record.exists():
            for line in record.read_text(encoding="utf-8").splitlines():
                entry = json.loads(line)
                checked[entry["exercise"]] = {k: entry[k] for k in
                                              ("status", "message", "seed", "cases_run")}
    results: dict[str, dict] = {}
    for name, i in found.items():
        cell = graded.cells[1 + cells.index(i)]
        error = next((o for o in cell.get("outputs", []) if o.get("output_type") == "error"),
                     None)
        if name in checked:
            results[name] = {**checked[name], "cell": i}
        elif error is not None:
            if error["ename"] in ("CellTimeout", "KeyboardInterrupt"):
                message = (f"the cell did not finish within {cell_timeout:g} s (an endless loop "
                           "outside your function?) and was interrupted")
            else:
                message = ("the cell raised an error before the check ran: "
                           f"{error['ename']}: {error['evalue']}")
            results[name] = {"status": "failed", "cell": i, "message": message}
        else:
            results[name] = {"status": "failed", "cell": i,
                             "message": "the cell ran but never called the check (is the "
                                        f"`check(\"{name}\", ...)` line commented out?)"}
    return results


def _summary_line(entry: dict) -> str:
    status = entry["status"]
    line = f"  {SYMBOLS[status]} {entry['exercise']}: {status}"
    if status == "failed":
        message = entry.get("message", "")
        problem = next((ln.strip() for ln in message.splitlines()
                        if ln.strip().startswith("problem:")), message.splitlines()[0]
                       if message else "")
        line += f" - {problem.removeprefix('problem:').strip()}"
    return line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m course_lib.grade",
        description="Grade the exercises of filled chapter notebooks (not the training cells).")
    parser.add_argument("notebooks", nargs="+", help="the .ipynb files to grade")
    parser.add_argument("--report", default="grade-report.json",
                        help="where to write the JSON report (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=CELL_TIMEOUT,
                        help="seconds allowed for one exercise cell (default: %(default)s)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print each failure's whole counterexample, not only its problem")
    args = parser.parse_args(argv)
    reports = []
    for path in args.notebooks:
        report = grade_notebook(path, args.timeout)
        reports.append(report)
        print(f"{report['notebook']} ({report['chapter'] or 'unknown chapter'}, "
              f"{report['seconds']:.1f} s)")
        if report["error"]:
            print(f"  ❗ cannot grade: {report['error']}")
        for entry in report["exercises"]:
            print(_summary_line(entry))
            if args.verbose and entry["status"] == "failed":
                print(textwrap.indent(entry.get("message", ""), " " * 6))
    full = {"graded_at": datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="seconds"), "notebooks": reports}
    Path(args.report).write_text(json.dumps(full, indent=2, ensure_ascii=False) + "\n",
                                 encoding="utf-8")
    print(f"report: {args.report}")
    ok = all(r["status"] == "graded" and r["exercises"]
             and all(e["status"] == "passed" for e in r["exercises"]) for r in reports)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
