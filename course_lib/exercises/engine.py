"""The exercise engine: :class:`Exercise` (its reference, cases and contract), the registry
of every chapter's exercises, and :func:`check`, what a notebook calls."""

from __future__ import annotations

import copy
import functools
import importlib
import inspect
import secrets
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .compare import array_kind, compare, describe_type, fmt, requires_grad, safe_repr, to_numpy
from .contracts import changed_arguments, jax_grad, weighted_sum
from .sandbox import Capture, Overrun, describe_error, first_line, is_untouched_stub, learner_call

CHAPTER_MODULES = ("graph_tasks", "movielens_graph", "link_prediction_sage", "gcn_ratings",
                   "hetero_kg", "ngcf_lightgcn", "which_model", "beyond_one_machine")
# chapter module -> notebook (book/<stem>.ipynb)
NOTEBOOKS = {"graph_tasks": "01_graph_tasks", "movielens_graph": "02_movielens_graph",
             "link_prediction_sage": "03_link_prediction_sage", "gcn_ratings": "04_gcn_ratings",
             "hetero_kg": "05_hetero_kg", "ngcf_lightgcn": "06_ngcf_lightgcn",
             "which_model": "07_which_model", "beyond_one_machine": "08_beyond_one_machine"}


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

    * ``call``: for an exercise whose answer is a class (a layer written as a module), how one
      case uses it: ``call(cls, *args)`` builds the layer, loads the case's weights and returns
      its output. The reference is then the course's class; the case's arguments, the jit and
      gradient checks are those of ``call``'s other parameters.

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
    call: Callable | None = None
    mistakes: list[Callable] = field(default_factory=list)
    variants: list[Callable] = field(default_factory=list)
    chapter: str = ""

    @property
    def reference_path(self) -> str:
        return f"{self.reference.__module__}.{self.reference.__qualname__}"

    @property
    def parameters(self) -> list[str]:
        return list(inspect.signature(self._use(self.reference)).parameters)

    def _use(self, answer: Any) -> Callable:
        """The function a case calls: the answer itself, or ``call`` bound to a class."""
        return answer if self.call is None else _bound(self.call, answer)

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
        bound = inspect.signature(self._use(self.reference)).bind(*case.args, **case.kwargs)
        bound.apply_defaults()
        return list(bound.arguments.values())

    def _prepare(self, values: list) -> list:
        """A fresh copy of the arguments; torch gradient arguments require grad."""
        values = copy.deepcopy(values)
        if self.framework == "torch":
            for i in self._grad_positions():
                v = values[i]
                if array_kind(v) == "torch" and v.dtype.is_floating_point:
                    values[i] = v.detach().clone().requires_grad_(True)
        return values

    def _grad_positions(self) -> list[int]:
        return [self.parameters.index(n) for n in self.grad_argnames]

    # ------------------------------------------------------------------ running a check

    def run(self, fn: Any, seed: int | None = None) -> Result:
        if not callable(fn):
            return Result("failed", f"{self.name}: expected a function, got "
                          f"{describe_type(fn)} {safe_repr(fn, 80)}.")
        seed = secrets.randbits(31) if seed is None else int(seed)
        answer, fn = fn, self._use(fn)
        output = Capture()
        cases = self.all_cases(seed)
        for i, case in enumerate(cases):
            values = self._positional(case)
            ref_args = self._prepare(values)
            expected = self._run_reference(ref_args)
            args = self._prepare(values)
            pristine = self._prepare(values)
            try:
                try:
                    with learner_call(self, output):
                        got = fn(*args)
                except Exception as e:  # noqa: BLE001 - retried below, or handled as before
                    if not (self.framework == "jax" and self.op_by_op
                            and "disable_jit" in str(e)):
                        raise
                    # JAX refuses some correct code only when it runs op by op (a
                    # zero-length lax.scan): run it as plain JAX, with the same time limit
                    args = self._prepare(values)
                    with learner_call(self, output, disable_jit=False):
                        got = fn(*args)
            except Overrun:
                return self._fail(case, expected, None, self._overrun(), seed, output, i)
            except NotImplementedError as e:
                if i == 0 and is_untouched_stub(answer, e):
                    return Result("not attempted", "not attempted yet", seed=seed)
                problem = (describe_error(e) + ". Only the stub's own `raise "
                           "NotImplementedError` counts as 'not attempted'")
                return self._fail(case, expected, None, problem, seed, output, i)
            except Exception as e:  # noqa: BLE001 - any learner error becomes a readable report
                return self._fail(case, expected, None, describe_error(e), seed, output, i)
            problem = (changed_arguments(self.parameters, pristine, args)
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
            return self._use(self.reference)(*args)
        import jax  # one compiled call instead of one compile per operation and shape

        static = tuple(self.parameters.index(n) for n in self.static_argnames)
        return jax.jit(self._use(self.reference), static_argnums=static)(*args)

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
            return (f"the checker could not read your result ({describe_type(got)}): "
                    f"{type(e).__name__}: {first_line(e)}")
        if problem is not None and self.canonical is not None:
            try:
                # where the order does not matter, the difference worth showing is the one
                # that remains in canonical order
                problem = compare(self.canonical(expected), self.canonical(got), self.rtol,
                                  self.atol, where, returns=self.returns,
                                  integers=self.integers)
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
            with learner_call(self, output, disable_jit=False):
                got = jax.jit(fn, static_argnums=static)(*copy.deepcopy(values))
                jax.block_until_ready(got)
        except Overrun:
            return self._overrun() + " under jax.jit"
        except Exception as e:  # noqa: BLE001
            return ("your function fails under jax.jit, which the training step applies to it "
                    f"(use jnp operations and jnp.where instead of Python `if` on array values): "
                    f"{describe_error(e)}")
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
        expected_grad = jax_grad(self._use(self.reference), tuple(positions), static, traced)
        try:
            with learner_call(self, output, disable_jit=False):
                got_grad = jax_grad(fn, tuple(positions), static, traced, compiled=not eager)
        except Overrun:
            return self._overrun() + " when taking its gradient"
        except Exception as e:  # noqa: BLE001
            return f"jax.grad of your function fails: {describe_error(e)}"
        return self._compare_grads(expected_grad, got_grad, values)

    def _check_torch_grad(self, positions, ref_args, expected, args, got, output) -> str | None:
        ref_inputs = [ref_args[p] for p in positions if requires_grad(ref_args[p])]
        inputs = [args[p] for p in positions if requires_grad(args[p])]
        if not inputs:
            return None
        import torch

        ref_objective = weighted_sum(expected, torch)
        if not getattr(ref_objective, "requires_grad", False):
            return None  # nothing depends on the inputs (an empty case)
        expected_grad = torch.autograd.grad(ref_objective, ref_inputs, allow_unused=True)
        objective = weighted_sum(got, torch)
        if not getattr(objective, "requires_grad", False):
            return ("your result is cut off from the inputs' gradient, so the model could not "
                    "learn through it: stay in torch (no .numpy(), .item(), .tolist(), "
                    "torch.tensor(...) of a result, or .detach())")
        try:
            with learner_call(self, output):
                got_grad = torch.autograd.grad(objective, inputs, allow_unused=True)
        except Overrun:
            return self._overrun() + " when backpropagating"
        except Exception as e:  # noqa: BLE001
            return f"backpropagating through your result fails: {describe_error(e)}"
        return self._compare_grads(expected_grad, got_grad, ref_args)

    def _compare_grads(self, expected_grad, got_grad, values=None) -> str | None:
        kinks = {}
        if self.kinks is not None and values is not None:
            kinks = self.kinks(*[to_numpy(v) if array_kind(v) in ("torch", "jax") else v
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
            args = inspect.signature(self._use(self.reference)).bind_partial(
                *case.args, **case.kwargs).arguments
        except TypeError:
            args = {f"arg{i}": v for i, v in enumerate(case.args)}
        lines = [f"{self.name}: wrong on the case '{case.description}'.", "  input:"]
        lines += [f"    {k} = {fmt(v, 24)}" for k, v in args.items()]
        lines.append(f"  expected: {fmt(expected, 24)}")
        if got is not None or "raised" not in problem:
            lines.append(f"  got:      {fmt(got, 24)}")
        lines.append(f"  problem:  {problem}")
        if self.hint:
            lines.append(f"  hint:     {self.hint.strip()}")
        if case.random and seed is not None:
            lines.append(f"  this case again: check({self.name!r}, your_function, seed={seed})")
        if printed:
            lines.append("  your function printed:")
            lines += ["    " + line for line in printed.splitlines()]
        return "\n".join(lines)


@functools.lru_cache(maxsize=64)
def _bound(call: Callable, answer: Any) -> Callable:
    """One function object per (call, class): JAX compiles a function once per shape."""
    return functools.partial(call, answer)


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
        importlib.import_module(f"{__package__}.{module}")


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
                        f"{type(e).__name__}: {first_line(e)}")
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
