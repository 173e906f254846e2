"""Framework-neutral plots used across the chapters (matplotlib only).

Every figure is drawn for the book's column on a phone as well as on a desktop: at most
:data:`FIG_WIDTH` inches wide at :data:`DPI` (a 560-px image, shown at full size in the
784-px desktop column and at 368 px on a 400-px phone), every text at least
:data:`MIN_FONT_PT` points, so the smallest label is at least 9 px as displayed on either
(``scripts/site_check.py`` measures it in the built book; ``tests/test_plotting.py`` holds
every function here to these limits). Panels that would sit side by side stack instead.
"""

from __future__ import annotations

import contextlib
import functools
import textwrap

import matplotlib
import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np

FIG_WIDTH = 5.6        # inches
DPI = 100
MIN_FONT_PT = 10
STYLE = {"figure.dpi": DPI, "savefig.dpi": DPI, "font.size": MIN_FONT_PT,
         "axes.titlesize": 11, "axes.labelsize": MIN_FONT_PT, "xtick.labelsize": MIN_FONT_PT,
         "ytick.labelsize": MIN_FONT_PT, "legend.fontsize": MIN_FONT_PT,
         "figure.titlesize": 11.5, "legend.title_fontsize": MIN_FONT_PT}


def _styled(plot):
    """Draw ``plot``'s figure with :data:`STYLE`, then put those settings back. (Not
    ``plt.rc_context``: leaving it restores every setting, the backend's included, and in
    Jupyter that stops later figures from being shown.)"""
    @functools.wraps(plot)
    def wrapper(*args, **kwargs):
        with course_style():
            return plot(*args, **kwargs)
    return wrapper


def _figure(nrows: int = 1, ncols: int = 1, height: float = 3.2, **kwargs):
    return plt.subplots(nrows, ncols, figsize=(FIG_WIDTH, height), dpi=DPI, **kwargs)


def _suptitle(fig, title: str) -> None:
    """A figure title, wrapped to the figure's width."""
    if title:
        fig.suptitle(textwrap.fill(title, 62))


@contextlib.contextmanager
def course_style():
    """The course's figure settings (:data:`STYLE`) for a figure drawn in this block; only those
    settings are put back afterwards."""
    saved = {key: matplotlib.rcParams[key] for key in STYLE}
    matplotlib.rcParams.update(STYLE)
    try:
        yield
    finally:
        matplotlib.rcParams.update(saved)


@_styled
def plot_rating_distribution(ratings, ax=None):
    """Bar chart of how often each star rating (0.5 .. 5.0) occurs."""
    ax = ax or _figure(height=3.0)[1]
    values, counts = np.unique(np.asarray(ratings), return_counts=True)
    ax.bar(values, counts, width=0.4, color="tab:blue")
    ax.set_xticks(np.arange(1, 5.01, 1.0))
    ax.set_xlabel("rating (stars)")
    ax.set_ylabel("number of ratings")
    ax.set_title("Rating distribution")
    ax.grid(axis="y", alpha=0.3)
    ax.figure.tight_layout()
    return ax


@_styled
def plot_degree_distribution(user_degree, movie_degree, axes=None):
    """Histograms of user and movie degrees (ratings per user / per movie), log-binned; one
    panel above the other."""
    if axes is None:
        _, axes = _figure(2, 1, height=5.6)
    for ax, deg, name, color in [(axes[0], user_degree, "user", "tab:orange"),
                                 (axes[1], movie_degree, "movie", "tab:green")]:
        deg = np.asarray(deg)
        positive = deg[deg > 0]
        bins = np.logspace(0, np.log10(positive.max() + 1), 30)
        ax.hist(positive, bins=bins, color=color, alpha=0.8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        isolated = int((deg == 0).sum())
        note = f", {isolated} with degree 0" if isolated else ""
        ax.set_title(f"{name} degree (median {np.median(deg):.0f}{note})")
        ax.set_xlabel(f"ratings per {name}")
        ax.set_ylabel(f"{name}s")
        ax.grid(alpha=0.3, which="both")
    axes[0].figure.tight_layout()
    return axes


def _draw_graph(graph, colors, ax, *, labelled=None, title: str = "", seed: int = 0):
    import networkx as nx

    g = nx.Graph()
    g.add_nodes_from(range(graph.num_nodes))
    g.add_edges_from(graph.undirected_edges().T.tolist())
    pos = nx.spring_layout(g, seed=seed)
    palette = np.array(["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple"])
    marked = set() if labelled is None else set(np.asarray(labelled).tolist())
    edge = ["black" if i in marked else "white" for i in range(graph.num_nodes)]
    nx.draw_networkx_edges(g, pos, ax=ax, alpha=0.3)
    nx.draw_networkx_nodes(g, pos, ax=ax, node_color=palette[np.asarray(colors)], node_size=120,
                           edgecolors=edge, linewidths=2)
    if marked:                                  # only the training labels carry their id
        nx.draw_networkx_labels(g, {i: (x, y + 0.1) for i, (x, y) in pos.items()},
                                labels={i: str(i) for i in marked}, ax=ax,
                                font_size=MIN_FONT_PT, font_weight="bold")
    ax.set_title(title)
    ax.axis("off")
    return ax


@_styled
def plot_graph(graph, colors, *, labelled=None, title: str = "", ax=None, seed: int = 0):
    """Draw a small :class:`~course_lib.small_graphs.Graph` with one colour id per node.

    ``labelled`` nodes (the training labels) get a thick black outline and their id.
    """
    ax = ax or _figure(height=4.4)[1]
    return _draw_graph(graph, colors, ax, labelled=labelled, title=title, seed=seed)


@_styled
def plot_graphs(graph, colorings: dict, *, labelled=None, seed: int = 0):
    """The same graph coloured several ways (``{title: one colour id per node}``), two panels a
    row, every panel with the same layout; ``labelled`` as in :func:`plot_graph`."""
    rows = -(-len(colorings) // 2)
    fig, axes = _figure(rows, 2, height=2.9 * rows, squeeze=False)
    for ax, (title, colors) in zip(axes.flat, colorings.items()):
        _draw_graph(graph, colors, ax, labelled=labelled, title=title, seed=seed)
    for ax in axes.flat[len(colorings):]:
        ax.axis("off")
    if labelled is not None and len(colorings) % 2:
        ax.text(0.05, 0.5, "black outline:\nthe labelled nodes\n(the training set)",
                transform=ax.transAxes, va="center")
    fig.tight_layout()
    return axes.flat[:len(colorings)]


@_styled
def plot_histories(histories: dict, metrics: tuple[str, ...], *, title: str = ""):
    """Training curves: one panel per metric, one above the other (sharing the epoch axis), one
    line per run (e.g. ``{"PyG": h1, "JAX": h2}``)."""
    fig, axes = _figure(len(metrics), 1, height=2.3 * len(metrics) + 0.6 + 0.3 * (title != ""),
                        sharex=True, squeeze=False)
    for ax, metric in zip(axes[:, 0], metrics):
        for name, history in histories.items():
            x = np.arange(1, len(history[metric]) + 1)
            if len(x) != len(history["loss"]) and "eval_epochs" in history:
                x = history["eval_epochs"]       # validated every few epochs
            ax.plot(x, history[metric], label=name)
        ax.set_ylabel(metric.replace("_", " "))
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("epoch")
    axes[0, 0].legend(ncol=2 if len(histories) > 2 else 1)
    _suptitle(fig, title)
    fig.tight_layout()
    return axes[:, 0]


NODE_TYPE_COLORS = {"user": "tab:orange", "movie": "tab:blue", "genre": "tab:green",
                    "director": "tab:red", "actor": "tab:purple"}


@_styled
def plot_neighbourhood(kg, edges, center: int, *, ax=None, seed: int = 0, max_label: int = 18):
    """Draw a movie's neighbourhood in the knowledge graph, one colour per node type.

    ``edges``: ``(movie_type, movie, other_type, other)`` tuples from
    :func:`course_lib.kg.neighbourhood`; ``center`` is the movie they surround.
    """
    import networkx as nx

    ax = ax or _figure(height=6.2)[1]
    g = nx.Graph()
    for t1, i, t2, j in edges:
        g.add_edge((t1, i), (t2, j))
    g.add_node(("movie", center))

    def label(node):
        t, i = node
        name = str(kg.names[t][i]) if t in kg.names else f"{t} {i}"
        return name if len(name) <= max_label else name[:max_label - 1] + "…"

    pos = nx.spring_layout(g, seed=seed, k=1.5 / np.sqrt(max(len(g), 1)))
    nx.draw_networkx_edges(g, pos, ax=ax, alpha=0.35)
    for t, color in NODE_TYPE_COLORS.items():
        nodes = [n for n in g if n[0] == t]
        if nodes:
            sizes = [500 if n == ("movie", center) else 160 for n in nodes]
            nx.draw_networkx_nodes(g, pos, nodelist=nodes, node_color=color, node_size=sizes,
                                   ax=ax, label=t)
    nx.draw_networkx_labels(g, {n: (x, y - 0.08) for n, (x, y) in pos.items()},
                            labels={n: label(n) for n in g}, font_size=MIN_FONT_PT, ax=ax)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=5, markerscale=0.7,
              frameon=False, handletextpad=0.1, columnspacing=0.8)
    ax.set_title(f"Around {label(('movie', center))}: its raters, genres,\ndirector and actors, "
                 "and other films of one of its people")
    ax.axis("off")
    ax.margins(0.12)
    ax.figure.tight_layout()
    return ax


def _value_limits(values: np.ndarray) -> tuple[float, float]:
    """Axis limits that leave room for the printed values; zoomed in when every value is above
    0.5 (AUC), so that differences show."""
    lo, hi = values.min(), values.max()
    start = max(0.0, lo - 0.25 * (hi - lo) - 0.01) if lo > 0.5 else 0.0
    return start, hi + 0.45 * (hi - start)


@_styled
def plot_comparison(table, metrics, *, title: str = "", ax=None):
    """One panel per metric (columns of ``table``), two panels a row, one horizontal bar per
    row of ``table`` (a model, named on the left), the value printed at each bar's end."""
    metrics = list(metrics)
    rows = -(-len(metrics) // 2)
    cols = min(2, len(metrics))
    if ax is None:
        fig, axes = _figure(rows, cols, height=(0.32 * len(table) + 1.0) * rows
                            + 0.4 * bool(title), sharey=True, squeeze=False)
        axes = axes.flatten()
    else:
        axes = np.atleast_1d(ax).flatten()
        fig = axes[0].figure
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    y = np.arange(len(table))[::-1]                   # the table's first row at the top
    for a, metric in zip(axes, metrics):
        values = table[metric].to_numpy(dtype=float)
        bars = a.barh(y, values, color=[colors[i % len(colors)] for i in range(len(table))])
        a.bar_label(bars, fmt="%.3f", padding=2)
        a.set_xlim(*_value_limits(values))
        a.set_yticks(y, table.index)
        a.set_title(metric)
        a.grid(axis="x", alpha=0.3)
        a.xaxis.set_major_locator(plt.MaxNLocator(3))
    for a in axes[len(metrics):]:
        a.axis("off")
    _suptitle(fig, title)
    fig.tight_layout()
    return axes[:len(metrics)]


@_styled
def plot_leaderboard(table, metrics=("recall@20", "ndcg@20"), *, group: str = "group",
                     title: str = "", colors: dict | None = None):
    """Horizontal bars, one row per model (``table``'s index), best at the top, one panel per
    metric side by side (sharing the model names); bars coloured by ``table[group]`` (with a
    legend), the value printed at each bar's end."""
    metrics = list(metrics)
    table = table.sort_values(metrics[0])
    groups = list(dict.fromkeys(table[group]))
    palette = colors or dict(zip(groups, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    legend_rows = -(-len(groups) // 2)
    fig, axes = _figure(1, len(metrics), height=0.27 * len(table) + 1.5 + 0.24 * legend_rows,
                        sharey=True, squeeze=False)
    y = np.arange(len(table))
    for ax, metric in zip(axes[0], metrics):
        values = table[metric].to_numpy(dtype=float)
        bars = ax.barh(y, values, color=[palette[g] for g in table[group]])
        ax.bar_label(bars, fmt="%.3f", padding=2)
        ax.set_xlim(0, values.max() * 1.45)
        ax.set_title(metric)
        ax.grid(axis="x", alpha=0.3)
        ax.xaxis.set_major_locator(plt.MaxNLocator(2))
    axes[0][0].set_yticks(y, table.index)
    handles = [plt.Rectangle((0, 0), 1, 1, color=palette[g]) for g in groups]
    fig.legend(handles, groups, loc="lower center", ncol=2, frameon=False)
    _suptitle(fig, title)
    fig.tight_layout(rect=(0, 0.24 * legend_rows / fig.get_figheight() + 0.01, 1, 1))
    return axes[0]


@_styled
def plot_throughput(table, *, title: str = ""):
    """Grouped bars: ``table``'s rows are process counts, its columns the runs compared
    (frameworks), its values interactions per second; the value printed above each bar and
    the legend under the axes, clear of the bars."""
    fig, ax = _figure(height=3.4)
    table.plot.bar(ax=ax, rot=0, width=0.7)
    for bars in ax.containers:
        ax.bar_label(bars, labels=[f"{v / 1e3:.0f}k" for v in bars.datavalues], padding=2)
    ax.set_ylim(0, table.to_numpy().max() * 1.2)
    ax.set_xlabel("processes")
    ax.set_ylabel("interactions per second")
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(
        lambda v, _: f"{v / 1e3:.0f}k"))
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2, frameon=False)
    _suptitle(fig, title)
    fig.tight_layout()
    return ax


@_styled
def plot_memory_per_device(table, *, title: str = ""):
    """Lines of memory per device (GB, log scale, plain tick labels) against the number of
    devices (``table``'s index), one line per column."""
    fig, ax = _figure(height=3.4)
    for name, values in table.items():
        ax.plot(table.index, values, marker="o", label=name)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(list(table.index), [str(i) for i in table.index])
    ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1, 2, 5)))
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("devices")
    ax.set_ylabel("GB per device (log scale)")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    _suptitle(fig, title)
    fig.tight_layout()
    return ax
