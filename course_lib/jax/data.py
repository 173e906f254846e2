"""The shared graph and split as a jraph ``GraphsTuple`` (the PyG twin is ``course_lib/pyg/data.py``).

Node layout (offsets): users are nodes ``0 .. num_users-1``; movie ``j`` is node
``num_users + j`` (:func:`movie_offset`). Edge layout: the first ``E`` edges run user -> movie
(``rates``), the next ``E`` run movie -> user (``rev_rates``), edge ``E + e`` being the reverse of
edge ``e``. One graph in the tuple: ``n_node = [num_users + num_movies]``, ``n_edge = [2E]``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import jraph
import numpy as np

from ..graph import BipartiteGraph, EdgeSplit, bipartite_to_directed
from ..kg import EDGE_TYPES


def movie_offset(graph: BipartiteGraph) -> int:
    """Node id of movie 0 in the ``GraphsTuple`` (movies follow the users)."""
    return graph.num_users


def to_graphstuple(graph: BipartiteGraph, edge_ids: np.ndarray | None = None) -> jraph.GraphsTuple:
    """A ``GraphsTuple`` whose edges are ``graph``'s edges ``edge_ids`` (all if None), both ways.

    ``nodes`` is a dict: ``node_id`` (index within its type), ``is_movie`` (bool) and ``x`` (the 20
    genre indicators; zeros for users). ``edges`` is a dict with ``rating`` and ``is_reverse``.
    """
    ei = graph.edge_index if edge_ids is None else graph.edge_index[:, np.asarray(edge_ids)]
    rating = graph.rating if edge_ids is None else graph.rating[np.asarray(edge_ids)]
    senders, receivers = bipartite_to_directed(ei, graph.num_users)
    num_edges = ei.shape[1]
    x = np.zeros((graph.num_nodes, graph.movie_x.shape[1]), dtype=np.float32)
    x[graph.num_users:] = graph.movie_x
    nodes = {
        "node_id": jnp.asarray(np.concatenate([np.arange(graph.num_users),
                                               np.arange(graph.num_movies)]), dtype=jnp.int32),
        "is_movie": jnp.asarray(np.arange(graph.num_nodes) >= graph.num_users),
        "x": jnp.asarray(x),
    }
    edges = {
        "rating": jnp.asarray(np.concatenate([rating, rating])),
        "is_reverse": jnp.asarray(np.arange(2 * num_edges) >= num_edges),
    }
    return jraph.GraphsTuple(
        nodes=nodes, edges=edges,
        senders=jnp.asarray(senders, dtype=jnp.int32),
        receivers=jnp.asarray(receivers, dtype=jnp.int32),
        n_node=jnp.asarray([graph.num_nodes], dtype=jnp.int32),
        n_edge=jnp.asarray([2 * num_edges], dtype=jnp.int32),
        globals=None,
    )


def split_graphstuple(graph: BipartiteGraph, split: EdgeSplit) -> dict[str, jraph.GraphsTuple]:
    """``{'train', 'val', 'test'}`` -> ``GraphsTuple`` with that part's message-passing edges.

    The labelled pairs of each part stay in ``split`` (``split.labelled_pairs(graph, part)``), in
    user/movie indices; add :func:`movie_offset` to a movie index to get its node id.
    """
    return {part: to_graphstuple(graph, split.message_edges(part))
            for part in ("train", "val", "test")}


class HeteroGraph(NamedTuple):
    """The JAX counterpart of PyG's ``HeteroData`` for the knowledge graph (a pytree, so it can
    be passed to jitted functions).

    ``node_id[t]``: ``arange(num_nodes[t])`` per node type (its length gives the static node
    count); ``movie_x``: movie features; ``edge_index[name]``: ``[2, E]`` (source, destination)
    indices of the edge type whose relation is ``name``, each counted within its own node type.
    ``edge_types`` (static) lists the ``(src, name, dst)`` triples in the knowledge graph's order.
    """

    node_id: dict
    movie_x: jnp.ndarray
    edge_index: dict

    @property
    def edge_types(self) -> tuple:
        return tuple(_EDGE_TYPE_OF[name] for name in self.edge_index)


_EDGE_TYPE_OF = {name: (src, name, dst) for src, name, dst in EDGE_TYPES}


def from_knowledge_graph(kg, edge_index_dict: dict) -> HeteroGraph:
    """A :class:`HeteroGraph` of a :class:`~course_lib.kg.KnowledgeGraph` with the edges
    ``edge_index_dict`` (from :meth:`~course_lib.kg.KnowledgeGraph.message_edges`)."""
    return HeteroGraph(
        node_id={t: jnp.arange(kg.num_nodes[t], dtype=jnp.int32) for t in kg.node_types},
        movie_x=jnp.asarray(kg.movie_x),
        edge_index={name: jnp.asarray(ei, dtype=jnp.int32)
                    for (_, name, _), ei in edge_index_dict.items()},
    )


class Adjacency(NamedTuple):
    """``L = D^-1/2 A D^-1/2`` as a sparse edge list (a pytree): ``L @ X`` is
    ``segment_sum(weights * X[senders], receivers)``. Edges are sorted by receiver."""

    senders: jnp.ndarray
    receivers: jnp.ndarray
    weights: jnp.ndarray

    def propagate(self, x: jnp.ndarray) -> jnp.ndarray:
        """``L @ x`` without building ``L``: gather, weight, sum per receiver."""
        return jraph.segment_sum(x[self.senders] * self.weights[:, None], self.receivers,
                                 num_segments=x.shape[0], indices_are_sorted=True)


def to_normalized_adjacency(graph: BipartiteGraph, edge_ids) -> Adjacency:
    """The JAX twin of :func:`course_lib.pyg.data.to_normalized_adjacency`: the same weights
    (:func:`course_lib.cf.normalized_adjacency`) as an :class:`Adjacency` edge list."""
    from ..cf import normalized_adjacency

    senders, receivers, weights = normalized_adjacency(
        graph.edge_index[:, np.asarray(edge_ids)], graph.num_users, graph.num_movies)
    order = np.argsort(receivers, kind="stable")
    return Adjacency(jnp.asarray(senders[order], dtype=jnp.int32),
                     jnp.asarray(receivers[order], dtype=jnp.int32),
                     jnp.asarray(weights[order]))
