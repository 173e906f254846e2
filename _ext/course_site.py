"""Sphinx extension for the course's book (``_config.yml``: ``sphinx.local_extensions``).

- **Maths without a CDN.** Sphinx loads MathJax 3 from a CDN by default, so offline or behind
  a firewall a reader sees raw ``\\(...\\)``. Here the site ships MathJax itself: the npm
  registry's ``mathjax`` package (version and sha256 pinned below) is downloaded once into the
  course cache, its single-file build ``es5/tex-mml-chtml.js`` and the fonts that build loads
  are copied into the site's ``_static/mathjax``, and every page loads them from there (about
  1.3 MB). Python does the download, so no Node.js is needed.
- **No script twice.** Jupyter Book registers sphinx-thebe's inline configuration twice, and
  the second ``const THEBE_JS_URL`` is a JavaScript error on every page; each page keeps the
  first copy of any script.
- **Light or dark from the first visit.** The theme reads the reader's choice from local
  storage and, with none stored yet, logs an error; the default is the system's setting.

The course's stylesheet, ``_static/course.css``, is loaded by Jupyter Book itself.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tarfile
import urllib.request
from pathlib import Path

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


def setup(app):
    app.connect("config-inited", _config_inited, priority=900)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    app.connect("build-finished", _copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
