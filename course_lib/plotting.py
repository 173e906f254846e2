"""Framework-neutral plots used across the chapters (matplotlib only)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


def plot_rating_distribution(ratings, ax=None):
    """Bar chart of how often each star rating (0.5 .. 5.0) occurs."""
    ax = ax or plt.subplots(figsize=(6, 3.2))[1]
    values, counts = np.unique(np.asarray(ratings), return_counts=True)
    ax.bar(values, counts, width=0.4, color="tab:blue")
    ax.set_xticks(np.arange(0.5, 5.01, 0.5))
    ax.set_xlabel("rating (stars)")
    ax.set_ylabel("number of ratings")
    ax.set_title("Rating distribution")
    ax.grid(axis="y", alpha=0.3)
    return ax


def plot_degree_distribution(user_degree, movie_degree, axes=None):
    """Histograms of user and movie degrees (ratings per user / per movie), log-binned."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.2))
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
        ax.set_ylabel(f"number of {name}s")
        ax.grid(alpha=0.3, which="both")
    plt.tight_layout()
    return axes


def plot_graph(graph, colors, *, labelled=None, title: str = "", ax=None, seed: int = 0):
    """Draw a small :class:`~course_lib.small_graphs.Graph` with one colour id per node.

    ``labelled`` nodes (the training labels) get a thick black outline.
    """
    import networkx as nx

    ax = ax or plt.subplots(figsize=(5, 4))[1]
    g = nx.Graph()
    g.add_nodes_from(range(graph.num_nodes))
    g.add_edges_from(graph.undirected_edges().T.tolist())
    pos = nx.spring_layout(g, seed=seed)
    palette = np.array(["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple"])
    edge = ["black" if labelled is not None and i in set(np.asarray(labelled).tolist())
            else "white" for i in range(graph.num_nodes)]
    nx.draw_networkx_edges(g, pos, ax=ax, alpha=0.3)
    nx.draw_networkx_nodes(g, pos, ax=ax, node_color=palette[np.asarray(colors)], node_size=180,
                           edgecolors=edge, linewidths=2)
    nx.draw_networkx_labels(g, pos, ax=ax, font_size=7)
    ax.set_title(title)
    ax.axis("off")
    return ax


def plot_histories(histories: dict, metrics: tuple[str, ...], *, title: str = ""):
    """Training curves: one panel per metric, one line per run (e.g. ``{"PyG": h1, "JAX": h2}``)."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.2), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for name, history in histories.items():
            x = np.arange(1, len(history[metric]) + 1)
            if len(x) != len(history["loss"]) and "eval_epochs" in history:
                x = history["eval_epochs"]       # validated every few epochs
            ax.plot(x, history[metric], label=name)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric.replace("_", " "))
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return axes[0]


NODE_TYPE_COLORS = {"user": "tab:orange", "movie": "tab:blue", "genre": "tab:green",
                    "director": "tab:red", "actor": "tab:purple"}


def plot_neighbourhood(kg, edges, center: int, *, ax=None, seed: int = 0, max_label: int = 22):
    """Draw a movie's neighbourhood in the knowledge graph, one colour per node type.

    ``edges``: ``(movie_type, movie, other_type, other)`` tuples from
    :func:`course_lib.kg.neighbourhood`; ``center`` is the movie they surround.
    """
    import networkx as nx

    ax = ax or plt.subplots(figsize=(9, 6.5))[1]
    g = nx.Graph()
    for t1, i, t2, j in edges:
        g.add_edge((t1, i), (t2, j))
    g.add_node(("movie", center))

    def label(node):
        t, i = node
        name = str(kg.names[t][i]) if t in kg.names else f"{t} {i}"
        return name if len(name) <= max_label else name[:max_label - 1] + "…"

    pos = nx.spring_layout(g, seed=seed, k=1.2 / np.sqrt(max(len(g), 1)))
    nx.draw_networkx_edges(g, pos, ax=ax, alpha=0.35)
    for t, color in NODE_TYPE_COLORS.items():
        nodes = [n for n in g if n[0] == t]
        if nodes:
            sizes = [700 if n == ("movie", center) else 260 for n in nodes]
            nx.draw_networkx_nodes(g, pos, nodelist=nodes, node_color=color, node_size=sizes,
                                   ax=ax, label=t)
    nx.draw_networkx_labels(g, {n: (x, y - 0.07) for n, (x, y) in pos.items()},
                            labels={n: label(n) for n in g}, font_size=7, ax=ax)
    ax.legend(loc="upper left", fontsize=8, markerscale=0.6, frameon=False)
    ax.set_title(f"Around {label(('movie', center))}: its raters, genres, director and actors, "
                 "and other films of one of its people", fontsize=9)
    ax.axis("off")
    return ax


def plot_comparison(table, metrics, *, title: str = "", ax=None):
    """Grouped bars: one group per metric (columns of ``table``), one bar per row (a model),
    the value printed on each bar."""
    metrics = list(metrics)
    axes = ax if ax is not None else plt.subplots(1, len(metrics),
                                                  figsize=(3.3 * len(metrics), 3.4))[1]
    axes = np.atleast_1d(axes)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for a, metric in zip(axes, metrics):
        values = table[metric].to_numpy(dtype=float)
        bars = a.bar(np.arange(len(table)), values, color=colors[:len(table)])
        a.bar_label(bars, fmt="%.3f", fontsize=7)
        lo = values.min()
        a.set_ylim(max(0.0, lo - 0.25 * (values.max() - lo) - 0.01) if lo > 0.5 else 0,
                   values.max() * 1.06)
        a.set_xticks(np.arange(len(table)), table.index, rotation=35, ha="right", fontsize=8)
        a.set_title(metric, fontsize=9)
        a.grid(axis="y", alpha=0.3)
    if title:
        axes[0].figure.suptitle(title)
    axes[0].figure.tight_layout()
    return axes


def plot_leaderboard(table, metrics=("recall@20", "ndcg@20"), *, group: str = "group",
                     title: str = "", colors: dict | None = None):
    """Horizontal bars, one row per model (``table``'s index), best at the top, one panel per
    metric; bars coloured by ``table[group]`` (with a legend), the value printed at each bar's
    end."""
    metrics = list(metrics)
    table = table.sort_values(metrics[0])
    groups = list(dict.fromkeys(table[group]))
    palette = colors or dict(zip(groups, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.6 * len(metrics), 0.3 * len(table) + 1.4),
                             sharey=True, squeeze=False)
    y = np.arange(len(table))
    for ax, metric in zip(axes[0], metrics):
        values = table[metric].to_numpy(dtype=float)
        bars = ax.barh(y, values, color=[palette[g] for g in table[group]])
        ax.bar_label(bars, fmt="%.3f", fontsize=8, padding=2)
        ax.set_xlim(0, values.max() * 1.18)
        ax.set_title(metric, fontsize=10)
        ax.grid(axis="x", alpha=0.3)
        ax.tick_params(axis="x", labelsize=8)
    axes[0][0].set_yticks(y, table.index, fontsize=9)
    handles = [plt.Rectangle((0, 0), 1, 1, color=palette[g]) for g in groups]
    fig.legend(handles, groups, loc="lower center", ncol=min(len(groups), 3), fontsize=9,
               frameon=False)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0.07 + 0.02 * (len(groups) > 3), 1, 1))
    return axes[0]
