"""Sparse adjacency matrices, framework-neutral: the edge lists and normalisations every
full-graph model of the course propagates over, and their CSR layout.

A graph convolution computes ``H' = A H``: each receiver sums its senders' rows of ``H``,
weighted. Done edge by edge (gather ``H[senders]``, weight, scatter-add onto ``receivers``)
it writes an ``E x D`` array of messages on every layer of every step; done as a product with
a sparse matrix in **CSR** form (rows = receivers, sorted; for each row the columns =
senders and the values = weights) it reads each row's neighbours in place and writes ``N x D``
only. The matrix depends on the graph alone, so it is built once, here in numpy, and wrapped
by each framework's ``Adjacency`` (:mod:`course_lib.pyg.data`, :mod:`course_lib.jax.data`),
whose ``propagate(x)`` is that product. Its gradient is the product with the transpose,
``A^T G``; the layout of the transpose is built here too, so neither framework sorts or
transposes anything during training.

* :func:`csr_layout` - the CSR layout of an edge list and of its transpose;
* :func:`symmetric_weights` - ``D^-1/2 A D^-1/2`` (LightGCN, NGCF; with ``self_loops``, the
  GCN's ``D^-1/2 (A + I) D^-1/2``);
* :func:`mean_weights` - ``D^-1 A``, row-normalised: the mean over a receiver's senders
  (SAGE's and GraphConv's ``aggr='mean'``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CSRLayout:
    """Where each edge of an edge list goes in a CSR matrix ``[num_rows, num_cols]`` (row =
    receiver, column = sender) and in the CSR matrix of its transpose.

    ``order[k]``: the edge id of the ``k``-th stored value; ``indptr`` ``[num_rows + 1]``
    and ``indices`` ``[nnz]``: row ``i``'s values are ``k = indptr[i] .. indptr[i+1]-1``,
    in columns ``indices[k]``. ``t_indptr``, ``t_indices``: the same for the transpose
    (rows = senders); its ``k``-th value is value ``t_perm[k]`` of the matrix.
    """

    num_rows: int
    num_cols: int
    order: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    t_perm: np.ndarray
    t_indptr: np.ndarray
    t_indices: np.ndarray

    def values(self, weights) -> np.ndarray:
        """Per-edge ``weights`` ``[E]`` in the matrix's value order."""
        return np.asarray(weights)[self.order]


def csr_layout(senders, receivers, num_rows: int, num_cols: int | None = None) -> CSRLayout:
    """The CSR layout of the edges ``senders[e] -> receivers[e]`` (receivers index the
    ``num_rows`` rows, senders the ``num_cols`` columns; default square). Values are sorted
    by row, then column, so two calls on the same edges give the same layout."""
    senders = np.asarray(senders, dtype=np.int64)
    receivers = np.asarray(receivers, dtype=np.int64)
    num_cols = num_rows if num_cols is None else num_cols
    if senders.shape != receivers.shape or senders.ndim != 1:
        raise ValueError(f"senders {senders.shape} and receivers {receivers.shape} must be "
                         "1-D and of one length")
    if len(senders) and (receivers.min() < 0 or receivers.max() >= num_rows
                         or senders.min() < 0 or senders.max() >= num_cols):
        raise ValueError(f"an edge falls outside the {num_rows} x {num_cols} matrix")
    order = np.lexsort((senders, receivers))
    indptr = np.zeros(num_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(receivers, minlength=num_rows), out=indptr[1:])
    # the transpose: the same values sorted by sender, then receiver
    t_perm = np.lexsort((receivers[order], senders[order]))
    t_indptr = np.zeros(num_cols + 1, dtype=np.int64)
    np.cumsum(np.bincount(senders, minlength=num_cols), out=t_indptr[1:])
    return CSRLayout(num_rows, num_cols, order, indptr, senders[order], t_perm, t_indptr,
                     receivers[order][t_perm])


def symmetric_weights(senders, receivers, num_nodes: int, self_loops: bool = False
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(senders, receivers, weights)`` of ``D^-1/2 A D^-1/2`` for a graph that holds
    both directions of every edge: each edge weighted ``1 / sqrt(deg(sender)
    deg(receiver))``, degrees counted at the receivers. ``self_loops=True`` appends one
    loop per node first counted in the degree: ``D^-1/2 (A + I) D^-1/2`` (a GCN layer)."""
    senders = np.asarray(senders, dtype=np.int64)
    receivers = np.asarray(receivers, dtype=np.int64)
    if self_loops:
        loops = np.arange(num_nodes)
        senders, receivers = np.concatenate([senders, loops]), np.concatenate([receivers, loops])
    degree = np.bincount(receivers, minlength=num_nodes).astype(np.float64)
    weights = 1.0 / np.sqrt(degree[senders] * degree[receivers])
    return senders, receivers, weights.astype(np.float32)


def mean_weights(receivers, num_rows: int) -> np.ndarray:
    """Per-edge weights ``1 / in-degree(receiver)``: ``D^-1 A`` sums a receiver's senders
    into their mean (a receiver without edges gets a zero row)."""
    receivers = np.asarray(receivers, dtype=np.int64)
    degree = np.bincount(receivers, minlength=num_rows).astype(np.float64)
    return (1.0 / degree[receivers]).astype(np.float32)


NUM_LEVELS = 10   # MovieLens's half stars: 0.5, 1.0, ..., 5.0


def level_edges(senders, receivers, level, num_nodes: int, num_levels: int = NUM_LEVELS
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """GC-MC's relations as one ``[N R, N R]`` matrix with unit weights, as
    ``(senders, receivers, weights, rows, cols)``: edge ``j -> i`` of 0-based ``level``
    ``r`` is entry ``(i R + r, j R + r)``. Its product with ``x W`` laid out ``[N R, d]``
    (row ``j R + r`` holds ``x_j W_r``) is every (receiver, level) sum at once."""
    level = np.asarray(level, np.int64)
    if len(level) and (level.min() < 0 or level.max() >= num_levels):
        raise ValueError(f"levels must lie in 0 .. {num_levels - 1}")
    senders, receivers = np.asarray(senders, np.int64), np.asarray(receivers, np.int64)
    size = num_nodes * num_levels
    return (senders * num_levels + level, receivers * num_levels + level,
            np.ones(len(senders), np.float32), size, size)


def rating_matrices(edge_index, rating, num_users: int, num_movies: int) -> dict[str, tuple]:
    """The sparse matrices of the rating edges ``edge_index`` ``[2, E]`` (user, movie) that the
    models of chapters 3 and 4 propagate over, each as ``(senders, receivers, weights, rows,
    cols)`` for a framework's ``Adjacency.from_edges``:

    * ``'rates'`` ``[M, U]`` and ``'rev_rates'`` ``[U, M]``: one per edge type, unit weights,
      each node counted within its type (SAGE, GraphConv);
    * ``'gcn'``: ``D^-1/2 (A + I) D^-1/2`` over the ``U + M`` nodes (users, then movies);
    * ``'levels'``: GC-MC's rating levels (:func:`level_edges`; level ``round(2 rating) -
      1``, half a star is 0), over the directed edges in the order of
      :func:`course_lib.graph.bipartite_to_directed` (``rates``, then ``rev_rates``).
    """
    ei = np.asarray(edge_index, dtype=np.int64).reshape(2, -1)
    users, movies = ei
    ones = np.ones(ei.shape[1], np.float32)
    n = num_users + num_movies
    level = np.clip(np.rint(np.asarray(rating, np.float64) * 2).astype(np.int64) - 1, 0,
                    NUM_LEVELS - 1)
    senders = np.concatenate([users, movies + num_users])
    receivers = np.concatenate([movies + num_users, users])
    return {"rates": (users, movies, ones, num_movies, num_users),
            "rev_rates": (movies, users, ones, num_users, num_movies),
            "gcn": (*symmetric_weights(senders, receivers, n, self_loops=True), n, n),
            "levels": level_edges(senders, receivers, np.tile(level, 2), n)}
