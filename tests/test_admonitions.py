"""The book's boxes: learning objectives, exercises, summaries and caveats each look the same in
every chapter and different from one another (``_static/admonitions.css``), and every box of
one of those kinds carries its kind's class, which no other box carries.

A box's kind is read from its title, the way a reader tells them apart: "Learning objectives";
"Exercise N: ..." and the mini-project's boxes; "What to take away" (and the closing page's
"What you can do now"); the caveats, named in :data:`CAVEATS`. Any other box is an aside, in the
theme's ``note``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
CHAPTERS = sorted(BOOK.glob("0*.ipynb"))
PAGES = sorted(BOOK.glob("*.md"))
CSS = ROOT / "_static" / "admonitions.css"

KINDS = ("objectives", "exercise", "summary", "caveat")
# the boxes that warn of a mistake or a limit: their titles, as the chapters write them
CAVEATS = {"Two common pitfalls of rating prediction on a graph", "Four pitfalls of a first NGCF",
           "What message passing cannot see"}
ASIDE = "note"
EXERCISE_TITLE = re.compile(r"Exercise (\d+): .+ \((?:[\w, ]+; )?★+, about \d+ minutes\)")
BOX = re.compile(r"^(?P<fence>:::+|```+)\{admonition\}[ \t]*(?P<title>[^\n]*)\n"
                 r"(?P<options>(?:[ \t]*:[\w-]+:[^\n]*\n)*)", re.M)


def kind_of(title: str) -> str:
    if title == "Learning objectives":
        return "objectives"
    if EXERCISE_TITLE.fullmatch(title) or title.startswith("Mini-project: ") \
            or title in ("What to hand in", "How a project is judged"):
        return "exercise"
    if title in ("What to take away", "What you can do now"):
        return "summary"
    if title in CAVEATS:
        return "caveat"
    return ASIDE


def expected_class(kind: str) -> str:
    return ASIDE if kind == ASIDE else f"course-{kind}"


def texts(path: Path) -> list[tuple[str, str]]:
    """``(cell type, text)`` of a notebook's cells, or the one text of a Markdown page."""
    if path.suffix == ".md":
        return [("markdown", path.read_text())]
    nb = json.loads(path.read_text())
    return [(c["cell_type"], "".join(c["source"])) for c in nb["cells"]]


def boxes(text: str) -> list[dict]:
    found = []
    for m in BOX.finditer(text):
        options = dict(re.findall(r":([\w-]+):[ \t]*([^\n]*)", m.group("options")))
        found.append({"fence": m.group("fence"), "title": m.group("title").strip(),
                      "classes": options.get("class", "").split()})
    return found


def all_boxes(path: Path) -> list[dict]:
    return [b for kind, text in texts(path) if kind == "markdown" for b in boxes(text)]


def test_the_box_pattern_reads_title_and_class():
    text = ":::{admonition} Exercise 2: the BPR loss (JAX; ★★, about 15 minutes)\n" \
           ":class: course-exercise\n\nWrite it.\n:::\n"
    assert boxes(text) == [{"fence": ":::", "title": "Exercise 2: the BPR loss (JAX; ★★, about "
                            "15 minutes)", "classes": ["course-exercise"]}]
    assert kind_of(boxes(text)[0]["title"]) == "exercise"
    assert kind_of("Which negatives?") == ASIDE
    assert kind_of("Learning objectives") == "objectives"


@pytest.mark.parametrize("path", CHAPTERS + PAGES, ids=lambda p: p.stem)
def test_every_box_carries_its_kinds_class_and_only_that(path):
    wrong = []
    for box in all_boxes(path):
        want = expected_class(kind_of(box["title"]))
        if box["classes"] != [want]:
            wrong.append(f"{box['title']!r}: class {' '.join(box['classes']) or '(none)'}, "
                         f"expected {want}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("path", CHAPTERS + PAGES, ids=lambda p: p.stem)
def test_boxes_are_colon_fenced(path):
    """One syntax everywhere; a backtick fence would also hide the box's text from the prose
    checks (tests/test_prose.py reads backtick spans as code)."""
    assert not [b["title"] for b in all_boxes(path) if not b["fence"].startswith(":")]
    assert not re.search(r"^```+\{admonition\}", "\n".join(t for _, t in texts(path)), re.M)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_chapter_has_its_objectives_exercises_and_summary(path):
    cells = [t for kind, t in texts(path) if kind == "markdown"]
    kinds = [kind_of(b["title"]) for b in all_boxes(path)]
    assert kinds.count("objectives") == 1, "one Learning objectives box"
    assert "objectives" in [kind_of(b["title"]) for b in boxes(cells[0])], "at the top"
    assert kinds.count("summary") == 1, "one What to take away box"
    summary = next(c for c in cells if any(kind_of(b["title"]) == "summary" for b in boxes(c)))
    assert re.search(r"^## Summary$", summary, re.M), "the summary box sits under ## Summary"
    numbers = [int(m.group(1)) for b in all_boxes(path)
               if (m := EXERCISE_TITLE.fullmatch(b["title"]))]
    assert numbers == list(range(1, len(numbers) + 1)) and numbers, numbers


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_exercise_stub_comes_right_after_its_exercise_box(path):
    """The last box before a stub (a code cell that calls ``check``) is an exercise."""
    last, misplaced = None, []
    for kind, text in texts(path):
        if kind == "markdown":
            last = (boxes(text) or [last])[-1]
        else:
            for name in re.findall(r'\bcheck\("(\w+)", \w+\)', text):
                if last is None or kind_of(last["title"]) != "exercise":
                    misplaced.append(f"{name} after {last and last['title']!r}")
    assert not misplaced, misplaced


def test_chapter_7s_mini_project_is_boxed_as_an_exercise():
    path = BOOK / "07_which_model.ipynb"
    cells = [t for kind, t in texts(path) if kind == "markdown"]
    project = next(c for c in cells if c.startswith("## Mini-project"))
    assert [kind_of(b["title"]) for b in boxes(project)] == ["exercise"]
    assert "**A. " in project.split(":::{admonition}", 1)[1]    # the questions are in the box


# ------------------------------------------------------------------------------------------
# The stylesheet
# ------------------------------------------------------------------------------------------

def _rules(css: str) -> dict[str, str]:
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    return {sel.strip(): body for sel, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css)}


def _colours(rules: dict[str, str], selector: str) -> dict[str, str]:
    body = next(b for s, b in rules.items() if selector in [x.strip() for x in s.split(",")])
    return dict(re.findall(r"--course-([\w-]+):\s*(#[0-9a-fA-F]{6})", body))


def test_jupyter_book_loads_the_stylesheet():
    """Jupyter Book v1 adds every ``*.css`` under the book's ``_static`` to each page."""
    from jupyter_book.config import get_final_config

    config, _ = get_final_config(user_yaml=ROOT / "_config.yml", sourcedir=ROOT,
                                 cli_config={"latex_individualpages": False})
    assert "admonitions.css" in config.get("html_css_files", [])


def test_each_kind_has_its_own_colour_in_the_light_and_the_dark_theme():
    rules = _rules(CSS.read_text())
    for theme in ('html[data-theme="light"]', 'html[data-theme="dark"]'):
        colours = _colours(rules, theme)
        for suffix in ("", "-bg"):
            values = [colours.get(kind + suffix) for kind in KINDS]
            assert None not in values, (theme, suffix, colours)
            assert len(set(v.lower() for v in values)) == len(KINDS), (theme, suffix, values)
    light, dark = _colours(rules, 'html[data-theme="light"]'), _colours(rules, 'html[data-theme="dark"]')
    assert all(light[k] != dark[k] for k in light), "the dark theme has its own colours"


def test_each_kind_has_its_own_marker_drawn_without_an_icon_font():
    """The marker is an SVG mask in the box's colour: no Font Awesome font or script needed."""
    css = CSS.read_text()
    rules = _rules(css)
    icons = []
    for kind in KINDS:
        body = rules[f"div.admonition.course-{kind}"]
        assert re.search(rf"--course-box:\s*var\(--course-{kind}\)", body)
        icon = re.search(r'--course-box-icon:\s*url\("(data:image/svg\+xml,[^"]+)"\)', body)
        assert icon, kind
        icons.append(icon.group(1))
    assert len(set(icons)) == len(KINDS)
    marker = next(b for s, b in rules.items() if s.endswith("> .admonition-title::after"))
    assert re.search(r'content:\s*""', marker) and "mask: var(--course-box-icon)" in marker
    assert "background-color: var(--course-box)" in marker
    assert "fa-" not in css and "Font Awesome" not in re.sub(r"/\*.*?\*/", "", css, flags=re.S)
