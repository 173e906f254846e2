"""Sphinx extension for the course's book (``_config.yml``: ``sphinx.local_extensions``).

- **Maths without a CDN.** Sphinx loads MathJax 3 from a CDN by default, so offline or behind
  a firewall a reader sees raw ``\\(...\\)``. Here the site ships MathJax itself: the npm
  registry's ``mathjax`` package (version and sha256 pinned below) is downloaded once into the
  course cache, its single-file build ``es5/tex-mml-chtml.js`` and the fonts that build loads
  are copied into the site's ``_static/mathjax``, and each page with maths loads them from
  there (about 1.3 MB). Python does the download, so no Node.js is needed.
- **No script twice.** Jupyter Book registers sphinx-thebe's inline configuration twice, and
  the second ``const THEBE_JS_URL`` is a JavaScript error on every page; each page keeps the
  first copy of any script.
- **Only the icons in use.** The theme loads Font Awesome's whole SVG-and-JavaScript bundle
  (1.5 MB, every icon there is) on every page, and its CSS draws icons in admonition titles
  from the icon fonts (156 kB for the solid style alone). Here the bundle is replaced by a
  stylesheet, ``_static/fontawesome-icons.css``, written at the end of each build: it draws
  each icon the pages use (their ``fa-*`` classes, and the glyphs the site's stylesheets put in
  ``::before``/``::after``) as a CSS mask from Font Awesome's own path data, read from the
  bundle the theme ships (about 30 kB, no font fetched). The icons are Font Awesome's, under
  CC BY 4.0, with their attribution at the top of that file.
- **MathJax only where there are maths.** Sphinx loads MathJax on a page when the page or any
  page in its toctree has maths, so the introduction, whose toctree holds the chapters, would
  load it without a formula of its own; here only a page whose own content has one loads it.
- **Light or dark from the first visit.** The theme reads the reader's choice from local
  storage and, with none stored yet, logs an error; the default is the system's setting.

The course's stylesheet, ``_static/course.css``, is loaded by Jupyter Book itself.
"""

from __future__ import annotations

import hashlib
import io
import os
import posixpath
import re
import shutil
import tarfile
import urllib.request
from pathlib import Path
from urllib.parse import quote

from docutils import nodes

MATHJAX_VERSION = "3.2.2"
MATHJAX_URL = f"https://registry.npmjs.org/mathjax/-/mathjax-{MATHJAX_VERSION}.tgz"
MATHJAX_SHA256 = "1b9c0a1c44df864e915690558e72adb9cc5203360daefd385084ced3b6c64c09"
MATHJAX_FILES = ("package/es5/tex-mml-chtml.js", "package/es5/output/chtml/fonts/woff-v2/")


def mathjax_archive() -> Path:
    """The pinned MathJax package in the course cache (downloaded and checked on first use)."""
    cache = Path(os.environ.get("COURSE_CACHE_DIR")
                 or Path.home() / ".cache" / "gnn-recsys-course")
    path = cache / f"mathjax-{MATHJAX_VERSION}.tgz"
    if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == MATHJAX_SHA256:
        return path
    try:
        with urllib.request.urlopen(MATHJAX_URL, timeout=120) as response:
            data = response.read()
    except OSError as err:
        raise RuntimeError(f"could not download MathJax from {MATHJAX_URL} ({err}); the book "
                           f"ships it with the site. Put that file at {path} and build "
                           "again") from err
    if hashlib.sha256(data).hexdigest() != MATHJAX_SHA256:
        raise RuntimeError(f"{MATHJAX_URL} does not have the expected sha256 {MATHJAX_SHA256}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _config_inited(app, config) -> None:
    mathjax_archive()                                  # fail early, with the fix, if missing
    config.mathjax_path = "mathjax/tex-mml-chtml.js"
    config.html_context.setdefault("default_mode", "auto")


def _dedupe_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts, seen = [], set()
    for js in context.get("script_files", []):
        key = (getattr(js, "filename", js) or "",                 # None and "": inline
               (getattr(js, "attributes", None) or {}).get("body"))
        if key not in seen:
            seen.add(key)
            scripts.append(js)
    context["script_files"][:] = scripts


def _copy_mathjax(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    target = Path(app.outdir) / "_static" / "mathjax"
    with tarfile.open(fileobj=io.BytesIO(mathjax_archive().read_bytes())) as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name.startswith(MATHJAX_FILES):
                dest = target / member.name.removeprefix("package/es5/")
                dest.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as src, open(dest, "wb") as out:
                    shutil.copyfileobj(src, out)


def _mathjax_only_with_maths(app, pagename, templatename, context, doctree) -> None:
    """Drop MathJax from a page whose own content has no formula.

    Sphinx adds it where the page *or a page in its toctree* has maths; only the page's own
    doctree counts here (a title with maths in a toctree is in that doctree too).
    """
    if doctree is not None and next(doctree.findall(
            lambda n: isinstance(n, (nodes.math, nodes.math_block))), None) is not None:
        return
    mathjax = posixpath.join("_static", app.config.mathjax_path or "")
    def is_mathjax(js) -> bool:
        body = (getattr(js, "attributes", None) or {}).get("body") or ""
        return (getattr(js, "filename", js) == mathjax
                or body.lstrip().startswith(("window.MathJax", "MathJax.Hub.Config")))
    context["script_files"][:] = [js for js in context.get("script_files", [])
                                  if not is_mathjax(js)]


# ------------------------------------------------------------------------------------------
# Font Awesome: only the icons in use
# ------------------------------------------------------------------------------------------

FA_BUNDLE = "scripts/fontawesome.js"         # pydata-sphinx-theme's vendored Font Awesome
FA_CSS = "fontawesome-icons.css"             # what replaces it, in the site's _static
FA_STYLES = {"fas": ("fa-solid", "fas"), "far": ("fa-regular", "far"),
             "fab": ("fa-brands", "fab")}
# Icons the theme's JavaScript adds to a page after it has loaded, so in no HTML file:
# pydata-sphinx-theme's "switch to the stable version" banner closes with fa-xmark.
FA_SCRIPTED_ICONS = frozenset({("fas", "xmark")})
# How Font Awesome's script aligns its <svg> icons of each size (its own stylesheet).
FA_SVG_ALIGN = (("2xs", ".1em"), ("xs", "0"), ("sm", "-.0714em"), ("lg", "-.2em"),
                ("xl", "-.25em"), ("2xl", "-.3125em"))
FA_SIZES = (("2xs", ".625em"), ("xs", ".75em"), ("sm", ".875em"), ("lg", "1.25em"),
            ("xl", "1.5em"), ("2xl", "2em"))
# The themes' rules for <svg> icons (every rule of their stylesheets whose selector names
# svg, tests/test_site_weight.py checks), for the elements that now draw the icons.
FA_SVG_RULES = (
    (".bd-header-article .btn svg", "width:1.3rem"),                  # sphinx-book-theme
    ("#pst-search-dialog[open] form.bd-search svg", "font-size:var(--pst-font-size-icon)"),
    (".search-button-field>svg", "display:inline-block"),        # not hidden as :not(svg) is
)
# The themes' rules for <i> icons, which Font Awesome's script replaced by <svg> before they
# could apply: undone for the elements that now draw the icons (the selectors are the themes'
# own; tests/test_site_weight.py checks that every such rule is here).
FA_I_RULES = (
    (".bd-navbar-elements li.nav-item i",
     "font-size:inherit;padding-left:0;vertical-align:-.125em"),
    (".sidebar-secondary-item i", "padding-right:0"),
    ("ul.navbar-icon-links i.fa-brands,ul.navbar-icon-links i.fa-regular,"
     "ul.navbar-icon-links i.fa-solid", "font-size:inherit;vertical-align:-.125em"),
    (".prev-next-area i", "font-size:inherit"),
    (".search-button i", "font-size:inherit"),
    (".bd-sidebar-primary .navbar-icon-links .nav-link i,"
     ".bd-sidebar-primary .navbar-icon-links .nav-link span", "font-size:inherit"),
    (".bd-header-article .theme-switch-button i,.bd-header-article .theme-switch-button span",
     ""),                                                # padding 0, a colour: as for <svg>
)
_FA_PACK = re.compile(r'var ([\w$]+)=\{(?=(?:"[^"]+"|[\w$]+):\[\d+,\d+,\[)')
_FA_ICON = re.compile(r'(?:"([^"]+)"|([\w$]+)):\[(\d+),(\d+),\[([^\]]*)\],'  # name:[w,h,[aliases],
                      r'"([0-9a-f]+)","([^"]+)"\]')                        # "unicode","path"]
_FA_FONT = re.compile(r"--fa-font-(solid|regular|brands)|Font\s*Awesome\s*\d*\s*(Free|Brands)",
                      re.IGNORECASE)
_PRIVATE_USE = range(0xE000, 0xF900)           # where Font Awesome's glyphs are
_CLASS = re.compile(r'\bclass="([^"]*\bfa-[^"]*)"')
_VAR = re.compile(r"var\(\s*(--[\w-]+)\s*(?:,\s*([^()]*))?\)")
_FA_CLASS_RULE = re.compile(r"\.fa-[\w-]+::?(before|after)")


def fontawesome_icons(bundle: str) -> dict[str, dict[str, tuple[int, int, str, str]]]:
    """Font Awesome's icons in the theme's bundle: ``{style: {name or alias: (width, height,
    unicode, SVG path)}}``, styles ``fas``, ``far`` and ``fab``."""
    packs: dict[str, dict[str, tuple[int, int, str, str]]] = {}
    for start in _FA_PACK.finditer(bundle):
        var = re.escape(start.group(1))
        call = re.compile(r'\("(fas|far|fab)",' + var + r"\)").search(bundle, start.end())
        if call is None:
            continue
        pack = packs.setdefault(call.group(1), {})
        for m in _FA_ICON.finditer(bundle, start.end(), call.start()):
            name = m.group(1) or m.group(2)
            icon = (int(m.group(3)), int(m.group(4)), m.group(6), m.group(7))
            pack[name] = icon
            for alias in re.findall(r'"([^"]+)"', m.group(5)):
                pack.setdefault(alias, icon)
    if set(packs) != set(FA_STYLES) or not all(packs.values()):
        raise RuntimeError(f"could not read Font Awesome's icons from the theme's {FA_BUNDLE} "
                           f"(found styles {sorted(packs)}): has pydata-sphinx-theme changed "
                           "how it bundles them? See _ext/course_site.py")
    return packs


def icons_in_html(html: str, icons) -> set[tuple[str, str]]:
    """The ``(style, name)`` of each Font Awesome icon an element of ``html`` asks for."""
    used = set()
    for m in _CLASS.finditer(html):
        classes = m.group(1).split()
        style = next((s for s in ("fab", "far") if set(FA_STYLES[s]) & set(classes)), "fas")
        used |= {(style, c[3:]) for c in classes if c.startswith("fa-") and c[3:] in icons[style]}
    return used


def _css_rules(css: str):
    """``(at-rules around it, selector, declarations)`` for each style rule of ``css``."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)
    stack, start, i, quote_char = [], 0, 0, None
    while i < len(css):
        ch = css[i]
        if quote_char:
            quote_char = None if ch == quote_char else quote_char
            i += ch == "\\"
        elif ch in "\"'":
            quote_char = ch
        elif ch == "{":
            prelude = css[start:i].strip()
            if prelude.startswith("@"):
                stack.append(prelude)
            else:
                end = css.find("}", i)
                end = len(css) if end < 0 else end
                if not any(a.startswith(("@font-face", "@keyframes", "@-webkit-keyframes"))
                           for a in stack):
                    yield tuple(stack), prelude, css[i + 1:end]
                i = end
            start = i + 1
        elif ch == "}":
            if stack:
                stack.pop()
            start = i + 1
        i += 1


def _declarations(block: str) -> dict[str, str]:
    out = {}
    for decl in block.split(";"):
        prop, sep, value = decl.partition(":")
        if sep and re.fullmatch(r"\s*-?-?[\w-]+\s*", prop):
            out[prop.strip().lower()] = value.strip()
    return out


def _glyph(value: str, variables: dict[str, str], depth: int = 0) -> str | None:
    """The single character a ``content`` value gives, through ``var()``, or None."""
    m = _VAR.fullmatch(value.strip())
    if m:
        if depth > 10:
            return None
        if m.group(1) in variables:
            return _glyph(variables[m.group(1)], variables, depth + 1)
        return _glyph(m.group(2), variables, depth + 1) if m.group(2) else None
    s = re.fullmatch(r"\s*(\"|')(.*)\1\s*", value, re.DOTALL)
    if not s:
        return None
    text = re.sub(r"\\([0-9a-fA-F]{1,6}) ?", lambda e: chr(int(e.group(1), 16)), s.group(2))
    text = re.sub(r"\\(.)", r"\1", text)
    return text if len(text) == 1 else None


def _mask(icons, style: str, name: str, masks: dict[str, str]) -> str:
    """The declarations that give a pseudo-element the icon; its SVG goes in ``masks``."""
    width, height, _, path = icons[style][name]
    svg = (f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width} {height}'>"
           f"<path d='{path}'/></svg>")
    prop = f"--course-fa-{style}-{name}"
    data = quote(svg, safe=" /=:,.-'")
    masks[prop] = f'url("data:image/svg+xml,{data}")'
    return f"--course-fa-icon:var({prop});--course-fa-width:{width / height:.4g}em"


_DRAW = ("background-color:currentColor;"
         "-webkit-mask:var(--course-fa-icon) left center/auto 1em no-repeat;"
         "mask:var(--course-fa-icon) left center/auto 1em no-repeat")


def fontawesome_css(icons, used: set[tuple[str, str]], stylesheets: list[str],
                    header: str = "") -> str:
    """A stylesheet that draws the ``used`` icons of elements' classes, and every Font Awesome
    glyph the ``stylesheets`` put in a ``::before``/``::after``, as CSS masks (no font)."""
    by_unicode: dict[str, dict[str, str]] = {}
    for style, pack in icons.items():
        for name, icon in pack.items():
            by_unicode.setdefault(style, {}).setdefault(icon[2], name)
    masks: dict[str, str] = {}
    # An element with an icon's classes is drawn as Font Awesome's own script drew it: a box
    # 1 em high, as wide as the icon, the icon fitted in it (so the theme's rules for its
    # <svg> icons are repeated for these elements). No text in Font Awesome's fonts: the
    # browser would fetch them.
    icon = ":is(" + ",".join("." + c for names in FA_STYLES.values() for c in names) + ")"
    draw = "var(--course-fa-icon) center/contain no-repeat content-box"
    lines = [f"{icon}{{font-family:inherit;height:1em;width:var(--course-fa-width,1em);"
             "flex-shrink:0;vertical-align:-.125em;background-color:currentColor;"
             f"-webkit-mask:{draw};mask:{draw}}}",
             f"{icon}::before{{content:none}}"]
    lines += [f"{icon}.fa-{size}{{vertical-align:{align}}}" for size, align in FA_SVG_ALIGN]
    lines += [f"{icon}.fa-fw{{width:1.25em}}"]
    lines += [f"{selector.replace('svg', icon)}{{{block}}}" for selector, block in FA_SVG_RULES]
    for selector, block in FA_I_RULES:
        if block:
            lines.append(",".join(f"{part.strip()}{icon}" for part in selector.split(","))
                         + f"{{{block}}}")
        if "font-size:inherit" in block:                 # but an icon's own size class
            lines += [",".join(f"{part.strip()}{icon}.fa-{size}" for part in selector.split(","))
                      + f"{{font-size:{factor}}}" for size, factor in FA_SIZES]
    for style, name in sorted(used):
        if name not in icons[style]:
            continue
        prefix = "" if style == "fas" else ":is(" + ",".join(
            "." + c for c in FA_STYLES[style]) + ")"
        lines.append(f"{prefix}.fa-{name}{{{_mask(icons, style, name, masks)}}}")

    rules = [rule for css in stylesheets for rule in _css_rules(css)]
    variables = {}
    for _, _, block in rules:
        variables.update((k, v) for k, v in _declarations(block).items() if k.startswith("--"))
    for at_rules, selector, block in rules:
        if not re.search(r":(before|after)\b", selector):
            continue
        if all(_FA_CLASS_RULE.fullmatch(s.strip()) for s in selector.split(",")):
            continue                                   # Font Awesome's own .fa-NAME rules
        decls = _declarations(block)
        font = _FA_FONT.search((decls.get("font", "") + " " + decls.get("font-family", ""))
                               .replace("\\", ""))
        glyph = _glyph(decls["content"], variables) if "content" in decls else None
        if glyph is not None and not (font or ord(glyph) in _PRIVATE_USE):
            glyph = None                               # a plain character, such as "#"
        out = []
        if font:
            out += ['content:""', "font-family:inherit", _DRAW, "height:1lh",
                    "vertical-align:calc(.375em - .5lh)"]
            if "display" not in decls:
                out.append("display:inline-block")
            if "width" not in decls:
                out.append("width:var(--course-fa-width,1em)")
        if glyph is not None:
            hint = (font.group(1) or font.group(2) or "").lower() if font else ""
            order = {"brands": "fab", "regular": "far"}.get(hint)
            styles = [order] if order else ["fas", "fab", "far"]
            code = f"{ord(glyph):x}"
            style = next((s for s in styles if code in by_unicode[s]), None)
            if style is not None:
                out = (out or ['content:""']) + [_mask(icons, style, by_unicode[style][code],
                                                       masks)]
        if out:
            rule = f"{selector}{{{';'.join(out)}}}"
            for at in reversed(at_rules):
                rule = f"{at}{{{rule}}}"
            lines.append(rule)
    root = ":root{" + ";".join(f"{k}:{v}" for k, v in sorted(masks.items())) + "}"
    return "\n".join([header, root] + lines) + "\n"


def _write_fontawesome(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    static = Path(app.outdir) / "_static"
    bundle_path = static / FA_BUNDLE
    bundle = bundle_path.read_text(encoding="utf-8")
    if len(bundle) < 100_000:                      # already replaced (an incremental build)
        from pydata_sphinx_theme import __file__ as theme_init
        bundle = (Path(theme_init).parent / "theme" / "pydata_sphinx_theme" / "static"
                  / FA_BUNDLE).read_text(encoding="utf-8")
    icons = fontawesome_icons(bundle)
    used = set(FA_SCRIPTED_ICONS)
    for page in Path(app.outdir).rglob("*.html"):
        if "_static" not in page.relative_to(app.outdir).parts:
            used |= icons_in_html(page.read_text(encoding="utf-8"), icons)
    stylesheets = [css.read_text(encoding="utf-8") for css in sorted(static.rglob("*.css"))
                   if css.name != FA_CSS and "mathjax" not in css.parts]
    version = re.search(r"Font Awesome Free ([\d.]+)", bundle)
    header = (f"/*! Font Awesome Free {version.group(1) if version else ''} icons by "
              "@fontawesome - https://fontawesome.com\n * License - "
              "https://fontawesome.com/license/free (Icons: CC BY 4.0)\n * Copyright Fonticons, "
              "Inc. Only the icons this site uses, drawn as CSS masks from their SVG paths. */")
    (static / FA_CSS).write_text(fontawesome_css(icons, used, stylesheets, header),
                                 encoding="utf-8")
    bundle_path.write_text("/* Font Awesome's icons are drawn by ../" + FA_CSS + " */\n",
                           encoding="utf-8")
    bundle_path.with_name(bundle_path.name + ".map").unlink(missing_ok=True)


def setup(app):
    app.connect("config-inited", _config_inited, priority=900)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    app.connect("html-page-context", _mathjax_only_with_maths, priority=900)
    app.connect("build-finished", _copy_mathjax)
    app.connect("build-finished", _write_fontawesome)
    app.add_css_file(FA_CSS, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
