"""Open every page of the built book in a real browser, as a learner would, and fail on what
looks broken.

Usage (``make site-check`` builds the book from the notebooks' stored outputs first)::

    python scripts/site_check.py [_build/html] [--out _build/site-check] [--widths 1400 400]

The site is served on 127.0.0.1 and opened in Debian's Chromium (headless, through its
``chromedriver``) at each width. Every request to another host is refused by the browser, so a
page that needs a CDN fails here as it would offline. For each page and width it fails on

- a JavaScript console error or a failed request (4xx/5xx, refused, or to another host);
- maths left unrendered (``\\(``, ``\\[`` or ``$$`` in the visible text outside code);
- page-level horizontal overflow (a wide table or code block must scroll in its own box);
- in the page's article, content wider than its box that is not inside a scroll box (overflow-x
  auto or scroll): clipped (overflow hidden) or sticking out; and a box that scrolls without
  showing it (no scroll shadow: ``_static/course.css`` gives every scroll box one);
- at desktop width (from 1200 px), a code block, a cell's code or output, or a reference
  solution (``pre``) with a line that does not fit its block: code and outputs fit the column;
- a formula (MathJax's ``mjx-container``) wider than the column it sits in, whether cut or left
  to scroll (a long equation is broken over lines instead), named by its TeX;
- an image without real alt text (none, empty, or a file name), or one that failed to load;
- a figure whose smallest label is under 9 px as displayed (from the figure's width as shown,
  its dpi and :data:`course_lib.plotting.MIN_FONT_PT`, the smallest font the course's
  figures use; ``tests/test_plotting.py`` holds the figures to that);
- widget output (the book shows text and pictures, not widget state);
- a reference-solution toggle without the site's code block, its copy button, or a label that
  says "click to show" when closed and "click to hide" when open;

the layout (overflow, lines, formulas) measured with every ``<details>`` open, as a reader may
open them (reference solutions, hidden cells). Reading the HTML files, it fails on an internal
link to a missing page or anchor, and on a table cell that holds only a missing value (``NaN``,
``nan``, ``None``, ``<NA>``, ``NaT``: a dash or a word should say what is missing). It saves a
screenshot of each page at each width (the whole page, at most 16,000 px tall, half scale) under
``--out`` and prints each page's weight (bytes the browser fetched with an empty cache), and
fails on a page that loads Font Awesome's full bundle or fetches its icon fonts (the site
ships only the icons in use, ``_ext/course_site.py``), or loads MathJax without any maths on it
(or has maths without MathJax).
Exit status 1 when anything failed, with one line per finding.
"""

from __future__ import annotations

import argparse
import base64
import functools
import html.parser
import http.server
import json
import re
import struct
import sys
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MIN_LABEL_PX = 9.0
DESKTOP_PX = 1200         # from this window width up, every code and output line fits its block
MISSING = {"NaN", "nan", "None", "<NA>", "NaT"}  # pandas' missing values, printed as they are
SKIP_PAGES = {"genindex.html", "search.html"}   # Sphinx's own; nothing of the course on them
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


# ------------------------------------------------------------------------------------------
# Links and anchors, from the HTML files
# ------------------------------------------------------------------------------------------

class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name"):
            if attrs.get(key):
                self.ids.add(attrs[key])
        for key in ("href", "src"):
            value = attrs.get(key)
            if value and not (tag == "link" and attrs.get("rel") in ("preload", "prefetch")):
                self.links.append(value)


def broken_links(site: Path) -> list[str]:
    """``page: link`` for each internal link whose file or anchor does not exist."""
    parsed: dict[Path, _Links] = {}

    def parse(path: Path) -> _Links:
        if path not in parsed:
            p = _Links()
            p.feed(path.read_text(encoding="utf-8", errors="replace"))
            parsed[path] = p
        return parsed[path]

    problems = []
    for page in sorted(site.rglob("*.html")):
        if "_static" in page.relative_to(site).parts:     # the themes' template fragments
            continue
        for link in parse(page).links:
            parts = urlsplit(link)
            if parts.scheme or link.startswith(("//", "mailto:", "javascript:", "data:")):
                continue
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            where = f"{page.relative_to(site)}: {link}"
            if not target.is_file():
                problems.append(f"{where} (no such file)")
            elif parts.fragment and target.suffix == ".html" and \
                    unquote(parts.fragment) not in parse(target).ids:
                problems.append(f"{where} (no anchor #{parts.fragment})")
    return problems


# ------------------------------------------------------------------------------------------
# Missing values in tables, from the HTML files
# ------------------------------------------------------------------------------------------

class _Tables(html.parser.HTMLParser):
    """Every table's rows, each a list of ``(tag, text)`` cells (a nested table is its own)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tables: list[list[list[tuple[str, str]]]] = []
        self._open: list[list[list[tuple[str, str]]]] = []   # tables being read, innermost last
        self._cell: list[list] = []           # [tag, text parts, table depth] per open cell

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._open.append([])
            self.tables.append(self._open[-1])
        elif tag == "tr" and self._open:
            self._open[-1].append([])
        elif tag in ("td", "th") and self._open:
            self._cell.append([tag, [], len(self._open)])

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell and self._cell[-1][2] == len(self._open):
            cell_tag, parts, _ = self._cell.pop()
            if not self._open[-1]:
                self._open[-1].append([])
            self._open[-1][-1].append((cell_tag, " ".join("".join(parts).split())))
        elif tag == "table" and self._open:
            self._cell = [c for c in self._cell if c[2] < len(self._open)]
            self._open.pop()

    def handle_data(self, data):
        if self._cell:
            self._cell[-1][1].append(data)


def missing_in_tables(page: Path, name: str) -> list[str]:
    """One line per table of ``page`` with a cell that is only ``NaN``, ``None``, ``<NA>``..."""
    parser = _Tables()
    parser.feed(page.read_text(encoding="utf-8", errors="replace"))
    problems = []
    for number, rows in enumerate(parser.tables, 1):
        header = next((r for r in rows if r and all(tag == "th" for tag, _ in r)), [])
        columns = [text for _, text in header]
        hits = []
        for row in rows:
            for i, (tag, text) in enumerate(row):
                if text in MISSING:
                    label = row[0][1] if row[0][0] == "th" and i > 0 else ""
                    column = repr(columns[i]) if i < len(columns) and columns[i] else i + 1
                    hits.append((text, label, column))
        if hits:
            text, label, column = hits[0]
            named = [c for c in columns if c]
            heading = ", ".join(named[:4]) + (", ..." if len(named) > 4 else "")
            where = f"row {label!r}, " if label else ""
            problems.append(f"{name}: table {number} ({heading or 'no header'}): "
                            f"{text!r} in {len(hits)} cell(s), first at {where}column {column}")
    return problems


# ------------------------------------------------------------------------------------------
# The server
# ------------------------------------------------------------------------------------------

class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(site: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(_Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


# ------------------------------------------------------------------------------------------
# The browser
# ------------------------------------------------------------------------------------------

def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for path in (CHROMIUM, CHROMEDRIVER):
        if not Path(path).exists():
            raise SystemExit(f"{path} is missing: apt-get install chromium chromium-driver "
                             "(.ci/run installs them when they are missing)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--hide-scrollbars", "--force-device-scale-factor=1",
                # every host but this machine's loopback fails, as it would offline
                "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
    return driver


MATHS_DONE = """
const maths = document.querySelectorAll('.math, span.math, div.math');
if (maths.length === 0) return true;
const mj = window.MathJax;
if (!mj) return false;
if (mj.Hub) return Boolean(mj.isReady) && mj.Hub.queue.pending === 0 && !mj.Hub.queue.running;
return Boolean(mj.startup && mj.startup.document && mj.typesetPromise);
"""

INSPECT = r"""
const desktop = arguments[0];
const out = {};
const doc = document.documentElement;
// Everything a reader can open is measured open: reference solutions, hidden cells.
const shut = Array.from(document.querySelectorAll('details:not([open])'));
shut.forEach(d => { d.open = true; });
const scope = document.querySelector('article.bd-article') || document.querySelector('main') ||
  document.body;
const scrolls = el => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX);
const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
  (el.className && typeof el.className === 'string' ?
   el.className.trim().split(/\s+/).filter(Boolean).slice(0, 3).map(c => '.' + c).join('') : '');
const inScrollBox = el => {
  for (let a = el.parentElement; a && a !== doc; a = a.parentElement) if (scrolls(a)) return true;
  return false;
};
const px = x => Math.round(x);
const innerWidth = el => {
  const s = getComputedStyle(el);
  return el.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight);
};
out.scrollWidth = doc.scrollWidth; out.clientWidth = doc.clientWidth;
// what sticks out of the window, and has no scrolling box around it
const wide = [];
if (doc.scrollWidth > doc.clientWidth + 1) {
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.right <= doc.clientWidth + 1) continue;
    const own = getComputedStyle(el);
    if (own.visibility === 'hidden' || own.position === 'fixed') continue;   // off-canvas menus
    let a = el.parentElement, boxed = false;
    while (a && a !== document.body) {
      const s = getComputedStyle(a);
      if (['auto', 'scroll', 'hidden', 'clip'].includes(s.overflowX) || s.position === 'fixed') {
        boxed = true; break;
      }
      a = a.parentElement;
    }
    if (boxed) continue;
    wide.push(name(el) + ' (right edge ' + px(r.right) + ' px)');
    if (wide.length >= 4) break;
  }
}
out.wide = wide;
// (a) content wider than its box, in the page's article: clipped (overflow hidden) or sticking
// out with no scroll box around it. Formulas are checked below; a box that scrolls is fine.
const over = [], unmarked = [];
for (const el of scope.querySelectorAll('*')) {
  if (el.closest('mjx-container') || el.matches('.math')) continue;
  const cw = el.clientWidth;
  if (cw <= 2 || el.scrollWidth <= cw + 1) continue;
  const s = getComputedStyle(el);
  if (s.overflowX === 'auto' || s.overflowX === 'scroll') {
    if (!s.backgroundImage.includes('gradient'))       // course.css: its scroll shadows
      unmarked.push({box: name(el), content: el.scrollWidth, width: cw});
    continue;
  }
  const clipped = s.overflowX !== 'visible';
  if (clipped && (s.clip !== 'auto' || s.clipPath !== 'none' || s.position === 'absolute'))
    continue;                                    // visually hidden text for screen readers
  if (!clipped && inScrollBox(el)) continue;
  over.push({el, clipped});
}
out.overflow = over.filter(o => !over.some(p => p !== o && o.el.contains(p.el))).map(o => {
  const box = o.el.getBoundingClientRect(), right = box.left + o.el.clientLeft + o.el.clientWidth;
  // the first element (in document order: the outermost) that reaches past the box
  let culprit = null;
  for (const c of o.el.querySelectorAll('*')) {
    const r = c.getBoundingClientRect();
    if (r.width > 0 && r.right > right + 1) { culprit = c; break; }
  }
  return {box: name(o.el), what: culprit ? name(culprit) : 'its text', clipped: o.clipped,
          content: o.el.scrollWidth, width: o.el.clientWidth};
}).slice(0, 8);
out.unmarked = unmarked.slice(0, 8);
// (b) at desktop width, code and outputs fit the column: no line that scrolls
out.longLines = [];
if (desktop) {
  for (const pre of scope.querySelectorAll('pre')) {
    if (pre.clientWidth === 0 || pre.scrollWidth <= pre.clientWidth + 1) continue;
    const lines = pre.textContent.replace(/\n$/, '').split('\n');
    const longest = lines.reduce((a, b) => b.length > a.length ? b : a, '');
    const s = getComputedStyle(pre);
    const text = pre.scrollWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight);
    const fits = Math.floor(innerWidth(pre) / (text / Math.max(longest.length, 1)));
    const solution = pre.closest('details.course-solution');
    const called = solution && solution.querySelector('summary code');
    out.longLines.push({
      kind: solution ? 'reference solution' + (called ? ' ' + called.textContent.trim() : '') :
            pre.closest('.cell_output') ? 'output' :
            pre.closest('.cell_input') ? 'code cell' : 'code block',
      longest: longest.length, fits: fits, over: lines.filter(l => l.length > fits).length,
      start: longest.trim().slice(0, 50)});
  }
}
// (c) formulas wider than the column they sit in (cut, or left to scroll in a box)
const tex = new Map();
try {
  for (const item of window.MathJax.startup.document.math) tex.set(item.typesetRoot, item.math);
} catch (e) {}
out.formulas = [];
for (const mjx of scope.querySelectorAll('mjx-container')) {
  const maths = mjx.querySelector('mjx-math') || mjx;
  const width = maths.getBoundingClientRect().width;
  let column = mjx.parentElement;
  while (column && (column.matches('.math, mjx-container') || column.clientWidth === 0))
    column = column.parentElement;
  if (!column || width === 0) continue;
  const room = innerWidth(column);
  if (width > room + 1) {
    const source = tex.get(mjx) || mjx.getAttribute('aria-label') || maths.textContent;
    out.formulas.push({width: px(width), room: px(room),
                       display: mjx.getAttribute('display') === 'true',
                       tex: source.replace(/\s+/g, ' ').trim().slice(0, 60)});
  }
}
shut.forEach(d => { d.open = false; });
// maths left as source text, outside code
const raw = [];
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT, {
  acceptNode(n) {
    const p = n.parentElement;
    if (!p || p.closest('pre, code, script, style, textarea, .highlight, .MathJax_Preview, ' +
                        'mjx-assistive-mml, .MJX_Assistive_MathML')) return NodeFilter.FILTER_REJECT;
    if (p.offsetParent === null && getComputedStyle(p).position !== 'fixed')
      return NodeFilter.FILTER_REJECT;
    return NodeFilter.FILTER_ACCEPT;
  }});
while (walker.nextNode()) {
  const t = walker.currentNode.nodeValue;
  const m = t.match(/\\\(|\\\[|\$\$/);
  if (m) { raw.push(t.trim().slice(0, 60)); if (raw.length >= 3) break; }
}
out.rawMaths = raw;
out.images = Array.from(document.images).map(img => ({
  src: img.getAttribute('src'), alt: img.getAttribute('alt'), complete: img.complete,
  naturalWidth: img.naturalWidth, width: img.getBoundingClientRect().width,
  visible: img.offsetParent !== null}));
out.widgets = document.querySelectorAll(
  '.jupyter-widgets, .widget-area, script[type*="jupyter.widget"]').length;
// reference-solution toggles: the site's code block, its copy button, a label that follows
out.solutions = Array.from(document.querySelectorAll('details.course-solution')).map(d => {
  const hint = d.querySelector('summary .course-solution-hint');
  const label = () => hint ? getComputedStyle(hint, '::before').content : '';
  const wasOpen = d.open;
  d.open = false; const closed = label();
  d.open = true; const open = label();
  d.open = wasOpen;
  return {code: Boolean(d.querySelector('div.highlight pre')),
          copy: Boolean(d.querySelector('button.copybtn')), closed: closed, open: open};
});
out.height = Math.max(document.body.scrollHeight, doc.scrollHeight);
return out;
"""


def png_dpi(path: Path) -> float | None:
    """The dpi a PNG records (matplotlib writes its figure's dpi in the pHYs chunk)."""
    data = path.read_bytes()
    i = data.find(b"pHYs")
    if i < 0:
        return None
    x, _, unit = struct.unpack(">IIB", data[i + 4:i + 13])
    return x * 0.0254 if unit == 1 else None


def alt_problem(alt: str | None, src: str) -> str | None:
    if alt is None or not alt.strip():
        return "no alt text"
    a = alt.strip()
    name = src.rsplit("/", 1)[-1]
    if a == src or a.endswith(name) or a.lower().endswith((".png", ".svg", ".jpg", ".jpeg")):
        return f"alt text is a file name ({a[:50]})"
    return None


def check_page(driver, base: str, site: Path, page: str, width: int, out: Path,
               min_font_pt: float) -> tuple[list[str], int]:
    from selenium.webdriver.support.ui import WebDriverWait

    driver.set_window_size(width, 1000)
    driver.get_log("browser"), driver.get_log("performance")          # drop earlier entries
    url = urljoin(base, page)
    driver.get(url)
    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script("return document.readyState") == "complete")
    try:
        WebDriverWait(driver, 30).until(lambda d: d.execute_script(MATHS_DONE))
    except Exception:
        pass                                        # reported below as unrendered maths
    time.sleep(0.5)
    found = []
    where = f"{page} @ {width} px"

    for entry in driver.get_log("browser"):
        if entry["level"] == "SEVERE":
            found.append(f"{where}: console error: {entry['message'][:200]}")
    weight, failed = 0, []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        params = msg.get("params", {})
        if msg["method"] == "Network.responseReceived":
            status, resp_url = params["response"]["status"], params["response"]["url"]
            if status >= 400:
                failed.append(f"{status} {resp_url}")
        elif msg["method"] == "Network.loadingFailed" and not params.get("canceled"):
            failed.append(f"{params.get('errorText')} (request {params.get('requestId')})")
        elif msg["method"] == "Network.requestWillBeSent":
            req_url = params["request"]["url"]
            if not req_url.startswith((base, "data:", "blob:", "about:")):
                failed.append(f"request to another host: {req_url[:120]}")
            if "/vendor/fontawesome/webfonts/" in req_url:
                found.append(f"{where}: fetches Font Awesome's icon font "
                             f"{req_url.rsplit('/', 1)[-1]}: an icon is drawn from the font, "
                             "not from _static/fontawesome-icons.css")
        elif msg["method"] == "Network.loadingFinished":
            weight += int(params.get("encodedDataLength", 0))
    found += [f"{where}: failed request: {f}" for f in failed]

    info = driver.execute_script(INSPECT, width >= DESKTOP_PX)
    if info["scrollWidth"] > info["clientWidth"] + 1:
        found.append(f"{where}: page is {info['scrollWidth']} px wide in a "
                     f"{info['clientWidth']} px window; sticking out: "
                     + ", ".join(info["wide"] or ["?"]))
    for o in info["overflow"]:
        how = "clipped (overflow hidden)" if o["clipped"] else "sticking out, not in a scroll box"
        found.append(f"{where}: {o['what']} is too wide for {o['box']}: {o['content']} px of "
                     f"content in {o['width']} px, {how}")
    for o in info["unmarked"]:
        found.append(f"{where}: {o['box']} scrolls ({o['content']} px of content in "
                     f"{o['width']} px) with no sign that it scrolls (no scroll shadow)")
    for c in info["longLines"]:
        found.append(f"{where}: {c['kind']} line does not fit the column: {c['over']} line(s) "
                     f"over the {c['fits']} characters it holds, the longest {c['longest']}: "
                     f"{c['start']!r}")
    for f in info["formulas"]:
        found.append(f"{where}: {'display' if f['display'] else 'inline'} formula cut: "
                     f"{f['width']} px wide in a {f['room']} px column: {f['tex']!r}")
    for text in info["rawMaths"]:
        found.append(f"{where}: maths not rendered: {text!r}")
    if info["widgets"]:
        found.append(f"{where}: {info['widgets']} widget outputs")
    for i, sol in enumerate(info["solutions"]):
        what = [w for w, ok in (("the site's code block", sol["code"]),
                                ("a copy button", sol["copy"]),
                                ("'click to show' when closed", "show" in sol["closed"]),
                                ("'click to hide' when open", "hide" in sol["open"])) if not ok]
        if what:
            found.append(f"{where}: reference solution {i + 1} lacks " + ", ".join(what))
    for img in info["images"]:
        src = img["src"] or ""
        problem = alt_problem(img["alt"], src)
        if problem:
            found.append(f"{where}: image {src.rsplit('/', 1)[-1][:40]}: {problem}")
        if img["visible"] and (not img["complete"] or img["naturalWidth"] == 0):
            found.append(f"{where}: image {src} did not load")
        if "_images/" in src and img["visible"] and img["naturalWidth"]:
            path = (site / page).parent / unquote(src)
            dpi = png_dpi(path) if path.suffix == ".png" else None
            if dpi:
                label_px = min_font_pt * dpi / 72 * img["width"] / img["naturalWidth"]
                if label_px < MIN_LABEL_PX:
                    found.append(f"{where}: figure {path.name[:12]}... shown "
                                 f"{img['width']:.0f} of {img['naturalWidth']} px wide: "
                                 f"smallest labels {label_px:.1f} px (< {MIN_LABEL_PX:g})")

    # The whole page (at most 16,000 px), laid out in a viewport that tall, at half scale.
    height = min(info["height"], 16000)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 0.5, "mobile": False})
    time.sleep(0.3)
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    name = page.replace("/", "_").removesuffix(".html")
    (out / f"{name}-{width}.png").write_bytes(base64.b64decode(shot["data"]))
    return found, weight


FONT_AWESOME_MAX_BYTES = 60_000   # the icons in use (_ext/course_site.py); the full bundle: 1.5 MB


def weight_problems(site: Path) -> list[str]:
    """Page weight, from the HTML files: no page loads a Font Awesome file over
    FONT_AWESOME_MAX_BYTES (the theme's full bundle), and only a page with maths loads MathJax."""
    found = []
    for path in sorted(site.rglob("*.html")):
        html = path.read_text(encoding="utf-8")
        if "_static" in path.relative_to(site).parts or "<body" not in html:
            continue                                   # MathJax's own files; the index redirect
        page = path.relative_to(site).as_posix()
        assets = re.findall(r'<(?:script|link)\b[^>]*\b(?:src|href)="([^"?#]+)', html)
        for src in assets:
            target = path.parent / unquote(src)
            if ("fontawesome" in target.name and target.is_file()
                    and target.stat().st_size > FONT_AWESOME_MAX_BYTES):
                found.append(f"{page}: loads {src} ({target.stat().st_size / 1e6:.1f} MB), "
                             "Font Awesome's full bundle, not only the icons in use")
        mathjax = any("mathjax" in src.lower() for src in assets)
        maths = re.search(r'class="[^"]*\bmath\b', html)
        if mathjax and not maths:
            found.append(f"{page}: loads MathJax without any maths on the page")
        elif maths and not mathjax:
            found.append(f"{page}: has maths but does not load MathJax")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", nargs="?", default=str(ROOT / "_build" / "html"))
    parser.add_argument("--out", default=str(ROOT / "_build" / "site-check"))
    parser.add_argument("--widths", type=int, nargs="+", default=[1400, 400])
    parser.add_argument("--pages", nargs="*", help="only these pages (paths under the site)")
    args = parser.parse_args()
    from course_lib.plotting import MIN_FONT_PT

    site, out = Path(args.site).resolve(), Path(args.out).resolve()
    if not (site / "index.html").is_file():
        raise SystemExit(f"no book at {site}: run `make book` (or `make site-check`) first")
    out.mkdir(parents=True, exist_ok=True)
    pages = args.pages or sorted(str(p.relative_to(site)) for p in site.rglob("*.html")
                                 if p.name not in SKIP_PAGES and "_static" not in p.parts
                                 and p.name != "index.html")
    findings = [f"broken link: {f}" for f in broken_links(site)]
    for page in pages:
        findings += missing_in_tables(site / page, page)
    findings += [f"page weight: {f}" for f in weight_problems(site)]
    for f in findings:
        print(f)
    server, base = serve(site)
    driver = browser()
    weights = {}
    try:
        for page in pages:
            for width in args.widths:
                found, weight = check_page(driver, base, site, page, width, out, MIN_FONT_PT)
                weights.setdefault(page, weight)
                for f in found:
                    print(f)
                findings += found
    finally:
        driver.quit()
        server.shutdown()
    print(f"\n{'page':42s} {'weight (kB)':>11s}")
    for page, weight in weights.items():
        print(f"{page:42s} {weight / 1000:11.0f}")
    print(f"\n{len(pages)} pages at {', '.join(map(str, args.widths))} px; screenshots in {out}")
    if findings:
        print(f"site check FAILED: {len(findings)} findings")
        return 1
    print("site check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
