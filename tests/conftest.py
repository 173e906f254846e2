"""Shared fixtures. Tests read MovieLens from ../shared/datasets when it is there (as CI does)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "datasets"

if "COURSE_DATA_DIR" not in os.environ and (SHARED_DATA / "ml-latest-small").is_dir():
    os.environ["COURSE_DATA_DIR"] = str(SHARED_DATA)


def pytest_collection_modifyitems(config, items):
    _longest_first(items)
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    if has_cuda:
        return
    skip = pytest.mark.skip(reason="needs a CUDA device; none is available on this machine "
                                   "(torch.cuda.is_available() is False)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def checkpoint_cache(tmp_path_factory, monkeypatch):
    """Each test saves and loads models in a fresh cache of its own, never the user's."""
    root = tmp_path_factory.mktemp("checkpoints")
    monkeypatch.setenv("COURSE_CACHE_DIR", str(root))
    return root


@pytest.fixture(scope="session")
def ml():
    from course_lib.data import load_movielens

    return load_movielens()


@pytest.fixture(scope="session")
def graph(ml):
    from course_lib.graph import build_graph

    return build_graph(ml)


@pytest.fixture(scope="session")
def split(graph):
    from course_lib.graph import split_edges

    return split_edges(graph, seed=42)


@pytest.fixture
def tiny_graph():
    """4 users, 5 movies, 8 ratings; user 3 and movie 4 are isolated."""
    import numpy as np

    from course_lib.graph import BipartiteGraph

    edge_index = np.array([[0, 0, 0, 1, 1, 2, 2, 2], [0, 1, 2, 1, 3, 0, 2, 3]])
    return BipartiteGraph(
        num_users=4, num_movies=5, edge_index=edge_index,
        rating=np.linspace(0.5, 5.0, 8).astype(np.float32),
        timestamp=np.arange(8, dtype=np.int64),
        movie_x=np.eye(5, 3, dtype=np.float32),
        feature_names=("a", "b", "c"),
    )


@pytest.fixture
def full_precision():
    """Full float32 matrix products in JAX, for parity tests at 1e-5.

    On GPUs JAX multiplies float32 matrices in TF32 by default (about three significant digits:
    differences near 1e-3 on the H200), while torch does not; on CPUs this changes nothing.
    """
    import jax

    with jax.default_matmul_precision("highest"):
        yield


# `make test` runs on two pytest-xdist workers, each file on one worker, handed out in collection
# order as workers free up. Longest first (measured on 2 cores under `make test`): the two
# workers then finish together instead of one waiting on a long notebook picked up last.
LONGEST_FIRST = ("book/06_ngcf_lightgcn.ipynb", "book/04_gcn_ratings.ipynb", "tests/test_grade.py",
                 "book/05_hetero_kg.ipynb", "book/03_link_prediction_sage.ipynb",
                 "book/07_which_model.ipynb", "tests/test_exercises.py",
                 "book/08_beyond_one_machine.ipynb", "book/01_graph_tasks.ipynb",
                 "tests/test_distributed_jax.py", "tests/test_distributed_pyg.py")


def _longest_first(items) -> None:
    def rank(item):
        path = item.nodeid.split("::", 1)[0]
        return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)

    items[:] = [item for _, item in sorted(enumerate(items), key=lambda p: (rank(p[1]), p[0]))]


@pytest.fixture
def tiny_laplacian(tiny_graph):
    """``D^-1/2 A D^-1/2`` of ``tiny_graph`` (users, then movies) as a dense float64 matrix: the
    textbook formula the sparse adjacencies of chapter 6 are checked against."""
    import numpy as np

    n = tiny_graph.num_users + tiny_graph.num_movies
    a = np.zeros((n, n))
    for u, m in tiny_graph.edge_index.T:
        a[u, tiny_graph.num_users + m] = a[tiny_graph.num_users + m, u] = 1
    d = a.sum(1)
    inv = np.where(d > 0, 1 / np.sqrt(np.where(d > 0, d, 1)), 0)
    return inv[:, None] * a * inv[None, :]
