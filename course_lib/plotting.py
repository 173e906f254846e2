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
            ax.plot(np.arange(1, len(history[metric]) + 1), history[metric], label=name)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric.replace("_", " "))
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return axes[0]
