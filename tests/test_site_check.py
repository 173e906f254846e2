"""``scripts/site_check.py``: the parts that need no browser (links and anchors, alt text, a
PNG's dpi, missing values in tables), and the layout checks on small synthetic pages in Chromium
(skipped where Chromium is not installed). The whole check runs in CI as ``make site-check`` on
the built book."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import matplotlib
import pytest

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


def test_missing_values_in_a_rendered_table_are_found(tmp_path):
    page = tmp_path / "p.html"
    page.write_text(
        '<table class="dataframe"><thead><tr><th></th><th>AUC</th><th>MAE</th></tr></thead>'
        '<tbody><tr><th>LightGCN</th><td>0.93</td><td>NaN</td></tr>'
        '<tr><th>popularity</th><td> None </td><td>&lt;NA&gt;</td></tr></tbody></table>'
        '<p>NaN in prose is not a table.</p>'
        '<table class="table"><tr><th>model</th><th>note</th></tr>'
        '<tr><td>GC-MC</td><td>NaN-free, no None</td></tr>'
        '<tr><td>n/a</td><td><table><tr><td>nan</td></tr></table></td></tr></table>')
    assert site_check.missing_in_tables(page, "p.html") == [
        "p.html: table 1 (AUC, MAE): 'NaN' in 3 cell(s), first at row 'LightGCN', column 'MAE'",
        "p.html: table 3 (no header): 'nan' in 1 cell(s), first at column 1"]
    page.write_text('<table><tr><th>a</th></tr><tr><td>0.5</td></tr><tr><td>–</td></tr></table>')
    assert site_check.missing_in_tables(page, "p.html") == []


# ------------------------------------------------------------------------------------------
# The layout checks, in Chromium, on synthetic pages
# ------------------------------------------------------------------------------------------

# What the book's theme gives the checks to work with: a 368-px column at 400 px, pre blocks that
# scroll (Bootstrap), Sphinx's inline code whose words never break, pydata's colours.
THEME = """<style>
html { --pst-color-background: #fff; --pst-color-on-background: #fff;
       --pst-color-surface: #f3f4f5; --pst-color-text-base: #222832; }
body { margin: 0; font: 16px/1.5 sans-serif; }
article.bd-article { width: min(784px, calc(100vw - 32px)); margin: 0 16px; }
pre { overflow: auto; padding: 16px; font: 14px monospace; }
span.pre { white-space: nowrap; }
</style>"""
COURSE_CSS = (ROOT / "_static" / "course.css").read_text()


def _page(body: str, css: str = "") -> str:
    return (f'<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">'
            f'{THEME}<style>{css}</style></head><body><article class="bd-article">{body}'
            '</article></body></html>')


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    """Check a synthetic page at a width: ``check(body, width, css="") -> findings``."""
    missing = [p for p in (site_check.CHROMIUM, site_check.CHROMEDRIVER) if not Path(p).exists()]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (apt-get install chromium "
                    "chromium-driver): the layout checks need a browser")
    site = tmp_path_factory.mktemp("site")
    out = tmp_path_factory.mktemp("shots")
    server, base = site_check.serve(site)
    driver = site_check.browser()
    pages = iter(range(10**6))

    def check(body: str, width: int, css: str = "") -> list[str]:
        name = f"p{next(pages)}.html"
        (site / name).write_text(_page(body, css), encoding="utf-8")
        found, _ = site_check.check_page(driver, base, site, name, width, out, min_font_pt=8)
        return [f.split(": ", 1)[1] for f in found]

    yield check
    driver.quit()
    server.shutdown()


WIDE = '<div style="width: 600px; height: 20px">wide</div>'


def test_content_wider_than_its_box_is_found_unless_the_box_scrolls(chromium):
    found = chromium(f'<div class="box" style="width: 300px">{WIDE}</div>', 1400)
    assert found == ["div is too wide for div.box: 600 px of content in 300 px, sticking out, "
                     "not in a scroll box"]
    found = chromium(f'<div class="box" style="width: 300px; overflow: hidden">{WIDE}</div>', 1400)
    assert found == ["div is too wide for div.box: 600 px of content in 300 px, clipped "
                     "(overflow hidden)"]
    # a scroll box must show that it scrolls
    found = chromium(f'<div class="box" style="width: 300px; overflow-x: auto">{WIDE}</div>', 1400)
    assert found == ["div.box scrolls (600 px of content in 300 px) with no sign that it scrolls "
                     "(no scroll shadow)"]
    shadow = "background-image: linear-gradient(to right, white, transparent)"
    assert chromium(f'<div style="width: 300px; overflow-x: auto; {shadow}">'
                    f'<div style="width: 300px">{WIDE}</div></div>', 1400) == []
    # only the innermost box is named; text that fits, and hidden text for screen readers, pass
    found = chromium(f'<section><div class="outer" style="width: 500px"><p class="inner" '
                     f'style="width: 200px"><code style="white-space: nowrap">{"x" * 60}</code>'
                     '</p></div></section><p>Prose that wraps as it should.</p><span style="'
                     'position: absolute; width: 1px; overflow: hidden; clip: rect(0 0 0 0)">'
                     'read to screen readers only</span>', 1400)
    assert len(found) == 1 and found[0].startswith("code is too wide for p.inner: ")


def test_a_line_of_code_or_output_that_does_not_fit_is_found_at_desktop_width(chromium):
    body = ('<div class="cell_input"><pre>{code}</pre></div>'
            '<div class="cell_output"><pre>{output}</pre></div>'
            '<details class="course-solution"><summary>Reference solution <span class='
            '"course-solution-hint"></span></summary><div class="highlight"><pre>{solution}'
            '</pre></div><button class="copybtn">copy</button></details>')
    short = "x = 1\nprint(x)"
    fits = chromium(body.format(code=short, output=short, solution=short), 1400, COURSE_CSS)
    assert fits == []
    long = "y = " + "1 + " * 40 + "1"
    found = chromium(body.format(code=short, output=f"{short}\n{long}\n{long}", solution=long),
                     1400, COURSE_CSS)
    assert len(found) == 2
    assert found[0].startswith("output line does not fit the column: 2 line(s) over the ")
    assert f"the longest {len(long)}: 'y = 1 + 1 + " in found[0]
    assert found[1].startswith("reference solution line does not fit the column: 1 line(s) ")
    # the character count the column holds is measured: 14-px monospace in 784 - 32 px
    holds = int(found[0].split("over the ")[1].split(" ")[0])
    assert 80 <= holds <= 95
    # on a phone, code scrolls inside its block (the theme's pre scrolls)
    assert chromium(body.format(code=long, output=long, solution=long), 400,
                    COURSE_CSS) == []


FORMULA = ('<div class="math"><mjx-container class="MathJax" display="true" style="display: '
           'block; overflow-x: auto"><mjx-math style="display: inline-block; width: {w}px">'
           'x</mjx-math></mjx-container></div>'
           '<script>window.MathJax = {{typesetPromise() {{}}, startup: {{document: {{math: ['
           '{{typesetRoot: document.querySelector("mjx-container"), math: "a + b = c"}}]}}}}}};'
           '</script>')


def test_a_formula_wider_than_its_column_is_found_even_when_it_scrolls(chromium):
    assert chromium(FORMULA.format(w=300), 400) == []
    found = chromium(FORMULA.format(w=700), 400)
    assert found == ["display formula cut: 700 px wide in a 368 px column: 'a + b = c'"]
    assert chromium(FORMULA.format(w=700), 1400) == []        # it fits the desktop column


def test_the_course_css_wraps_inline_code_and_marks_wide_tables_as_scrolling(chromium):
    words = ('<p>The sharded version lives in <code class="docutils literal notranslate">'
             '<span class="pre">course_lib.distributed.sharded_propagate_with_a_long_name</span>'
             '</code>, with <code class="docutils literal notranslate"><span class="pre">a</span>'
             ' <span class="pre">b</span></code>.</p>')
    found = chromium(words, 400)                   # without the course's CSS it sticks out
    assert any("code.docutils.literal.notranslate is too wide for p" in f for f in found)
    assert any(f.startswith("page is ") for f in found)
    assert chromium(words, 400, COURSE_CSS) == []
    columns = "".join(f"<th>column {i}</th>" for i in range(12))
    table = (f'<div class="cell_output"><div class="output text_html"><div><table '
             f'class="dataframe"><thead><tr>{columns}</tr></thead></table></div></div></div>')
    found = chromium(table, 400, "div.cell_output .output { overflow-x: auto }")
    assert len(found) == 1 and "with no sign that it scrolls" in found[0]
    assert chromium(table, 400, COURSE_CSS) == []
