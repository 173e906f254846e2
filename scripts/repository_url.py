"""The course repository's address: defined in ``_config.yml`` (``repository.url``), repeated
where a reader needs it (every notebook's Colab setup cell, the book's introduction and closing
page, the README, the book's address on GitHub Pages). ``tests/test_book.py`` checks they agree.

Usage::

    python scripts/repository_url.py                  # print the address and where it appears
    python scripts/repository_url.py --set URL        # move the course: rewrite every place
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILES = ["_config.yml", "README.md", "book/intro.md", "book/closing.md", *sorted(
    str(p.relative_to(ROOT)) for p in (ROOT / "book").glob("*.ipynb"))]


def repository_url() -> str:
    match = re.search(r"^repository:\n  url: (\S+)$", (ROOT / "_config.yml").read_text(), re.M)
    if not match:
        raise SystemExit("_config.yml has no repository.url")
    return match.group(1)


def pages_url(url: str) -> str:
    """``https://github.com/OWNER/NAME`` -> ``https://OWNER.github.io/NAME/``."""
    owner, name = re.fullmatch(r"https://github\.com/([^/]+)/([^/]+)", url).groups()
    return f"https://{owner.lower()}.github.io/{name}/"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", metavar="URL", help="https://github.com/OWNER/NAME")
    args = parser.parse_args()
    old = repository_url()
    if not args.set:
        print(old, pages_url(old))
        for name in FILES:
            if old in (ROOT / name).read_text():
                print(" ", name)
        return
    new = args.set.rstrip("/").removesuffix(".git")
    pages_url(new)                                       # checks the form
    old_name, new_name = old.rsplit("/", 1)[1], new.rsplit("/", 1)[1]
    for name in FILES:
        path = ROOT / name
        text = path.read_text()
        updated = text.replace(old, new).replace(pages_url(old), pages_url(new))
        updated = updated.replace(f"cd {old_name}\n", f"cd {new_name}\n")
        if updated != text:
            path.write_text(updated)
            print("updated", name)


if __name__ == "__main__":
    main()
