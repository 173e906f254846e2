"""The course's six conceptual diagrams, drawn with matplotlib and saved as SVG.

    python scripts/diagrams.py [--out DIR]      (default: book/figures/)

writes one file per function below:

* ``message_passing_step.svg`` (chapter 1): one message-passing step at a node v;
* ``message_vs_supervision_edges.svg`` (chapters 2 and 3): message, supervision, held-out and
  negative edges of a link-prediction split;
* ``sampled_subgraph.svg`` (chapter 3): the two-hop subgraph ``LinkNeighborLoader`` samples
  around a target edge;
* ``gcmc_rating_messages.svg`` (chapter 4): GC-MC's messages, one weight matrix per rating
  level, and its bilinear decoder;
* ``ngcf_vs_lightgcn_layer.svg`` (chapter 6): an NGCF layer beside a LightGCN layer;
* ``two_tower_retrieval.svg`` (chapter 7): serving recommendations from embedding tables.

Every figure is 5.5 inches wide with text of at least 15 pt (scripts at 10.5 pt), so the
smallest text is still 9.5 px high when the book shows the figure 360 px wide on a phone.
The files are byte-for-byte reproducible (fixed layout, no randomness, no date, a fixed hash
salt, text drawn as paths); ``tests/test_diagrams.py`` checks the committed files against a
fresh run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Rectangle

OUT = Path(__file__).resolve().parent.parent / "book" / "figures"
WIDTH = 5.5   # inches; the axes' data units are inches
FS = 15       # points: every text; mathtext scripts are 0.7 of it

# Okabe-Ito colours (safe for colour-blind readers), one meaning each in every figure.
USER, MOVIE = "#E69F00", "#56B4E9"
TARGET = "#009E73"     # what is computed or predicted: the target node, supervision edges
HELD = "#CC79A7"       # validation and test edges
NEG = "#D55E00"        # negative (unrated) pairs, masked movies
GREY, PALE, INK = "#AAAAAA", "#EEEEEE", "#222222"
RATING = {1: "#440154", 2: "#3B528B", 3: "#21918C", 4: "#5EC962", 5: "#B5DE2B"}  # viridis

STYLE = {"svg.hashsalt": "course", "svg.fonttype": "path", "mathtext.fontset": "dejavusans",
         "font.family": "DejaVu Sans", "font.size": FS, "lines.solid_capstyle": "butt"}


# --- drawing helpers ------------------------------------------------------------------------

def _canvas(height, bottom=0.0):
    """A figure WIDTH x height inches whose data coordinates are inches (y from ``bottom``),
    without axes."""
    fig = Figure(figsize=(WIDTH, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, WIDTH)
    ax.set_ylim(bottom, bottom + height)
    ax.set_axis_off()
    return fig, ax


def _text(ax, xy, s, size=FS, **kw):
    kw = {"ha": "center", "va": "center", "color": INK, **kw}
    ax.text(*xy, s, fontsize=size, **kw)


def _node(ax, xy, fc, label="", r=0.2, ls="-", ec=INK, **kw):
    ax.add_patch(Circle(xy, r, fc=fc, ec=ec, lw=1.5, ls=ls, zorder=3))
    if label:
        _text(ax, xy, label, zorder=4, **kw)


def _box(ax, xy, w, h, label="", fc="white", ec=INK, tc=INK, ls="-"):
    x, y = xy
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, fc=fc, ec=ec, lw=1.5, ls=ls,
                                boxstyle="round,pad=0,rounding_size=0.08", zorder=3))
    if label:
        _text(ax, xy, label, color=tc, zorder=4)


def _vector(ax, xy, color, n=3, cell=0.18, vertical=True, fills=None):
    """A vector as ``n`` cells centred on ``xy`` (``fills``: one colour per cell)."""
    x, y = xy
    for k, fc in enumerate(fills or [color] * n):
        if vertical:
            corner = (x - cell / 2, y + n * cell / 2 - (k + 1) * cell)
        else:
            corner = (x - n * cell / 2 + k * cell, y - cell / 2)
        ax.add_patch(Rectangle(corner, cell, cell, fc=fc, ec=INK, lw=1.2, zorder=3))


def _arrow(ax, a, b, color=INK, lw=1.8, ls="-", head=True, rad=0.0, z=2):
    style = "-|>,head_length=0.5,head_width=0.25" if head else "-"
    ax.add_patch(FancyArrowPatch(a, b, arrowstyle=style, mutation_scale=14, color=color, lw=lw,
                                 ls=ls, shrinkA=0, shrinkB=0, zorder=z,
                                 connectionstyle=f"arc3,rad={rad}"))


def _towards(a, b, r):
    """The point at distance ``r`` from ``a`` on the way to ``b``."""
    d = ((b[0] - a[0]) ** 2 + (b[1] - a[1]) ** 2) ** 0.5
    return a[0] + (b[0] - a[0]) * r / d, a[1] + (b[1] - a[1]) * r / d


def _edge(ax, a, b, ra=0.2, rb=0.2, **kw):
    """An arrow (or a line, ``head=False``) between two circles of radii ``ra`` and ``rb``."""
    _arrow(ax, _towards(a, b, ra), _towards(b, a, rb), **kw)


# --- the diagrams -----------------------------------------------------------------------------

def message_passing_step():
    """Chapter 1: the neighbours' messages are summed, and an update turns the sum and the
    node's own embedding into its next embedding."""
    fig, ax = _canvas(4.45)
    v, hub = (0.5, 2.2), (2.95, 2.2)
    neighbours = [(1.45, 3.75), (1.45, 2.2), (1.45, 0.65)]
    for u in neighbours:                                   # the tiny graph: v and its neighbours
        _edge(ax, v, u, 0.28, 0.2, color=GREY, lw=2.5, head=False)
        _node(ax, u, "white")
        _arrow(ax, _towards(u, hub, 0.2), _towards(hub, u, 0.3))          # the message u -> v
        mid = ((u[0] + hub[0]) / 2, (u[1] + hub[1]) / 2)
        _vector(ax, mid, PALE, cell=0.17)
    _node(ax, v, TARGET, "$v$", r=0.28, color="white")
    _text(ax, (1.45, 4.2), r"$u \in \mathcal{N}(v)$")
    _text(ax, (2.4, 3.2), r"$\mathbf{m}_{u \to v}$", ha="left")
    _box(ax, hub, 0.55, 0.55, r"$\Sigma$")
    _box(ax, (4.1, 2.2), 1.0, 0.55, "update")
    _arrow(ax, (3.23, 2.2), (3.6, 2.2))
    _arrow(ax, (4.6, 2.2), (4.95, 2.2))
    _vector(ax, (5.15, 2.2), TARGET)
    _text(ax, (5.1, 1.5), r"$\mathbf{h}_v^{(\ell+1)}$")
    _vector(ax, (4.1, 0.75), TARGET, vertical=False)                  # v's current embedding
    _arrow(ax, (4.1, 0.84), (4.1, 1.92))
    _text(ax, (3.4, 0.78), r"$\mathbf{h}_v^{(\ell)}$")
    return fig


def message_vs_supervision_edges():
    """Chapters 2 and 3: a split of the rating edges for link prediction; the model passes
    messages over the solid edges only, and every target is a pair it cannot see."""
    fig, ax = _canvas(6.3)
    users = [(0.8, 5.3 - 0.95 * k) for k in range(4)]
    movies = [(4.7, 5.5 - 0.85 * k) for k in range(5)]
    _text(ax, (0.8, 6.0), "users")
    _text(ax, (4.7, 6.0), "movies")
    message = [(0, 0), (0, 2), (1, 1), (2, 2), (2, 4), (3, 3), (1, 2)]
    styles = {"message": {"color": INK, "lw": 2.2},
              "supervision": {"color": TARGET, "lw": 3, "ls": (0, (5, 3))},
              "held": {"color": HELD, "lw": 3.2, "ls": (0, (1, 1.6))},
              "negative": {"color": NEG, "lw": 2.4, "ls": (0, (3, 3))}}
    edges = [("message", e) for e in message] + [
        ("supervision", (0, 1)), ("supervision", (3, 4)),
        ("held", (1, 0)), ("held", (2, 3)), ("negative", (3, 2))]
    for kind, (u, m) in edges:
        _edge(ax, users[u], movies[m], 0.22, 0.22, head=False, **styles[kind])
        if kind == "negative":
            mid = (users[u][0] * 0.3 + movies[m][0] * 0.7, users[u][1] * 0.3 + movies[m][1] * 0.7)
            _text(ax, mid, "✗", size=24, color=NEG, fontweight="bold", zorder=4)
    for xy in users:
        _node(ax, xy, USER, r=0.22)
    for xy in movies:
        _node(ax, xy, MOVIE, r=0.22)
    legend = [("message", "message edge: the model sees it"),
              ("supervision", "supervision: training target, unseen"),
              ("held", "validation / test: held out"),
              ("negative", "negative: a pair never rated")]
    for k, (kind, words) in enumerate(legend):
        y = 1.55 - 0.42 * k
        _arrow(ax, (0.15, y), (0.95, y), head=False, **styles[kind])
        _text(ax, (1.15, y), words, ha="left")
    return fig


KEPT, DROPPED = {"lw": 2.2}, {"color": GREY, "lw": 1.5, "ls": (0, (3, 3))}


def _left_out(ax, xy, r=0.2):
    """A node the sampler did not take: dashed grey outline, no fill."""
    _node(ax, xy, "white", ls=(0, (2, 2)), ec=GREY, r=r)


def sampled_subgraph():
    """Chapter 3: the subgraph sampled for one target edge, two neighbours of each endpoint
    (hop 1), then one neighbour of each of those (hop 2); grey nodes are left out."""
    fig, ax = _canvas(5.0)
    u, m = (2.1, 2.4), (3.4, 2.4)
    _text(ax, (2.75, 2.8), "target edge")
    for side, (end, near, far) in {-1: (u, MOVIE, USER), 1: (m, USER, MOVIE)}.items():
        x1, x2 = end[0] + side * 0.85, end[0] + side * 1.7
        _text(ax, (x1, 4.7), "hop 1")
        _text(ax, (x2, 4.7), "hop 2")
        for y1, sampled in [(3.7, True), (2.4, False), (1.1, True)]:
            hop1 = (x1, y1)
            _edge(ax, end, hop1, 0.25, 0.2, head=False, **(KEPT if sampled else DROPPED))
            if not sampled:
                _left_out(ax, hop1)
                continue
            _node(ax, hop1, near)
            outwards = 1 if y1 > end[1] else -1
            for dy, taken in [(0.45, True), (-0.45, False)]:
                hop2 = (x2, y1 + outwards * dy)
                _edge(ax, hop1, hop2, 0.2, 0.2, head=False, **(KEPT if taken else DROPPED))
                if taken:
                    _node(ax, hop2, far)
                else:
                    _left_out(ax, hop2)
    _edge(ax, u, m, 0.25, 0.25, color=TARGET, lw=4, ls=(0, (3, 1.5)), head=False)
    _node(ax, u, USER, "$u$", r=0.25)
    _node(ax, m, MOVIE, "$m$", r=0.25)
    _left_out(ax, (1.55, 0.35), r=0.15)
    _text(ax, (1.8, 0.35), "not sampled", ha="left", color="#555555")
    return fig


def gcmc_rating_messages():
    """Chapter 4: GC-MC. Each rating level r has its own weight matrix W_r; the messages to a
    user are summed per level and the per-level sums stacked; a bilinear decoder then gives a
    probability per level."""
    fig, ax = _canvas(6.0, bottom=0.45)
    movies = [(0.35, 6.0), (0.35, 5.25), (0.35, 4.45), (0.35, 3.65)]
    ratings = [5, 5, 3, 1]
    weights = {5: (2.05, 5.62), 3: (2.05, 4.45), 1: (2.05, 3.65)}
    for xy, r, dy in zip(movies, ratings, [0.22, -0.22, 0.22, 0.22]):
        end = (weights[r][0] - 0.33, weights[r][1])
        _edge(ax, xy, end, 0.18, 0, color=RATING[r], lw=3)
        _node(ax, xy, MOVIE, r=0.18)
        _text(ax, ((xy[0] + end[0]) / 2, (xy[1] + end[1]) / 2 + dy), f"{r}★")
    stack = (3.3, 4.8)                                   # the per-level sums, stacked: r = 5..1
    fills = [RATING[5], "white", RATING[3], "white", RATING[1]]
    _vector(ax, stack, None, n=5, cell=0.3, fills=fills)
    for r, xy in weights.items():
        _box(ax, xy, 0.66, 0.45, f"$W_{r}$", fc=RATING[r], tc="white" if r < 4 else INK)
        row = stack[1] + 0.6 - 0.3 * (5 - r)
        _arrow(ax, (xy[0] + 0.33, xy[1]), (stack[0] - 0.17, row), color=RATING[r], lw=2)
    _text(ax, (3.3, 5.85), r"$\Vert_r$")
    _arrow(ax, (3.48, 4.8), (4.2, 4.8))
    _text(ax, (3.84, 5.1), "ReLU")
    _vector(ax, (4.45, 4.8), USER)
    _node(ax, (5.05, 4.8), USER, "$u$", r=0.22)
    _text(ax, (4.45, 4.15), r"$\mathbf{z}_u$")
    ax.plot([0.2, 5.3], [3.05, 3.05], color=GREY, lw=1, ls=(0, (4, 4)))
    # decoder
    _vector(ax, (0.55, 2.25), USER, vertical=False)
    _vector(ax, (0.55, 1.65), MOVIE, vertical=False)
    bilinear = r"$\mathrm{softmax}_r(\mathbf{z}_u^{\top} Q_r\, \mathbf{z}_m)$"
    _box(ax, (2.55, 1.95), 2.3, 0.6, bilinear)
    _arrow(ax, (1.0, 2.25), (1.38, 2.07))
    _arrow(ax, (1.0, 1.65), (1.38, 1.83))
    _arrow(ax, (3.72, 1.95), (4.05, 1.95))
    probs = [0.05, 0.1, 0.2, 0.4, 0.25]
    for k, p in enumerate(probs):
        ax.add_patch(Rectangle((4.15 + 0.24 * k, 1.1), 0.2, 2.4 * p, fc=RATING[k + 1], ec=INK,
                               lw=1, zorder=3))
    ax.plot([4.1, 5.35], [1.1, 1.1], color=INK, lw=1.2)
    _text(ax, (4.75, 0.75), r"$p(r \mid u, m)$")
    return fig


def ngcf_vs_lightgcn_layer():
    """Chapter 6: one layer of NGCF beside one layer of LightGCN (the shaded panels), and how
    each combines its L layers into the final embedding (below them)."""
    fig, ax = _canvas(7.3)
    norm = r"\Sigma_i\,\cdot/\sqrt{d_u d_i}"
    for cx, name in [(1.375, "NGCF layer"), (4.125, "LightGCN layer")]:
        ax.add_patch(FancyBboxPatch((cx - 1.27, 1.3), 2.54, 5.3, fc="#F4F4F4", ec="none",
                                    boxstyle="round,pad=0,rounding_size=0.1", zorder=1))
        _text(ax, (cx, 6.95), name, fontweight="bold")
        for dx in (-0.75, 0.05) if cx < 2 else (-0.5, 0.5):
            _node(ax, (cx + dx, 6.1), MOVIE, r=0.18)
            _arrow(ax, (cx + dx, 5.92), (cx + dx * 0.5, 5.32))
        _arrow(ax, (cx, 4.8), (cx, 4.37))
        _vector(ax, (cx - 0.55, 1.8), USER, vertical=False)
        _text(ax, (cx + 0.35, 1.8), r"$\mathbf{e}_u^{(\ell+1)}$")
    # NGCF: weights, an element-wise product with the receiver, a self connection, LeakyReLU
    _node(ax, (2.25, 6.1), USER, "$u$", r=0.18)
    _arrow(ax, (2.25, 5.92), (2.25, 5.32))
    _box(ax, (1.375, 5.05), 2.4, 0.5, r"$W_1\mathbf{e}_i + W_2(\mathbf{e}_i \odot \mathbf{e}_u)$")
    _box(ax, (1.375, 4.05), 2.4, 0.6, f"${norm} + W_1\\mathbf{{e}}_u$")
    _arrow(ax, (1.375, 3.75), (1.375, 3.15))
    _box(ax, (1.375, 2.85), 1.5, 0.55, "LeakyReLU")
    _arrow(ax, (1.375, 2.57), (1.375, 2.05))
    # LightGCN: the normalised sum of the neighbours' embeddings, nothing else
    _box(ax, (4.125, 5.05), 1.0, 0.5, r"$\mathbf{e}_i$")
    _box(ax, (4.125, 4.05), 2.0, 0.6, f"${norm}$")
    _arrow(ax, (4.125, 3.75), (4.125, 2.05))
    _box(ax, (4.125, 2.85), 1.6, 0.55, "no activation", fc="#F4F4F4", ec=GREY, tc="#555555",
         ls=(0, (3, 2)))
    # the final embedding, from the layers 0..L
    concat = r"\mathbf{e}_u^{(0)} \Vert \cdots \Vert \mathbf{e}_u^{(L)}"
    _text(ax, (1.375, 0.75), f"$\\mathbf{{e}}_u = {concat}$")
    _text(ax, (4.125, 0.75), r"$\mathbf{e}_u = \mathrm{mean}_\ell\, \mathbf{e}_u^{(\ell)}$")
    return fig


def two_tower_retrieval():
    """Chapter 7: offline, the GNN fills two embedding tables; online, a user's row is scored
    against every movie's, seen movies are masked, and the best k are returned."""
    fig, ax = _canvas(4.6, bottom=1.3)
    _box(ax, (0.6, 4.75), 0.9, 0.6, "GNN")
    _text(ax, (1.95, 5.6), "users")
    _text(ax, (3.55, 5.6), "movie index")
    for row in range(4):
        _vector(ax, (1.95, 5.3 - 0.2 * row), USER, vertical=False, cell=0.2)
    for row in range(6):
        _vector(ax, (3.55, 5.2 - 0.2 * row), MOVIE, vertical=False, cell=0.2)
    ax.add_patch(Rectangle((1.63, 4.78), 0.64, 0.24, fc="none", ec=INK, lw=2.5, zorder=4))
    _arrow(ax, (1.05, 4.9), (1.6, 5.05))
    _arrow(ax, (1.05, 4.5), (3.2, 4.15))
    ax.plot([0.1, 5.4], [3.75, 3.75], color=GREY, lw=1, ls=(0, (4, 4)))
    _text(ax, (5.45, 4.0), "offline", ha="right", color="#555555")
    _text(ax, (5.45, 3.5), "online", ha="right", color="#555555")
    # online: look the user up, score every movie, mask the seen ones, keep the best k
    _text(ax, (0.6, 2.45), "user id")
    _arrow(ax, (1.1, 2.45), (1.6, 2.45))
    _arrow(ax, (1.95, 4.75), (1.95, 2.6), ls=(0, (3, 2)))
    _vector(ax, (1.95, 2.45), USER, vertical=False, cell=0.2)
    _arrow(ax, (3.55, 4.05), (3.55, 3.3), ls=(0, (3, 2)))
    _arrow(ax, (2.3, 2.45), (3.25, 2.45))
    _text(ax, (2.75, 2.8), r"$\mathbf{z}_u^\top\mathbf{z}_m$")
    scores = [0.9, 0.3, 0.8, 0.6, 0.1, 0.7]
    seen = {0, 3}
    blues = matplotlib.colormaps["Blues"]
    for k, score in enumerate(scores):
        y = 3.05 - 0.24 * k
        ax.add_patch(Rectangle((3.35, y), 0.4, 0.24, fc=blues(score), ec=INK, lw=1, zorder=3))
        fc = PALE if k in seen else blues(score)
        ax.add_patch(Rectangle((4.05, y), 0.4, 0.24, fc=fc, ec=INK, lw=1, zorder=3))
        if k in seen:
            ax.plot([4.05, 4.45], [y, y + 0.24], color=NEG, lw=2, zorder=4)
            ax.plot([4.05, 4.45], [y + 0.24, y], color=NEG, lw=2, zorder=4)
    _arrow(ax, (3.8, 2.45), (4.0, 2.45))
    _arrow(ax, (4.5, 2.45), (4.8, 2.45))
    best = sorted((s for k, s in enumerate(scores) if k not in seen), reverse=True)[:3]
    for k, score in enumerate(best):
        ax.add_patch(Rectangle((4.9, 2.57 - 0.24 * k + 0.12), 0.4, 0.24, fc=blues(score),
                               ec=INK, lw=1, zorder=3))
    _text(ax, (4.25, 1.65), "mask seen")
    _text(ax, (5.1, 2.0), "top-$k$")
    return fig


DIAGRAMS = {f"{f.__name__}.svg": f for f in (
    message_passing_step, message_vs_supervision_edges, sampled_subgraph, gcmc_rating_messages,
    ngcf_vs_lightgcn_layer, two_tower_retrieval)}


def write_all(out: Path = OUT) -> list[Path]:
    """Draw every diagram into ``out``; return the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    with matplotlib.rc_context(STYLE):
        for name, draw in DIAGRAMS.items():
            draw().savefig(out / name, format="svg", metadata={"Date": None})
            paths.append(out / name)
    return paths


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"output folder (default {OUT})")
    for path in write_all(parser.parse_args(argv).out):
        print(path)


if __name__ == "__main__":
    main()
