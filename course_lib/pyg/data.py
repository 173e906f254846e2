"""The shared graph and split as PyG ``HeteroData`` (the JAX twin is ``course_lib/jax/data.py``)."""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
import torch
from torch_geometric.data import HeteroData

from ..graph import BipartiteGraph, EdgeSplit
from ..kg import RATES, reverse
from ..sparse import csr_layout, rating_matrices

REV_RATES = reverse(RATES)


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
    Each edge type also gets ``adj_t``, its edges as a sparse CSR matrix ``[N_dst, N_src]``
    built once (what ``T.ToSparseTensor`` makes): PyG's layers take ``data.adj_t_dict`` in
    place of ``data.edge_index_dict`` and aggregate with one sparse product.
    """
    data = HeteroData()
    for node_type in kg.node_types:
        data[node_type].node_id = torch.arange(kg.num_nodes[node_type])
    data["movie"].x = torch.from_numpy(kg.movie_x)
    for (src, rel, dst), ei in edge_index_dict.items():
        data[src, rel, dst].edge_index = torch.from_numpy(np.ascontiguousarray(ei))
        data[src, rel, dst].adj_t = Adjacency.from_edges(
            ei[0], ei[1], np.ones(ei.shape[1], np.float32), kg.num_nodes[dst],
            kg.num_nodes[src]).to_sparse_csr()
    return data


def adjacencies(edge_index, rating, num_users: int, num_movies: int) -> dict[str, Adjacency]:
    """The sparse matrices the models propagate over, of the rating edges ``edge_index``
    (:func:`course_lib.sparse.rating_matrices`: ``'rates'``, ``'rev_rates'``, ``'gcn'``,
    ``'levels'``), each an :class:`Adjacency` built once. JAX twin:
    :func:`course_lib.jax.data.adjacencies`."""
    return {name: Adjacency.from_edges(*edges)
            for name, edges in rating_matrices(edge_index, rating, num_users,
                                               num_movies).items()}


def with_adjacency(graph: HeteroData) -> HeteroData:
    """``graph`` (of :func:`to_heterodata`) with its sparse matrices, built once: each edge
    type's ``adj_t`` (a CSR matrix ``[N_dst, N_src]``, as ``T.ToSparseTensor`` makes it, which
    PyG's layers take in place of ``edge_index``) and ``graph.adjacency``, the
    :class:`Adjacency` of the GCN (``'gcn'``) and of GC-MC's rating levels (``'levels'``),
    see :func:`adjacencies`. The sampling loaders of chapter 3 get graphs without them. JAX
    twin: :func:`course_lib.jax.data.with_adjacency`."""
    adj = adjacencies(graph[RATES].edge_index.numpy(), graph[RATES].rating.numpy(),
                      graph["user"].num_nodes, graph["movie"].num_nodes)
    graph[RATES].adj_t = adj["rates"].to_sparse_csr()
    graph[REV_RATES].adj_t = adj["rev_rates"].to_sparse_csr()
    graph.adjacency = {"gcn": adj["gcn"], "levels": adj["levels"]}
    return graph


class Adjacency(NamedTuple):
    """A sparse matrix ``[num_rows, num_cols]`` in CSR form: ``propagate(x)`` is the product
    ``A @ x`` (rows are receivers, columns senders). JAX twin:
    :class:`course_lib.jax.data.Adjacency`.

    Built once per graph (:meth:`from_edges`, :func:`to_normalized_adjacency`) from the
    layout of :func:`course_lib.sparse.csr_layout`. The product is ``torch.sparse``'s CSR
    matrix product, which never writes the ``E x D`` array of messages that a gather and
    a scatter over the edge list write; its gradient is the product with the transpose,
    whose layout is stored too (``t_*``), so backward needs no transposition (a
    ``torch.autograd.Function``). No gradient flows to the values.

    Measured on MovieLens-small (10,352 nodes, 161,340 entries, 128 features, 2 CPU cores),
    three propagations: 4.6 ms forward and 16 ms with the gradient, against 148 ms and
    286 ms edge by edge (``index_select`` and ``index_add_``) and 30 ms with
    ``torch.sparse.mm``'s own backward, which transposes the matrix on every call.
    """

    data: torch.Tensor        # [nnz] values, row by row
    indices: torch.Tensor     # [nnz] column (sender) of each value
    indptr: torch.Tensor      # [num_rows + 1] where each row's values start
    order: torch.Tensor       # [nnz] the edge id of each value (per-edge weights)
    t_perm: torch.Tensor      # [nnz] the transpose's values are data[t_perm]
    t_indices: torch.Tensor   # [nnz] the transpose's columns (receivers)
    t_indptr: torch.Tensor    # [num_cols + 1]

    @property
    def shape(self) -> tuple[int, int]:
        return self.indptr.shape[0] - 1, self.t_indptr.shape[0] - 1

    @classmethod
    def from_edges(cls, senders, receivers, weights, num_rows: int,
                   num_cols: int | None = None) -> Adjacency:
        """The matrix with ``A[receivers[e], senders[e]] = weights[e]`` (numpy arrays)."""
        layout = csr_layout(senders, receivers, num_rows, num_cols)
        return cls(torch.as_tensor(layout.values(weights), dtype=torch.float32),
                   *(torch.as_tensor(a, dtype=torch.int64)
                     for a in (layout.indices, layout.indptr, layout.order, layout.t_perm,
                               layout.t_indices, layout.t_indptr)))

    def propagate(self, x: torch.Tensor) -> torch.Tensor:
        """``A @ x`` for ``x`` ``[num_cols, D]``: ``[num_rows, D]``."""
        return _SpMM.apply(x, self)

    def row_sums(self) -> torch.Tensor:
        """``[num_rows]``: each row's sum of values (a receiver's weighted in-degree)."""
        rows = torch.repeat_interleave(torch.arange(self.shape[0], device=self.data.device),
                                       torch.diff(self.indptr), output_size=self.data.numel())
        return self.data.new_zeros(self.shape[0]).index_add_(0, rows, self.data)

    def with_edge_weights(self, weights: torch.Tensor) -> Adjacency:
        """The same matrix with new values, given per edge (``[E]``, in the order of the
        edges it was built from): GC-MC's per-epoch weights, NGCF's dropped entries."""
        return self._replace(data=weights.to(self.data.dtype)[self.order])

    def to(self, device) -> Adjacency:
        return Adjacency(*(t.to(device) for t in self))

    def to_sparse_csr(self) -> torch.Tensor:
        """The matrix as a ``torch.sparse_csr_tensor``."""
        return _csr(self.data, self.indptr, self.indices, self.shape)


def _csr(data, indptr, indices, shape) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(indptr, indices, data, shape, check_invariants=False)


class _SpMM(torch.autograd.Function):
    """``A @ x`` forward, ``A^T @ g`` backward, both CSR products."""

    @staticmethod
    def forward(ctx, x, adj):
        ctx.adj = adj
        return _csr(adj.data, adj.indptr, adj.indices, (adj.shape[0], x.shape[0])) @ x

    @staticmethod
    def backward(ctx, g):
        adj = ctx.adj
        t = _csr(adj.data[adj.t_perm], adj.t_indptr, adj.t_indices, (adj.shape[1], g.shape[0]))
        return t @ g.contiguous(), None


def to_normalized_adjacency(graph: BipartiteGraph, edge_ids) -> Adjacency:
    """``L = D^-1/2 A D^-1/2`` of the interactions ``edge_ids`` over the ``U + M`` nodes as an
    :class:`Adjacency` (weights from :func:`course_lib.cf.normalized_adjacency`). JAX twin:
    :func:`course_lib.jax.data.to_normalized_adjacency`."""
    from ..cf import normalized_adjacency

    senders, receivers, weights = normalized_adjacency(
        graph.edge_index[:, np.asarray(edge_ids)], graph.num_users, graph.num_movies)
    return Adjacency.from_edges(senders, receivers, weights, graph.num_nodes)
