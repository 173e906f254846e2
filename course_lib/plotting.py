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
