"""What the chapters say, read as text: result numbers come from the cell or record that computed
them (myst-nb ``glue``), never typed by hand; cells and chapters stay short; no talk about the
project's history, its tools or its test suite.

A "typed number" is a decimal (0.94), a percentage, a thousands-separated count (100,836), or a
number with a unit of time, memory or speed (3 s, 2.1 GB, 5x) in a markdown cell, outside maths,
inline code and glue roles. Each chapter may keep the typed numbers listed, with the reason, in
``tests/prose_allowed/<notebook>.json`` (a phrase that holds the number -> why it is not a result:
a setting, a definition, a fact of the dataset's documentation); every other one must be glued.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
NOTEBOOKS = sorted(BOOK.glob("0*.ipynb"))
ALLOWED = ROOT / "tests" / "prose_allowed"
CELL_WORDS, CHAPTER_WORDS = 350, 3000

GLUE_ROLE = re.compile(r"\{glue(?::\w+)?\}`([^`:]+)(?::[^`]*)?`")
MATH = re.compile(r"\$\$.*?\$\$|\$[^$\n]+\$|\{math\}`[^`]*`", re.S)
CODE = re.compile(r"``?[^`]+``?")
LINK_TARGET = re.compile(r"\]\([^)]*\)|<https?://[^>]*>|https?://\S+")
# the "**Run time:**" line is written from records/book_times.json by scripts/run_times.py
RUN_TIME = re.compile(r"\*\*Run time:\*\*[^\n]*")
TYPED = re.compile(
    r"(?<![\w.,])(?:\d{1,3}(?:,\d{3})+|\d+\.\d+|\d+)(?![\w.,]*\d)"
    r"(?:\s?(?:%|×|x\b|s\b|ms\b|seconds?\b|min\b|GB\b|MB\b|GiB\b|MiB\b|kB\b|KB\b|TB\b)"
    r"|(?<=\d\.\d)|(?<=\d\.\d\d)|(?<=\d\.\d\d\d)|(?<=\d\.\d\d\d\d)|(?<=\d\.\d{5})"
    r"|(?<=\d,\d\d\d))")
FORBIDDEN = ["test suite", "nbval", "pytest", "in our first runs", "convergence.py",
             "first implementation", "seed_sizes", "2-core", "course's machine", "_seen_mask",
             "patience 5", "patience-5", "our machine", "this machine", "CI ", "the checker's"]


def markdown_cells(path: Path) -> list[str]:
    nb = json.loads(path.read_text())
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"]


def prose(text: str) -> str:
    """The words a reader reads as prose: maths, code, link targets and glue roles removed."""
    for pattern in (GLUE_ROLE, MATH, CODE, LINK_TARGET, RUN_TIME):
        text = pattern.sub(" ", text)
    text = re.sub(r"<!--.*?-->", " ", text, flags=re.S)
    return "\n".join(line for line in text.splitlines() if not re.match(r"\s*:\w+:", line))


def allowed(path: Path) -> dict[str, str]:
    file = ALLOWED / f"{path.stem}.json"
    return json.loads(file.read_text()) if file.exists() else {}


def typed_numbers(path: Path) -> list[str]:
    keep = allowed(path)
    found = []
    for cell in markdown_cells(path):
        text = prose(cell)
        for phrase in keep:
            text = text.replace(phrase, " ")
        found += [f"{m.group().strip()!r} in ...{text[max(0, m.start() - 50):m.end() + 20]!r}"
                  for m in TYPED.finditer(text)]
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_result_number_is_typed_by_hand(path):
    found = typed_numbers(path)
    assert not found, f"{len(found)} typed numbers (glue them, or list them with a reason):\n" \
        + "\n".join(found)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_allowed_phrase_is_still_in_the_chapter_and_has_a_reason(path):
    text = "\n".join(prose(c) for c in markdown_cells(path))
    for phrase, reason in allowed(path).items():
        assert phrase in text, f"{path.stem}: {phrase!r} is no longer in the chapter"
        assert len(reason.split()) >= 3, f"{path.stem}: say why {phrase!r} is not a result"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_glued_number_is_computed_in_the_chapter(path):
    """A glue role names a value that a code cell of the same notebook glues, and the stored
    outputs hold it (the notebook was executed after the role was written)."""
    nb = json.loads(path.read_text())
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    stored = {out.get("metadata", {}).get("scrapbook", {}).get("name")
              for c in nb["cells"] if c["cell_type"] == "code" for out in c.get("outputs", [])}
    used = {key for cell in markdown_cells(path) for key in GLUE_ROLE.findall(cell)}
    missing = sorted(k for k in used if not re.search(rf"""glue\(\s*["']{re.escape(k)}["']""",
                                                      code) and f'"{k}"' not in code)
    assert not missing, f"{path.stem}: glued in the text, never computed: {missing}"
    unstored = sorted(used - stored)
    assert not unstored, f"{path.stem}: not in the stored outputs (execute it): {unstored}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_cells_and_chapters_are_short(path):
    # maths counts as one word; a directive's options (a figure's alt text) are not prose
    cells = [len("\n".join(line for line in MATH.sub(" x ", c).splitlines()
                           if not re.match(r"\s*:\w+:", line)).split())
             for c in markdown_cells(path)]
    long = [(i, n) for i, n in enumerate(cells) if n > CELL_WORDS]
    assert not long, f"{path.stem}: markdown cells over {CELL_WORDS} words: {long}"
    assert sum(cells) <= CHAPTER_WORDS, f"{path.stem}: {sum(cells)} words of prose"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_history_tooling_or_test_suite_talk(path):
    nb = json.loads(path.read_text())
    shown = ["".join(c["source"]) for c in nb["cells"]
             if "remove-cell" not in c.get("metadata", {}).get("tags", [])]
    hits = [f"{word!r}: ...{text[max(0, text.find(word) - 60):text.find(word) + 40]!r}"
            for text in shown for word in FORBIDDEN if word in text]
    assert not hits, "\n".join(hits)


def test_typed_number_pattern():
    """What counts as typed: results and measurements, not ids, counts of layers or versions."""
    def find(s):
        return [m.group().strip() for m in TYPED.finditer(s)]
    assert find("AUC 0.9407 and recall 14 %") == ["0.9407", "14 %"]
    assert find("100,836 ratings in 3.5 s, 51 GB, 5x faster") == ["100,836", "3.5 s", "51 GB",
                                                                   "5x"]
    assert find("2 layers, 64 dimensions, top 20, torch 2.8.1, year 2016") == []
