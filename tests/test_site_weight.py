"""Page weight of the built site: Font Awesome's icons in use only, MathJax only on pages with
maths, MathJax cached by the publishing workflow (_ext/course_site.py, .github/workflows/book.yml).

The hooks are tested on made-up pages and contexts; the last test reads the built site in
``_build/html`` when there is one."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from docutils import nodes
from docutils.utils import new_document
from docutils.frontend import get_default_settings
from docutils.parsers.rst import Parser

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "_ext"))
import course_site  # noqa: E402

pydata_sphinx_theme = pytest.importorskip("pydata_sphinx_theme")
sphinx_book_theme = pytest.importorskip("sphinx_book_theme")
PYDATA = Path(pydata_sphinx_theme.__file__).parent
BOOK_THEME = Path(sphinx_book_theme.__file__).parent
PYDATA_STATIC = PYDATA / "theme" / "pydata_sphinx_theme" / "static"
THEME_CSS = [PYDATA_STATIC / "styles" / "pydata-sphinx-theme.css",
             BOOK_THEME / "theme" / "sphinx_book_theme" / "static" / "styles"
             / "sphinx-book-theme.css"]
# fa-* classes that are no icon: styles, sizes and the like
FA_MODIFIERS = {"solid", "regular", "brands", "classic", "sharp", "fw", "lg", "xl", "2xl", "sm",
                "xs", "2xs", "spin", "pulse", "border", "inverse", "stack", "li", "ul"}


@pytest.fixture(scope="module")
def icons():
    return course_site.fontawesome_icons((PYDATA_STATIC / course_site.FA_BUNDLE).read_text())


# ------------------------------------------------------------------------------------------
# MathJax only where there are maths
# ------------------------------------------------------------------------------------------

def _doctree(text: str):
    doc = new_document("page", get_default_settings(Parser))
    Parser().parse(text, doc)
    return doc


def _context():
    from sphinx.builders.html._assets import _JavaScript
    return {"script_files": [
        _JavaScript("_static/doctools.js"),
        _JavaScript("", body='window.MathJax = {"options": {}}'),
        _JavaScript("_static/mathjax/tex-mml-chtml.js", defer="defer"),
        _JavaScript("", body="let toggleHintShow = 'Click to show';"),
    ]}


def _names(context):
    return [js.filename or js.attributes.get("body", "")[:14] for js in context["script_files"]]


APP = SimpleNamespace(config=SimpleNamespace(mathjax_path="mathjax/tex-mml-chtml.js"))


def test_a_page_without_maths_loads_no_mathjax():
    for doctree in (_doctree("Just prose, and a toctree's worth of links."), None):
        context = _context()
        course_site._mathjax_only_with_maths(APP, "book/intro", "page.html", context, doctree)
        assert _names(context) == ["_static/doctools.js", "let toggleHint"]


def test_a_page_with_maths_keeps_mathjax():
    for text in ("Inline :math:`x^2` maths.", ".. math::\n\n   e^{i\\pi} + 1 = 0\n"):
        doctree = _doctree(text)
        assert next(doctree.findall(lambda n: isinstance(n, (nodes.math, nodes.math_block))))
        context = _context()
        course_site._mathjax_only_with_maths(APP, "book/ch", "page.html", context, doctree)
        assert _names(context) == _names(_context())


# ------------------------------------------------------------------------------------------
# Font Awesome: only the icons in use
# ------------------------------------------------------------------------------------------

def test_icons_are_read_from_the_themes_bundle(icons):
    assert {style: len(pack) > 200 for style, pack in icons.items()} == {
        "fas": True, "far": True, "fab": True}
    assert icons["fas"]["sun"][:3] == (512, 512, "f185")
    assert icons["fab"]["github"][:3] == (496, 512, "f09b")
    assert icons["fas"]["search"] == icons["fas"]["magnifying-glass"]           # an alias
    assert re.fullmatch(r"M[-\d. a-zA-Z,]+", icons["fas"]["bars"][3])
    with pytest.raises(RuntimeError, match="could not read Font Awesome"):
        course_site.fontawesome_icons("var p={};")


def _theme_icon_names() -> set[str]:
    """Every icon the themes' templates, Python and JavaScript name (fa-NAME)."""
    found = set()
    for theme in (PYDATA, BOOK_THEME):
        for path in theme.rglob("*"):
            if path.suffix in {".html", ".py"} or path.name == "pydata-sphinx-theme.js":
                found |= set(re.findall(r"\bfa-([a-z0-9]+(?:-[a-z0-9]+)*)\b", path.read_text()))
    return found - FA_MODIFIERS


def test_every_icon_the_themes_name_is_drawn(icons):
    names = _theme_icon_names()
    assert {"bars", "list", "sun", "moon", "circle-half-stroke", "magnifying-glass", "rocket",
            "download", "expand", "arrow-up", "xmark", "chevron-down"} <= names
    style = {n: "fas" if n in icons["fas"] else "fab" for n in names}
    page = "".join(f'<i class="{style[n]} fa-{n}"></i><span class="x fa-{n} fa-lg {style[n]}">'
                   "</span>" for n in names)
    page += '<i class="fab fa-github"></i><i class="fab fa-gitlab"></i>'    # source buttons
    used = course_site.icons_in_html(page, icons)
    assert {name for _, name in used} == names | {"github", "gitlab"}
    css = course_site.fontawesome_css(icons, used, [])
    for style, name in used:
        assert re.search(rf"\.fa-{re.escape(name)}\{{--course-fa-icon:var\(--course-fa-{style}-",
                         css), name
    # the banner pydata-sphinx-theme's JavaScript adds is drawn without being in a page
    scripted = set(re.findall(r"fa-([a-z-]+)", (PYDATA_STATIC / "scripts" /
                                                "pydata-sphinx-theme.js").read_text()))
    assert {("fas", n) for n in scripted - FA_MODIFIERS} <= course_site.FA_SCRIPTED_ICONS


def test_only_the_icons_in_use_are_shipped(icons):
    used = course_site.icons_in_html('<i class="fab fa-github"></i> <span class="x fa-solid '
                                     'fa-sun fa-lg" data-mode="light"></span>', icons)
    assert used == {("fab", "github"), ("fas", "sun")}
    css = course_site.fontawesome_css(icons, used, [], header="/*! CC BY 4.0 */")
    assert css.startswith("/*! CC BY 4.0 */")
    assert set(re.findall(r"--course-fa-(fa[srb]-[\w-]+):", css)) == {"fab-github", "fas-sun"}
    assert len(css) < 15_000                        # the bundle: 1.5 MB
    # no element and no pseudo-element is laid out in Font Awesome's fonts any more
    assert "::before{content:none}" in css and "font-family:inherit" in css
    assert "Font Awesome 6" not in css


def test_glyphs_in_stylesheets_become_masks(icons):
    stylesheet = r"""
    :root { --pst-icon-lightbulb: "\f0eb"; --pst-icon-admonition-tip: var(--pst-icon-lightbulb) }
    /* a comment { with braces } */
    .admonition>.admonition-title:after { content: var(--pst-icon-admonition-default, "\f0f3");
      font: var(--fa-font-solid); width: 1rem; position: absolute }
    .admonition.tip>.admonition-title:after { content: var(--pst-icon-admonition-tip) }
    @media (min-width: 1200px) { .toc.hide .title:after { content: "\f107";
      font-family: Font Awesome\ 6 Free; font-weight: 900 } }
    a.github:before { content: "\f09b"; font: var(--fa-font-brands) }
    .search li a:before { content: "#" }
    @font-face { font-family: X; src: url(x.woff2) }
    .fa-sun:before { content: "\f185" }
    """
    css = course_site.fontawesome_css(icons, set(), [stylesheet])
    rules = dict(re.findall(r"^([^{}\n]+)\{(.*)\}$", css, re.MULTILINE))
    base = rules[".admonition>.admonition-title:after"]
    assert "--course-fa-icon:var(--course-fa-fas-bell)" in base and 'content:""' in base
    assert "height:1lh" in base and not re.search(r"(^|;)width:", base)   # the theme's width
    assert "var(--course-fa-fas-lightbulb)" in rules[".admonition.tip>.admonition-title:after"]
    assert "var(--course-fa-fab-github)" in rules["a.github:before"]
    assert re.search(r"^@media \(min-width: 1200px\)\{\.toc\.hide \.title:after\{[^\n]*"
                     r"var\(--course-fa-fas-angle-down\)", css, re.MULTILINE)
    assert ".search li a:before" not in css                      # "#" is a character, no icon
    assert ".fa-sun:before" not in css                           # Font Awesome's own rules


def _css_rules(path: Path):
    return [(sel.strip(), block) for _, sel, block in course_site._css_rules(path.read_text())]


def test_the_themes_rules_for_svg_and_i_icons_are_carried_over():
    """Font Awesome's script turned each <i> icon into an <svg>: the themes' rules for <svg>
    icons are repeated for the elements that now draw them, and their rules for <i> icons
    (which never applied) are undone. A theme upgrade with new such rules fails here."""
    svg_rules, i_rules = set(), set()
    for path in THEME_CSS:
        for selectors, _ in _css_rules(path):
            for selector in selectors.split(","):
                if re.search(r"(^|[\s>+~])svg\b", selector) and "sd-" not in selector \
                        and selector != "svg":                  # img,svg: vertical-align
                    svg_rules.add(selector)
                if re.search(r"(^|[\s>+~])i(?=$|[\s.:#\[>+~])", selector) \
                        and "ablog" not in selector and ":hover" not in selector \
                        and ":active" not in selector \
                        and not re.search(r":(before|after)", selector):   # content:none now
                    i_rules.add(selector)
    assert svg_rules == {s for s, _ in course_site.FA_SVG_RULES} - {".search-button-field>svg"}
    listed = {part for s, _ in course_site.FA_I_RULES for part in s.split(",")}
    assert i_rules <= listed, sorted(i_rules - listed)
    # the search field hides what is not an <svg> below 960 px: the icon stays
    assert any(":not(svg)" in s for path in THEME_CSS for s, _ in _css_rules(path))


# ------------------------------------------------------------------------------------------
# The publishing workflow caches MathJax
# ------------------------------------------------------------------------------------------

def test_the_publishing_workflow_caches_mathjax(tmp_path):
    steps = yaml.safe_load((ROOT / ".github" / "workflows" / "book.yml").read_text())[
        "jobs"]["build"]["steps"]
    names = [s.get("name") or s.get("uses") for s in steps]
    find = next(s for s in steps if s.get("id") == "mathjax")
    cache = next(s for s in steps if str(s.get("uses", "")).startswith("actions/cache@"))
    build = next(s for s in steps if "make book-html" in s.get("run", ""))
    assert names.index(find.get("name")) < names.index(cache["name"]) < names.index(
        build["name"])
    assert cache["with"] == {"path": "${{ steps.mathjax.outputs.path }}",
                             "key": "${{ steps.mathjax.outputs.key }}"}
    # the step's own commands, run here: the path the extension reads, the pinned version
    out = tmp_path / "github_output"
    done = subprocess.run(["bash", "-e", "-c", find["run"]], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "GITHUB_OUTPUT": str(out),
                                          "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    outputs = dict(line.split("=", 1) for line in out.read_text().splitlines())
    cached = (Path(tmp_path) / ".cache" / "gnn-recsys-course"
              / f"mathjax-{course_site.MATHJAX_VERSION}.tgz")
    assert outputs == {"path": str(cached), "key": f"mathjax-{course_site.MATHJAX_VERSION}-"
                                                   f"{course_site.MATHJAX_SHA256}"}
    # ... which is where the extension keeps the tarball (without COURSE_CACHE_DIR)
    assert 'path = cache / f"mathjax-{MATHJAX_VERSION}.tgz"' in (
        ROOT / "_ext" / "course_site.py").read_text()


# ------------------------------------------------------------------------------------------
# The built site, when there is one
# ------------------------------------------------------------------------------------------

SITE = Path(os.environ.get("COURSE_SITE_DIR") or ROOT / "_build" / "html")


def test_the_built_pages_carry_only_the_icons_in_use_and_mathjax_only_with_maths(icons):
    if not (SITE / "index.html").is_file():
        pytest.skip("no built site in _build/html (make book-html builds it)")
    static = SITE / "_static"
    rebuild = "; build the book again (make book-html)"
    bundle = static / course_site.FA_BUNDLE
    assert bundle.stat().st_size < 1000, f"{bundle} is Font Awesome's full bundle" + rebuild
    css = (static / course_site.FA_CSS).read_text()
    assert len(css) < 60_000 and "CC BY 4.0" in css
    pages = [p for p in SITE.rglob("*.html") if "_static" not in p.relative_to(SITE).parts
             and "<body" in p.read_text()]                       # not the index's redirect
    assert len(pages) > 5
    with_maths = 0
    for page in pages:
        html = page.read_text()
        name = page.relative_to(SITE)
        for style, icon in course_site.icons_in_html(html, icons):
            assert f".fa-{icon}{{--course-fa-icon" in css, f"{name}: fa-{icon} is not drawn"
        assert course_site.FA_CSS in html or page.name in {"genindex.html", "search.html"}, name
        maths = bool(re.search(r'class="[^"]*\bmath\b', html))
        loads = "mathjax/tex-mml-chtml.js" in html
        assert loads == maths, f"{name}: " + ("MathJax without maths" if loads
                                              else "maths without MathJax")
        with_maths += maths
    assert 0 < with_maths < len(pages)
