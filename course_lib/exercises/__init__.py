"""The exercise mechanism: stubs the learner fills in, checked against ``course_lib``'s reference.

In a notebook an exercise is a function stub followed by one line::

    def to_edge_index(user_raw, movie_raw, user_ids, movie_ids):
        raise NotImplementedError  # your code here

    to_edge_index = check("to_edge_index", to_edge_index)

``check`` runs the learner's function on the exercise's hand-written edge cases and on at least
20 random cases drawn for that exercise's pitfalls (ties, unsorted and repeated ids, duplicate
edges, isolated nodes, empty inputs, ...), with a seed that changes from call to call, and
compares every output with the reference's:

* untouched stub (the stub's own ``raise NotImplementedError``): prints "not attempted yet" and
  returns the reference from ``course_lib``, so the notebook still runs end to end;
* wrong answer: raises :class:`ExerciseFailed` with a concrete counterexample (input, expected,
  got, and the seed that reproduces it: ``check(name, fn, seed=...)``); it never falls back
  silently;
* right answer: says so and returns the learner's own function, used from then on.

Besides values it checks the contract the next cells rely on: the arguments are not changed in
place; the result has the array type the exercise allows; a JAX exercise also runs under
``jax.jit`` and a loss or layer has a finite gradient equal to the reference's; a torch exercise
gets inputs that require grad and must backpropagate. Each case runs under a time limit (an
endless loop, in Python or in ``jax.lax.while_loop``, is a failure, not a hung kernel), and what
the function prints is captured and shown truncated. ``check`` raises nothing but
:class:`ExerciseFailed`.

Exercises are registered per chapter in the modules of this package, each with the plausible
wrong answers (``mistakes``) it must reject and correct-but-different answers (``variants``) it
must accept; ``tests/test_exercises.py`` runs them all. ``python -m course_lib.grade`` grades a
filled notebook.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import html
import importlib
import inspect
import io
import json
import os
import re
import secrets
import signal
import sys
import textwrap
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

CHAPTER_MODULES = ("graph_tasks", "movielens_graph", "link_prediction_sage", "gcn_ratings",
                   "hetero_kg", "ngcf_lightgcn", "which_model")
# chapter module -> notebook (book/<stem>.ipynb)
NOTEBOOKS = {"graph_tasks": "01_graph_tasks", "movielens_graph": "02_movielens_graph",
             "link_prediction_sage": "03_link_prediction_sage", "gcn_ratings": "04_gcn_ratings",
             "hetero_kg": "05_hetero_kg", "ngcf_lightgcn": "06_ngcf_lightgcn",
             "which_model": "07_which_model"}
# When set (by the grader), every check appends its result to this JSON-lines file.
REPORT_ENV = "COURSE_GRADE_REPORT"
OUTPUT_LIMIT = 1500  # characters of the learner's printed output shown in a report


class ExerciseFailed(AssertionError):
    """The learner's function gave a wrong answer (or crashed) on one of the checker's cases."""

    def _render_traceback_(self):  # IPython shows this instead of a stack trace from course_lib
        return ["\x1b[1;31mExerciseFailed\x1b[0m: " + str(self)]


class _Overrun(BaseException):
    """Raised by the alarm inside a learner's function that ran past the time limit.

    A ``BaseException``, so that a learner's ``except Exception`` cannot swallow it."""


@dataclass
class Case:
    """One input of a checker: ``fn(*args, **kwargs)``, with what the case is about."""

    description: str
    args: tuple
    kwargs: dict = field(default_factory=dict)
    random: bool = False  # drawn by ``Exercise.random_case`` (reproducible from the seed)


@dataclass
class Result:
    status: str          # "passed", "failed" or "not attempted"
    message: str
    case: Case | None = None
    seed: int | None = None
    cases_run: int = 0
    output: str = ""     # what the learner's function printed (truncated)


@dataclass
class Exercise:
    """A registered exercise: its reference solution and how to check an attempt.

    ``cases()`` gives the hand-written edge cases; ``random_case(rng)`` draws one random case
    (``n_random`` per check, from a seed that changes each call). Every case runs through the
    reference and the attempt; outputs are compared with ``rtol``/``atol`` (exact for integers
    and booleans).

    Contract options:

    * ``framework``: ``"numpy"``, ``"torch"`` (the float arguments named in ``grad_argnames``
      arrive with ``requires_grad=True`` and the result must backpropagate to them, with the
      reference's gradient) or ``"jax"`` (the function also runs under ``jax.jit``, with
      ``static_argnames`` kept as Python values, and ``jax.grad`` with respect to
      ``grad_argnames`` must be finite and equal the reference's);
    * ``returns``: the array types accepted where the reference returns an array;
    * ``integers``: ``"indices"`` (integer results must have an integer dtype) or ``"counts"``
      (whole-valued floats are accepted too);
    * ``time_limit``: seconds per case;
    * ``canonical``: where the order of the result does not matter to the next cells, a function
      that puts a result in a canonical order (say, edges sorted); a result that differs from the
      reference's but not after ``canonical`` of both is accepted. It must keep array types (index
      with arrays, do not convert), so that a wrong type is still reported.
    * ``op_by_op``: a JAX attempt runs under ``jax.disable_jit`` (so that the time limit stops an
      endless ``lax.while_loop``); ``False`` runs it as plain JAX, for a training step, which op
      by op takes seconds per case.
    * ``view``: for a result the comparison cannot read as it is (a flax ``TrainState``), a
      function giving what to compare (a dict of its arrays); applied to the reference's result
      and, where it applies, to the attempt's, and used in the report.
    * ``kinks``: for a function that is not differentiable everywhere (``|x|`` at 0), a function
      of the case's arguments (as numpy) giving, per gradient argument, a boolean mask of the
      entries at a kink. There any finite gradient no larger in magnitude than the reference's
      one-sided derivative (JAX's ``|x|`` takes +1 at 0) is accepted, since ``abs(a - b)`` and
      ``abs(b - a)`` are equally right there.

    ``mistakes`` are plausible wrong answers the checker must reject, ``variants`` correct but
    different answers it must accept; the tests run both.
    """

    name: str
    reference: Callable
    cases: Callable[[], list[Case]]
    random_case: Callable[[np.random.Generator], Case] | None = None
    n_random: int = 20
    rtol: float = 1e-5
    atol: float = 1e-6
    hint: str = ""
    framework: str = "numpy"
    returns: tuple[str, ...] = ("numpy",)
    integers: str = "indices"
    static_argnames: tuple[str, ...] = ()
    grad_argnames: tuple[str, ...] = ()
    grad_rtol: float = 1e-4
    grad_atol: float = 1e-5
    jit_cases: int = 5  # random cases also run under jax.jit (all hand-written ones are)
    time_limit: float = 5.0
    canonical: Callable | None = None
    view: Callable | None = None
    op_by_op: bool = True
    kinks: Callable | None = None
    mistakes: list[Callable] = field(default_factory=list)
    variants: list[Callable] = field(default_factory=list)
    chapter: str = ""

    @property
    def reference_path(self) -> str:
        return f"{self.reference.__module__}.{self.reference.__qualname__}"

    @property
    def parameters(self) -> list[str]:
        return list(inspect.signature(self.reference).parameters)

    # ------------------------------------------------------------------ building the cases

    def all_cases(self, seed: int) -> list[Case]:
        cases = list(self.cases())
        if self.random_case is not None:
            rng = np.random.default_rng(seed)
            for i in range(self.n_random):
                c = self.random_case(rng)
                cases.append(Case(f"random case {i + 1} of {self.n_random}: {c.description}",
                                  c.args, c.kwargs, random=True))
        return cases

    def _positional(self, case: Case) -> list:
        """The case's arguments in the reference's parameter order (defaults filled in)."""
        bound = inspect.signature(self.reference).bind(*case.args, **case.kwargs)
        bound.apply_defaults()
        return list(bound.arguments.values())

    def _prepare(self, values: list) -> list:
        """A fresh copy of the arguments; torch gradient arguments require grad."""
        values = copy.deepcopy(values)
        if self.framework == "torch":
            for i in self._grad_positions():
                v = values[i]
                if _array_kind(v) == "torch" and v.dtype.is_floating_point:
                    values[i] = v.detach().clone().requires_grad_(True)
        return values

    def _grad_positions(self) -> list[int]:
        return [self.parameters.index(n) for n in self.grad_argnames]

    # ------------------------------------------------------------------ running a check

    def run(self, fn: Any, seed: int | None = None) -> Result:
        if not callable(fn):
            return Result("failed", f"{self.name}: expected a function, got "
                          f"{_describe_type(fn)} {_safe_repr(fn, 80)}.")
        seed = secrets.randbits(31) if seed is None else int(seed)
        output = _Capture()
        cases = self.all_cases(seed)
        for i, case in enumerate(cases):
            values = self._positional(case)
            ref_args = self._prepare(values)
            expected = self._run_reference(ref_args)
            args = self._prepare(values)
            pristine = self._prepare(values)
            try:
                with _learner_call(self, output):
                    got = fn(*args)
            except _Overrun:
                return self._fail(case, expected, None, self._overrun(), seed, output, i)
            except NotImplementedError as e:
                if i == 0 and _is_untouched_stub(fn, e):
                    return Result("not attempted", "not attempted yet", seed=seed)
                problem = (_describe_error(e) + ". Only the stub's own `raise "
                           "NotImplementedError` counts as 'not attempted'")
                return self._fail(case, expected, None, problem, seed, output, i)
            except Exception as e:  # noqa: BLE001 - any learner error becomes a readable report
                return self._fail(case, expected, None, _describe_error(e), seed, output, i)
            problem = (_changed_arguments(self.parameters, pristine, args)
                       or self.compare(expected, got))
            # JAX: the hand-written and the first jit_cases random cases also run under jax.jit
            # and take the gradient op by op; the other random cases take it compiled (faster)
            thorough = not case.random or i - len(cases) + self.n_random < self.jit_cases
            if problem is None and self.framework == "jax" and thorough:
                problem = self._check_jit(fn, values, expected, output)
            if problem is None and self.grad_argnames:
                problem = self._check_grad(fn, values, ref_args, expected, args, got, output,
                                           eager=thorough)
            if problem is not None:
                return self._fail(case, expected, got, problem, seed, output, i)
        n_hand = sum(not c.random for c in cases)
        n_random = len(cases) - n_hand
        contract = {"jax": ", under jax.jit" + (" and jax.grad" if self.grad_argnames else ""),
                    "torch": ", with backpropagation" if self.grad_argnames else ""
                    }.get(self.framework, "")
        random = f" and {n_random} random cases (seed={seed})" if n_random else " cases"
        return Result("passed", f"all {n_hand} hand-written{random} pass{contract} "
                      f"(rtol={self.rtol:g}, atol={self.atol:g}).", seed=seed,
                      cases_run=len(cases), output=output.text())

    def _run_reference(self, args: list):
        if self.framework != "jax":
            return self.reference(*args)
        import jax  # one compiled call instead of one compile per operation and shape

        static = tuple(self.parameters.index(n) for n in self.static_argnames)
        return jax.jit(self.reference, static_argnums=static)(*args)

    def _view(self, result):
        """What the checker compares and shows of a result (``view``; the result itself when
        there is none or it does not apply)."""
        if self.view is None:
            return result
        try:
            return self.view(result)
        except Exception:  # noqa: BLE001 - not the expected kind: compared (and reported) raw
            return result

    def compare(self, expected, got, where: str = "") -> str | None:
        expected, got = self._view(expected), self._view(got)
        try:
            problem = compare(expected, got, self.rtol, self.atol, where, returns=self.returns,
                              integers=self.integers)
        except Exception as e:  # noqa: BLE001 - e.g. a leaked tracer that cannot be read
            return (f"the checker could not read your result ({_describe_type(got)}): "
                    f"{type(e).__name__}: {_first_line(e)}")
        if problem is not None and self.canonical is not None:
            try:
                if compare(self.canonical(expected), self.canonical(got), self.rtol, self.atol,
                           where, returns=self.returns, integers=self.integers) is None:
                    return None
            except Exception:  # noqa: BLE001 - not of the expected type: report the raw problem
                pass
        return problem

    def _overrun(self) -> str:
        return (f"your function did not finish within {self.time_limit:g} s on this small case "
                "(an endless loop?); the checker stopped it")

    def _check_jit(self, fn, values, expected, output) -> str | None:
        import jax

        static = tuple(self.parameters.index(n) for n in self.static_argnames)
        try:
            with _learner_call(self, output, disable_jit=False):
                got = jax.jit(fn, static_argnums=static)(*copy.deepcopy(values))
                jax.block_until_ready(got)
        except _Overrun:
            return self._overrun() + " under jax.jit"
        except Exception as e:  # noqa: BLE001
            return ("your function fails under jax.jit, which the training step applies to it "
                    f"(use jnp operations and jnp.where instead of Python `if` on array values): "
                    f"{_describe_error(e)}")
        problem = self.compare(expected, got)
        return None if problem is None else f"under jax.jit: {problem}"

    def _check_grad(self, fn, values, ref_args, expected, args, got, output,
                    eager: bool = True) -> str | None:
        positions = self._grad_positions()
        if self.framework == "torch":
            return self._check_torch_grad(positions, ref_args, expected, args, got, output)
        static = tuple((p, values[p]) for p in range(len(values))
                       if self.parameters[p] in self.static_argnames)
        traced = [None if self.parameters[p] in self.static_argnames else copy.deepcopy(v)
                  for p, v in enumerate(values)]
        expected_grad = _jax_grad(self.reference, tuple(positions), static, traced)
        try:
            with _learner_call(self, output, disable_jit=False):
                got_grad = _jax_grad(fn, tuple(positions), static, traced, compiled=not eager)
        except _Overrun:
            return self._overrun() + " when taking its gradient"
        except Exception as e:  # noqa: BLE001
            return f"jax.grad of your function fails: {_describe_error(e)}"
        return self._compare_grads(expected_grad, got_grad, values)

    def _check_torch_grad(self, positions, ref_args, expected, args, got, output) -> str | None:
        ref_inputs = [ref_args[p] for p in positions if _requires_grad(ref_args[p])]
        inputs = [args[p] for p in positions if _requires_grad(args[p])]
        if not inputs:
            return None
        import torch

        ref_objective = _weighted_sum(expected, torch)
        if not getattr(ref_objective, "requires_grad", False):
            return None  # nothing depends on the inputs (an empty case)
        expected_grad = torch.autograd.grad(ref_objective, ref_inputs, allow_unused=True)
        objective = _weighted_sum(got, torch)
        if not getattr(objective, "requires_grad", False):
            return ("your result is cut off from the inputs' gradient, so the model could not "
                    "learn through it: stay in torch (no .numpy(), .item(), .tolist(), "
                    "torch.tensor(...) of a result, or .detach())")
        try:
            with _learner_call(self, output):
                got_grad = torch.autograd.grad(objective, inputs, allow_unused=True)
        except _Overrun:
            return self._overrun() + " when backpropagating"
        except Exception as e:  # noqa: BLE001
            return f"backpropagating through your result fails: {_describe_error(e)}"
        return self._compare_grads(expected_grad, got_grad, ref_args)

    def _compare_grads(self, expected_grad, got_grad, values=None) -> str | None:
        kinks = {}
        if self.kinks is not None and values is not None:
            kinks = self.kinks(*[to_numpy(v) if _array_kind(v) in ("torch", "jax") else v
                                 for v in values])
        names, flat_expected, flat_got = [], [], []
        for name, e, g in zip(self.grad_argnames, expected_grad, got_grad):
            if isinstance(e, dict):  # the gradient of a dict argument: one array per key
                for key in sorted(e, key=repr):
                    names.append(f"{name}[{key!r}]")
                    flat_expected.append(e[key])
                    flat_got.append(g.get(key) if isinstance(g, dict) else None)
            else:
                names.append(name)
                flat_expected.append(e)
                flat_got.append(g)
        for name, e, g in zip(names, flat_expected, flat_got):
            e = np.zeros(1) if e is None else np.asarray(to_numpy(e), dtype=np.float64)
            g = np.zeros_like(e) if g is None else np.asarray(to_numpy(g), dtype=np.float64)
            if not np.all(np.isfinite(g)) and np.all(np.isfinite(e)):
                return (f"the gradient with respect to `{name}` contains NaN or inf (the "
                        "reference's is finite): training would turn the weights into NaN")
            if g.shape != e.shape:
                continue
            close = np.isclose(g, e, rtol=self.grad_rtol, atol=self.grad_atol, equal_nan=True)
            if name in kinks:  # a subgradient is as good as the reference's choice there
                where = np.broadcast_to(np.asarray(kinks[name], dtype=bool), e.shape)
                close |= where & (np.abs(g) <= np.abs(e) * (1 + self.grad_rtol)
                                  + self.grad_atol)
            if not np.all(close):
                idx = tuple(int(i) for i in np.argwhere(~close)[0])
                return (f"the values are right but the gradient with respect to `{name}` is "
                        f"not: at {list(idx)} expected {e[idx]:.6g}, got {g[idx]:.6g}")
        return None

    def _fail(self, case, expected, got, problem, seed, output, index) -> Result:
        expected, got = self._view(expected), self._view(got)
        return Result("failed", self._report(case, expected, got, problem, seed, output.text()),
                      case, seed=seed, cases_run=index + 1, output=output.text())

    def _report(self, case: Case, expected, got, problem: str, seed: int | None = None,
                printed: str = "") -> str:
        try:
            args = inspect.signature(self.reference).bind_partial(*case.args,
                                                                  **case.kwargs).arguments
        except TypeError:
            args = {f"arg{i}": v for i, v in enumerate(case.args)}
        lines = [f"{self.name}: wrong on the case '{case.description}'.", "  input:"]
        lines += [f"    {k} = {_fmt(v, 24)}" for k, v in args.items()]
        lines.append(f"  expected: {_fmt(expected, 24)}")
        if got is not None or "raised" not in problem:
            lines.append(f"  got:      {_fmt(got, 24)}")
        lines.append(f"  problem:  {problem}")
        if self.hint:
            lines.append(f"  hint:     {self.hint.strip()}")
        if case.random and seed is not None:
            lines.append(f"  this case again: check({self.name!r}, your_function, seed={seed})")
        if printed:
            lines.append("  your function printed:")
            lines += ["    " + line for line in printed.splitlines()]
        return "\n".join(lines)


REGISTRY: dict[str, Exercise] = {}


def register(exercise: Exercise) -> Exercise:
    if exercise.name in REGISTRY and REGISTRY[exercise.name] is not exercise:
        raise ValueError(f"exercise {exercise.name!r} registered twice")
    if not exercise.chapter:
        exercise.chapter = sys._getframe(1).f_globals.get("__name__", "").rsplit(".", 1)[-1]
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


def listed(values) -> str:
    """'2, 4' for a few ids in a case description, 'none' for none."""
    values = [int(v) for v in values]
    return ", ".join(map(str, values)) if values else "none"


def chapter_exercises(chapter: str) -> list[str]:
    """The names of one chapter's exercises, in the order they are registered."""
    return [name for name, ex in all_exercises().items() if ex.chapter == chapter]


def check(name: str, fn: Callable, *, seed: int | None = None) -> Callable:
    """Check the learner's ``fn`` for exercise ``name`` and return the function to use from now on.

    ``seed`` fixes the random cases (a failure report prints the seed that reproduces it)."""
    try:
        exercise = get(name)
    except KeyError as e:
        raise ExerciseFailed(e.args[0]) from None
    try:
        result = exercise.run(fn, seed=seed)
    except KeyboardInterrupt:  # the learner stopped the cell
        raise
    except BaseException as e:  # noqa: BLE001 - check raises nothing but ExerciseFailed
        result = Result("failed", f"{name}: the checker could not run your function: "
                        f"{type(e).__name__}: {_first_line(e)}")
    _record(name, exercise, result)
    if result.status == "not attempted":
        print(f"⏳ {name}: not attempted yet. The reference solution\n"
              f"   {exercise.reference_path}\n"
              "   stands in, so the notebook keeps running. Replace `raise NotImplementedError`\n"
              "   with your code and run the cell again.")
        return exercise.reference
    if result.status == "failed":
        raise ExerciseFailed(result.message) from None
    print(f"✅ {name}: correct, {result.message}\n   Your function is used from here on.")
    if result.output:
        print("   It printed (shown truncated):\n" + textwrap.indent(result.output, "     "))
    return fn


def _record(name: str, exercise: Exercise, result: Result) -> None:
    path = os.environ.get(REPORT_ENV)
    if not path:
        return
    entry = {"exercise": name, "chapter": exercise.chapter, "status": result.status,
             "message": result.message, "seed": result.seed, "cases_run": result.cases_run}
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry) + "\n")


# --------------------------------------------------------------------------------------------------
# Running the learner's code: time limit, captured output, untouched stubs
# --------------------------------------------------------------------------------------------------


class _Capture(io.TextIOBase):
    """A text stream that keeps the first ``limit`` characters written to it and counts the rest."""

    def __init__(self, limit: int = OUTPUT_LIMIT):
        super().__init__()
        self.limit, self.kept, self.total = limit, [], 0

    def writable(self) -> bool:
        return True

    def write(self, s) -> int:
        s = str(s)
        room = self.limit - sum(map(len, self.kept))
        if room > 0:
            self.kept.append(s[:room])
        self.total += len(s)
        return len(s)

    def text(self) -> str:
        kept = "".join(self.kept)
        if self.total > len(kept):
            kept += f"\n... ({self.total - len(kept):,} more characters not shown)"
        return kept


@contextlib.contextmanager
def _time_limit(seconds: float | None):
    """Raise :class:`_Overrun` in the code below after ``seconds`` (main thread, POSIX only)."""
    usable = (seconds and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread())
    if not usable:
        yield
        return

    def alarm(signum, frame):
        raise _Overrun

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def _learner_call(exercise: Exercise, output: _Capture, disable_jit: bool = True):
    """Time limit and captured output around a call of the learner's code. JAX runs op by op
    (``jax.disable_jit``) so that ``lax.while_loop`` loops in Python, where the limit reaches it."""
    with contextlib.ExitStack() as stack:
        if exercise.framework == "jax" and disable_jit and exercise.op_by_op:
            import jax

            stack.enter_context(jax.disable_jit())
        stack.enter_context(contextlib.redirect_stdout(output))
        stack.enter_context(contextlib.redirect_stderr(output))
        stack.enter_context(_time_limit(exercise.time_limit))
        yield


def _is_untouched_stub(fn, error: NotImplementedError) -> bool:
    """True when ``error`` comes from the stub's own ``raise NotImplementedError`` line: raised
    directly in ``fn`` (not in a helper or a library), whose body is nothing else."""
    fn = inspect.unwrap(fn)
    code = getattr(fn, "__code__", None)
    tb = error.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if code is None or tb is None or tb.tb_frame.f_code is not code:
        return False
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
        body = [node for node in tree.body[0].body
                if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))
                and not isinstance(node, ast.Pass)]
    except (OSError, TypeError, SyntaxError, IndexError, AttributeError):
        line = traceback.extract_tb(error.__traceback__)[-1].line or ""
        return line.strip().startswith("raise NotImplementedError")
    if len(body) != 1 or not isinstance(body[0], ast.Raise) or body[0].exc is None:
        return False
    exc = body[0].exc
    exc = exc.func if isinstance(exc, ast.Call) else exc
    return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"


def _describe_error(e: BaseException) -> str:
    library = ("site-packages", "course_lib", sys.prefix, sys.base_prefix)
    frames = [f for f in traceback.extract_tb(e.__traceback__)
              if not any(part in f.filename for part in library)]
    where = ""
    if frames:
        f = frames[-1]
        code = (f.line or "").strip()
        where = f" at line {f.lineno} of your code" + (f": `{code}`" if code else "")
    return f"your function raised {type(e).__name__}: {_first_line(e, 300)}{where}"


def _first_line(e: BaseException, limit: int = 200) -> str:
    try:
        text = str(e)
    except Exception:  # noqa: BLE001
        text = "(its message cannot be shown)"
    text = text.strip().splitlines()[0] if text.strip() else ""
    return text if len(text) <= limit else text[:limit] + "..."


# --------------------------------------------------------------------------------------------------
# Contracts: arguments changed in place, gradients
# --------------------------------------------------------------------------------------------------


def _changed_arguments(names: list[str], before: list, after: list) -> str | None:
    for name, b, a in zip(names, before, after):
        try:
            changed = _differs(b, a)
        except Exception:  # noqa: BLE001 - an argument the checker cannot compare
            changed = False
        if changed:
            return (f"your function changed its argument `{name}` in place; the notebook passes "
                    "the course's own data, which this would corrupt for every later cell. "
                    "Work on a copy (for example `x = x.copy()` or `x.clone()`) or build a new "
                    "array")
    return None


def _differs(before, after) -> bool:
    if isinstance(before, dict):
        return (not isinstance(after, dict) or list(before) != list(after)
                or any(_differs(before[k], after[k]) for k in before))
    if isinstance(before, list | tuple):
        return (type(before) is not type(after) or len(before) != len(after)
                or any(_differs(b, a) for b, a in zip(before, after)))
    if type(before).__module__.startswith("pandas"):
        return not (type(before) is type(after) and before.equals(after)
                    and list(getattr(before, "columns", [])) == list(getattr(after, "columns", []))
                    and before.index.equals(after.index))
    kind = _array_kind(before)
    if kind in ("numpy", "torch", "jax"):  # a jax array itself is immutable, but can be replaced
        b, a = np.asarray(to_numpy(before)), np.asarray(to_numpy(after))
        return b.shape != a.shape or b.dtype != a.dtype or not np.array_equal(
            b, a, equal_nan=b.dtype.kind in "fc")
    return False  # scalars are passed by value


def _jax_grad(f, positions: tuple, static: tuple, traced: list, compiled: bool = True):
    """``jax.grad`` of a weighted sum of ``f``'s outputs with respect to the arguments at
    ``positions`` (``static``: (position, value) pairs), compiled once per function and shapes,
    or op by op (``compiled=False``: XLA's simplifications can hide a NaN that an op-by-op
    gradient, the mathematical one, shows)."""
    global _JAX_GRAD, _JAX_GRAD_EAGER
    if _JAX_GRAD is None:
        import jax

        def grad(f, positions, static, traced):
            def objective(gvals):
                call = list(traced)
                for p, v in static:
                    call[p] = v
                for p, g in zip(positions, gvals):
                    call[p] = g
                return _weighted_sum(f(*call), jax.numpy)

            return jax.grad(objective)([traced[p] for p in positions])

        _JAX_GRAD, _JAX_GRAD_EAGER = jax.jit(grad, static_argnums=(0, 1, 2)), grad
    return (_JAX_GRAD if compiled else _JAX_GRAD_EAGER)(f, positions, static, traced)


_JAX_GRAD = _JAX_GRAD_EAGER = None


def _requires_grad(x) -> bool:
    return bool(getattr(x, "requires_grad", False))


def _weighted_sum(out, xp):
    """A scalar that depends on every float entry of ``out``, with fixed pseudo-random weights
    (so that a gradient check sees each output entry, not only their sum)."""
    if isinstance(out, dict):
        leaves = [out[k] for k in sorted(out, key=repr)]
    elif isinstance(out, list | tuple):
        leaves = list(out)
    else:
        leaves = [out]
    total = 0.0
    for i, leaf in enumerate(leaves):
        if isinstance(leaf, dict | list | tuple):
            total = total + _weighted_sum(leaf, xp)
            continue
        dtype = getattr(leaf, "dtype", None)
        if dtype is None:
            continue
        if not (dtype.is_floating_point if xp.__name__ == "torch"
                else np.issubdtype(np.dtype(dtype), np.floating)):
            continue
        w = np.random.default_rng(1000 + i).uniform(0.5, 1.5, size=tuple(leaf.shape))
        if xp.__name__ == "torch":
            total = total + (leaf * xp.as_tensor(w, dtype=leaf.dtype)).sum()
        else:
            total = total + xp.sum(leaf * w.astype(np.dtype(dtype)))
    return total


# --------------------------------------------------------------------------------------------------
# Showing the reference solution (collapsed), straight from the course_lib source
# --------------------------------------------------------------------------------------------------


def solution_source(name: str) -> str:
    return inspect.getsource(get(name).reference)


class Solution:
    """A reference solution, shown collapsed: in the book as a dropdown whose code block is the
    site's own (its colours in light and dark mode, its copy button), in Jupyter and Colab as a
    ``<details>`` toggle. Its summary says what a click does ("click to show" / "to hide")."""

    def __init__(self, path: str, source: str):
        self.path, self.source = path, source

    def _repr_markdown_(self) -> str:          # the book renders this (``_config.yml``)
        fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", self.source)),
                                     default=0))
        return (f":::{{dropdown}} Reference solution: `{self.path}` "
                f'<span class="course-solution-hint"></span>\n'
                f":class-container: course-solution\n\n"
                f"{fence}python\n{self.source.rstrip()}\n{fence}\n:::\n")

    def _repr_html_(self) -> str:              # Jupyter and Colab
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import PythonLexer

        code = highlight(self.source, PythonLexer(), HtmlFormatter(noclasses=True,
                                                                   nobackground=True))
        return ("<style>details.course-solution>summary{cursor:pointer}"
                'details.course-solution>summary::after{content:" (click to show)";opacity:.7}'
                'details.course-solution[open]>summary::after{content:" (click to hide)"}'
                "</style>"
                f'<details class="course-solution"><summary>Reference solution: '
                f"<code>{html.escape(self.path)}</code></summary>{code}</details>")

    def __repr__(self) -> str:
        return f"Reference solution: {self.path}\n\n{self.source}"


def show_solution(name: str) -> Solution:
    """The reference solution of exercise ``name``, to display collapsed (book and Colab)."""
    exercise = get(name)
    return Solution(exercise.reference_path, solution_source(name))


# --------------------------------------------------------------------------------------------------
# Comparing outputs and formatting counterexamples
# --------------------------------------------------------------------------------------------------

_KIND_NAMES = {"numpy": "numpy array", "torch": "torch tensor", "jax": "jax array"}


def to_numpy(x):
    """numpy view of a torch tensor, a jax array, a list or a scalar (others returned as they are)."""
    if _array_kind(x) == "torch":
        return x.detach().cpu().numpy()
    if _array_kind(x) == "jax":
        return np.asarray(x)
    return x


def _array_kind(x) -> str | None:
    """``"numpy"``, ``"torch"``, ``"jax"`` or ``None`` (not an array)."""
    if isinstance(x, np.ndarray):
        return "numpy"
    module = type(x).__module__
    if module.startswith("torch") and hasattr(x, "detach"):
        return "torch"
    if module.startswith(("jax", "jaxlib")) and hasattr(x, "shape") and hasattr(x, "dtype"):
        return "jax"
    return None


def _describe_type(x) -> str:
    """What ``x`` is, in the learner's terms: 'list of int', 'torch tensor of torch.float32'."""
    kind = _array_kind(x)
    if kind is not None:
        dtype = x.dtype if kind != "jax" else np.dtype(x.dtype).name
        return f"{_KIND_NAMES[kind]} of dtype {dtype}"
    if isinstance(x, list | tuple):
        inner = sorted({type(v).__name__ for v in x})
        return f"{type(x).__name__} of {', '.join(inner)}" if inner else f"empty {type(x).__name__}"
    if isinstance(x, np.generic):
        return f"numpy scalar of dtype {x.dtype}"
    return type(x).__name__


def compare(expected, got, rtol: float, atol: float, where: str = "",
            returns: tuple[str, ...] = ("numpy", "torch", "jax"),
            integers: str = "indices") -> str | None:
    """``None`` if ``got`` matches ``expected``, else a sentence saying how it differs.

    Where ``expected`` is an array, ``got`` must be an array of one of the ``returns`` kinds.
    Integer results need an integer dtype (``integers="indices"``) or whole values
    (``integers="counts"``)."""
    at = f" (in {where})" if where else ""
    if got is None and expected is not None:
        return f"your function returned None{at}: did you forget a `return`?"
    if isinstance(expected, tuple | list) and not _is_arraylike(expected):
        if not isinstance(got, tuple | list) or len(got) != len(expected):
            n = f"{len(got)} items" if isinstance(got, tuple | list) else _describe_type(got)
            return f"expected a tuple of {len(expected)} items{at}, got {n}"
        for i, (e, g) in enumerate(zip(expected, got)):
            problem = compare(e, g, rtol, atol, f"item {i}" if not where else f"{where}, item {i}",
                              returns, integers)
            if problem:
                return problem
        return None
    if isinstance(expected, dict):
        if not isinstance(got, dict) or set(got) != set(expected):
            keys = sorted(got, key=repr) if isinstance(got, dict) else _describe_type(got)
            return f"expected a dict with keys {sorted(expected, key=repr)}{at}, got {keys}"
        for k in expected:
            problem = compare(expected[k], got[k], rtol, atol, f"key {k!r}", returns, integers)
            if problem:
                return problem
        return None
    kind = _array_kind(got)
    if _array_kind(expected) is not None:
        allowed = " or ".join(_KIND_NAMES[k] for k in returns)
        if kind is None:
            return f"expected a {allowed}{at}, got {_describe_type(got)}"
        if kind not in returns:
            return (f"expected a {allowed}{at}, got a {_describe_type(got)}: the next cells "
                    f"use it as a {_KIND_NAMES[returns[0]]}")
    elif kind is None and not isinstance(got, int | float | np.number | bool | np.bool_):
        return f"expected a number{at}, got {_describe_type(got)} {_safe_repr(got, 60)}"
    e = np.asarray(to_numpy(expected))
    g = np.asarray(to_numpy(got))
    if g.dtype.kind not in "biuf":
        return (f"expected numbers{at}, got {_describe_type(got)}"
                + (" (compute in float32: bfloat16/float16 are too coarse for this check)"
                   if g.dtype.kind == "V" or "bfloat16" in str(g.dtype) else ""))
    if g.shape != e.shape:
        return f"shape {g.shape} but expected {e.shape}{at}"
    if e.dtype.kind in "iu" and g.dtype.kind not in "iu":
        if integers == "counts" and g.dtype.kind == "f" and np.all(g == np.round(g)):
            g = g.astype(np.int64)
        elif integers == "counts":
            return f"{_describe_type(got)} but expected whole-number counts{at}"
        else:
            empty = (" Even an empty result needs one: np.array([[], []]) is float64, so give "
                     "dtype=np.int64." if g.size == 0 else "")
            return (f"{_describe_type(got)} but expected integer indices{at} (an integer dtype "
                    f"such as {e.dtype}: they index arrays).{empty}")
    if e.dtype.kind == "b" and g.dtype.kind != "b":
        return f"{_describe_type(got)} but expected booleans{at}"
    if e.dtype.kind in "iub":
        bad = e != g
    else:
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


def _safe_repr(x, limit: int = 600) -> str:
    try:
        text = repr(x)
    except Exception as e:  # noqa: BLE001 - a learner's object whose repr raises
        return f"<{type(x).__name__} object; its repr raised {type(e).__name__}>"
    return text if len(text) <= limit else text[:limit] + f"... ({len(text):,} characters)"


def _fmt(x, max_items: int) -> str:
    try:
        return _fmt_unsafe(x, max_items)
    except Exception:  # noqa: BLE001 - formatting must never crash the checker
        return f"<{_describe_type(x)}>"


def _fmt_unsafe(x, max_items: int) -> str:
    if x is None:
        return "None"
    if type(x).__name__ == "TrainState" and hasattr(x, "opt_state"):   # flax: shapes, not values
        import jax

        shapes = {jax.tree_util.keystr(k): tuple(np.shape(v)) for k, v in
                  jax.tree_util.tree_flatten_with_path(x.params)[0]}
        return f"TrainState(step={int(x.step)}, params of shapes {shapes}, an optax optimiser)"
    if isinstance(x, dict) and len(x) > 8:        # a long dict: the first entries, then a count
        shown = list(x.items())[:4]
        return ("{" + ", ".join(f"{k!r}: {_fmt(v, 6)}" for k, v in shown)
                + f", ... ({len(x) - 4} more entries)}}")
    if isinstance(x, tuple | list) and not _is_arraylike(x):
        inner = ", ".join(_fmt(v, max_items) for v in x[:max_items])
        more = ", ..." if len(x) > max_items else ""
        return f"({inner}{more})" if isinstance(x, tuple) else f"[{inner}{more}]"
    if isinstance(x, dict):
        return "{" + ", ".join(f"{k!r}: {_fmt(v, max_items)}" for k, v in x.items()) + "}"
    kind = _array_kind(x)
    if kind is not None:
        arr = to_numpy(x)
        text = np.array2string(arr, threshold=max_items * 2, edgeitems=max_items // 2,
                               separator=", ").replace("\n", "\n" + " " * 14)
        label = {"numpy": "array", "torch": "tensor", "jax": "jax array"}[kind]
        grad = ", requires_grad=True" if _requires_grad(x) and x.is_leaf else ""
        return f"{label}({text}, shape={arr.shape}, dtype={arr.dtype}{grad})"
    if type(x).__name__ == "Series" and type(x).__module__.startswith("pandas"):
        values = np.array2string(x.to_numpy(), threshold=max_items * 2,
                                 edgeitems=max_items // 2, separator=", ")
        index = x.index
        plain = type(index).__name__ == "RangeIndex" and index.start == 0 and index.step == 1
        where = "" if plain else f", index={_fmt(index.to_numpy(), max_items)}"
        return f"Series({values}, name={x.name!r}, dtype={x.dtype}{where})"
    if type(x).__module__.startswith("pandas"):
        return "\n" + textwrap.indent(_safe_repr(x), " " * 8)
    return _safe_repr(x, 300)
