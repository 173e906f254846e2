"""Showing a reference solution, collapsed, straight from the ``course_lib`` source."""

from __future__ import annotations

import html
import inspect
import re

from .engine import get


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
