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
    assert sorted(f"book/{p.stem}" for p in NOTEBOOKS) == sorted(f for f in files if "intro" not in f)
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
