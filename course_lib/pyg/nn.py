"""The course's PyG layers and losses, in one place (JAX twin: ``course_lib/jax/nn.py``).

Chapter modules import their layers from here, never from another chapter. Where PyG has the
layer (``GCNConv``, ``SAGEConv``, ``GraphConv``), it is re-exported as it is; the flax twin has the
same parameter names, so the same weights give the same outputs (``tests/test_nn.py``).
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.nn import GCNConv, GraphConv, HeteroConv, SAGEConv
from torch_geometric.utils import scatter

__all__ = ["BilinearBasisDecoder", "GCMCConv", "GCNConv", "GCNLayer", "GraphConv",
           "HeteroGraphConv", "InputLayer", "MLP", "SAGEConv", "bce_loss", "cross_entropy",
           "chunked_propagate", "dropout", "mean_aggregate", "node_dropout", "numpy_weights", "ordinal_weights",
           "pair_scores", "partial_outputs"]


# --------------------------------------------------------------------------------------------------
# Losses
# --------------------------------------------------------------------------------------------------


def bce_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy with logits. Flax twin: :func:`course_lib.jax.nn.bce_loss`."""
    return F.binary_cross_entropy_with_logits(logits, labels)


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor,
                  mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean softmax cross-entropy of integer ``labels`` over the rows of ``logits`` where
    ``mask`` is True (all rows if None). Flax twin: :func:`course_lib.jax.nn.cross_entropy`."""
    losses = F.cross_entropy(logits, labels, reduction="none")
    if mask is None:
        return losses.mean()
    return (losses * mask).sum() / mask.sum()


# --------------------------------------------------------------------------------------------------
# Aggregation
# --------------------------------------------------------------------------------------------------


def mean_aggregate(x_src: torch.Tensor, senders: torch.Tensor, receivers: torch.Tensor,
                   num_dst: int) -> torch.Tensor:
    """``[num_dst, F]``: for each receiver, the mean of its senders' rows of ``x_src`` (zeros
    for a receiver without edges): what ``SAGEConv(aggr='mean')`` aggregates.
    Flax twin: :func:`course_lib.jax.nn.mean_aggregate`."""
    return scatter(x_src[senders], receivers, dim=0, dim_size=num_dst, reduce="mean")


def chunked_propagate(x: torch.Tensor, senders: torch.Tensor,
                      receivers: torch.Tensor, weights: torch.Tensor, num_rows: int,
                      num_chunks: int = 1) -> torch.Tensor:
    """``[num_rows, D]``: ``A @ x`` for the weighted edges ``senders -> receivers``
    (``A[receivers[e], senders[e]] += weights[e]``), ``num_chunks`` slices of the
    edges at a time. Chapter 8.

    Edge by edge, one product gathers an ``[E, D]`` array of messages (on
    MovieLens-25M, 50 M directed edges at D = 64, 12.8 GB), and autograd keeps it
    for the backward pass (``index_add`` saves its source). Here each slice's
    messages are gathered, weighted, added into the ``[num_rows, D]`` result and
    freed before the next; the backward pass is the product with the transpose,
    ``A^T g``, in slices too (a ``torch.autograd.Function`` that keeps only the
    edges). The temporaries fall to ``[E / num_chunks, D]``. No gradient flows to
    the weights. JAX twin: :func:`course_lib.jax.nn.chunked_propagate`."""
    return _ChunkedProduct.apply(x, senders, receivers, weights, num_rows,
                                 num_chunks)


def _add_in_slices(x, senders, receivers, weights, num_rows, num_chunks):
    out = x.new_zeros(num_rows, x.shape[1])
    slices = (a.tensor_split(num_chunks) for a in (senders, receivers, weights))
    for s, r, w in zip(*slices):
        out.index_add_(0, r, x[s] * w.to(x.dtype)[:, None])
    return out


class _ChunkedProduct(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, senders, receivers, weights, num_rows, num_chunks):
        ctx.save_for_backward(senders, receivers, weights)
        ctx.num_cols, ctx.num_chunks = x.shape[0], num_chunks
        return _add_in_slices(x, senders, receivers, weights, num_rows, num_chunks)

    @staticmethod
    def backward(ctx, g):
        senders, receivers, weights = ctx.saved_tensors
        grad_x = _add_in_slices(g, receivers, senders, weights, ctx.num_cols,
                                ctx.num_chunks)                         # A^T g
        return grad_x, None, None, None, None, None


def _csr(rows: torch.Tensor, cols: torch.Tensor, values: torch.Tensor, n: int
         ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(matrix, order)``: the ``[n, n]`` torch.sparse CSR matrix with ``values`` at
    ``(rows, cols)``, and the order that sorts the pairs into its layout."""
    order = torch.argsort(rows * n + cols)
    crow = torch.zeros(n + 1, dtype=torch.long, device=values.device)
    crow[1:] = torch.cumsum(torch.bincount(rows, minlength=n), 0)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(crow, cols[order], values[order], (n, n),
                                       check_invariants=False), order


class _PairScores(torch.autograd.Function):
    """Forward: the entries of ``z z^T`` at the pairs, a sampled dense-dense product
    (``torch.sparse.sampled_addmm``) that reads the rows in place. Backward: ``g`` at ``(r, c)``
    and at ``(c, r)`` as one sparse CSR matrix ``S``, and ``dz = S z``: one sparse product
    (autograd's own backward of ``sampled_addmm`` makes two, with dense transposes)."""

    @staticmethod
    def forward(ctx, z, rows, cols):
        ctx.save_for_backward(z, rows, cols)
        mask, order = _csr(rows, cols, z.new_zeros(rows.numel()), z.size(0))
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            values = torch.sparse.sampled_addmm(mask, z, z.T).values()
        return torch.empty_like(values).scatter_(0, order, values)   # back to the pairs' order

    @staticmethod
    def backward(ctx, grad):
        z, rows, cols = ctx.saved_tensors
        both, _ = _csr(torch.cat([rows, cols]), torch.cat([cols, rows]),
                       torch.cat([grad, grad]), z.size(0))
        return both @ z, None, None


def pair_scores(z: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """``[B]``: the dot products ``z[rows[b]] . z[cols[b]]`` of the pairs of nodes.

    Gathering ``z[rows]`` and ``z[cols]`` would write two ``[B, D]`` arrays and scatter two back
    in the backward pass. Here the forward pass is a *sampled* dense-dense product (the
    entries of ``z z^T`` at the pairs, each a dot product of rows read in place) and the
    backward pass one sparse product ``S z`` (``S`` holds each pair's gradient at ``(r, c)``
    and ``(c, r)``). On 2 CPU cores, 128 features, 10,300 nodes, forward and backward: 4 ms
    for 16,384 pairs, 10 ms for 81,000 (the gather: 20 and 141 ms; autograd through
    ``sampled_addmm``: 9 and 19 ms). JAX twin: :func:`course_lib.jax.nn.pair_scores`."""
    return _PairScores.apply(z, rows, cols)


# --------------------------------------------------------------------------------------------------
# Convolutions over one node set or one edge type
# --------------------------------------------------------------------------------------------------

# ``GCNConv`` is PyG's own layer, re-exported so that chapters import every layer from here:
# ``D^-1/2 (A + I) D^-1/2 X W + b`` with a glorot-uniform ``lin.weight`` and a zero ``bias``.
# Flax twin: :class:`course_lib.jax.nn.GCNConv` (same parameter names, ``out_channels``).
#
# ``SAGEConv`` is PyG's own layer, re-exported so that chapters import every layer from here:
# ``out_i = lin_l(mean_{j -> i} x_j) + lin_r(x_i)``, ``lin_l`` with a bias, ``lin_r`` without.
# Flax twin: :class:`course_lib.jax.nn.SAGEConv` (same parameter names, ``out_channels``).
#
# ``GraphConv`` is PyG's own layer, re-exported so that chapters import every layer from here:
# ``out_i = lin_rel(aggr_{j -> i} x_j) + lin_root(x_i)``, ``lin_rel`` with a bias, ``lin_root``
# without. Flax twin: :class:`course_lib.jax.nn.GraphConv` (same parameter names).


class MLP(nn.Module):
    """``lin2(relu(lin1(x)))``: the node update of a GCN layer. Flax twin:
    :class:`course_lib.jax.nn.MLP`."""

    def __init__(self, features: int):
        super().__init__()
        self.lin1 = nn.Linear(features, features)
        self.lin2 = nn.Linear(features, features)

    def forward(self, x):
        return self.lin2(torch.relu(self.lin1(x)))


class GCNLayer(nn.Module):
    """An :class:`MLP` node update, then the product with ``adj``, the graph's
    ``D^-1/2 (A + I) D^-1/2`` built once (an :class:`~course_lib.pyg.data.Adjacency`,
    ``data.adjacency['gcn']``): the normalised sum over neighbours and self loops,
    without recomputing the degrees and scattering ``E x F`` messages on every call.
    Flax twin: :class:`course_lib.jax.nn.GCNLayer`.
    """

    def __init__(self, features: int):
        super().__init__()
        self.mlp = MLP(features)

    def forward(self, x: torch.Tensor, adj) -> torch.Tensor:
        return adj.propagate(self.mlp(x))


# --------------------------------------------------------------------------------------------------
# Heterogeneous graphs: input layers and the heterogeneous convolution
# --------------------------------------------------------------------------------------------------


class InputLayer(nn.Module):
    """Layer-0 features per node type: ``lin[t](x[t])`` for the types in ``num_features``
    (``{type: input width}``), plus a learned embedding ``emb[t](node_id[t])`` for the types in
    ``num_embeddings`` (``{type: number of nodes}``), initialised ``N(0, embedding_std^2)``.

    Chapter 4 embeds users and movies and adds a linear map of the genres to the movies;
    chapter 5 embeds every type but movies, which are their features only. Flax twin:
    :class:`course_lib.jax.nn.InputLayer`.
    """

    def __init__(self, num_embeddings: dict[str, int], num_features: dict[str, int],
                 hidden: int, embedding_std: float = 1.0):
        super().__init__()
        self.emb = nn.ModuleDict({t: nn.Embedding(n, hidden) for t, n in num_embeddings.items()})
        self.lin = nn.ModuleDict({t: nn.Linear(f, hidden) for t, f in num_features.items()})
        if embedding_std != 1.0:  # torch's Embedding starts at N(0, 1)
            for emb in self.emb.values():
                nn.init.normal_(emb.weight, std=embedding_std)

    def forward(self, node_id: dict, x: dict) -> dict[str, torch.Tensor]:
        out = {t: emb(node_id[t]) for t, emb in self.emb.items()}
        for t, lin in self.lin.items():
            h = lin(x[t])
            out[t] = h + out[t] if t in out else h
        return out


@contextlib.contextmanager
def partial_outputs():
    """Build a ``HeteroConv`` that updates some node types only (a last layer that computes
    what the decoder reads): ``HeteroConv`` warns that the other types are not updated, which
    is the point."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="There exist node types .* whose representations")
        yield


class HeteroGraphConv(nn.Module):
    """``num_layers`` x
    ``HeteroConv({edge type: GraphConv(aggr=aggr)}, aggr=relation_aggr)`` with
    ReLU after each, then ``Linear(hidden, out_channels)`` (default ``hidden``) per
    output type; the last layer computes the output types only. Flax twin:
    :class:`course_lib.jax.nn.HeteroGraphConv`.

    ``aggr`` is how a ``GraphConv`` combines neighbours: ``'add'`` (GraphConv's
    default) sums up to thousands of neighbour vectors on MovieLens and saturates
    what follows; ``'mean'`` keeps the scale of the inputs. ``relation_aggr``
    combines the edge types that reach a node type.
    """

    def __init__(self, edge_types, hidden: int, out_channels: int | None = None,
                 num_layers: int = 2, aggr: str = "mean",
                 relation_aggr: str = "sum", output_types=("user", "movie")):
        super().__init__()
        with partial_outputs():
            self.convs = nn.ModuleList(
                HeteroConv({et: GraphConv(hidden, hidden, aggr=aggr)
                            for et in edge_types
                            if i < num_layers - 1 or et[2] in output_types},
                           aggr=relation_aggr)
                for i in range(num_layers))
        self.out = nn.ModuleDict({t: nn.Linear(hidden, out_channels or hidden)
                                  for t in output_types})

    def forward(self, x: dict, adj_t_dict: dict) -> dict:
        for conv in self.convs:
            x = {t: torch.relu(h) for t, h in conv(x, adj_t_dict).items()}
        return {t: out(x[t]) for t, out in self.out.items()}


# --------------------------------------------------------------------------------------------------
# Graph convolutional matrix completion (GC-MC): one relation per rating level
# --------------------------------------------------------------------------------------------------


def _torch_linear_init_(weight: torch.Tensor, fan_in: int) -> torch.Tensor:
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)), what ``torch.nn.Linear`` draws its weights from."""
    bound = 1.0 / np.sqrt(fan_in)
    return nn.init.uniform_(weight, -bound, bound)


def ordinal_weights(basis: torch.Tensor) -> torch.Tensor:
    """GC-MC's ordinal weight sharing: ``W_r = T_1 + ... + T_r`` along the first
    axis of ``basis`` ``[R, ...]`` (rating levels, lowest first). A 4-star weight is
    the 3.5-star weight plus one more step, so a rare level (half a star) borrows
    from its neighbours."""
    return torch.cumsum(basis, dim=0)


def node_dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Zero whole rows of ``x`` (nodes) with probability ``p``, rescale the others by
    ``1 / (1 - p)``: a dropped node sends no message at all (GC-MC's node dropout)."""
    if not training or p == 0.0:
        return x
    keep = torch.rand(x.size(0), 1, device=x.device) >= p
    return x * keep / (1.0 - p)


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """``F.dropout``, with the mask drawn by ``torch.rand``: on CPU, torch's ``bernoulli_``
    (what ``F.dropout`` uses) takes a fifth of a GC-MC training step. Flax models use
    ``flax.linen.Dropout``."""
    if not training or p == 0.0:
        return x
    return x * (torch.rand_like(x) >= p) / (1.0 - p)


class GCMCConv(nn.Module):
    r"""GC-MC's encoder layer: one relation per rating level, ordinal weights.

    .. math::
        h_i = \operatorname{accum}_{r=1}^{R} \sum_{j \in N_r(i)}
              \frac{w_{ij}}{c_i}\, x_j W_r, \qquad
        W_r = \sum_{s \le r} T_s, \qquad c_i = \sum_{j \in N(i)} w_{ij}

    ``N_r(i)``: the neighbours that share a rating of level ``r`` with ``i``.
    ``adj``: the graph's rating levels as one sparse matrix ``[N R, N R]`` (an
    :class:`~course_lib.pyg.data.Adjacency`, ``data.adjacency['levels']``,
    :func:`course_lib.sparse.level_edges`: edge ``j -> i`` of level ``r`` is entry
    ``(i R + r, j R + r)``), so one product with the ``[N R, d]`` rows ``x_j W_r``
    gives every (receiver, level) sum and stacking is a reshape. ``w_ij``: an edge
    weight, in the edge order ``adj`` was built from (1 by default; 0 removes the
    edge, as training does for the edges it holds out for the loss). ``c_i``: the
    weighted degree of ``i``; dividing by it after the sums is the left
    normalisation (a mean over all neighbours). ``accum='stack'`` concatenates the
    ``R`` per-level sums (``out_channels / R`` wide each), ``'sum'`` adds them. One
    set of weights serves both edge directions. No activation. JAX twin:
    :class:`course_lib.jax.nn.GCMCConv`.
    """

    def __init__(self, in_channels: int, out_channels: int, num_relations: int,
                 accum: str = "stack", ordinal: bool = True):
        super().__init__()
        if accum not in ("stack", "sum"):
            raise ValueError(f"accum must be 'stack' or 'sum', got {accum!r}")
        if accum == "stack" and out_channels % num_relations:
            raise ValueError(
                f"accum='stack' splits out_channels={out_channels} into "
                f"{num_relations} equal parts: use a multiple of {num_relations}")
        self.in_channels, self.num_relations = in_channels, num_relations
        self.accum, self.ordinal = accum, ordinal
        stacked = accum == "stack"
        self.width = out_channels // num_relations if stacked else out_channels
        self.weight = nn.Parameter(
            torch.empty(num_relations, in_channels, self.width))
        self.reset_parameters()

    def reset_parameters(self):
        _torch_linear_init_(self.weight, self.in_channels)

    def forward(self, x, adj, edge_weight=None):
        n, r = x.size(0), self.num_relations
        weight = ordinal_weights(self.weight) if self.ordinal else self.weight
        # every node through every W_r at once: [N, F] @ [F, R d];
        # row j R + r: x_j W_r
        w = weight.permute(1, 0, 2).reshape(x.size(1), -1)
        xw = (x @ w).view(n * r, self.width)
        if edge_weight is not None:
            adj = adj.with_edge_weights(edge_weight)
        out = adj.propagate(xw).view(n, r, self.width)  # [receiver, level, d]
        degree = adj.row_sums().view(n, r).sum(1)                  # c_i
        out = out / degree.clamp(min=1e-12)[:, None, None]
        return out.reshape(n, -1) if self.accum == "stack" else out.sum(1)


class BilinearBasisDecoder(nn.Module):
    r"""GC-MC's decoder: a score per rating level from a bilinear form of the two embeddings.

    .. math::
        \text{logit}_r(u, v) = z_u^\top Q_r z_v + c_r, \qquad Q_r = \sum_{b=1}^{B} a_{rb} P_b

    The ``R`` matrices ``Q_r`` are combinations of ``num_bases`` shared matrices ``P_b`` (basis
    weight sharing: ``B D^2 + B R`` parameters instead of ``R D^2``); ``c_r`` is a bias per
    level (zero at the start), so a pair whose embeddings are zero - a movie nobody has rated
    yet - gets the overall distribution of ratings, not a uniform one. Returns ``[n, R]`` logits;
    a softmax over the last axis is the predicted distribution over rating levels. JAX twin:
    :class:`course_lib.jax.nn.BilinearBasisDecoder`.
    """

    def __init__(self, in_channels: int, num_levels: int, num_bases: int = 2):
        super().__init__()
        self.in_channels, self.num_bases = in_channels, num_bases
        self.basis = nn.Parameter(torch.empty(num_bases, in_channels, in_channels))
        self.coef = nn.Parameter(torch.empty(num_levels, num_bases))
        self.bias = nn.Parameter(torch.empty(num_levels))
        self.reset_parameters()

    def reset_parameters(self):
        _torch_linear_init_(self.basis, self.in_channels)
        _torch_linear_init_(self.coef, self.num_bases)
        nn.init.zeros_(self.bias)

    def forward(self, z_src: torch.Tensor, z_dst: torch.Tensor,
                edge_label_index: torch.Tensor) -> torch.Tensor:
        u = z_src.index_select(0, edge_label_index[0])
        v = z_dst.index_select(0, edge_label_index[1])
        per_basis = torch.einsum("ei,bij,ej->eb", u, self.basis, v)   # u^T P_b v
        return per_basis @ self.coef.T + self.bias


# --------------------------------------------------------------------------------------------------
# Weights for parity checks
# --------------------------------------------------------------------------------------------------


def numpy_weights(model: nn.Module) -> dict[str, np.ndarray]:
    """The model's weights as numpy arrays under PyG's own names (``model.state_dict()``).

    :func:`course_lib.jax.nn.params_from_torch` turns them into flax parameters.
    """
    return {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
