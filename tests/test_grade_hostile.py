"""The grader against notebooks that try to fool it or to reach the instructor's machine.

Each notebook is a chapter notebook with some exercise cells replaced by what a learner could
hand in; each test asserts the true verdicts, the flags an instructor should see and that the
grader ended cleanly, with nothing outside its sandbox touched."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from course_lib import grade
from course_lib.exercises import NOTEBOOKS, chapter_exercises

BOOK = Path(__file__).resolve().parents[1] / "book"

pytestmark = pytest.mark.kernel  # each notebook starts a grading sandbox (seconds)

ZEROS = "    return np.zeros((num_nodes,) + np.shape(messages)[1:])\n"


def _notebook(chapter: str, cells: dict[str, str], extra: list[str] = ()) -> dict:
    """The stored chapter notebook with the named exercise cells replaced by ``cells`` and
    ``extra`` code cells added at the top."""
    nb = json.loads((BOOK / f"{NOTEBOOKS[chapter]}.ipynb").read_text())
    found = grade.exercise_cells(nb)
    for name, source in cells.items():
        nb["cells"][found[name]]["source"] = source
    for source in reversed(extra):
        nb["cells"].insert(0, {"cell_type": "code", "metadata": {}, "outputs": [],
                               "execution_count": None, "source": source})
    return nb


def _grade(tmp_path: Path, nb: dict, *args: str) -> tuple[dict, str]:
    """Run the grader as an instructor would (a separate process); its notebook report and
    its printed output."""
    path = tmp_path / "handed-in.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    report = tmp_path / "report.json"
    # TMPDIR: the grader's working folders under tmp_path, so that _processes_in finds what
    # this grading left running (and nothing of another)
    env = {**os.environ, "COURSE_INSTRUCTOR_SECRET": "s3cr3t-instructor-token",
           "TMPDIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "course_lib.grade", str(path), "--report",
                           str(report), "--no-progress", *args], capture_output=True, text=True,
                          timeout=600, env=env, cwd=tmp_path)
    assert done.returncode in (0, 1), done.stderr[-2000:]
    assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    return json.loads(report.read_text())["notebooks"][0], done.stdout


def _processes_in(folder: Path) -> list[int]:
    """The processes whose working directory is in ``folder``."""
    found = []
    for pid in os.listdir("/proc"):
        try:
            if pid.isdigit() and os.readlink(f"/proc/{pid}/cwd").startswith(str(folder)):
                found.append(int(pid))
        except OSError:
            continue
    return found


def _verdicts(report: dict) -> dict[str, str]:
    return {e["exercise"]: e["status"] for e in report["exercises"]}


def _flags(report: dict, name: str) -> str:
    return " | ".join(next(e for e in report["exercises"] if e["exercise"] == name)["flags"])


def _message(report: dict, name: str) -> str:
    return next(e for e in report["exercises"] if e["exercise"] == name)["message"]


def test_patching_the_checker_or_libraries_does_not_change_a_verdict(tmp_path):
    patch_run = ("import course_lib.exercises as _ex\n"
                 "_ex.Exercise.run = lambda self, fn, seed=None: "
                 "_ex.Result('passed', 'ok', cases_run=99)\n")
    nb = _notebook("graph_tasks", {
        # the notebook: the checker replaced in the cell, then a wrong function
        "aggregate_sum": patch_run + "import numpy as np\n\n\n"
                         "def aggregate_sum(messages, receivers, num_nodes):\n" + ZEROS
                         + "\n\naggregate_sum = check('aggregate_sum', aggregate_sum)\n",
        # the checker's comparison replaced from inside the function
        "symmetric_norm": "def symmetric_norm(senders, receivers, num_nodes):\n"
                          "    import course_lib.exercises.engine as e\n"
                          "    e.Exercise.compare = lambda self, *a, **k: None\n"
                          "    e.compare = lambda *a, **k: None\n"
                          "    return np.ones(len(senders))\n\n\n"
                          "symmetric_norm = check('symmetric_norm', symmetric_norm)\n",
        # the reference solution, imported and called
        "mean_readout": "from course_lib.message_passing import mean_readout as ref\n\n\n"
                        "def mean_readout(node_features, graph_ids, num_graphs):\n"
                        "    return ref(node_features, graph_ids, num_graphs)\n\n\n"
                        "mean_readout = check('mean_readout', mean_readout)\n",
    }, extra=[patch_run + "print('✅ aggregate_sum: correct')\n"
              "open('grade-report.json', 'w').write('{}')\n"])
    report, out = _grade(tmp_path, nb)
    assert _verdicts(report) == {"aggregate_sum": "failed", "symmetric_norm": "failed",
                                 "mean_readout": "passed", "GraphConvPyG": "not attempted",
                                 "GraphConvFlax": "not attempted",
                                 "node_train_step": "not attempted"}
    assert report["summary"]["passed"] == 1
    assert "wrong on the case" in _message(report, "aggregate_sum")
    assert "runs other code" in _flags(report, "aggregate_sum")
    assert "replaced parts of the checker" in _message(report, "symmetric_norm")
    assert "Exercise.compare" in _flags(report, "symmetric_norm")
    assert "reference solution course_lib.message_passing.mean_readout" in _flags(
        report, "mean_readout")
    assert any("touches the checker" in f for f in report["flags"])
    assert "🚩" in out and "reference solution" in out


def test_replacing_numpy_builtins_or_sys_modules_or_exiting_fails(tmp_path):
    nb = _notebook("movielens_graph", {
        "to_edge_index": "import numpy as np\n\n\n"
                         "def to_edge_index(*args, **kwargs):\n"
                         "    import sys\n"
                         "    np.array_equal = lambda *a, **k: True\n"
                         "    sys.modules['numpy'].allclose = lambda *a, **k: True\n"
                         "    import jax.numpy as jnp, types\n"
                         "    jnp.allclose = lambda *a, **k: True\n"
                         "    sys.modules['course_lib.exercises.compare'] = types.ModuleType('x')\n"
                         "    return np.zeros((2, 0), dtype=np.int64)\n\n\n"
                         "to_edge_index = check('to_edge_index', to_edge_index)\n",
        "node_degrees": "import builtins\n\n\n"
                        "def node_degrees(*args, **kwargs):\n"
                        "    builtins.isinstance = lambda *a: True\n"
                        "    builtins.len = lambda *a: 0\n"
                        "    return None\n\n\n"
                        "node_degrees = check('node_degrees', node_degrees)\n",
        "leak_free_split": "def leak_free_split(*args, **kwargs):\n"
                           "    import sys\n"
                           "    sys.exit(0)\n\n\n"
                           "leak_free_split = check('leak_free_split', leak_free_split)\n",
        "bipartite_to_directed": "def bipartite_to_directed(edge_index, num_users):\n"
                                 "    import os\n"
                                 "    os._exit(0)\n\n\n"
                                 "bipartite_to_directed = check('bipartite_to_directed', "
                                 "bipartite_to_directed)\n",
    }, extra=["import os\nos._exit(0)\n", "import sys\nsys.modules['numpy'] = None\n"])
    report, _ = _grade(tmp_path, nb)
    assert _verdicts(report) == {n: "failed" for n in chapter_exercises("movielens_graph")}
    flags = _flags(report, "to_edge_index")
    assert "numpy.array_equal" in flags and "jax.numpy.allclose" in flags
    assert "course_lib.exercises.compare" in flags
    assert "builtins" in _flags(report, "node_degrees")
    assert "end the grading process" in _message(report, "leak_free_split")
    assert "before the checker gave a verdict" in _message(report, "bipartite_to_directed")


def test_endless_loops_fork_bombs_and_memory_hogs_are_stopped(tmp_path):
    nb = _notebook("graph_tasks", {
        "aggregate_sum": "import numpy as np\n\n\n"
                         "def aggregate_sum(messages, receivers, num_nodes):\n"
                         "    return np.ones(2**31)  # 16 GB\n\n\n"
                         "aggregate_sum = check('aggregate_sum', aggregate_sum)\n",
        "symmetric_norm": "import os\n\n\n"
                          "def symmetric_norm(senders, receivers, num_nodes):\n"
                          "    while True:\n"
                          "        try:\n"
                          "            os.fork()\n"
                          "        except OSError:\n"
                          "            pass\n\n\n"
                          "symmetric_norm = check('symmetric_norm', symmetric_norm)\n",
        "mean_readout": "import signal\n\n\n"
                        "def mean_readout(node_features, graph_ids, num_graphs):\n"
                        "    signal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
                        "    while True:\n"
                        "        pass\n\n\n"
                        "mean_readout = check('mean_readout', mean_readout)\n",
    })
    report, _ = _grade(tmp_path, nb, "--timeout", "15")
    verdicts = _verdicts(report)
    assert [verdicts[n] for n in ("aggregate_sum", "symmetric_norm", "mean_readout")] == [
        "failed"] * 3
    assert "MemoryError" in _message(report, "aggregate_sum")
    assert "more than 64 processes" in _message(report, "symmetric_norm")
    assert "did not finish" in _message(report, "mean_readout")
    assert report["seconds"] < 120
    # nothing the fork bomb started outlives the grader (SIGKILL is delivered at once, but
    # the processes take a moment to go)
    for _ in range(50):
        if not _processes_in(tmp_path):
            break
        time.sleep(0.2)
    assert _processes_in(tmp_path) == []


def test_the_learners_code_cannot_read_write_or_reach_the_instructors_machine(tmp_path):
    secret = tmp_path / "instructor-secret.txt"
    secret.write_text("s3cr3t-instructor-file")
    outside = tmp_path / "written-by-the-learner.txt"
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    port = server.getsockname()[1]
    connections = []

    def accept():
        for _ in range(150):
            try:
                connections.append(server.accept())
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    probe = (f"def to_edge_index(*args, **kwargs):\n"
             f"    import os, socket\n"
             f"    found = []\n"
             f"    found.append(os.environ.get('COURSE_INSTRUCTOR_SECRET', '-'))\n"
             f"    found.append(os.environ.get('HOME'))\n"
             f"    for attempt in (lambda: open({str(secret)!r}).read(),\n"
             f"                    lambda: open({str(outside)!r}, 'w').write('x'),\n"
             f"                    lambda: socket.create_connection(('127.0.0.1', {port}), 2)):\n"
             f"        try:\n"
             f"            found.append(str(attempt()))\n"
             f"        except Exception as e:\n"
             f"            found.append(type(e).__name__)\n"
             f"    os.write(1, b'PASSED all cases\\n')\n"
             f"    raise ValueError(' / '.join(found))\n\n\n"
             f"to_edge_index = check('to_edge_index', to_edge_index)\n")
    fake_verdict = ("def node_degrees(*args, **kwargs):\n"
                    "    import json, os\n"
                    "    line = json.dumps({'status': 'passed', 'message': 'ok'}) + '\\n'\n"
                    "    for fd in range(3, 64):\n"
                    "        try:\n"
                    "            os.write(fd, line.encode())\n"
                    "        except OSError:\n"
                    "            pass\n"
                    "    return None\n\n\n"
                    "node_degrees = check('node_degrees', node_degrees)\n")
    nb = _notebook("movielens_graph", {"to_edge_index": probe, "node_degrees": fake_verdict})
    report, out = _grade(tmp_path, nb)
    server.close()
    thread.join()
    message = _message(report, "to_edge_index")
    assert _verdicts(report)["to_edge_index"] == "failed" and "ValueError" in message
    assert "s3cr3t" not in json.dumps(report) and "s3cr3t" not in out
    assert not outside.exists()
    assert connections == []
    home = message.split("ValueError: ")[1].split(" / ")[1]
    assert home != os.environ.get("HOME") and "course-grade-" in home
    assert "PASSED all cases" not in out
    assert _verdicts(report)["node_degrees"] == "failed"
    assert "os" in _flags(report, "node_degrees")


def test_reaching_the_checker_through_the_interpreter_fails_and_is_flagged(tmp_path):
    """Wrong functions that find the checker's objects (through a traceback's frames, or
    through ``object.__subclasses__`` and a method's ``__globals__``, names spelt in pieces) and
    switch off its comparison, from a decorator in another cell, or in a way that would put
    the original back once used."""
    find = ("    ga = getattr\n"
            "    for c in ga(object, '__subcl' + 'asses__')():\n"
            "        if c.__name__ == 'Exer' + 'cise' and c.__module__.endswith('engine'):\n"
            "            g = ga(ga(c, 'run'), '__glo' + 'bals__')\n")
    nb = _notebook("graph_tasks", {
        "aggregate_sum": "@tidy\ndef aggregate_sum(messages, receivers, num_nodes):\n" + ZEROS
                         + "\n\naggregate_sum = check('aggregate_sum', aggregate_sum)\n",
        "symmetric_norm": "def symmetric_norm(senders, receivers, num_nodes):\n"
                          "    try:\n        1 / 0\n    except ZeroDivisionError as e:\n"
                          "        tb = e.__traceback__\n"
                          "    caller = getattr(getattr(tb, 'tb_' + 'frame'), 'f_' + 'back')\n"
                          "    return caller.f_locals['expected'].copy()\n\n\n"
                          "symmetric_norm = check('symmetric_norm', symmetric_norm)\n",
        "mean_readout": "def mean_readout(node_features, graph_ids, num_graphs):\n" + find
                        + "    real = g['compare']\n\n"
                        "    def fake(*a, **k):\n        g['compare'] = real\n\n"
                        "    g['compare'] = fake\n"
                        "    return node_features[:num_graphs] * 0.0\n\n\n"
                        "mean_readout = check('mean_readout', mean_readout)\n",
    }, extra=["import numpy as np\n\n\ndef tidy(fn):\n" + find
              + "            object.__setattr__(g['REGIS' + 'TRY'][fn.__name__], 'comp' + 'are',"
                " lambda *a, **k: None)\n    return fn\n"])
    report, _ = _grade(tmp_path, nb)
    verdicts = _verdicts(report)
    assert [verdicts[n] for n in ("aggregate_sum", "symmetric_norm", "mean_readout")] == [
        "failed"] * 3
    assert "exercise aggregate_sum.compare (added)" in _message(report, "aggregate_sum")
    assert "reach into the grader" in _message(report, "symmetric_norm")
    assert "engine.compare" in _message(report, "mean_readout")
    for name in ("aggregate_sum", "symmetric_norm", "mean_readout"):
        assert "computed name" in _flags(report, name)


def test_a_stub_left_as_it_is_is_not_attempted_whatever_the_other_cells_do(tmp_path):
    nb = _notebook("graph_tasks", {}, extra=[
        "import course_lib.exercises as _ex\n"
        "_ex.Exercise.run = lambda self, fn, seed=None: _ex.Result('passed', 'ok')\n"
        "def aggregate_sum(messages, receivers, num_nodes):\n    return messages\n"])
    report = grade.grade_notebook(_write(tmp_path, nb))
    assert set(_verdicts(report).values()) == {"not attempted"}
    assert report["flags"]


def _write(tmp_path: Path, nb: dict) -> Path:
    path = tmp_path / "stub.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path


def test_help_shows_the_sandbox():
    done = subprocess.run([sys.executable, "-m", "course_lib.grade", "--help"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    for words in ("temporary folder", "$HOME", "GB of memory", "--jobs", "Landlock",
                  "network", "macOS"):
        assert words in done.stdout, words
