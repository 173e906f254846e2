"""``scripts/site_check.py``: the parts that need no browser (links and anchors, alt text, a
PNG's dpi). The browser half runs in CI as ``make site-check`` on the built book."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("site_check", ROOT / "scripts" / "site_check.py")
site_check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(site_check)


def test_broken_links_and_anchors_are_found(tmp_path):
    (tmp_path / "book").mkdir()
    (tmp_path / "_static").mkdir()
    (tmp_path / "book" / "a.html").write_text(
        '<h1 id="top">A</h1><a href="b.html#part">ok</a> <a href="b.html#nope">bad anchor</a>'
        '<a href="missing.html">no page</a> <a href="#top">self</a> <a href="#gone">self bad</a>'
        '<a href="https://example.org/x">external</a> <img src="../_static/logo.png">'
        '<a href="mailto:someone@example.org">mail</a>')
    (tmp_path / "book" / "b.html").write_text('<section id="part">B</section>')
    (tmp_path / "_static" / "logo.png").write_bytes(b"png")
    (tmp_path / "_static" / "template.html").write_text('<a href="{{ pathto(x) }}">x</a>')
    problems = site_check.broken_links(tmp_path)
    assert sorted(problems) == sorted([
        "book/a.html: b.html#nope (no anchor #nope)",
        "book/a.html: missing.html (no such file)",
        "book/a.html: #gone (no anchor #gone)"])


def test_alt_text_must_say_something():
    src = "../_images/0a1b2c.png"
    assert site_check.alt_problem(None, src) == "no alt text"
    assert site_check.alt_problem("  ", src) == "no alt text"
    assert "file name" in site_check.alt_problem(src, src)
    assert "file name" in site_check.alt_problem("0a1b2c.png", src)
    assert site_check.alt_problem("Training loss falling over the epochs.", src) is None


def test_a_figure_s_dpi_is_read_from_its_png(tmp_path):
    for dpi in (72, 100):
        fig = plt.figure(figsize=(2, 1), dpi=dpi)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=dpi)
        plt.close(fig)
        path = tmp_path / f"f{dpi}.png"
        path.write_bytes(buffer.getvalue())
        assert abs(site_check.png_dpi(path) - dpi) < 0.5
    path = tmp_path / "plain.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 30)
    assert site_check.png_dpi(path) is None
