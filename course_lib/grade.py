"""Grade a learner's filled chapter notebook: ``python -m course_lib.grade NOTEBOOK.ipynb [...]``.

For each notebook the grader finds the exercise cells (the cells that call
``check("name", ...)``) and, for each, **rebuilds the function under test from its source**:
the function (or layer class) the cell hands to ``check``, plus the functions, classes,
constants and imports of the notebook it uses, and nothing else of the notebook. No other cell
runs, so nothing a notebook does elsewhere (patching the checker, ``course_lib``, numpy or
``sys.modules``, exiting, printing a verdict) can change a verdict. The checker then judges the
rebuilt function in a confined process of its own (:mod:`course_lib.grade_sandbox`), and the
grader verifies that the function left the checker and its libraries as they were. It prints
one line per exercise of the chapter::

    passed         the function passed every hand-written and random case of its checker
    failed         with the counterexample (or the error, the time-out, the limit it hit)
    not attempted  the stub was left as it is
    missing        the notebook has no cell for this exercise

and flags (🚩, a flag is not a failure) what an instructor should look at: a function that
imports or calls the course's reference solution, a check line that was edited, an exercise
cell that runs other code, a notebook cell other than an exercise's that touches the checker,
and a function that reaches outside itself (``sys.modules``, ``builtins``, ``setattr``...).
``-v`` prints each failure's whole counterexample. A JSON report (``--report``, default
``grade-report.json``) holds every verdict, message, seed and flag. The exit status is 0 when
every exercise of every notebook passed, 1 otherwise, 2 when the command line is wrong.

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
import concurrent.futures
import datetime
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import grade_sandbox
from .exercises import NOTEBOOKS, all_exercises, chapter_exercises

CELL_TIMEOUT = 60  # seconds for one exercise (each check also limits each case)
STARTUP_TIMEOUT = 120  # seconds for the sandbox to start and import the libraries
SETUP_ALLOWANCE = 10  # seconds a child may take to import its chapter before the learner's code
SYMBOLS = {"passed": "✅", "failed": "❌", "not attempted": "⏳", "missing": "❔"}
FLAG = "🚩"
_CHECK_CALL = re.compile(r"""\bcheck\(\s*["']([A-Za-z_][A-Za-z0-9_]*)["']""")
# what a graded function has no reason to reach: using it is flagged for the instructor
_REACH_NAMES = {"sys", "builtins", "__builtins__", "gc", "ctypes", "importlib", "__import__",
                "setattr", "delattr", "globals", "locals", "vars", "exec", "eval", "compile",
                "os", "subprocess", "socket", "signal", "resource", "open", "threading",
                "multiprocessing", "shutil", "pathlib", "atexit"}
_REACH_ATTRS = {"__globals__", "__dict__", "__subclasses__", "__code__", "__builtins__",
                "__bases__", "__base__", "__mro__", "__class__", "__setattr__", "__delattr__",
                "__getattribute__", "__traceback__", "__closure__", "cell_contents",
                "__defaults__", "__kwdefaults__", "__self__", "__func__", "tb_frame",
                "gi_frame", "f_back", "f_globals", "f_locals", "modules"}
_ATTRIBUTE_CALLS = {"getattr", "setattr", "delattr", "hasattr"}
_CHECKER_WORDS = re.compile(r"course_lib\.exercises|\bExercise\b|COURSE_GRADE_REPORT|"
                            r"\bcheck\s*=|grade_sandbox|\bREGISTRY\b")


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


# ---------------------------------------------------------------- rebuilding an attempt

@dataclass
class Attempt:
    """What the grader will run for one exercise: the rebuilt source, or a verdict reached
    without running anything (an untouched stub, a cell that cannot be parsed)."""

    exercise: str
    cell: int
    status: str | None = None
    message: str = ""
    source: str = ""
    target: str = ""
    unresolved: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)


def _parse(source: str) -> ast.Module:
    return ast.parse(_without_magics(source))


def _is_check_call(node: ast.AST, name: str) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == "check" and bool(node.args)
            and isinstance(node.args[0], ast.Constant) and node.args[0].value == name)


def _bound_names(node: ast.stmt) -> set[str]:
    """The module-level names a statement (re)binds."""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {node.name}
    if isinstance(node, ast.Import | ast.ImportFrom):
        return {(a.asname or a.name).split(".")[0] for a in node.names}
    names = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store | ast.Del):
            names.add(child.id)
        elif isinstance(child, ast.Global):
            names.update(child.names)
    return names


def _literal(node: ast.AST) -> bool:
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def _segment(source: str, node: ast.stmt) -> str:
    lines = _without_magics(source).splitlines()
    start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    return textwrap.dedent("\n".join(lines[start - 1:node.end_lineno]))


def _is_stub(node: ast.AST) -> bool:
    """A function whose body is only ``raise NotImplementedError`` (and a docstring, comments,
    ``pass``); a class whose methods are all such functions."""
    if isinstance(node, ast.ClassDef):
        methods = [n for n in node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
        return bool(methods) and all(map(_is_stub, methods))
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return False
    body = [n for n in node.body if not (isinstance(n, ast.Expr)
                                         and isinstance(n.value, ast.Constant))
            and not isinstance(n, ast.Pass)]
    if len(body) != 1 or not isinstance(body[0], ast.Raise) or body[0].exc is None:
        return False
    exc = body[0].exc.func if isinstance(body[0].exc, ast.Call) else body[0].exc
    return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"


def _references() -> dict[str, str]:
    """``{module.name of a reference solution: exercise}``."""
    return {ex.reference_path: name for name, ex in all_exercises().items()}


def rebuild(nb: dict, name: str, cell: int) -> Attempt:
    """The source the grader runs for exercise ``name``, whose check is in code cell ``cell``:
    the function (or class) handed to ``check`` and the definitions of the notebook it uses."""
    attempt = Attempt(name, cell)
    cells = nb.get("cells", [])
    try:
        tree = _parse(_source(cells[cell]))
    except SyntaxError as e:
        attempt.status = "failed"
        attempt.message = (f"{name}: the exercise cell has a SyntaxError at line {e.lineno}: "
                           f"{e.msg}; fix it so the cell runs")
        return attempt
    check_at = next((i for i, stmt in enumerate(tree.body)
                     for node in ast.walk(stmt) if _is_check_call(node, name)), None)
    if check_at is None:
        attempt.status = "failed"
        attempt.message = (f"{name}: the check call is not at the cell's top level (a line "
                           f"`{name} = check(\"{name}\", {name})`)")
        attempt.flags.append("the check line was moved inside other code")
        return attempt
    check_stmt = tree.body[check_at]
    call = next(n for n in ast.walk(check_stmt) if _is_check_call(n, name))
    canonical = ast.parse(f"{name} = check({name!r}, {name})").body[0]
    if ast.dump(check_stmt) != ast.dump(canonical):
        attempt.flags.append(f"the check line was edited: `{ast.unparse(check_stmt)}`")
    allowed = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
               ast.Pass)
    for stmt in tree.body:
        if stmt is check_stmt or isinstance(stmt, allowed):
            continue
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue
        if isinstance(stmt, ast.Assign | ast.AnnAssign) and stmt.value is not None \
                and _literal(stmt.value):
            continue
        attempt.flags.append(f"the exercise cell runs other code, which the grader does not "
                             f"run (line {stmt.lineno}: `{ast.unparse(stmt)[:60]}`)")

    # every definition of the notebook up to the check: the last one of each name wins
    defs: dict[str, tuple[int, int, ast.stmt, str]] = {}
    rebound: set[str] = set()
    order = 0
    for index in range(cell + 1):
        if cells[index].get("cell_type") != "code":
            continue
        source = _source(cells[index])
        try:
            body = tree.body[:check_at] if index == cell else _parse(source).body
        except SyntaxError:
            continue
        for stmt in body:
            order += 1
            if isinstance(stmt, ast.ImportFrom) and (stmt.level or stmt.module == "__future__"):
                continue
            if isinstance(stmt, ast.Import | ast.ImportFrom):
                for alias in stmt.names:
                    single = (ast.Import(names=[alias]) if isinstance(stmt, ast.Import) else
                              ast.ImportFrom(module=stmt.module, names=[alias], level=0))
                    bound = (alias.asname or alias.name).split(".")[0]
                    defs[bound] = (order, index, single, ast.unparse(single))
                    rebound.discard(bound)
            elif isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                defs[stmt.name] = (order, index, stmt, _segment(source, stmt))
                rebound.discard(stmt.name)
            elif (isinstance(stmt, ast.Assign | ast.AnnAssign) and stmt.value is not None
                  and _literal(stmt.value)
                  and all(isinstance(t, ast.Name) for t in
                          (stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]))):
                for bound in _bound_names(stmt):
                    defs[bound] = (order, index, stmt, ast.unparse(stmt))
                    rebound.discard(bound)
            elif any(_is_check_call(n, other) for n in ast.walk(stmt)
                     for other in _bound_names(stmt)):
                continue  # `x = check("x", x)` in an earlier exercise cell keeps `x`
            else:
                for bound in _bound_names(stmt):
                    defs.pop(bound, None)
                    rebound.add(bound)

    answer = call.args[1] if len(call.args) > 1 else next(
        (k.value for k in call.keywords if k.arg == "fn"), None)
    if isinstance(answer, ast.Name):
        attempt.target = answer.id
    elif isinstance(answer, ast.Lambda):
        attempt.target = "__answer__"
    else:
        attempt.status = "failed"
        attempt.message = (f"{name}: the check line must hand `check` your function by its "
                           f"name (`{name} = check(\"{name}\", {name})`)")
        return attempt
    target_def = defs.get(attempt.target)
    if attempt.target != "__answer__" and target_def is None:
        attempt.status = "failed"
        attempt.message = (f"{name}: the notebook defines no function or class "
                           f"`{attempt.target}` before its check line (a `def` or `class` the "
                           "grader can read; it does not run the notebook's other code)")
        return attempt
    if target_def is not None and _is_stub(target_def[2]):
        attempt.status, attempt.message = "not attempted", "not attempted yet"
        return attempt

    # the definitions the answer uses, transitively
    needed: dict[str, tuple] = {}
    unresolved: set[str] = set()
    todo = [answer] if attempt.target == "__answer__" else []
    if attempt.target != "__answer__":
        needed[attempt.target] = target_def
        todo.append(target_def[2])
    reach: set[str] = set()
    literal: set[int] = set()  # getattr(x, "name") calls: fine
    indirect: set[ast.Name] = set()
    while todo:
        node = todo.pop()
        for child in ast.walk(node):
            if isinstance(child, ast.Attribute) and child.attr in _REACH_ATTRS:
                reach.add(f".{child.attr}")
            if (isinstance(child, ast.Call) and isinstance(child.func, ast.Name)
                    and child.func.id in _ATTRIBUTE_CALLS):
                if len(child.args) > 1 and isinstance(child.args[1], ast.Constant):
                    literal.add(id(child.func))
                else:
                    reach.add(f"{child.func.id}(..., <a computed name>)")
            if (isinstance(child, ast.Name) and child.id in _ATTRIBUTE_CALLS
                    and id(child) not in literal):
                indirect.add(child)
            if not isinstance(child, ast.Name):
                continue
            if child.id in _REACH_NAMES:
                reach.add(child.id)
            if child.id in needed:
                continue
            if child.id in defs:
                needed[child.id] = defs[child.id]
                todo.append(defs[child.id][2])
            elif child.id in rebound:
                unresolved.add(child.id)
    # an earlier exercise left as a stub: its reference stands in, as in the notebook
    exercises = all_exercises()
    for dep, (order_, index, node, text) in list(needed.items()):
        if dep != attempt.target and dep in exercises and _is_stub(node):
            ref = exercises[dep].reference
            single = ast.parse(f"from {ref.__module__} import {ref.__name__} as {dep}").body[0]
            needed[dep] = (order_, index, single, ast.unparse(single))
    attempt.unresolved = sorted(unresolved - set(needed))
    chunks = [text for _, _, _, text in sorted(needed.values(), key=lambda d: d[0])]
    if attempt.target == "__answer__":
        chunks.append(f"__answer__ = {ast.unparse(answer)}")
    attempt.source = "\n\n".join(chunks) + "\n"
    attempt.flags += _reference_flags(needed, name)
    reach |= {f"{n.id}(..., <a computed name>)" for n in indirect if id(n) not in literal}
    if reach:
        attempt.flags.append("the function reaches outside itself: "
                             + ", ".join(sorted(reach)))
    return attempt


def _reference_flags(needed: dict, name: str) -> list[str]:
    references = _references()
    stubs_replaced = {dep for dep, (_, _, node, _) in needed.items() if dep in references.values()
                      and isinstance(node, ast.ImportFrom)}
    modules: dict[str, str] = {}  # bound name -> course_lib module
    flags = []
    for dep, (_, _, node, _) in needed.items():
        if not isinstance(node, ast.Import | ast.ImportFrom) or dep in stubs_replaced:
            continue
        alias = node.names[0]
        full = (f"{node.module}.{alias.name}" if isinstance(node, ast.ImportFrom)
                else alias.name)
        if full.startswith("course_lib.exercises") or full == "course_lib.grade_sandbox":
            flags.append(f"imports the checker ({full})")
        elif full in references:
            flags.append(f"imports the course's reference solution {full}"
                         + ("" if references[full] == name else
                            f" (of the exercise {references[full]})"))
        elif full.startswith("course_lib"):
            modules[dep] = full if alias.asname or isinstance(node, ast.ImportFrom) \
                else "course_lib"
    for dep, (_, _, node, _) in needed.items():
        for child in ast.walk(node):
            if isinstance(child, ast.Attribute):
                parts, base = [child.attr], child.value
                while isinstance(base, ast.Attribute):
                    parts.append(base.attr)
                    base = base.value
                if isinstance(base, ast.Name) and base.id in modules:
                    full = ".".join([modules[base.id], *reversed(parts)])
                    if full in references:
                        flags.append(f"calls the course's reference solution {full}")
    return sorted(set(flags))


def notebook_flags(nb: dict, exercise_cell_indices: set[int]) -> list[str]:
    """Cells other than the exercise cells that touch the checker."""
    flags = []
    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code" or i in exercise_cell_indices:
            continue
        source = _source(cell)
        hit = _CHECKER_WORDS.search(source)
        if hit is None and "check(" in source:
            hit = re.search(r"\bcheck\(", source)
        if hit is not None and "from course_lib.exercises import check" not in source:
            flags.append(f"cell {i} (not an exercise cell) touches the checker: "
                         f"`{hit.group(0)}`")
        elif hit is not None and _CHECKER_WORDS.search(
                source.replace("from course_lib.exercises import check", "")):
            flags.append(f"cell {i} (not an exercise cell) touches the checker")
    return flags


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


def _zygote_command() -> list[str]:
    root = str(Path(__file__).resolve().parents[1])
    boot = (f"import sys; sys.path.insert(0, {root!r}); "
            "from course_lib.grade_sandbox import zygote; zygote()")
    return [*grade_sandbox.namespace_prefix(), sys.executable, "-I", "-c", boot]


def _judge(chapter: str, attempts: list[Attempt], cell_timeout: float, seed: int | None,
           limits: dict, on_result=None) -> tuple[dict[str, dict], dict]:
    """Run the attempts in one sandbox; ``{exercise: verdict}`` and what confined them."""
    import select
    import signal

    workdir = tempfile.mkdtemp(prefix="course-grade-")
    for sub in ("home", "tmp"):
        os.makedirs(os.path.join(workdir, sub))
    parallel = limits.get("parallel", 1)
    job = {"chapter": chapter, "timeout": cell_timeout + SETUP_ALLOWANCE, "limits": limits,
           "setup": SETUP_ALLOWANCE, "parallel": parallel,
           "workdir": workdir,
           "tasks": [{"exercise": a.exercise, "source": a.source, "target": a.target,
                      "filename": f"<your {a.exercise} (cell {a.cell})>", "seed": seed,
                      "unresolved": a.unresolved} for a in attempts]}
    command = _zygote_command()
    sandbox = {"namespaces": _namespaces(command), "workdir": workdir + " (deleted after)",
               "home": os.path.join(workdir, "home")}
    results: dict[str, dict] = {}
    names = {a.exercise for a in attempts}
    stderr = open(os.path.join(workdir, "sandbox-stderr.txt"), "w+b")  # noqa: SIM115
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=stderr, cwd=workdir,
                            env=grade_sandbox.scrubbed_env(workdir, limits.get("threads", 1)),
                            start_new_session=True)
    try:
        proc.stdin.write(json.dumps(job).encode())
        proc.stdin.close()
        buffer, ready = b"", False
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while len(results) < len(attempts):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            readable, _, _ = select.select([proc.stdout], [], [], left)
            if not readable:
                continue
            data = os.read(proc.stdout.fileno(), 65536)
            if not data:
                break
            buffer += data
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(entry, dict):
                    continue
                if entry.get("ready"):
                    ready = True
                elif entry.get("exercise") in names:
                    results[entry.pop("exercise")] = entry
                    if on_result is not None:
                        on_result()
                deadline = time.monotonic() + cell_timeout + 2 * SETUP_ALLOWANCE
        if not ready:
            stderr.seek(0)
            detail = stderr.read().decode(errors="replace").strip().splitlines()[-3:]
            raise NotebookError("the grading sandbox did not start within "
                                f"{STARTUP_TIMEOUT} s" + (": " + " / ".join(detail)
                                                          if detail else ""))
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        proc.wait()
        stderr.close()
        shutil.rmtree(workdir, ignore_errors=True)
    for entry in results.values():
        if "sandbox" in entry:
            sandbox.update(entry.pop("sandbox"))
    for a in attempts:
        results.setdefault(a.exercise, {"status": "failed", "message": "the grading sandbox "
                                        "stopped before this exercise's verdict"})
    return results, sandbox


def _namespaces(command: list[str]) -> str:
    if not command or not command[0].endswith("unshare"):
        return "none (this platform has no unprivileged namespaces)"
    parts = [w for flag, w in (("--map", "user"), ("--net", "network (no network)"),
                               ("--pid", "PID")) if any(a.startswith(flag) for a in command)]
    return ", ".join(parts)


def prepare(path: str | Path) -> tuple[dict, list[Attempt]]:
    """A notebook's report skeleton and its exercises' attempts (nothing run yet)."""
    path = Path(path)
    report: dict = {"notebook": str(path), "chapter": None, "status": "graded", "error": None,
                    "flags": [], "exercises": []}
    try:
        nb = _read_notebook(path)
        found = exercise_cells(nb)
        report["chapter"] = _chapter_of(path, found)
        report["flags"] = notebook_flags(nb, set(found.values()))
        attempts = [rebuild(nb, name, cell) for name, cell in found.items()]
    except NotebookError as e:
        report.update(status="error", error=str(e))
        attempts = []
    return report, attempts


def finish(report: dict, attempts: list[Attempt], results: dict[str, dict]) -> dict:
    """Fill a report with the verdicts, in the chapter's order."""
    by_name = {a.exercise: a for a in attempts}
    expected = chapter_exercises(report["chapter"]) if report["status"] == "graded" else []
    for name in expected:
        a = by_name.get(name)
        if a is None:
            entry = {"status": "missing", "message": "the notebook has no cell that checks this "
                     f"exercise (a line `{name} = check(\"{name}\", {name})`)", "flags": []}
        else:
            got = results.get(name, {})
            entry = {"status": a.status or got.get("status", "failed"),
                     "message": a.message or got.get("message", ""), "cell": a.cell,
                     "seed": got.get("seed"), "cases_run": got.get("cases_run", 0),
                     "flags": sorted(set(a.flags) | set(got.get("flags", [])))}
        report["exercises"].append({"exercise": name, **entry})
    report["summary"] = {s: sum(e["status"] == s for e in report["exercises"])
                         for s in SYMBOLS}
    report["flagged"] = sum(bool(e["flags"]) for e in report["exercises"]) + bool(
        report["flags"])
    return report


def grade_notebooks(paths, cell_timeout: float = CELL_TIMEOUT, jobs: int = 1,
                    seed: int | None = None, limits: dict | None = None,
                    progress: bool = False) -> tuple[list[dict], dict]:
    """Grade notebooks, ``jobs`` sandboxes at a time; the reports (in ``paths``' order) and
    what confined the learners' code."""
    cores = os.cpu_count() or 1
    parallel = max(1, cores // max(1, jobs))  # exercises of one notebook judged at once
    limits = {**grade_sandbox.DEFAULT_LIMITS, "parallel": parallel,
              "threads": max(1, cores // (max(1, jobs) * parallel)), **(limits or {})}
    prepared = [prepare(p) for p in paths]
    runnable = sum(1 for _, attempts in prepared for a in attempts if a.status is None)
    bar = None
    if progress and runnable:
        from tqdm.auto import tqdm

        bar = tqdm(total=runnable, unit="exercise", desc="grading", file=sys.stderr,
                   leave=False, disable=None)  # shown on a terminal only
    sandbox: dict = {}

    def one(item):
        report, attempts = item
        start = time.perf_counter()
        todo = [a for a in attempts if a.status is None]
        results: dict = {}
        if todo:
            try:
                results, used = _judge(report["chapter"], todo, cell_timeout, seed, limits,
                                       bar.update if bar is not None else None)
                sandbox.update(used)
            except Exception as e:  # noqa: BLE001 - a sandbox that cannot start, and the like
                report.update(status="error", error=f"the notebook could not be graded: "
                                                    f"{type(e).__name__}: {e}")
        finish(report, attempts, results)
        report["seconds"] = round(time.perf_counter() - start, 2)
        return report

    with concurrent.futures.ThreadPoolExecutor(max(1, jobs)) as pool:
        reports = list(pool.map(one, prepared))
    if bar is not None:
        bar.close()
    return reports, sandbox


def grade_notebook(path: str | Path, cell_timeout: float = CELL_TIMEOUT,
                   seed: int | None = None) -> dict:
    """Grade one notebook; returns its report (never raises for a bad notebook)."""
    return grade_notebooks([path], cell_timeout, seed=seed)[0][0]


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


def _help_epilog() -> str:
    limits = grade_sandbox.DEFAULT_LIMITS
    return textwrap.dedent(f"""\
    where the learner's code runs:
      Each notebook is graded in a new temporary folder (the working directory, with its own
      $HOME and $TMPDIR inside it, deleted afterwards), by a process whose environment holds
      only PATH, HOME, TMPDIR, the locale and thread settings: none of yours. Only the function
      under test and the definitions it uses run, one exercise per process, under these hard
      limits (per exercise): {limits['cpu_s']} s of CPU, {limits['memory_gb']:g} GB of memory
      beyond the libraries, {limits['processes']} more processes or threads, files up to
      {limits['file_mb']} MB, {limits['open_files']} open files, and the wall-clock --timeout.
      Linux: own user, network (no network) and PID namespaces where unprivileged namespaces
      are allowed, and Landlock where the kernel has it (reads: Python and its libraries only;
      writes: the temporary folder only; no TCP; no signals out). macOS: the limits and the
      scrubbed environment only (no namespaces, no Landlock, network reachable): grade in the
      container (see the README) for full isolation.
    flags (🚩, not failures): a function that imports or calls a reference solution, an
      edited check line, an exercise cell or another cell that touches the checker, a
      function that reaches outside itself.""")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m course_lib.grade",
        description="Grade the exercises of filled chapter notebooks (not the training cells).",
        epilog=_help_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="+", help="the .ipynb files to grade")
    parser.add_argument("--report", default="grade-report.json",
                        help="where to write the JSON report (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=CELL_TIMEOUT,
                        help="seconds allowed for one exercise (default: %(default)s)")
    parser.add_argument("--jobs", "-j", type=int, default=1,
                        help="notebooks graded at once, each in its own sandbox (default: 1)")
    parser.add_argument("--seed", type=int, default=None,
                        help="the checkers' random cases (default: a new seed per check)")
    parser.add_argument("--memory-gb", type=float, default=grade_sandbox.DEFAULT_LIMITS[
        "memory_gb"], help="memory per exercise beyond the libraries (default: %(default)s)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print each failure's whole counterexample, not only its problem")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.jobs < 1 or args.timeout <= 0:
        parser.error("--jobs and --timeout must be positive")
    reports, sandbox = grade_notebooks(args.notebooks, args.timeout, args.jobs, args.seed,
                                       {"memory_gb": args.memory_gb},
                                       progress=not args.no_progress)
    for report in reports:
        print(f"{report['notebook']} ({report['chapter'] or 'unknown chapter'}, "
              f"{report['seconds']:.1f} s)")
        if report["error"]:
            print(f"  ❗ cannot grade: {report['error']}")
        for flag in report.get("flags", []):
            print(f"  {FLAG} {flag}")
        for entry in report["exercises"]:
            print(_summary_line(entry))
            for flag in entry.get("flags", []):
                print(f"      {FLAG} {flag}")
            if args.verbose and entry["status"] == "failed":
                print(textwrap.indent(entry.get("message", ""), " " * 6))
    full = {"graded_at": datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="seconds"), "sandbox": sandbox, "notebooks": reports}
    Path(args.report).write_text(json.dumps(full, indent=2, ensure_ascii=False) + "\n",
                                 encoding="utf-8")
    print(f"report: {args.report}")
    ok = all(r["status"] == "graded" and r["exercises"]
             and all(e["status"] == "passed" for e in r["exercises"]) for r in reports)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
