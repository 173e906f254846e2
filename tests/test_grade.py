"""The grader (``python -m course_lib.grade``) on every chapter notebook: as stored (nothing
attempted), with the reference solutions pasted in (all pass) and with registered wrong answers
pasted in (all fail); and on notebooks that are broken in the ways a learner's file can be."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from course_lib import grade
from course_lib.exercises import NOTEBOOKS, all_exercises, chapter_exercises

BOOK = Path(__file__).resolve().parents[1] / "book"

pytestmark = pytest.mark.kernel  # each grading starts a sandbox (seconds each)
def _write(tmp_path: Path, nb: dict, stem: str) -> Path:
    path = tmp_path / f"{stem}.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path


def _statuses(report: dict) -> dict[str, str]:
    return {e["exercise"]: e["status"] for e in report["exercises"]}


@pytest.mark.parametrize("chapter", list(NOTEBOOKS))
def test_grader_on_each_chapter_notebook(chapter, tmp_path):
    stem = NOTEBOOKS[chapter]
    names = chapter_exercises(chapter)
    exercises = all_exercises()
    stored = json.loads((BOOK / f"{stem}.ipynb").read_text())
    assert sorted(grade.exercise_cells(stored)) == sorted(names)

    # as shipped: nothing attempted (decided from the source, nothing runs)
    report = grade.grade_notebook(_write(tmp_path, stored, f"{stem}-stored"))
    assert report["status"] == "graded" and report["chapter"] == chapter
    assert _statuses(report) == {n: "not attempted" for n in names}, report
    assert report["flags"] == [] and not any(e["flags"] for e in report["exercises"])

    # every reference solution pasted in, as a learner who copied them would have it
    solved = json.loads(json.dumps(stored))
    for name in names:
        grade.paste_function(solved, name, exercises[name].reference)
    report = grade.grade_notebook(_write(tmp_path, solved, f"{stem}-solved"))
    assert _statuses(report) == {n: "passed" for n in names}, report
    assert not any(e["flags"] for e in report["exercises"]), report

    wrong = json.loads(json.dumps(stored))
    for i, name in enumerate(names):  # a different kind of mistake in each chapter
        mistakes = exercises[name].mistakes
        grade.paste_function(wrong, name, mistakes[(i + len(stem)) % len(mistakes)])
    report = grade.grade_notebook(_write(tmp_path, wrong, f"{stem}-wrong"))
    assert _statuses(report) == {n: "failed" for n in names}, report
    for entry in report["exercises"]:
        assert "wrong on the case" in entry["message"], entry


def test_grader_reports_broken_notebooks_without_a_stack_trace(tmp_path, capsys):
    stem = NOTEBOOKS["movielens_graph"]
    stored = json.loads((BOOK / f"{stem}.ipynb").read_text())
    cells = grade.exercise_cells(stored)

    broken = json.loads(json.dumps(stored))
    broken["cells"][cells["to_edge_index"]]["source"] = (
        "def to_edge_index(:\n    pass\n\nto_edge_index = check('to_edge_index', to_edge_index)\n")
    broken["cells"][cells["node_degrees"]]["source"] = (  # never run: no function to grade
        "while True:\n    pass\nnode_degrees = check('node_degrees', node_degrees)\n")
    broken["cells"][cells["leak_free_split"]]["source"] = (
        "def leak_free_split(*args, **kwargs):\n    while True:\n        pass\n\n\n"
        "leak_free_split = check('leak_free_split', leak_free_split)\n")
    del broken["cells"][cells["bipartite_to_directed"]]
    not_json = tmp_path / "truncated.ipynb"
    not_json.write_text(json.dumps(stored)[:500])
    no_cells = _write(tmp_path, {"cells": [], "metadata": {}}, "my_notebook")

    code = grade.main([str(_write(tmp_path, broken, f"{stem}-broken")), str(not_json),
                       str(no_cells), str(tmp_path / "missing.ipynb"),
                       "--timeout", "10", "--report", str(tmp_path / "report.json")])
    assert code == 1
    out = capsys.readouterr().out
    assert "Traceback" not in out
    report = json.loads((tmp_path / "report.json").read_text())
    graded, truncated, empty, missing = report["notebooks"]
    by_name = {e["exercise"]: e for e in graded["exercises"]}
    assert by_name["to_edge_index"]["status"] == "failed"
    assert "SyntaxError" in by_name["to_edge_index"]["message"]
    assert by_name["node_degrees"]["status"] == "failed"
    assert "defines no function" in by_name["node_degrees"]["message"]
    assert by_name["leak_free_split"]["status"] == "failed"
    assert "did not finish" in by_name["leak_free_split"]["message"]
    assert by_name["bipartite_to_directed"]["status"] == "missing"
    assert truncated["status"] == "error" and "not valid JSON" in truncated["error"]
    assert empty["status"] == "error" and "no exercise cells" in empty["error"]
    assert missing["status"] == "error" and "no such file" in missing["error"]


def test_a_class_graded_in_parallel_keeps_its_order(tmp_path):
    exercises = all_exercises()
    paths = []
    for i, (chapter, solved) in enumerate([("graph_tasks", "aggregate_sum"),
                                           ("movielens_graph", None),
                                           ("movielens_graph", "to_edge_index")]):
        nb = json.loads((BOOK / f"{NOTEBOOKS[chapter]}.ipynb").read_text())
        if solved:
            grade.paste_function(nb, solved, exercises[solved].reference)
        paths.append(str(_write(tmp_path, nb, f"learner{i}-{NOTEBOOKS[chapter]}")))
    code = grade.main([*paths, "--jobs", "2", "--seed", "7", "--report",
                       str(tmp_path / "class.json")])
    assert code == 1  # not everything passed
    report = json.loads((tmp_path / "class.json").read_text())
    assert [r["notebook"] for r in report["notebooks"]] == paths
    passed = [[e["exercise"] for e in r["exercises"] if e["status"] == "passed"]
              for r in report["notebooks"]]
    assert passed == [["aggregate_sum"], [], ["to_edge_index"]]
    assert all(e["seed"] == 7 for r in report["notebooks"] for e in r["exercises"]
               if e["status"] == "passed")
    assert report["sandbox"]["workdir"].endswith("(deleted after)")


def test_correct_answers_that_use_jax_control_flow_pass_in_the_sandbox(tmp_path):
    """A ``lax.scan`` version of ``layer_mean`` (JAX raises inside it when run op by op, and
    its traceback handling must not be mistaken for the learner inspecting frames)."""
    exercises = all_exercises()
    nb = json.loads((BOOK / f"{NOTEBOOKS['ngcf_lightgcn']}.ipynb").read_text())
    scan = next(v for v in exercises["layer_mean"].variants if "scan" in v.__name__)
    grade.paste_function(nb, "layer_mean", scan)
    report = grade.grade_notebook(_write(tmp_path, nb, "scan"))
    entry = next(e for e in report["exercises"] if e["exercise"] == "layer_mean")
    assert entry["status"] == "passed", entry
