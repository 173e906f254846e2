"""course_lib/pyg and course_lib/jax line up file for file, so a reader can diff the two."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "course_lib"


def test_pyg_and_jax_modules_line_up():
    pyg = sorted(p.name for p in (ROOT / "pyg").glob("*.py"))
    jax = sorted(p.name for p in (ROOT / "jax").glob("*.py"))
    assert pyg == jax


def test_twin_modules_name_their_twin():
    for path in (ROOT / "pyg").glob("*.py"):
        if path.name == "__init__.py":
            continue
        for side, other in (("pyg", "jax"), ("jax", "pyg")):
            text = (ROOT / side / path.name).read_text()
            assert f"course_lib/{other}/{path.name}" in text.split('"""')[1], (side, path.name)
