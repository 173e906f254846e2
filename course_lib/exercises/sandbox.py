"""Running a learner's function: a time limit per case, its printed output captured and
truncated, an untouched stub told apart from a function that raises ``NotImplementedError``
itself, errors described in one line."""

from __future__ import annotations

import ast
import contextlib
import inspect
import io
import signal
import sys
import textwrap
import threading
import traceback
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .engine import Exercise


OUTPUT_LIMIT = 1500  # characters of the learner's printed output shown in a report
# Functions run after each call of the learner's code (the grader's integrity check); taken
# when the call starts, before any learner code runs.
AFTER_CALL: list = []


class Overrun(BaseException):
    """Raised by the alarm inside a learner's function that ran past the time limit.

    A ``BaseException``, so that a learner's ``except Exception`` cannot swallow it."""


class Capture(io.TextIOBase):
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
def time_limit(seconds: float | None):
    """Raise :class:`Overrun` in the code below after ``seconds`` (main thread, POSIX only)."""
    usable = (seconds and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread())
    if not usable:
        yield
        return

    def alarm(signum, frame):
        raise Overrun

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def learner_call(exercise: Exercise, output: Capture, disable_jit: bool = True):
    """Time limit and captured output around a call of the learner's code. JAX runs op by op
    (``jax.disable_jit``) so that ``lax.while_loop`` loops in Python, where the limit reaches it."""
    checks = tuple(AFTER_CALL)
    with contextlib.ExitStack() as stack:
        for check in checks:
            stack.callback(check)
        if exercise.framework == "jax" and disable_jit and exercise.op_by_op:
            import jax

            stack.enter_context(jax.disable_jit())
        stack.enter_context(contextlib.redirect_stdout(output))
        stack.enter_context(contextlib.redirect_stderr(output))
        stack.enter_context(time_limit(exercise.time_limit))
        yield


def is_untouched_stub(fn, error: NotImplementedError) -> bool:
    """True when ``error`` comes from the stub's own ``raise NotImplementedError`` line: raised
    directly in ``fn`` (not in a helper or a library), whose body is nothing else. For a class
    (a layer written as a module), raised in one of the methods written in its body, all of
    which are still nothing but that line."""
    tb = error.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return False
    if inspect.isclass(fn):
        methods = [inspect.unwrap(m) for m in vars(fn).values() if callable(m)]
        methods = [m for m in methods if getattr(getattr(m, "__code__", None), "co_filename",
                                                 "<string>") != "<string>"]
        return (tb.tb_frame.f_code in {m.__code__ for m in methods}
                and all(_stub_only(m, error) for m in methods))
    fn = inspect.unwrap(fn)
    code = getattr(fn, "__code__", None)
    if code is None or tb.tb_frame.f_code is not code:
        return False
    return _stub_only(fn, error)


def _stub_only(fn, error: NotImplementedError) -> bool:
    """``fn``'s body is nothing but ``raise NotImplementedError`` (and a docstring)."""
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


def describe_error(e: BaseException) -> str:
    library = ("site-packages", "course_lib", sys.prefix, sys.base_prefix)
    frames = [f for f in traceback.extract_tb(e.__traceback__)
              if not any(part in f.filename for part in library)]
    where = ""
    if frames:
        f = frames[-1]
        code = (f.line or "").strip()
        where = f" at line {f.lineno} of your code" + (f": `{code}`" if code else "")
    return f"your function raised {type(e).__name__}: {first_line(e, 300)}{where}"


def first_line(e: BaseException, limit: int = 200) -> str:
    try:
        text = str(e)
    except Exception:  # noqa: BLE001
        text = "(its message cannot be shown)"
    text = text.strip().splitlines()[0] if text.strip() else ""
    return text if len(text) <= limit else text[:limit] + "..."
