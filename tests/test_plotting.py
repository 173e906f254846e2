"""``course_lib/plotting.py``: every figure fits the book's column on a phone, with labels a
reader can read there (the limits ``scripts/site_check.py`` measures in the built book)."""

from __future__ import annotations

import io
import types

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.text  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from course_lib import plotting as P  # noqa: E402
from course_lib.small_graphs import karate_club  # noqa: E402

LONG = ["popularity", "PyG HeteroGraphConv + KG", "JAX HeteroSAGE, plain",
        "JAX HeteroGraphConv (ratings)", "MF (ALS, ratings)"]


def _table():
    rng = np.random.default_rng(0)
    return pd.DataFrame({"auc": rng.uniform(0.84, 0.96, 5), "recall@20": rng.uniform(0, .25, 5),
                         "cold auc": rng.uniform(.5, .95, 5), "ndcg@20": rng.uniform(0, .2, 5),
                         "group": ["a", "b", "b", "c", "d"]}, index=LONG)


def _history(n):
    return {"loss": list(np.linspace(1, .2, n)), "val_auc": list(np.linspace(.5, .9, n))}


def _kg():
    names = {"movie": np.array(["Memento (2000)", "A film with a rather long title (1999)"]),
             "genre": np.array(["Thriller"]), "director": np.array(["Christopher Nolan"]),
             "actor": np.array(["Guy Pearce"])}
    edges = [("movie", 0, "genre", 0), ("movie", 0, "director", 0), ("movie", 0, "actor", 0),
             ("movie", 1, "actor", 0), ("movie", 0, "user", 3)]
    return types.SimpleNamespace(names=names), edges


def _karate():
    graph, labelled = karate_club()
    return graph, labelled


FIGURES = {
    "rating distribution": lambda: P.plot_rating_distribution(np.arange(1, 11) / 2),
    "degree distribution": lambda: P.plot_degree_distribution(np.arange(1, 500),
                                                              np.r_[0, np.arange(1, 900)]),
    "graph": lambda: P.plot_graph(_karate()[0], _karate()[0].y, labelled=_karate()[1],
                                  title="true clubs"),
    "graphs": lambda: P.plot_graphs(_karate()[0], {"true clubs": _karate()[0].y,
                                                   "PyG": _karate()[0].y,
                                                   "JAX": _karate()[0].y},
                                    labelled=_karate()[1]),
    "histories": lambda: P.plot_histories({"PyG (sampled mini-batches)": _history(30),
                                           "JAX (full-graph)": _history(25)},
                                          ("loss", "val_auc"),
                                          title="GraphSAGE on MovieLens, a long title that "
                                                "has to wrap to fit"),
    "neighbourhood": lambda: P.plot_neighbourhood(*_kg(), 0),
    "comparison": lambda: P.plot_comparison(_table(), ["auc", "recall@20", "cold auc",
                                                       "ndcg@20"], title="Test set: "
                                            "knowledge graph (KG) against the plain graph"),
    "throughput": lambda: P.plot_throughput(
        pd.DataFrame({"JAX (jax.distributed)": [409_000, 204_000],
                      "PyG (DDP)": [356_000, 292_000]}, index=[1, 2]),
        title="Data-parallel LightGCN, 2 CPU cores shared by all processes"),
    "memory per device": lambda: P.plot_memory_per_device(
        pd.DataFrame({"all edges at once": [14.4, 7.3, 3.8, 2.0],
                      "64 chunks": [2.0, 1.1, 0.69, 0.46]}, index=[1, 2, 4, 8]),
        title="Row-sharded LightGCN step at MovieLens 25M's shape"),
    "leaderboard": lambda: P.plot_leaderboard(_table(), ("recall@20", "ndcg@20"),
                                              title="Test set, full ranking over all 9,742 "
                                                    "movies (bars coloured by group)"),
}


@pytest.mark.parametrize("name", FIGURES)
def test_figures_fit_a_phone_column_with_readable_labels(name):
    plt.close("all")
    FIGURES[name]()
    fig = plt.gcf()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")   # as Jupyter's inline backend
    width_px = plt.imread(io.BytesIO(buffer.getvalue())).shape[1]
    assert fig.dpi == P.DPI
    assert width_px <= P.FIG_WIDTH * P.DPI, f"{name}: {width_px} px wide"
    texts = [t for t in fig.findobj(matplotlib.text.Text) if t.get_visible() and t.get_text()]
    assert texts
    sizes = {t.get_text(): t.get_fontsize() for t in texts}
    small = {k: v for k, v in sizes.items() if v < P.MIN_FONT_PT}
    assert not small, f"{name}: texts under {P.MIN_FONT_PT} pt: {small}"
    # Shown in the 368-px column of a 400-px phone, the smallest text is still >= 9 px.
    assert P.MIN_FONT_PT * P.DPI / 72 * min(1.0, 368 / width_px) >= 9
    plt.close("all")


def test_the_style_does_not_leak_into_other_figures():
    before = dict(matplotlib.rcParams)
    P.plot_rating_distribution([1.0, 2.0])
    plt.close("all")
    assert matplotlib.rcParams["font.size"] == before["font.size"]


def test_only_the_style_is_put_back(monkeypatch):
    """Leaving ``plt.rc_context`` restores every setting, the backend's and "interactive"
    included; in Jupyter that left every later figure of a notebook undisplayed. The course's
    style puts back only its own keys."""
    monkeypatch.setitem(matplotlib.rcParams, "interactive", False)
    plt.ion()                                     # what Jupyter's inline backend turns on
    try:
        P.plot_rating_distribution([1.0, 2.0])
        assert matplotlib.is_interactive()
    finally:
        plt.ioff()
        plt.close("all")
