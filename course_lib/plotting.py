"""Framework-neutral plots used across the chapters (matplotlib only).

Every figure is drawn for the book's column on a phone as well as on a desktop: at most
:data:`FIG_WIDTH` inches wide at :data:`DPI` (a 560-px image, shown at full size in the
784-px desktop column and at 368 px on a 400-px phone), every text at least
:data:`MIN_FONT_PT` points, so the smallest label is at least 9 px as displayed on either
(``scripts/site_check.py`` measures it in the built book; ``tests/test_plotting.py`` holds
every function here to these limits). Panels that would sit side by side stack instead.
No text covers another text, a legend or a graph's node, and none is cut by the figure's
edge: node labels are placed where they are free (:func:`_label_nodes`), long titles and
names wrap rather than being cut short, and a legend of more than two runs goes under the
panels (``tests/test_plotting.py`` measures every figure as drawn).
"""

from __future__ import annotations

import contextlib
import functools
import textwrap

import matplotlib
import matplotlib.collections
import matplotlib.patches
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


def _suptitle(fig, title: str, width: int = 62) -> None:
    """A figure title, wrapped to the figure's width (``width`` characters) in lines of
    about equal length, so that no word is left alone on the last."""
    if title:
        lines = -(-len(title) // width)
        for w in range(-(-len(title) // lines), width + 1):
            wrapped = textwrap.wrap(title, w)
            if len(wrapped) <= lines:
                break
        fig.suptitle("\n".join(wrapped))


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


def _renderer(fig):
    """The renderer that measures ``fig``'s texts (Agg, as Jupyter's inline backend draws
    them; a figure made without pyplot gets an Agg canvas)."""
    if not hasattr(fig.canvas, "get_renderer"):
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        FigureCanvasAgg(fig)
    return fig.canvas.get_renderer()


def _node_discs(ax) -> list[tuple[float, float, float]]:
    """``(x, y, radius)`` in display pixels of every scatter marker ``ax`` draws (a graph's
    nodes), edge line included."""
    discs = []
    for coll in ax.collections:
        if not isinstance(coll, matplotlib.collections.PathCollection):
            continue
        xy = coll.get_offset_transform().transform(np.asarray(coll.get_offsets()))
        sizes = np.broadcast_to(coll.get_sizes(), (len(xy),))
        width = float(np.r_[coll.get_linewidths(), 0][0])
        radii = (np.sqrt(sizes) / 2 + width / 2) * ax.figure.dpi / 72
        discs += [(x, y, r) for (x, y), r in zip(xy, radii)]
    return discs


def _box_hits_disc(box, disc, gap: float) -> bool:
    x, y, r = disc
    dx = max(box[0] - x, 0, x - box[2])
    dy = max(box[1] - y, 0, y - box[3])
    return dx * dx + dy * dy < (r + gap) ** 2


def _boxes_meet(a, b, gap: float) -> bool:
    return (min(a[2], b[2]) - max(a[0], b[0]) > -gap
            and min(a[3], b[3]) - max(a[1], b[1]) > -gap)


# Where a node's label may go, in order of preference: above, right, left, below, then the
# directions in between (angles in degrees).
_SIDES = (90, 0, 180, 270, 45, 135, 315, 225, 67.5, 112.5, 22.5, 157.5, 292.5, 247.5, 337.5,
          202.5)


def _label_nodes(ax, points: dict, labels: dict, *, gap: float = 2.0, places=None,
                 **text_kw) -> dict:
    """Write ``labels[n]`` beside node ``n`` (``points[n]``, data coordinates) where it covers
    no node of ``ax``, no label written before it, and stays inside ``ax``: the first free
    place among :data:`_SIDES`, further out if none is free (then with a line to its node).
    Call it once the figure's layout is final (the places are measured in pixels). Returns
    the places chosen, which ``places`` reuses on another panel of the same size."""
    fig = ax.figure
    renderer = _renderer(fig)
    discs = _node_discs(ax)
    bounds = ax.get_window_extent(renderer)
    taken, chosen = [], {}
    for node, label in labels.items():
        x, y = ax.transData.transform(points[node])
        radius = max((r for dx, dy, r in discs if abs(dx - x) < 1e-6 and abs(dy - y) < 1e-6),
                     default=0.0)
        if places is None:
            probe = ax.text(0, 0, label, ha="center", va="center", **text_kw)
            extent = probe.get_window_extent(renderer)
            probe.remove()
            box, dx, dy, extra = _free_place(x, y, radius + gap, extent.width, extent.height,
                                             discs, taken, bounds, gap)
            taken.append(box)
            chosen[node] = (dx * 72 / fig.dpi, dy * 72 / fig.dpi, extra > 8)
        else:
            chosen[node] = places[node]
        dx, dy, far = chosen[node]
        line = None
        if far:                                  # away from its node: a line shows whose it is
            line = dict(arrowstyle="-", lw=0.8, color="0.2", shrinkA=0,
                        shrinkB=radius * 72 / fig.dpi)
        ax.annotate(label, points[node], xytext=(dx, dy), textcoords="offset points",
                    ha="center", va="center", arrowprops=line, **text_kw)
    return chosen


def _free_place(x, y, reach0, w, h, discs, taken, bounds, gap):
    """The box ``(x0, y0, x1, y1)`` of a ``w`` x ``h`` label next to a node at ``(x, y)``
    (pixels) that meets the fewest nodes, boxes in ``taken`` and edges of ``bounds``; the
    nearest such place in the order of :data:`_SIDES`. Returns the box, its centre's offset
    from the node and how much further out than ``reach0`` it lies."""
    best = None
    for extra in (0, 4, 8, 12, 18, 24, 32):
        for angle in _SIDES:
            ux, uy = np.cos(np.radians(angle)), np.sin(np.radians(angle))
            half = min(w / 2 / abs(ux) if abs(ux) > 1e-9 else np.inf,
                       h / 2 / abs(uy) if abs(uy) > 1e-9 else np.inf)
            cx = x + ux * (reach0 + extra + half)
            cy = y + uy * (reach0 + extra + half)
            box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
            clashes = (sum(_box_hits_disc(box, d, gap) for d in discs)
                       + sum(_boxes_meet(box, t, gap) for t in taken)
                       + 10 * (box[0] < bounds.x0 or box[2] > bounds.x1
                               or box[1] < bounds.y0 or box[3] > bounds.y1))
            if best is None or clashes < best[0]:
                best = (clashes, box, cx - x, cy - y, extra)
            if not clashes:
                return best[1:]
    return best[1:]


def _spread(pos: dict, min_distance: float = 0.09, steps: int = 200) -> dict:
    """``pos`` scaled into the unit square, then nodes closer than ``min_distance`` pushed
    apart until none overlaps another (a force layout packs a hub's neighbours together)."""
    nodes = list(pos)
    xy = np.array([pos[n] for n in nodes], dtype=float)
    xy = (xy - xy.min(0)) / np.ptp(xy, axis=0).clip(1e-9)
    for _ in range(steps):
        gap = xy[:, None] - xy[None]
        dist = np.linalg.norm(gap, axis=-1)
        np.fill_diagonal(dist, 1e9)
        close = dist < min_distance
        if not close.any():
            break
        push = np.where(close, (min_distance - dist) / 2 / np.maximum(dist, 1e-9), 0.0)
        xy += (gap * push[..., None]).sum(1)
    return dict(zip(nodes, xy))


def _draw_graph(graph, colors, ax, *, labelled=None, title: str = "", seed: int = 0):
    """Draw ``graph``'s nodes and edges on ``ax``; return the node positions and the labelled
    nodes (their ids are written by :func:`_label_nodes` once the layout is final)."""
    import networkx as nx

    g = nx.Graph()
    g.add_nodes_from(range(graph.num_nodes))
    g.add_edges_from(graph.undirected_edges().T.tolist())
    pos = _spread(nx.spring_layout(g, seed=seed))
    palette = np.array(["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple"])
    marked = [] if labelled is None else [int(i) for i in np.asarray(labelled)]
    edge = ["black" if i in marked else "white" for i in range(graph.num_nodes)]
    nx.draw_networkx_edges(g, pos, ax=ax, alpha=0.3)
    nx.draw_networkx_nodes(g, pos, ax=ax, node_color=palette[np.asarray(colors)], node_size=120,
                           edgecolors=edge, linewidths=2)
    ax.set_title(title)
    ax.axis("off")
    return pos, marked


def _write_ids(ax, pos, marked, places=None) -> dict:
    """Only the training labels carry their id, beside the node, on a light backing that
    keeps it readable over the edges; ``places`` as in :func:`_label_nodes`."""
    return _label_nodes(ax, pos, {i: str(i) for i in marked}, places=places,
                        fontsize=MIN_FONT_PT, fontweight="bold",
                        bbox=dict(boxstyle="square,pad=0.05", fc="white", ec="none",
                                  alpha=0.75))


@_styled
def plot_graph(graph, colors, *, labelled=None, title: str = "", ax=None, seed: int = 0):
    """Draw a small :class:`~course_lib.small_graphs.Graph` with one colour id per node.

    ``labelled`` nodes (the training labels) get a thick black outline and their id, written
    where it covers no node and no other id.
    """
    own = ax is None
    ax = ax or _figure(height=4.4)[1]
    pos, marked = _draw_graph(graph, colors, ax, labelled=labelled, title=title, seed=seed)
    if own:
        ax.figure.tight_layout()
    _write_ids(ax, pos, marked)
    return ax


@_styled
def plot_graphs(graph, colorings: dict, *, labelled=None, seed: int = 0):
    """The same graph coloured several ways (``{title: one colour id per node}``), two panels a
    row, every panel with the same layout; ``labelled`` as in :func:`plot_graph`."""
    rows = -(-len(colorings) // 2)
    fig, axes = _figure(rows, 2, height=2.9 * rows, squeeze=False)
    drawn = [(ax, *_draw_graph(graph, colors, ax, labelled=labelled, title=title, seed=seed))
             for ax, (title, colors) in zip(axes.flat, colorings.items())]
    for ax in axes.flat[len(colorings):]:
        ax.axis("off")
    if labelled is not None and len(colorings) % 2:
        ax.text(0.05, 0.5, "black outline:\nthe labelled nodes\n(the training set)",
                transform=ax.transAxes, va="center")
    fig.tight_layout()
    places = None                                # every panel: the ids in the same places
    for ax, pos, marked in drawn:
        places = _write_ids(ax, pos, marked, places)
    return axes.flat[:len(colorings)]


@_styled
def plot_histories(histories: dict, metrics: tuple[str, ...], *, title: str = ""):
    """Training curves: one panel per metric, one above the other (sharing the epoch axis), one
    line per run (e.g. ``{"PyG": h1, "JAX": h2}``)."""
    below = len(histories) > 2                   # a long legend goes under the panels
    legend_rows = -(-len(histories) // 2) if below else 0
    height = 2.3 * len(metrics) + 0.6 + 0.3 * (title != "") + 0.24 * legend_rows
    fig, axes = _figure(len(metrics), 1, height=height, sharex=True, squeeze=False)
    for ax, metric in zip(axes[:, 0], metrics):
        for name, history in histories.items():
            x = np.arange(1, len(history[metric]) + 1)
            if len(x) != len(history["loss"]) and "eval_epochs" in history:
                x = history["eval_epochs"]       # validated every few epochs
            ax.plot(x, history[metric], label=name)
        ax.set_ylabel(metric.replace("_", " "))
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("epoch")
    _suptitle(fig, title)
    if below:
        fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="lower center", ncol=2,
                   frameon=False)
        fig.tight_layout(rect=(0, 0.24 * legend_rows / height + 0.01, 1, 1))
    else:
        axes[0, 0].legend()
        fig.tight_layout()
    return axes[:, 0]


NODE_TYPE_COLORS = {"user": "tab:orange", "movie": "tab:blue", "genre": "tab:green",
                    "director": "tab:red", "actor": "tab:purple"}


@_styled
def plot_neighbourhood(kg, edges, center: int, *, max_label: int = 24):
    """Draw a movie's neighbourhood in the knowledge graph, one colour per node type.

    ``edges``: ``(movie_type, movie, other_type, other)`` tuples from
    :func:`course_lib.kg.neighbourhood`; ``center`` is the movie they surround. The movie sits
    in the middle, its raters and genres in a column on its left (named on their left), its
    people on its right (named on their right); the person whose other films are shown sits
    below the movie, those films in the right-hand column below the people. Every node is
    named in full, a name longer than ``max_label`` characters on two lines or more.
    """
    import networkx as nx

    g = nx.Graph()
    for t1, i, t2, j in edges:
        g.add_edge((t1, i), (t2, j))
    middle = ("movie", center)
    g.add_node(middle)
    order = list(NODE_TYPE_COLORS)

    def key(node):
        return (order.index(node[0]) if node[0] in order else len(order), node[0], node[1])

    def label(node):
        t, i = node
        name = str(kg.names[t][i]) if t in kg.names else f"{t} {i}"
        return textwrap.fill(name, max_label)

    first = sorted(g[middle], key=key)
    second = sorted((n for n in g if n != middle and n not in g[middle]), key=key)
    hubs = [n for n in first if any(m in second for m in g[n])]
    left = [n for n in first if n[0] in ("user", "genre")]
    right = [n for n in first if n not in left and n not in hubs]

    row, group = 24.0, 10.0                       # pixels: one line of a column; between types
    top = 44.0                                    # room above for the movie's own name

    def stack(nodes, y):
        ys, previous = {}, None
        for n in nodes:
            y += group if previous not in (None, n[0]) else 0
            height = row * (label(n).count("\n") + 1)
            ys[n], y, previous = y + height / 2, y + height, n[0]
        return ys, y

    left_y, left_end = stack(left, top)
    right_y, right_end = stack(right, top)
    second_y, second_end = stack(second, right_end + 2 * group if right else top)
    hub_y = {h: np.mean([second_y[m] for m in g[h] if m in second_y]) + row * k
             for k, h in enumerate(hubs)}
    ring = [*left_y.values(), *right_y.values()] or [top]
    middle_y = max(float(np.mean(ring)), top + 16)
    height_px = max(left_end, second_end, *(y + row for y in hub_y.values())) + 6

    title_px, legend_px = 56.0, 36.0
    side_px = 10.0                                # the axes' box, with the saving's padding,
    width_px = FIG_WIDTH * DPI - 2 * side_px      # stays within the column
    fig = plt.figure(figsize=(FIG_WIDTH, (height_px + title_px + legend_px) / DPI), dpi=DPI)
    total = fig.get_figheight() * DPI
    ax = fig.add_axes((side_px / (FIG_WIDTH * DPI), legend_px / total,
                       width_px / (FIG_WIDTH * DPI), height_px / total))
    renderer = _renderer(fig)

    def width(nodes):
        widths = [0.0]
        for n in nodes:
            probe = ax.text(0, 0, label(n), fontsize=MIN_FONT_PT)
            widths.append(probe.get_window_extent(renderer).width)
            probe.remove()
        return max(widths)

    sizes = {n: 500 if n == middle else 160 for n in g}
    radius = {n: np.sqrt(s) / 2 * DPI / 72 for n, s in sizes.items()}
    gap, margin = 4.0, 6.0
    left_x = margin + width(left) + gap + 9
    right_x = width_px - margin - width(right + second) - gap - 9
    middle_x = (left_x + right_x) / 2
    pos = {middle: (middle_x, middle_y)}
    pos |= {n: (left_x, y) for n, y in left_y.items()}
    pos |= {n: (right_x, y) for n, y in {**right_y, **second_y}.items()}
    pos |= {n: (middle_x, y) for n, y in hub_y.items()}

    nx.draw_networkx_edges(g, pos, ax=ax, alpha=0.35)
    for t, color in NODE_TYPE_COLORS.items():
        nodes = [n for n in g if n[0] == t]
        if nodes:
            nx.draw_networkx_nodes(g, pos, nodelist=nodes, node_color=color,
                                   node_size=[sizes[n] for n in nodes], ax=ax, label=t)
    for n in g:                                   # each name on the side away from its edges
        side = -1 if n in left_y or n in hub_y else 1
        offset = (radius[n] + gap) * 72 / DPI
        if n == middle:
            ax.annotate(label(n), pos[n], xytext=(0, offset), textcoords="offset points",
                        ha="center", va="bottom", fontsize=MIN_FONT_PT,
                        bbox=dict(boxstyle="square,pad=0.1", fc="white", ec="none",
                                  alpha=0.85))
        else:
            ax.annotate(label(n), pos[n], xytext=(side * offset, 0), textcoords="offset points",
                        ha="left" if side > 0 else "right", va="center", fontsize=MIN_FONT_PT)
    ax.set_xlim(0, width_px)
    ax.set_ylim(height_px, 0)
    ax.axis("off")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=5, markerscale=0.7,
              frameon=False, handletextpad=0.1, columnspacing=0.8)
    name = str(kg.names["movie"][center]) if "movie" in kg.names else f"movie {center}"
    fig.suptitle(textwrap.fill(f"Around {name}: its raters, genres, director and actors, "
                               "and other films of one of its people", 56),
                 y=1 - 6 / total, va="top")
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
