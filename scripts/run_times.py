"""Write the measured run times (``course_lib/records/book_times.json``, from
``benchmarks/book_times.py``) into the introduction's table and each chapter's "Run time" line.

    python scripts/run_times.py          # rewrite book/intro.md and the chapters' lines
    python scripts/run_times.py --check  # exit 1 if the text disagrees with the record

``tests/test_book.py`` runs the check, so the text never drifts from the record.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_lib import records  # noqa: E402

BOOK = ROOT / "book"
# the chapters that save the models they train (chapter 8 keeps none)
SAVES_MODELS = ("03", "04", "05", "06", "07")


def describe(seconds: float) -> str:
    """A run time as a reader reads it: 'about 40 seconds', 'about 2.5 minutes'."""
    if seconds < 90:
        return f"about {max(5, round(seconds / 5) * 5):.0f} seconds"
    minutes = round(seconds / 30) / 2
    return f"about {minutes:g} minutes"


def chapter_line(stem: str, record: dict) -> str:
    """The chapter's "Run time" paragraph."""
    chapter = record["chapters"][stem]
    text = (f"**Run time:** {describe(chapter['seconds'])} on two CPU cores from a fresh start"
            " (no saved model)")
    # in the book, a chapter that loads the models the chapters before it saved is faster
    if (chapter["in_book_seconds"] < chapter["seconds"]
            and describe(chapter["in_book_seconds"]) != describe(chapter["seconds"])):
        text += (f", {describe(chapter['in_book_seconds'])} once the chapters before it have\n"
                 "run and saved their models")
    if stem[:2] in SAVES_MODELS:
        text += ".\nThe chapter saves the models it trains, so a second run is much faster"
    return text + ".\n"


def intro_table(record: dict) -> str:
    """The introduction's table of run times (with the whole book's)."""
    rows = ["| chapter | alone, from a fresh start | in the book, in order |", "|---|---|---|"]
    for stem, chapter in record["chapters"].items():
        title = _title(stem)
        rows.append(f"| {title} | {describe(chapter['seconds'])} | "
                    f"{describe(chapter['in_book_seconds'])} |")
    rows.append(f"| the whole book | | {describe(record['book_seconds'])} |")
    return "\n".join(rows) + "\n"


def _title(stem: str) -> str:
    nb = json.loads((BOOK / f"{stem}.ipynb").read_text())
    heading = next(line for cell in nb["cells"] if cell["cell_type"] == "markdown"
                   for line in "".join(cell["source"]).splitlines() if line.startswith("# "))
    return f"{int(stem[:2])}. {heading[2:].strip()}"


def expected() -> dict[Path, str]:
    """Every file this script writes, as it should read."""
    record = records.load("book_times")
    out = {}
    intro = (BOOK / "intro.md").read_text()
    start = intro.index("| chapter |")
    end = intro.index("\n\n", start)
    out[BOOK / "intro.md"] = intro[:start] + intro_table(record).rstrip("\n") + intro[end:]
    for stem in record["chapters"]:
        path = BOOK / f"{stem}.ipynb"
        nb = json.loads(path.read_text())
        for cell in nb["cells"]:
            text = "".join(cell["source"])
            if cell["cell_type"] == "markdown" and "**Run time:**" in text:
                start = text.index("**Run time:**")
                end = text.find("\n\n", start)
                end = len(text) if end < 0 else end
                text = text[:start] + chapter_line(stem, record).rstrip("\n") + text[end:]
                lines = text.splitlines(keepends=True)
                cell["source"] = lines
                break
        out[path] = json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    stale = [p for p, text in expected().items() if p.read_text() != text]
    if args.check:
        if stale:
            sys.exit("run times out of date in " + ", ".join(p.name for p in stale)
                     + ": run python scripts/run_times.py")
        return
    for path, text in expected().items():
        path.write_text(text)
    print(f"updated {len(stale)} files")


if __name__ == "__main__":
    main()
