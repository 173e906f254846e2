"""``course_lib/plotting.py``: every figure fits the book's column on a phone, with labels a
reader can read there (the limits ``scripts/site_check.py`` measures in the built book), none
covering another or cut off. :data:`FIGURES` draws every plotting function, with toy inputs
and with the chapters' own (their names, titles and shapes)."""

from __future__ import annotations

import inspect
import io
import types

import matplotlib

matplotlib.use("Agg")

import matplotlib.collections  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.text  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402

from course_lib import plotting as P  # noqa: E402
from course_lib.leaderboard import leaderboard_table  # noqa: E402
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


def _memento():
    """Chapter 5's figure: the neighbourhood of Memento (2000), ``max_per_type=5``."""
    names = {"movie": {3141: "Memento (2000)", 1945: "Following (1998)",
                       3839: "Insomnia (2002)", 5917: "Batman Begins (2005)",
                       6331: "Prestige, The (2006)", 6710: "Dark Knight, The (2008)"},
             "genre": {13: "Mystery", 16: "Thriller"}, "director": {211: "Christopher Nolan"},
             "actor": {783: "Callum Keith Rennie", 834: "Carrie-Anne Moss", 1854: "Guy Pearce",
                       2423: "Joe Pantoliano", 3196: "Mark Boone Jr."},
             "user": {i: f"user {i + 1}" for i in (3, 14, 16, 19, 21)}}
    edges = ([("movie", 3141, "genre", g) for g in (13, 16)] + [("movie", 3141, "director", 211)]
             + [("movie", 3141, "actor", a) for a in (783, 834, 1854, 2423, 3196)]
             + [("movie", 3141, "user", u) for u in (3, 14, 16, 19, 21)]
             + [("movie", m, "director", 211) for m in (1945, 3839, 5917, 6331, 6710)])
    return types.SimpleNamespace(names=names), edges, 3141


def _curves(names, epochs, metric, start, end, every=1):
    """Training histories shaped like a chapter's: ``names`` runs of ``epochs`` epochs (each
    run a few more than the one before), ``metric`` validated every ``every`` epochs."""
    runs = {}
    for i, name in enumerate(names):
        n = epochs + 3 * i
        evals = list(range(every, n + 1, every))
        runs[name] = {"loss": list(np.geomspace(0.7, 0.2, n) + 0.01 * i),
                      metric: list(np.linspace(start, end, len(evals))),
                      **({"eval_epochs": evals} if every > 1 else {})}
    return runs


def _chapter_table(rows, metrics):
    """A results table shaped like a chapter's: AUCs between 0.54 and 0.96, other metrics
    under 0.25."""
    rng = np.random.default_rng(1)
    return pd.DataFrame({m: rng.uniform(0.54, 0.96, len(rows)) if "auc" in m
                         else rng.uniform(0.01, 0.25, len(rows)) for m in metrics}, index=rows)


CH5_MODELS = ["popularity"] + [f"{fw} {arch}, {g}" for fw, arch, g in [
    ("PyG", "HeteroSAGE", "KG"), ("PyG", "HeteroGraphConv", "KG"), ("JAX", "HeteroSAGE", "KG"),
    ("JAX", "HeteroGraphConv", "KG"), ("JAX", "HeteroSAGE", "plain"),
    ("JAX", "HeteroGraphConv", "plain")]]
CH6_MODELS = ["popularity"] + [f"{fw} {m}" for fw in ("JAX", "PyG")
                               for m in ("MF-BPR", "NGCF", "LightGCN")]

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
    # The chapters' own calls.
    "ch1 karate club": lambda: P.plot_graphs(
        _karate()[0], {"true clubs": _karate()[0].y, "GCN prediction (PyG)": _karate()[0].y,
                       "GCN prediction (JAX)": 1 - _karate()[0].y}, labelled=_karate()[1]),
    "ch1 node histories": lambda: P.plot_histories(
        _curves(["PyG", "JAX"], 200, "accuracy", 0.5, 1.0), ("loss", "accuracy"),
        title="Karate club: training"),
    "ch1 link histories": lambda: P.plot_histories(
        _curves(["PyG", "JAX"], 200, "val_auc", 0.6, 0.95), ("loss", "val_auc"),
        title="Les Misérables: link prediction"),
    "ch1 graph histories": lambda: P.plot_histories(
        _curves(["PyG", "JAX"], 60, "val_accuracy", 0.5, 1.0), ("loss", "val_accuracy"),
        title="Cycle detection: training"),
    "ch4 histories": lambda: P.plot_histories(
        _curves(["JAX gcn", "PyG gcn", "JAX hetero", "PyG hetero"], 800, "val_mae", 1.0, 0.7),
        ("loss", "val_mae"), title="Training L1 loss and validation MAE (stars)"),
    "ch4 GC-MC histories": lambda: P.plot_histories(
        _curves(["JAX GC-MC", "PyG GC-MC"], 700, "val_mae", 1.0, 0.64), ("loss", "val_mae"),
        title="GC-MC: cross-entropy of the held-out edges, validation MAE"),
    "ch5 Memento": lambda: P.plot_neighbourhood(*_memento()),
    "ch5 histories": lambda: P.plot_histories(
        _curves(CH5_MODELS[1:], 17, "val_auc", 0.78, 0.96), ("loss", "val_auc"),
        title="Training loss and validation AUC"),
    "ch5 comparison": lambda: P.plot_comparison(
        _chapter_table(CH5_MODELS, ["auc", "recall@20", "cold auc", "cold recall@20"]),
        ["auc", "recall@20", "cold auc", "cold recall@20"],
        title="Test set: knowledge graph (KG) against the plain user-movie graph"),
    "ch6 histories": lambda: P.plot_histories(
        _curves(CH6_MODELS[1:], 140, "val_recall@20", 0.12, 0.23, every=5),
        ("loss", "val_recall@20"), title="BPR loss and validation recall@20"),
    "ch6 comparison": lambda: P.plot_comparison(
        _chapter_table(CH6_MODELS, ["recall@20", "ndcg@20", "recall@10", "ndcg@10"]),
        ["recall@20", "ndcg@20", "recall@10", "ndcg@10"],
        title="Test set, full ranking over all unseen movies"),
    "ch7 leaderboard": lambda: P.plot_leaderboard(
        leaderboard_table(), ("recall@20", "ndcg@20"), title="Test set, full ranking over "
        "all 9,742 movies (bars coloured by what the model learns from)"),
    "ch7 histories": lambda: P.plot_histories(
        _curves(["JAX LightGCN"], 245, "val_recall@20", 0.13, 0.22, every=5),
        ("loss", "val_recall@20"),
        title="LightGCN: BPR loss (every epoch), validation recall@20 (every 5)"),
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


def test_every_plotting_function_is_drawn_by_a_case(monkeypatch):
    called = set()

    class Called(Exception):
        pass

    def recorder(name):
        def record(*args, **kwargs):
            called.add(name)
            raise Called
        return record

    plotting = {name for name, f in inspect.getmembers(P, inspect.isfunction)
                if name.startswith("plot_") and f.__module__ == P.__name__}
    for name in plotting:
        monkeypatch.setattr(P, name, recorder(name))
    for case in FIGURES.values():
        with pytest.raises(Called):
            case()
    assert called == plotting, f"no case draws {sorted(plotting - called)}"


def drawn_texts(fig) -> list:
    """The texts a draw of ``fig`` puts on its canvas, visible and not blank (a tick outside
    the axes' limits, say, is not drawn)."""
    if not hasattr(fig.canvas, "get_renderer"):        # a figure made without pyplot
        FigureCanvasAgg(fig)
    drawn = []
    draw = matplotlib.text.Text.draw

    def record(text, renderer):
        draw(text, renderer)
        if text.get_visible() and text.get_text().strip():
            drawn.append(text)

    matplotlib.text.Text.draw = record
    try:
        fig.canvas.draw()
    finally:
        matplotlib.text.Text.draw = draw
    return drawn


def _overlap(a, b, tolerance: float = 1.0) -> bool:
    """Whether two boxes (display pixels) share more than ``tolerance`` pixels each way."""
    return (min(a.x1, b.x1) - max(a.x0, b.x0) > tolerance
            and min(a.y1, b.y1) - max(a.y0, b.y0) > tolerance)


def _inside(inner, outer, tolerance: float = 1.0) -> bool:
    return (inner.x0 >= outer.x0 - tolerance and inner.x1 <= outer.x1 + tolerance
            and inner.y0 >= outer.y0 - tolerance and inner.y1 <= outer.y1 + tolerance)


def _markers(fig):
    """``(x, y, radius)`` in display pixels of every scatter marker (a graph's nodes) that
    the figure's axes draw (not a legend's)."""
    discs = []
    for ax in fig.axes:
        for coll in ax.collections:
            if not (coll.get_visible() and len(coll.get_offsets())
                    and isinstance(coll, matplotlib.collections.PathCollection)):
                continue
            xy = coll.get_offset_transform().transform(np.asarray(coll.get_offsets()))
            sizes = np.broadcast_to(coll.get_sizes(), (len(xy),))
            widths = np.broadcast_to(np.r_[coll.get_linewidths(), 0][:1], (len(xy),))
            radii = (np.sqrt(sizes) / 2 + widths / 2) * fig.dpi / 72
            discs += [(x, y, r) for (x, y), r in zip(xy, radii) if np.isfinite([x, y]).all()]
    return discs


def _covers(box, disc, tolerance: float = 1.0) -> bool:
    x, y, r = disc
    dx = max(box.x0 - x, 0, x - box.x1)
    dy = max(box.y0 - y, 0, y - box.y1)
    return dx * dx + dy * dy < (r - tolerance) ** 2


def collisions(fig) -> list[str]:
    """What a reader of ``fig`` cannot read, as drawn: two texts (titles, axis and tick labels,
    legend entries, node labels, values printed on bars) overlapping; a text under a legend's
    box that is not the legend's own; a text cut by the figure's edge or by the axes it is
    clipped to; a text over a graph's node."""
    texts = drawn_texts(fig)
    renderer = fig.canvas.get_renderer()
    # the text's own box (an annotation's get_window_extent adds its arrow)
    boxes = [matplotlib.text.Text.get_window_extent(t, renderer) for t in texts]
    discs = _markers(fig)
    found = []
    for i, (a, box_a) in enumerate(zip(texts, boxes)):
        for b, box_b in zip(texts[i + 1:], boxes[i + 1:]):
            if _overlap(box_a, box_b):
                found.append(f"{a.get_text()!r} overlaps {b.get_text()!r}")
        if not _inside(box_a, fig.bbox):
            found.append(f"{a.get_text()!r} is cut by the figure's edge")
        clip = a.get_clip_box() if a.get_clip_on() else None
        if a.get_clip_on() and a.get_clip_path() is not None:
            clip = a.get_clip_path().get_fully_transformed_path().get_extents()
        if clip is not None and not _inside(box_a, clip):
            found.append(f"{a.get_text()!r} is cut by its axes")
        if any(_covers(box_a, disc) for disc in discs):
            found.append(f"{a.get_text()!r} covers a node")
    legends = [ax.get_legend() for ax in fig.axes] + fig.legends
    for legend in filter(None, legends):
        own = set(legend.findobj(matplotlib.text.Text))
        frame = legend.get_window_extent(renderer)
        found += [f"{t.get_text()!r} is under a legend" for t, box in zip(texts, boxes)
                  if t not in own and _overlap(box, frame)]
    return found


@pytest.mark.parametrize("name", FIGURES)
def test_no_label_covers_another_or_is_cut(name):
    plt.close("all")
    FIGURES[name]()
    found = collisions(plt.gcf())
    plt.close("all")
    assert not found, f"{name}: " + "; ".join(found)


def test_the_collision_check_sees_overlapping_and_cut_labels():
    fig, ax = plt.subplots(figsize=(3, 2), dpi=P.DPI)
    ax.set(xlim=(0, 1), ylim=(0, 1), xticks=[], yticks=[])
    ax.text(0.5, 0.5, "one label")
    ax.text(0.52, 0.5, "another")
    ax.set_title("a title far too long for a figure three inches wide, cut at both ends")
    ax.scatter([0.2], [0.2], s=300)
    ax.text(0.2, 0.2, "on a node")
    ax.plot([0, 1], [1, 1], label="a line")
    ax.legend(loc="lower right")
    ax.text(0.98, 0.05, "hidden", ha="right")
    ax.text(0.5, 0.9, "clipped by the axes' edge", clip_on=True)
    found = collisions(fig)
    plt.close(fig)
    assert "'one label' overlaps 'another'" in found
    assert any("cut by the figure's edge" in f for f in found)
    assert "'on a node' covers a node" in found
    assert "'hidden' is under a legend" in found
    assert "\"clipped by the axes' edge\" is cut by its axes" in found


def test_the_knowledge_graph_names_every_node_in_full():
    """Chapter 5's figure: every film, person, genre and user of the neighbourhood is named,
    a long name wrapped, never cut short."""
    plt.close("all")
    kg, edges, memento = _memento()
    P.plot_neighbourhood(kg, edges, memento)
    shown = {" ".join(t.get_text().split()) for t in drawn_texts(plt.gcf())}
    plt.close("all")
    names = {n for group in kg.names.values() for n in group.values()}
    assert names <= shown, f"not named in full: {sorted(names - shown)}"


def test_the_karate_club_writes_the_id_of_each_labelled_member_in_every_panel():
    plt.close("all")
    graph, labelled = _karate()
    P.plot_graphs(graph, {"true clubs": graph.y, "PyG": graph.y, "JAX": graph.y},
                  labelled=labelled)
    shown = [t.get_text() for t in drawn_texts(plt.gcf())]
    plt.close("all")
    assert len(labelled) == 4
    assert all(shown.count(str(i)) == 3 for i in labelled), shown


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
