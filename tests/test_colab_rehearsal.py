"""scripts/colab_rehearsal.py's own logic (the full rehearsal is `make colab-rehearsal`)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def rehearsal():
    spec = importlib.util.spec_from_file_location("colab_rehearsal",
                                                  ROOT / "scripts" / "colab_rehearsal.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module                   # dataclasses look their module up
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def first_cell(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    return next(c for c in nb.cells if c.cell_type == "code").source


def test_each_chapters_first_cell_installs_the_local_clone(rehearsal, tmp_path):
    url = rehearsal.repository_url()
    chapters = rehearsal.chapter_notebooks()
    assert [p.name[:2] for p in chapters] == [f"0{i}" for i in range(1, len(chapters) + 1)]
    for path in chapters:
        cell = rehearsal.local_first_cell(first_cell(path), url, tmp_path / "clone")
        assert url not in cell and f'"{tmp_path / "clone"}"' in cell
        compile(cell, path.name, "exec")
    assert [p.name for p in rehearsal.chapter_notebooks(["03", "07"])] == [
        "03_link_prediction_sage.ipynb", "07_which_model.ipynb"]
    with pytest.raises(SystemExit, match="no chapter"):
        rehearsal.chapter_notebooks(["99"])


def test_a_cell_that_is_not_the_colab_cell_is_refused(rehearsal, tmp_path):
    url = rehearsal.repository_url()
    cell = first_cell(rehearsal.chapter_notebooks()[0])
    with pytest.raises(ValueError, match="exactly once"):
        rehearsal.local_first_cell(cell.replace(url, url + "-fork"), url, tmp_path)
    with pytest.raises(ValueError, match="exactly once"):
        rehearsal.local_first_cell(cell + f'\ncopy = "git+{url}"', url, tmp_path)
    with pytest.raises(ValueError, match="not the Colab setup cell"):
        rehearsal.local_first_cell(cell.replace('"google.colab"', '"colab"'), url, tmp_path)


def test_only_chapter_3s_own_message_counts_as_the_missing_wheel_path(rehearsal):
    from course_lib.pyg.sage import SAMPLER_MISSING

    no_sampler = RuntimeError(SAMPLER_MISSING.format(torch="2.99.0"))
    assert rehearsal.outcome_of(None, False) == ("passed", "")
    assert rehearsal.outcome_of(no_sampler, False)[0] == "no sampler"
    assert rehearsal.outcome_of(no_sampler, True)[0] == "failed"   # --pyg-wheels given
    crash = RuntimeError("Traceback ...\n\x1b[31mModuleNotFoundError\x1b[39m: "
                         "No module named 'faiss'\n")
    assert rehearsal.outcome_of(crash, False) == (
        "failed", "ModuleNotFoundError: No module named 'faiss'")


def test_the_summary_counts_failures_and_names_the_versions(rehearsal):
    results = [rehearsal.Result("01_graph_tasks", 61.2, 30.4, "passed"),
               rehearsal.Result("03_link_prediction_sage", 80, 12, "no sampler", "stopped"),
               rehearsal.Result("07_which_model", 5, None, "failed", "ImportError: faiss")]
    text = rehearsal.summary(results, {"torch": "2.14.1", "jax": "0.10.2"})
    lines = text.splitlines()
    assert lines[1].split() == ["01_graph_tasks", "passed", "30", "61"]
    assert "    ImportError: faiss" in lines
    assert "3 chapters in 2.4 min: 2 ran, 1 failed" in text
    assert lines[-1] == "versions: torch 2.14.1, jax 0.10.2"


def test_the_kernels_environment_has_nothing_of_the_clone(rehearsal, monkeypatch, tmp_path):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("COURSE_CACHE_DIR", "/somewhere/with/checkpoints")
    monkeypatch.setenv("PIP_FIND_LINKS", "/opt/wheels /work/shared/wheels")
    monkeypatch.setenv("COURSE_DATA_DIR", "/data")
    env = rehearsal.kernel_env(tmp_path / "venv", tmp_path)
    assert "PYTHONPATH" not in env and env["PIP_FIND_LINKS"] == "/opt/wheels"
    assert env["COURSE_CACHE_DIR"] == str(tmp_path / "cache")
    assert env["COURSE_DATA_DIR"] == "/data"                  # datasets pass through
    assert env["PATH"].startswith(str(tmp_path / "venv" / "bin") + ":")


def test_the_rehearsal_installs_what_colab_ships(rehearsal):
    from course_lib.colab import COLAB_SHIPS

    assert rehearsal.colab_ships() == COLAB_SHIPS
    assert set(rehearsal.NEWEST) <= set(COLAB_SHIPS)
