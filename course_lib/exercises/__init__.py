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

from .compare import compare, to_numpy
from .engine import (CHAPTER_MODULES, NOTEBOOKS, Case, Exercise, ExerciseFailed,
                     Result, all_exercises, chapter_exercises, check, get, listed, register)
from .sandbox import OUTPUT_LIMIT
from .solutions import Solution, show_solution, solution_source

__all__ = ["CHAPTER_MODULES", "NOTEBOOKS", "OUTPUT_LIMIT", "Case", "Exercise",
           "ExerciseFailed", "Result", "Solution", "all_exercises", "chapter_exercises", "check",
           "compare", "get", "listed", "register", "show_solution", "solution_source", "to_numpy"]
