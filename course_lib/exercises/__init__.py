"""The exercise mechanism: stubs the learner fills in, checked against ``course_lib``'s reference.

In a notebook an exercise is a function stub followed by one line::

    def to_edge_index(user_raw, movie_raw, user_ids, movie_ids):
        raise NotImplementedError  # your code here

    to_edge_index = check("to_edge_index", to_edge_index)

``check`` runs the learner's function on several small cases and compares it with the reference:

* untouched stub (raises ``NotImplementedError``): prints "not attempted yet" and returns the
  reference from ``course_lib``, so the notebook still runs end to end;
* wrong answer: raises :class:`ExerciseFailed` with a concrete counterexample (input, expected,
  got); it never falls back silently;
* right answer: says so and returns the learner's own function, used from then on.

Exercises are registered per chapter in the modules of this package.
"""

from __future__ import annotations

import copy
import html
import importlib
import inspect
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

CHAPTER_MODULES = ("graph_tasks", "movielens_graph", "link_prediction_sage", "gcn_ratings",
                   "hetero_kg", "ngcf_lightgcn")


class ExerciseFailed(AssertionError):
    """The learner's function gave a wrong answer (or crashed) on one of the checker's cases."""

    def _render_traceback_(self):  # IPython shows this instead of a stack trace from course_lib
        return ["\x1b[1;31mExerciseFailed\x1b[0m: " + str(self)]


@dataclass
class Case:
    """One input of a checker: ``fn(*args, **kwargs)``, with what the case is about."""

    description: str
    args: tuple
    kwargs: dict = field(default_factory=dict)


@dataclass
class Result:
    status: str          # "passed", "failed" or "not attempted"
    message: str
    case: Case | None = None


@dataclass
class Exercise:
    """A registered exercise: its reference solution and how to check an attempt.

    ``cases`` builds fresh inputs each call; every case is run through the reference and the
    attempt, and outputs are compared with ``rtol``/``atol`` (exact for integers and booleans).
    """

    name: str
    reference: Callable
    cases: Callable[[], list[Case]]
    rtol: float = 1e-5
    atol: float = 1e-6
    hint: str = ""

    @property
    def reference_path(self) -> str:
        return f"{self.reference.__module__}.{self.reference.__qualname__}"

    def run(self, fn: Any) -> Result:
        if not callable(fn):
            return Result("failed", f"expected a function, got {type(fn).__name__} {fn!r:.80}.")
        for i, case in enumerate(self.cases()):
            expected = self.reference(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs))
            try:
                got = fn(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs))
            except NotImplementedError:
                if i == 0:
                    return Result("not attempted", "not attempted yet")
                return Result("failed", self._report(case, expected, None,
                              "your function raised NotImplementedError on this case"), case)
            except Exception as e:  # noqa: BLE001 - any learner error becomes a readable report
                return Result("failed", self._report(case, expected, None, _describe_error(e)), case)
            problem = compare(expected, got, self.rtol, self.atol)
            if problem is not None:
                return Result("failed", self._report(case, expected, got, problem), case)
        return Result("passed", f"all cases pass (rtol={self.rtol:g}, atol={self.atol:g}).")

    def _report(self, case: Case, expected, got, problem: str) -> str:
        args = inspect.signature(self.reference).bind_partial(*case.args, **case.kwargs).arguments
        lines = [f"{self.name}: wrong on the case '{case.description}'.", "  input:"]
        lines += [f"    {k} = {_fmt(v, 6)}" for k, v in args.items()]
        lines.append(f"  expected: {_fmt(expected, 12)}")
        if got is not None or "raised" not in problem:
            lines.append(f"  got:      {_fmt(got, 12)}")
        lines.append(f"  problem:  {problem}")
        if self.hint:
            lines.append(f"  hint:     {self.hint}")
        return "\n".join(lines)


REGISTRY: dict[str, Exercise] = {}


def register(exercise: Exercise) -> Exercise:
    if exercise.name in REGISTRY and REGISTRY[exercise.name] is not exercise:
        raise ValueError(f"exercise {exercise.name!r} registered twice")
    REGISTRY[exercise.name] = exercise
    return exercise


def _load_all() -> None:
    for module in CHAPTER_MODULES:
        importlib.import_module(f"{__name__}.{module}")


def get(name: str) -> Exercise:
    _load_all()
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"no exercise named {name!r}; known: {sorted(REGISTRY)}") from None


def all_exercises() -> dict[str, Exercise]:
    _load_all()
    return dict(REGISTRY)


def check(name: str, fn: Callable) -> Callable:
    """Check the learner's ``fn`` for exercise ``name`` and return the function to use from now on."""
    exercise = get(name)
    result = exercise.run(fn)
    if result.status == "not attempted":
        print(f"⏳ {name}: not attempted yet. The reference solution\n"
              f"   {exercise.reference_path}\n"
              "   stands in, so the notebook keeps running. Replace `raise NotImplementedError`\n"
              "   with your code and run the cell again.")
        return exercise.reference
    if result.status == "failed":
        raise ExerciseFailed(result.message) from None
    print(f"✅ {name}: correct, {result.message}\n   Your function is used from here on.")
    return fn


# --------------------------------------------------------------------------------------------------
# Showing the reference solution (collapsed), straight from the course_lib source
# --------------------------------------------------------------------------------------------------


def solution_source(name: str) -> str:
    return inspect.getsource(get(name).reference)


def show_solution(name: str):
    """Display the reference solution as a collapsed ``<details>`` toggle (book and Colab)."""
    from IPython.display import HTML
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    exercise = get(name)
    code = highlight(solution_source(name), PythonLexer(), HtmlFormatter(noclasses=True,
                                                                         nobackground=True))
    return HTML(
        f'<details class="course-solution"><summary>Reference solution: '
        f"<code>{html.escape(exercise.reference_path)}</code> (click to show)</summary>"
        f"{code}</details>"
    )


# --------------------------------------------------------------------------------------------------
# Comparing outputs and formatting counterexamples
# --------------------------------------------------------------------------------------------------


def to_numpy(x):
    """numpy view of a torch tensor, a jax array, a list or a scalar (others returned as they are)."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch.Tensor
        return x.detach().cpu().numpy()
    if type(x).__module__.startswith(("jax", "jaxlib")):
        return np.asarray(x)
    return x


def compare(expected, got, rtol: float, atol: float, where: str = "") -> str | None:
    """``None`` if ``got`` matches ``expected``, else a sentence saying how it differs."""
    at = f" (in {where})" if where else ""
    if got is None and expected is not None:
        return f"your function returned None{at}: did you forget a `return`?"
    if isinstance(expected, tuple | list) and not _is_arraylike(expected):
        if not isinstance(got, tuple | list) or len(got) != len(expected):
            n = len(got) if isinstance(got, tuple | list) else "not a tuple"
            return f"expected a tuple of {len(expected)} items{at}, got {type(got).__name__} ({n})"
        for i, (e, g) in enumerate(zip(expected, got)):
            problem = compare(e, g, rtol, atol, f"item {i}" if not where else f"{where}, item {i}")
            if problem:
                return problem
        return None
    if isinstance(expected, dict):
        if not isinstance(got, dict) or set(got) != set(expected):
            keys = sorted(got) if isinstance(got, dict) else type(got).__name__
            return f"expected a dict with keys {sorted(expected)}{at}, got {keys}"
        for k in expected:
            problem = compare(expected[k], got[k], rtol, atol, f"key {k!r}")
            if problem:
                return problem
        return None
    e = np.asarray(to_numpy(expected))
    try:
        g = np.asarray(to_numpy(got))
    except Exception:  # noqa: BLE001
        return f"expected an array{at}, got {type(got).__name__} that is not array-like"
    if g.dtype == object:
        return f"expected a numeric array{at}, got {type(got).__name__} of mixed objects"
    if g.shape != e.shape:
        return f"shape {g.shape} but expected {e.shape}{at}"
    if e.dtype.kind in "iu" and g.dtype.kind not in "iu":
        return f"dtype {g.dtype} but expected integers{at} (indices must be integers)"
    if e.dtype.kind == "b" and g.dtype.kind != "b":
        return f"dtype {g.dtype} but expected booleans{at}"
    if e.dtype.kind in "iub":
        bad = e != g
    else:
        if g.dtype.kind not in "iufb":
            return f"dtype {g.dtype} but expected numbers{at}"
        bad = ~np.isclose(g.astype(np.float64), e.astype(np.float64), rtol=rtol, atol=atol,
                          equal_nan=True)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        pos = f"[{', '.join(map(str, idx))}]" if idx else ""
        return (f"{int(bad.sum())} of {bad.size} values differ{at}; first at {pos or 'the value'}: "
                f"expected {e[idx].item()!r}, got {g[idx].item()!r}")
    return None


def _is_arraylike(x) -> bool:
    return isinstance(x, list) and all(np.isscalar(v) for v in x)


def _fmt(x, max_items: int) -> str:
    if x is None:
        return "None"
    if isinstance(x, tuple | list) and not _is_arraylike(x):
        inner = ", ".join(_fmt(v, max_items) for v in x)
        return f"({inner})" if isinstance(x, tuple) else f"[{inner}]"
    if isinstance(x, dict):
        return "{" + ", ".join(f"{k!r}: {_fmt(v, max_items)}" for k, v in x.items()) + "}"
    kind = type(x).__module__.split(".")[0]
    arr = to_numpy(x)
    if isinstance(arr, np.ndarray):
        text = np.array2string(arr, threshold=max_items * 2, edgeitems=max_items // 2,
                               separator=", ").replace("\n", "\n" + " " * 14)
        label = {"torch": "tensor", "jax": "jax array", "jaxlib": "jax array"}.get(kind, "array")
        return f"{label}({text}, shape={arr.shape}, dtype={arr.dtype})"
    return repr(x)


def _describe_error(e: Exception) -> str:
    library = ("site-packages", "course_lib", sys.prefix, sys.base_prefix)
    frames = [f for f in traceback.extract_tb(e.__traceback__)
              if not any(part in f.filename for part in library)]
    where = ""
    if frames:
        f = frames[-1]
        code = (f.line or "").strip()
        where = f" at line {f.lineno} of your code" + (f": `{code}`" if code else "")
    return f"your function raised {type(e).__name__}: {e}{where}"
