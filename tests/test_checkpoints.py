"""Saved models: a round trip gives identical scores in both frameworks; a checkpoint that is
corrupt, made for another model, or keyed on other settings, data or code is never loaded."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest
import torch

from course_lib import checkpoints
from course_lib.cf import interaction_edges
from course_lib.checkpoints import Checkpoint, CheckpointError
from course_lib.graph import BipartiteGraph, split_edges
from course_lib.jax import bpr as jbpr
from course_lib.jax.data import to_normalized_adjacency as jax_adjacency
from course_lib.pyg import bpr as pbpr
from course_lib.pyg.data import to_normalized_adjacency as pyg_adjacency
from course_lib.training import fit_loop

SMALL = {"embedding_dim": 8, "num_layers": 2, "batch_size": 32, "max_epochs": 3, "patience": 3}


@pytest.fixture
def small_graph():
    rng = np.random.default_rng(1)
    codes = np.unique(rng.integers(0, 30, 400) * 50 + (50 * rng.random(400) ** 2).astype(int))
    edge_index = np.stack([codes // 50, codes % 50])
    e = edge_index.shape[1]
    graph = BipartiteGraph(num_users=30, num_movies=50, edge_index=edge_index,
                           rating=np.ones(e, np.float32), timestamp=np.arange(e, dtype=np.int64),
                           movie_x=np.zeros((50, 1), np.float32))
    return graph, split_edges(graph, seed=0)


def _scores(framework, state, graph, split):
    bpr, adjacency = (pbpr, pyg_adjacency) if framework == "pyg" else (jbpr, jax_adjacency)
    return bpr.score_all(state, graph, adjacency(graph, interaction_edges(split, "val")))


@pytest.mark.parametrize("framework", ["pyg", "jax"])
def test_second_fit_loads_the_checkpoint_and_scores_identically(framework, small_graph, capsys,
                                                                 checkpoint_cache):
    graph, split = small_graph
    bpr = pbpr if framework == "pyg" else jbpr
    first, h1, _ = bpr.fit(graph, split, model="lightgcn", **SMALL)
    assert "saved as" in capsys.readouterr().out
    saved = list(checkpoint_cache.iterdir())
    assert len(saved) == 1 and saved[0].name.startswith(f"{framework}-bpr-lightgcn-")
    second, h2, _ = bpr.fit(graph, split, model="lightgcn", **SMALL)
    assert "loaded the saved model" in capsys.readouterr().out
    assert h2 == json.loads(json.dumps(h1))
    np.testing.assert_array_equal(_scores(framework, first, graph, split),
                                  _scores(framework, second, graph, split))
    # another setting, another checkpoint: trained, not loaded
    bpr.fit(graph, split, model="lightgcn", **{**SMALL, "lr": 0.02})
    assert "saved as" in capsys.readouterr().out
    assert len(list(checkpoint_cache.iterdir())) == 2


@pytest.mark.parametrize("framework", ["pyg", "jax"])
def test_a_tampered_checkpoint_is_reported_and_the_model_trained_again(framework, small_graph,
                                                                       capsys, checkpoint_cache):
    graph, split = small_graph
    bpr = pbpr if framework == "pyg" else jbpr
    first, _, _ = bpr.fit(graph, split, model="mf", **SMALL)
    folder = next(checkpoint_cache.iterdir())
    meta = json.loads((folder / "meta.json").read_text())
    weights = folder / meta["file"]
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    capsys.readouterr()
    again, _, _ = bpr.fit(graph, split, model="mf", **SMALL)
    out = capsys.readouterr().out
    assert "cannot be used" in out and "corrupt" in out and "saved as" in out
    np.testing.assert_array_equal(_scores(framework, first, graph, split),
                                  _scores(framework, again, graph, split))


def test_weights_of_another_shape_are_rejected_before_loading(tmp_path):
    ckpt = Checkpoint("pyg-test", "0" * 64, root=tmp_path)
    ckpt.save({"w": torch.zeros(3, 4), "b": torch.zeros(4)}, {"loss": [1.0]})
    with pytest.raises(CheckpointError, match=r"w: \(3, 4\) instead of \(4, 4\)"):
        ckpt.load({"w": torch.zeros(4, 4), "b": torch.zeros(4)})
    with pytest.raises(CheckpointError, match="missing"):
        ckpt.load({"w": torch.zeros(3, 4), "b": torch.zeros(4), "c": torch.zeros(1)})
    with pytest.raises(CheckpointError, match="PyTorch weights"):
        ckpt.load({"params": {"w": np.zeros((3, 4))}})
    flax = Checkpoint("jax-test", "1" * 64, root=tmp_path)
    params = {"params": {"dense": {"kernel": np.ones((2, 3), np.float32)}}}
    flax.save(params, {"loss": [1.0]})
    loaded, history = flax.load(jax.tree.map(np.zeros_like, params))
    np.testing.assert_array_equal(loaded["params"]["dense"]["kernel"], np.ones((2, 3)))
    assert history == {"loss": [1.0]}
    with pytest.raises(CheckpointError, match="instead of"):
        flax.load({"params": {"dense": {"kernel": np.zeros((3, 3), np.float32)}}})
    # a checkpoint whose meta names another key (copied by hand) is not loaded
    other = Checkpoint("jax-test", "1" * 16 + "2" * 48, root=tmp_path)
    with pytest.raises(CheckpointError, match="other code, settings or data"):
        other.load(params)
    # unreadable metadata
    (flax.path / "meta.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="cannot be read"):
        flax.load(params)


def test_a_name_with_a_space_or_a_slash_is_refused(tmp_path):
    for name in ("pyg-hetero-sage-side information", "a/b", "", "-x", "tab\tname"):
        with pytest.raises(ValueError, match="no spaces"):
            Checkpoint(name, "0" * 64, root=tmp_path)
    assert not list(tmp_path.iterdir())
    ckpt = Checkpoint("pyg-hetero-sage-side-information", "0" * 64, root=tmp_path)
    assert " " not in str(ckpt.path.relative_to(tmp_path))


def test_key_depends_on_settings_data_and_code(small_graph, monkeypatch):
    graph, split = small_graph
    base = Checkpoint.for_fit("m", {"lr": 0.01}, graph, split, module="course_lib.pyg.bpr")
    assert base == Checkpoint.for_fit("m", {"lr": 0.01}, graph, split, module="course_lib.pyg.bpr")
    assert base.key != Checkpoint.for_fit("m", {"lr": 0.02}, graph, split, module="course_lib.pyg.bpr").key
    other_split = split_edges(graph, seed=1)
    assert base.key != Checkpoint.for_fit("m", {"lr": 0.01}, graph, other_split,
                                        module="course_lib.pyg.bpr").key
    monkeypatch.setattr(checkpoints, "code_version", lambda module=None: "changed")
    assert base.key != Checkpoint.for_fit("m", {"lr": 0.01}, graph, split, module="course_lib.pyg.bpr").key


def test_switched_off_trains_every_time(monkeypatch, checkpoint_cache):
    monkeypatch.setenv("COURSE_CHECKPOINTS", "off")
    calls = []

    def train_epoch(state):
        calls.append(1)
        return state, 0.0

    ckpt = Checkpoint("off-test", "3" * 64)
    for _ in range(2):
        fit_loop({"w": torch.zeros(2)}, train_epoch, lambda s: 0.5, max_epochs=2,
                 snapshot=lambda s: dict(s), checkpoint=ckpt)
    assert len(calls) == 4 and not list(checkpoint_cache.iterdir())


FINGERPRINT_NAMES = """
import numpy as np
from course_lib.checkpoints import fingerprint
names = np.array(["".join(["Memento ", "(2000)"]), "Alien (1979)", None], dtype=object)
print(fingerprint({"names": names, "ids": np.arange(3)}))
"""


def test_a_key_is_the_same_in_every_process_for_data_holding_strings():
    """Chapter 5's knowledge graph carries node names (numpy object arrays, whose raw bytes are
    pointers): its checkpoints must be found again by the next run, in another process."""
    import subprocess
    import sys

    names = np.array(["Memento (2000)", "Alien (1979)", None], dtype=object)
    here = checkpoints.fingerprint({"names": names, "ids": np.arange(3)})
    copy = np.array(["".join(["Memento ", "(2000)"]), "Alien (1979)", None], dtype=object)
    assert checkpoints.fingerprint({"names": copy, "ids": np.arange(3)}) == here
    other = np.array(["Memento (2001)", "Alien (1979)", None], dtype=object)
    assert checkpoints.fingerprint({"names": other, "ids": np.arange(3)}) != here
    runs = {subprocess.run([sys.executable, "-c", FINGERPRINT_NAMES], capture_output=True,
                           text=True, check=True, env={**__import__("os").environ,
                                                        "PYTHONHASHSEED": str(seed)}
                           ).stdout.strip() for seed in (1, 2)}
    assert runs == {here}


def test_a_checkpoint_depends_on_its_module_and_everything_it_imports():
    """A model's key hashes the module whose fit trains it and every course_lib module that
    module imports, transitively: an exercise, a plot or another model's module can change
    without retraining it."""
    import ast

    files = {p.relative_to(checkpoints._ROOT).as_posix()
             for p in checkpoints.code_files("course_lib.jax.bpr")}
    assert {"jax/bpr.py", "jax/lightgcn.py", "jax/ngcf.py", "jax/nn.py", "jax/data.py",
            "training.py", "cf.py", "graph.py", "checkpoints.py", "__init__.py",
            "jax/__init__.py"} <= files
    assert not any(f.startswith(("exercises/", "pyg/")) for f in files)
    assert {"plotting.py", "project.py", "serving.py", "leaderboard.py"}.isdisjoint(files)
    for f in files:   # closed under imports: every course_lib module a file imports is there
        for node in ast.walk(ast.parse((checkpoints._ROOT / f).read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 2 and node.module:
                target = node.module.replace(".", "/")
                assert f"{target}.py" in files or f"{target}/__init__.py" in files, (f, target)
    everything = checkpoints.code_files(None)
    assert len(everything) > len(files) and checkpoints.code_version("course_lib.jax.bpr") != \
        checkpoints.code_version(None)


def test_a_function_handed_to_fit_is_part_of_the_key(tmp_path):
    """The course's own functions count by name (their code is in the key already); a function
    from elsewhere (a notebook) by its source; one whose source cannot be read never matches."""
    import importlib.util

    from course_lib.cf import draw_negatives
    from course_lib.checkpoints import fingerprint

    assert fingerprint(draw_negatives) == fingerprint(draw_negatives)

    def load(source):
        path = tmp_path / f"mine_{abs(hash(source))}.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.sampler

    one = load("def sampler(users, seen, n, rng):\n    return rng.integers(0, n, len(users))\n")
    same = load("def sampler(users, seen, n, rng):\n    return rng.integers(0, n, len(users))\n")
    other = load("def sampler(users, seen, n, rng):\n    return rng.integers(1, n, len(users))\n")
    assert fingerprint(one) == fingerprint(same) != fingerprint(other)
    assert fingerprint(one) != fingerprint(draw_negatives)

    namespace: dict = {}
    exec("def sampler(users, seen, n, rng):\n    return users\n", namespace)  # no source file
    assert fingerprint(namespace["sampler"]) != fingerprint(namespace["sampler"])
