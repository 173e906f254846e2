"""Small graphs that ship offline, for the chapter "Graph prediction tasks" (framework-neutral).

* :func:`karate_club` - node classification: Zachary's karate club, which club each member joined;
* :func:`les_miserables` + :func:`split_links` - link prediction: co-appearances in *Les Misérables*;
* :func:`cycle_dataset` - graph classification: random graphs labelled by "contains a cycle".

Every graph is a :class:`Graph` of numpy arrays, with each undirected edge stored in both
directions; :func:`course_lib.pyg.graph_tasks.to_data` and :func:`course_lib.jax.graph_tasks.to_graphstuple`
turn it into the two frameworks' types.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np


@dataclass(frozen=True)
class Graph:
    """An undirected graph: ``edge_index`` ``[2, 2E]`` holds every edge in both directions."""

    num_nodes: int
    edge_index: np.ndarray            # [2, 2E] int64, both directions
    x: np.ndarray                     # [num_nodes, F] float32 node features
    y: np.ndarray | int | None = None  # node labels [num_nodes] or a graph label
    names: tuple[str, ...] = ()

    @property
    def num_edges(self) -> int:
        """Number of undirected edges."""
        return self.edge_index.shape[1] // 2

    def undirected_edges(self) -> np.ndarray:
        """``[2, E]``: each undirected edge once, smaller node first."""
        ei = self.edge_index
        return ei[:, ei[0] < ei[1]]


def from_networkx(g: nx.Graph, x: np.ndarray | None = None, y=None) -> Graph:
    """A :class:`Graph` from a networkx graph (nodes relabelled 0..n-1 in iteration order)."""
    nodes = list(g.nodes)
    index = {node: i for i, node in enumerate(nodes)}
    pairs = np.array([(index[u], index[v]) for u, v in g.edges if u != v], dtype=np.int64)
    pairs = pairs.reshape(-1, 2).T
    edge_index = np.concatenate([pairs, pairs[::-1]], axis=1)
    n = len(nodes)
    if x is None:
        x = np.ones((n, 1), dtype=np.float32)
    return Graph(num_nodes=n, edge_index=edge_index, x=x.astype(np.float32), y=y,
                 names=tuple(str(v) for v in nodes))


# --------------------------------------------------------------------------------------------------
# Node classification
# --------------------------------------------------------------------------------------------------

KARATE_CLUBS = ("Mr. Hi", "Officer")
KARATE_LABELLED = np.array([0, 1, 32, 33])  # two members of each club: the instructor, the officer


def karate_club() -> tuple[Graph, np.ndarray]:
    """Zachary's karate club (34 members, 78 ties) and the indices of the labelled members.

    ``y[i]`` is the club member ``i`` joined after the split (0: Mr. Hi's, 1: the Officer's).
    Features are one-hot node ids (``x`` is the 34 x 34 identity), as in Kipf & Welling (2017).
    Only :data:`KARATE_LABELLED` (two members per club) are used for training.
    """
    g = nx.karate_club_graph()
    y = np.array([KARATE_CLUBS.index(g.nodes[i]["club"]) for i in g.nodes], dtype=np.int64)
    graph = from_networkx(g, x=np.eye(g.number_of_nodes(), dtype=np.float32), y=y)
    return graph, KARATE_LABELLED.copy()


# --------------------------------------------------------------------------------------------------
# Link prediction
# --------------------------------------------------------------------------------------------------


def les_miserables() -> Graph:
    """Co-appearance network of the characters of *Les Misérables* (77 nodes, 254 edges).

    Features are one-hot node ids. ``names`` holds the characters' names.
    """
    g = nx.les_miserables_graph()
    return from_networkx(g, x=np.eye(g.number_of_nodes(), dtype=np.float32))


@dataclass(frozen=True)
class LinkSplit:
    """Held-out edges of an undirected graph, with one sampled negative per positive.

    ``train_graph`` keeps only the training edges (its message-passing edges, both directions).
    ``val``/``test`` are ``(pairs [2, n], labels [n])``: positives first, then negatives.
    """

    train_graph: Graph
    train_pos: np.ndarray          # [2, E_train] undirected training edges (the positives)
    val: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]


def sample_non_edges(num_nodes: int, forbidden: np.ndarray, num: int,
                     rng: np.random.Generator) -> np.ndarray:
    """``num`` distinct node pairs ``u < v`` that are not in ``forbidden`` (``[2, k]``, u < v)."""
    taken = set((forbidden[0] * num_nodes + forbidden[1]).tolist())
    out: list[tuple[int, int]] = []
    while len(out) < num:
        u, v = sorted(rng.choice(num_nodes, size=2, replace=False).tolist())
        if u * num_nodes + v not in taken:
            taken.add(u * num_nodes + v)
            out.append((u, v))
    return np.array(out, dtype=np.int64).reshape(-1, 2).T


def split_links(graph: Graph, val_ratio: float = 0.1, test_ratio: float = 0.2,
                seed: int = 0) -> LinkSplit:
    """Hold out ``val_ratio`` and ``test_ratio`` of the undirected edges, seeded.

    Negatives (one per held-out positive) are pairs with no edge in the *whole* graph.
    """
    rng = np.random.default_rng(seed)
    edges = graph.undirected_edges()
    perm = rng.permutation(edges.shape[1])
    n_val, n_test = int(len(perm) * val_ratio), int(len(perm) * test_ratio)
    val_pos = edges[:, perm[:n_val]]
    test_pos = edges[:, perm[n_val:n_val + n_test]]
    train_pos = edges[:, perm[n_val + n_test:]]
    negatives = sample_non_edges(graph.num_nodes, edges, n_val + n_test, rng)

    def labelled(pos, neg):
        return (np.concatenate([pos, neg], axis=1),
                np.concatenate([np.ones(pos.shape[1]), np.zeros(neg.shape[1])]).astype(np.float32))

    train_graph = Graph(graph.num_nodes, np.concatenate([train_pos, train_pos[::-1]], axis=1),
                        graph.x, graph.y, graph.names)
    return LinkSplit(train_graph=train_graph, train_pos=train_pos,
                     val=labelled(val_pos, negatives[:, :n_val]),
                     test=labelled(test_pos, negatives[:, n_val:]))


# --------------------------------------------------------------------------------------------------
# Graph classification
# --------------------------------------------------------------------------------------------------


def degree_features(g: nx.Graph, max_degree: int = 5) -> np.ndarray:
    """One-hot node degree, degrees above ``max_degree`` sharing the last column (PyG's
    ``OneHotDegree`` idea): the usual input when a graph's nodes carry no features."""
    deg = np.array([g.degree(v) for v in g.nodes], dtype=np.int64)
    return np.eye(max_degree + 1, dtype=np.float32)[np.minimum(deg, max_degree)]


def cycle_dataset(num_graphs: int = 1000, min_nodes: int = 6, max_nodes: int = 12,
                  seed: int = 0) -> list[Graph]:
    """Random graphs ``G(n, m)`` labelled 1 if they contain a cycle, else 0 (a forest).

    ``n`` is uniform in ``[min_nodes, max_nodes]`` and ``m`` in ``[0.7 n, n - 1]``, which makes the
    classes about balanced and the edge count alone not decisive: a forest has at most ``n - 1``
    edges, but so do many graphs with a cycle. Node features are one-hot degrees
    (:func:`degree_features`); the model has to find cycles from the structure.
    """
    rng = np.random.default_rng(seed)
    graphs = []
    for _ in range(num_graphs):
        n = int(rng.integers(min_nodes, max_nodes + 1))
        m = int(rng.integers(int(0.7 * n), n))
        g = nx.gnm_random_graph(n, m, seed=int(rng.integers(2**31)))
        graphs.append(from_networkx(g, x=degree_features(g), y=int(not nx.is_forest(g))))
    return graphs


def split_graphs(graphs: list[Graph], test_ratio: float = 0.2,
                 seed: int = 0) -> tuple[list[Graph], list[Graph]]:
    """A seeded train/test split of a list of graphs."""
    perm = np.random.default_rng(seed).permutation(len(graphs))
    n_test = int(len(graphs) * test_ratio)
    return [graphs[i] for i in perm[n_test:]], [graphs[i] for i in perm[:n_test]]
