"""The shared graph and split as PyG ``HeteroData`` (the JAX twin is ``course_lib/jax/data.py``)."""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch_geometric.data import HeteroData

from ..graph import BipartiteGraph, EdgeSplit

RATES = ("user", "rates", "movie")
REV_RATES = ("movie", "rev_rates", "user")


def to_heterodata(graph: BipartiteGraph, edge_ids: np.ndarray | None = None) -> HeteroData:
    """A ``HeteroData`` whose message-passing edges are ``graph``'s edges ``edge_ids`` (all if None).

    Node stores: ``user.node_id``; ``movie.node_id`` and ``movie.x`` (the genre indicators).
    Edge stores: ``rates`` (user -> movie, with ``rating``) and its reverse ``rev_rates``, so that
    messages flow both ways. No ids are re-derived: index ``i`` here is index ``i`` in ``graph``.
    """
    ei = graph.edge_index if edge_ids is None else graph.edge_index[:, np.asarray(edge_ids)]
    rating = graph.rating if edge_ids is None else graph.rating[np.asarray(edge_ids)]
    data = HeteroData()
    data["user"].node_id = torch.arange(graph.num_users)
    data["movie"].node_id = torch.arange(graph.num_movies)
    data["movie"].x = torch.tensor(graph.movie_x)
    data[RATES].edge_index = torch.from_numpy(ei.copy())
    data[RATES].rating = torch.from_numpy(rating.copy())
    data[REV_RATES].edge_index = torch.from_numpy(ei[::-1].copy())
    data[REV_RATES].rating = torch.from_numpy(rating.copy())
    return data


def split_heterodata(graph: BipartiteGraph, split: EdgeSplit) -> dict[str, HeteroData]:
    """``{'train', 'val', 'test'}`` -> ``HeteroData`` with that part's message-passing edges.

    Labelled pairs go on the ``rates`` store as ``edge_label_index``/``edge_label`` (the names PyG's
    ``RandomLinkSplit`` and ``LinkNeighborLoader`` use). For ``train`` only the supervision
    positives are stored; negatives are sampled per epoch.
    """
    out = {}
    for part in ("train", "val", "test"):
        data = to_heterodata(graph, split.message_edges(part))
        if part == "train":
            pairs = graph.edge_index[:, split.train_supervision]
            label = np.ones(pairs.shape[1], dtype=np.float32)
        else:
            pairs, label = split.labelled_pairs(graph, part)
        data[RATES].edge_label_index = torch.from_numpy(np.ascontiguousarray(pairs))
        data[RATES].edge_label = torch.from_numpy(label)
        out[part] = data
    return out


def from_knowledge_graph(kg, edge_index_dict: dict) -> HeteroData:
    """A ``HeteroData`` of a :class:`~course_lib.kg.KnowledgeGraph` with the edges
    ``edge_index_dict`` (from :meth:`~course_lib.kg.KnowledgeGraph.message_edges`).

    Every node type present gets ``node_id`` (its index within the type); movies also get ``x``.
    Edge types keep the knowledge graph's names, e.g. ``('movie', 'has_actor', 'actor')``.
    """
    data = HeteroData()
    for node_type in kg.node_types:
        data[node_type].node_id = torch.arange(kg.num_nodes[node_type])
    data["movie"].x = torch.from_numpy(kg.movie_x)
    for edge_type, ei in edge_index_dict.items():
        data[edge_type].edge_index = torch.from_numpy(np.ascontiguousarray(ei))
    return data


def to_normalized_adjacency(graph: BipartiteGraph, edge_ids) -> torch.Tensor:
    """``L = D^-1/2 A D^-1/2`` of the interactions ``edge_ids`` as a torch sparse CSR matrix
    ``[U + M, U + M]`` (row = receiver), weights from :func:`course_lib.cf.normalized_adjacency`.
    ``L @ X`` is one propagation step; nothing dense of size ``N x N`` is ever built."""
    from ..cf import normalized_adjacency

    senders, receivers, weights = normalized_adjacency(
        graph.edge_index[:, np.asarray(edge_ids)], graph.num_users, graph.num_movies)
    n = graph.num_nodes
    coo = torch.sparse_coo_tensor(torch.from_numpy(np.stack([receivers, senders])),
                                  torch.from_numpy(weights), (n, n), check_invariants=False)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return coo.coalesce().to_sparse_csr()
