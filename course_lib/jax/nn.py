"""The course's flax layers and losses, in one place (PyG twin: ``course_lib/pyg/nn.py``).

Chapter modules import their layers from here, never from another chapter. Initialisers follow
torch's defaults and parameters carry the PyG layers' names, so both frameworks start from the
same distributions and the same weights give the same outputs (``tests/test_nn.py``);
:func:`params_from_torch` converts PyG weights.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import jraph
import numpy as np
import optax
from jax.experimental import sparse



# --------------------------------------------------------------------------------------------------
# Initialisers: torch's defaults
# --------------------------------------------------------------------------------------------------

#: ``torch.nn.Linear``'s weights: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
TORCH_LINEAR_INIT = nn.initializers.variance_scaling(1 / 3, "fan_in", "uniform")
#: ``torch.nn.Embedding``'s weights: N(0, 1).
TORCH_EMBED_INIT = nn.initializers.normal(stddev=1.0)
#: ``torch.nn.init.xavier_uniform_`` on the same shapes (NGCF's and LightGCN's embeddings).
XAVIER = nn.initializers.xavier_uniform()


# --------------------------------------------------------------------------------------------------
# Losses
# --------------------------------------------------------------------------------------------------


def bce_loss(logits: jnp.ndarray, labels: jnp.ndarray) -> jnp.ndarray:
    """Mean binary cross-entropy with logits. PyG twin: :func:`course_lib.pyg.nn.bce_loss`
    (``F.binary_cross_entropy_with_logits``)."""
    return optax.sigmoid_binary_cross_entropy(logits, labels).mean()


def cross_entropy(logits: jnp.ndarray, labels: jnp.ndarray,
                  mask: jnp.ndarray | None = None) -> jnp.ndarray:
    """Mean softmax cross-entropy of integer ``labels`` over the rows of ``logits`` where
    ``mask`` is True (all rows if None): a padded batch masks out its padding. PyG twin:
    :func:`course_lib.pyg.nn.cross_entropy`."""
    losses = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    if mask is None:
        return losses.mean()
    return jnp.sum(jnp.where(mask, losses, 0.0)) / jnp.sum(mask)


# --------------------------------------------------------------------------------------------------
# Aggregation
# --------------------------------------------------------------------------------------------------


def mean_aggregate(x_src: jnp.ndarray, senders: jnp.ndarray, receivers: jnp.ndarray,
                   num_dst: int) -> jnp.ndarray:
    """``[num_dst, F]``: for each receiver, the mean of its senders' ``x_src``
    rows.

    ``senders`` index ``x_src``, ``receivers`` index the ``num_dst`` receiving
    nodes; a receiver without edges gets zeros (as PyG's mean aggregation). PyG
    twin: :func:`course_lib.pyg.nn.mean_aggregate`.
    """
    return jraph.segment_mean(x_src[senders], receivers, num_segments=num_dst)


def chunked_propagate(x: jnp.ndarray, senders: jnp.ndarray, receivers: jnp.ndarray,
                      weights: jnp.ndarray, num_rows: int,
                      num_chunks: int = 1) -> jnp.ndarray:
    """``[num_rows, D]``: ``A @ x`` for the weighted edges ``senders -> receivers``
    (``A[receivers[e], senders[e]] += weights[e]``), ``num_chunks`` slices of the
    edges at a time. Chapter 8.

    Edge by edge, one product gathers an ``[E, D]`` array of messages before adding
    them up, and its backward pass another of that size: on MovieLens-25M (50 M
    directed edges, D = 64) 12.8 GB each. Here a ``lax.scan`` adds ``num_chunks``
    slices one after the other into the ``[num_rows, D]`` result: the temporaries
    fall to ``[E / num_chunks, D]``. ``jax.checkpoint`` keeps the scan from storing
    every slice's indices and weights for the backward pass (a copy of the edge list
    per layer): it slices them again. The edges are padded to a multiple of
    ``num_chunks`` with weight 0. PyG twin:
    :func:`course_lib.pyg.nn.chunked_propagate`."""
    num_edges = senders.shape[0]
    size = -(-num_edges // num_chunks)
    pad = size * num_chunks - num_edges

    def slices(a):
        return jnp.pad(a, (0, pad)).reshape(num_chunks, size)

    @jax.checkpoint
    def add_slice(out, edges):
        s, r, w = edges
        return out.at[r].add(x[s] * w[:, None].astype(x.dtype)), None

    edges = (slices(senders), slices(receivers), slices(weights))
    # the first slice outside the scan: inside shard_map the carry then starts as
    # what each device adds (its own), the same type as the scan's output
    zeros = jnp.zeros((num_rows, x.shape[1]), x.dtype)
    out, _ = add_slice(zeros, [e[0] for e in edges])
    out, _ = jax.lax.scan(add_slice, out, [e[1:] for e in edges])
    return out


@jax.custom_vjp
def pair_scores(z: jnp.ndarray, rows: jnp.ndarray, cols: jnp.ndarray) -> jnp.ndarray:
    """``[B]``: the dot products ``z[rows[b]] . z[cols[b]]`` of the pairs of nodes.

    Forward, the two gathers and the product, which XLA fuses into one loop. Backward, the
    gradient is ``G z + G^T z`` with ``G`` the sparse matrix holding the pairs' gradients
    ``g_b`` at ``(rows[b], cols[b])``: two CSR products (the pairs sorted on the device),
    instead of scattering two ``[B, D]`` arrays of gathered rows back. Inside a BPR train step
    on 2 CPU cores it is as fast as autodiff's scatter or faster, and it keeps the gathered
    ``[B, D]`` arrays out of the backward pass. PyG twin: :func:`course_lib.pyg.nn.pair_scores`
    (a sampled dense-dense product forward, one CSR product backward)."""
    return jnp.sum(z[rows] * z[cols], axis=-1)


def _pair_scores_fwd(z, rows, cols):
    return pair_scores(z, rows, cols), (z, rows, cols)


def _pair_scores_bwd(residuals, g):
    z, rows, cols = residuals
    return _scatter_product(rows, cols, g, z) + _scatter_product(cols, rows, g, z), None, None


def _scatter_product(rows, cols, values, x):
    """``[N, D]``: row ``i`` is ``sum_b values[b] x[cols[b]]`` over the ``b`` with
    ``rows[b] == i``, as one CSR product (the pairs sorted by row)."""
    n = x.shape[0]
    order = jnp.argsort(rows)
    indptr = jnp.concatenate([jnp.zeros(1, jnp.int32),
                              jnp.cumsum(jnp.bincount(rows, length=n)).astype(jnp.int32)])
    matrix = sparse.BCSR((values[order], cols[order].astype(jnp.int32), indptr), shape=(n, n))
    return matrix @ x


pair_scores.defvjp(_pair_scores_fwd, _pair_scores_bwd)


# --------------------------------------------------------------------------------------------------
# Convolutions over one node set or one edge type
# --------------------------------------------------------------------------------------------------


def dense(features: int, name: str, use_bias: bool = True) -> nn.Dense:
    """``nn.Dense`` initialised as ``torch.nn.Linear`` (its weights; flax's zero bias)."""
    return nn.Dense(features, use_bias=use_bias, kernel_init=TORCH_LINEAR_INIT, name=name)


class GCNConv(nn.Module):
    """``D^-1/2 (A + I) D^-1/2 X W + b`` over a ``GraphsTuple``: ``jraph.GraphConvolution``
    plus a bias. PyG twin: ``torch_geometric.nn.GCNConv`` (re-exported by
    :mod:`course_lib.pyg.nn`), with the same parameters: ``lin`` (a glorot-uniform kernel,
    no bias) and a zero ``bias``.

    jraph applies ``update_node_fn`` *before* aggregating, so it must have no bias of its own (a
    bias there would be summed and normalised along with the messages); the bias is added
    after, as ``GCNConv`` does. The two agree on graphs that hold both directions of every edge
    (jraph normalises a message by its sender's *out*-degree, PyG by its in-degree).
    """

    out_channels: int

    @nn.compact
    def __call__(self, graph: jraph.GraphsTuple) -> jnp.ndarray:
        conv = jraph.GraphConvolution(
            update_node_fn=nn.Dense(self.out_channels, use_bias=False,
                                    kernel_init=nn.initializers.xavier_uniform(), name="lin"),
            add_self_edges=True, symmetric_normalization=True)
        bias = self.param("bias", nn.initializers.zeros, (self.out_channels,))
        return conv(graph).nodes + bias


class SAGEConv(nn.Module):
    """``out_i = lin_l(mean_{j -> i} x_j) + lin_r(x_i)``, for one edge type (PyG's
    ``SAGEConv``).

    ``lin_l`` (neighbours) has a bias, ``lin_r`` (root) has none, as in PyG. Senders
    and receivers may be of different node types (``x_src``, ``x_dst``): a bipartite
    layer. ``adj``: the edge type's :class:`~course_lib.jax.data.Adjacency`
    ``[N_dst, N_src]`` with unit weights, built once per graph; the mean is
    :func:`aggregate`'s. PyG twin: ``torch_geometric.nn.SAGEConv`` (re-exported by
    :mod:`course_lib.pyg.nn`).
    """

    out_channels: int

    @nn.compact
    def __call__(self, x_src, x_dst, adj):
        neighbours = aggregate(adj, x_src, "mean")
        lin_l = nn.Dense(self.out_channels, kernel_init=TORCH_LINEAR_INIT,
                         name="lin_l")
        lin_r = nn.Dense(self.out_channels, use_bias=False,
                         kernel_init=TORCH_LINEAR_INIT, name="lin_r")
        return lin_l(neighbours) + lin_r(x_dst)


class GraphConv(nn.Module):
    """``out_i = lin_rel(aggr_{j -> i} x_j) + lin_root(x_i)`` for one edge type, ``aggr``
    ``'mean'`` or ``'add'``, over its unit-weight :class:`~course_lib.jax.data.Adjacency`
    ``adj`` ``[N_dst, N_src]``. PyG twin: ``torch_geometric.nn.GraphConv`` (re-exported by
    :mod:`course_lib.pyg.nn`)."""

    out_channels: int
    aggr: str = "mean"

    @nn.compact
    def __call__(self, x_src, x_dst, adj):
        total = aggregate(adj, x_src, self.aggr)
        return (dense(self.out_channels, "lin_rel")(total)
                + dense(self.out_channels, "lin_root", use_bias=False)(x_dst))


def aggregate(adj, x_src: jnp.ndarray, aggr: str = "mean") -> jnp.ndarray:
    """``[N_dst, F]``: each receiver's sum (``aggr='add'``) or mean (``'mean'``; zeros for a
    receiver without edges) of its senders' rows of ``x_src``, over a unit-weight
    :class:`~course_lib.jax.data.Adjacency`: one sparse product, divided by the
    in-degrees (the rows' sums). The same numbers as :func:`mean_aggregate` over the
    edge list, without an ``E x F`` array of messages."""
    total = adj.propagate(x_src)
    if aggr == "add":
        return total
    if aggr != "mean":
        raise ValueError(f"aggr must be 'mean' or 'add', got {aggr!r}")
    return total / jnp.maximum(adj.row_sums(), 1.0)[:, None]


class MLP(nn.Module):
    """``lin2(relu(lin1(x)))``: the node update of a GCN layer. PyG twin:
    :class:`course_lib.pyg.nn.MLP`."""

    features: int

    @nn.compact
    def __call__(self, x):
        return dense(self.features, "lin2")(nn.relu(dense(self.features, "lin1")(x)))


class GCNLayer(nn.Module):
    """An :class:`MLP` node update, then the product with ``adj``, the graph's
    ``D^-1/2 (A + I) D^-1/2`` built once (``graph.globals["gcn"]``, :func:`course_lib.jax.data.adjacencies`):
    what ``jraph.GraphConvolution`` computes with an MLP ``update_node_fn``, self edges and
    symmetric normalisation, without recomputing the degrees and scattering ``E x F``
    messages on every call. PyG twin: :class:`course_lib.pyg.nn.GCNLayer`."""

    features: int

    @nn.compact
    def __call__(self, x, adj):
        return adj.propagate(MLP(self.features, name="mlp")(x))


# --------------------------------------------------------------------------------------------------
# Heterogeneous graphs: edge types, input layers and the heterogeneous convolution
# --------------------------------------------------------------------------------------------------


def relations(graph: jraph.GraphsTuple) -> dict:
    """``{'rates': [M, U], 'rev_rates': [U, M]}``: the unit-weight
    :class:`~course_lib.jax.data.Adjacency` of each edge type of the course's ``GraphsTuple``,
    built once with it (:func:`course_lib.jax.data.with_adjacency` keeps them in
    ``globals``), each node counted within its own type. What ``HeteroData.adj_t_dict``
    holds in PyG."""
    return {rel: graph.globals[rel] for rel in ("rates", "rev_rates")}


class InputLayer(nn.Module):
    """Layer-0 features per node type: ``lin_<t>(x[t])`` for the types in ``num_features``,
    plus a learned embedding ``emb_<t>(node_id[t])`` for the types in ``num_embeddings``
    (``{type: number of nodes}``), initialised ``N(0, embedding_std^2)``.

    Chapter 4 embeds users and movies and adds a linear map of the genres to the movies;
    chapter 5 embeds every type but movies, which are their features only. PyG twin:
    :class:`course_lib.pyg.nn.InputLayer` (``num_features`` gives the input widths there; flax
    infers them, and they are checked).
    """

    num_embeddings: dict
    num_features: dict
    hidden: int
    embedding_std: float = 1.0

    @nn.compact
    def __call__(self, node_id: dict, x: dict) -> dict:
        out = {t: nn.Embed(n, self.hidden, embedding_init=nn.initializers.normal(
                   self.embedding_std), name=f"emb_{t}")(node_id[t])
               for t, n in self.num_embeddings.items()}
        for t, width in self.num_features.items():
            if x[t].shape[-1] != width:
                raise ValueError(f"{t} features have width {x[t].shape[-1]}, expected {width}")
            h = dense(self.hidden, f"lin_{t}")(x[t])
            out[t] = h + out[t] if t in out else h
        return out


def sum_by_destination(outputs: dict) -> dict:
    """``{(src, rel, dst): [N_dst, F]}`` -> ``{dst: [N_dst, F]}``: each node type
    receives the sum of the outputs of the edge types that end at it
    (``HeteroConv(..., aggr='sum')``). Node types that no edge type reaches are absent
    from the result."""
    out = {}
    for (_, _, dst), h in outputs.items():
        out[dst] = h if dst not in out else out[dst] + h
    return out


def hetero_conv(make_conv, x: dict, adjacency: dict, edge_types,
                relation_aggr: str = "sum") -> dict:
    """One heterogeneous layer, what PyG's ``HeteroConv`` does: for each edge type
    ``(src, rel, dst)``, ``make_conv(edge_type)`` builds its convolution, applied as
    ``conv(x[src], x[dst], adjacency[rel])`` (the edge type's unit-weight
    :class:`~course_lib.jax.data.Adjacency` ``[N_dst, N_src]``, each node counted
    within its type); the results are summed per destination type
    (``relation_aggr='mean'``: averaged)."""
    outputs = {}
    for edge_type in edge_types:
        src, rel, dst = edge_type
        outputs[edge_type] = make_conv(edge_type)(x[src], x[dst], adjacency[rel])
    out = sum_by_destination(outputs)
    if relation_aggr == "mean":
        count = Counter(dst for _, _, dst in outputs)
        out = {t: h / count[t] for t, h in out.items()}
    elif relation_aggr != "sum":
        raise ValueError(
            f"relation_aggr must be 'sum' or 'mean', got {relation_aggr!r}")
    return out


class HeteroGraphConv(nn.Module):
    """``num_layers`` heterogeneous ``GraphConv`` layers over ``edge_types`` (``aggr`` over a
    node's neighbours, ``relation_aggr`` over the edge types that reach it, ReLU after each),
    then a dense layer ``hidden -> out_channels`` (default ``hidden``) per output type. The last
    layer computes the output types only. Input ``{type: [N, hidden]}`` and ``adjacency``
    ``{rel: Adjacency}``. PyG twin: :class:`course_lib.pyg.nn.HeteroGraphConv`."""

    edge_types: tuple
    hidden: int
    out_channels: int | None = None
    num_layers: int = 2
    aggr: str = "mean"
    relation_aggr: str = "sum"
    output_types: tuple = ("user", "movie")

    @nn.compact
    def __call__(self, x: dict, adjacency: dict) -> dict:
        for i in range(self.num_layers):
            types = [et for et in self.edge_types
                     if i < self.num_layers - 1 or et[2] in self.output_types]
            x = hetero_conv(lambda et, i=i: GraphConv(self.hidden, self.aggr,
                                                      name=f"conv{i}_{et[1]}"),
                            x, adjacency, types, self.relation_aggr)
            x = {t: nn.relu(h) for t, h in x.items()}
        out = self.out_channels or self.hidden
        return {t: dense(out, f"out_{t}")(x[t]) for t in self.output_types}


# --------------------------------------------------------------------------------------------------
# Graph convolutional matrix completion (GC-MC): one relation per rating level
# --------------------------------------------------------------------------------------------------

#: ``torch.nn.Linear``'s distribution for a stack of matrices ``[..., in, out]``.
TORCH_STACKED_INIT = nn.initializers.variance_scaling(1 / 3, "fan_in", "uniform", in_axis=-2,
                                                      out_axis=-1, batch_axis=(0,))
#: The PyG twin draws the ``[R, B]`` basis coefficients with fan-in ``B``.
COEF_INIT = nn.initializers.variance_scaling(1 / 3, "fan_in", "uniform", in_axis=-1, out_axis=-2)


def ordinal_weights(basis: jnp.ndarray) -> jnp.ndarray:
    """GC-MC's ordinal weight sharing: ``W_r = T_1 + ... + T_r`` along the first axis of
    ``basis`` ``[R, ...]`` (rating levels, lowest first). PyG twin:
    :func:`course_lib.pyg.nn.ordinal_weights`."""
    return jnp.cumsum(basis, axis=0)


def node_dropout(x: jnp.ndarray, p: float, training: bool, key=None) -> jnp.ndarray:
    """Zero whole rows of ``x`` (nodes) with probability ``p``, rescale the others by
    ``1 / (1 - p)`` (``key``: a PRNG key, needed when ``training``). PyG twin:
    :func:`course_lib.pyg.nn.node_dropout`."""
    if not training or p == 0.0:
        return x
    keep = jax.random.bernoulli(key, 1.0 - p, (x.shape[0], 1))
    return jnp.where(keep, x / (1.0 - p), 0.0)


class GCMCConv(nn.Module):
    r"""GC-MC's encoder layer: one relation per rating level, weights shared ordinally.

    .. math::
        h_i = \operatorname{accum}_{r=1}^{R} \sum_{j \in N_r(i)}
              \frac{w_{ij}}{c_i}\, x_j W_r, \qquad
        W_r = \sum_{s \le r} T_s, \qquad c_i = \sum_{j \in N(i)} w_{ij}

    ``adj``: the graph's rating levels as one sparse matrix ``[N R, N R]``
    (:func:`course_lib.sparse.level_edges`: edge ``j -> i`` of level ``r`` is
    entry ``(i R + r, j R + r)``), so that one product with the ``[N R, d]``
    rows ``x_j W_r`` gives every (receiver, level) sum at once: stacking is a
    reshape. ``edge_weight``: one weight per edge, in the edge order ``adj`` was
    built from (1 by default; 0 removes the edge). Dividing by ``c_i`` after the
    sums is the left normalisation. ``accum='stack'`` concatenates the per-level
    sums, ``'sum'`` adds them. PyG twin: :class:`course_lib.pyg.nn.GCMCConv`.
    """

    out_channels: int
    num_relations: int
    accum: str = "stack"
    ordinal: bool = True

    @nn.compact
    def __call__(self, x, adj, edge_weight=None):
        if self.accum not in ("stack", "sum"):
            raise ValueError(f"accum must be 'stack' or 'sum', got {self.accum!r}")
        r = self.num_relations
        if self.accum == "stack" and self.out_channels % r:
            raise ValueError(f"accum='stack' splits out_channels={self.out_channels} "
                             f"into {r} equal parts: use a multiple of {r}")
        per_level = (self.out_channels // r if self.accum == "stack"
                     else self.out_channels)
        weight = self.param("weight", TORCH_STACKED_INIT, (r, x.shape[-1], per_level))
        if self.ordinal:
            weight = ordinal_weights(weight)
        n = x.shape[0]
        # every node through every W_r at once: [N, F] @ [F, R d];
        # row j R + r: x_j W_r
        w = weight.transpose(1, 0, 2).reshape(x.shape[-1], -1)
        xw = (x @ w).reshape(n * r, per_level)
        if edge_weight is not None:
            adj = adj.with_edge_weights(edge_weight)
        out = adj.propagate(xw).reshape(n, r, per_level)  # [receiver, level, d]
        degree = adj.row_sums().reshape(n, r).sum(1)               # c_i
        out = out / jnp.maximum(degree, 1e-12)[:, None, None]
        return out.reshape(n, -1) if self.accum == "stack" else out.sum(1)


class BilinearBasisDecoder(nn.Module):
    r"""GC-MC's decoder: ``logit_r(u, v) = z_u^T Q_r z_v + c_r`` with ``Q_r = sum_b a_rb P_b``
    and a bias ``c_r`` per level.

    Returns ``[n, R]`` logits for the pairs ``edge_label_index`` ``[2, n]``. PyG twin:
    :class:`course_lib.pyg.nn.BilinearBasisDecoder`.
    """

    num_levels: int
    num_bases: int = 2

    @nn.compact
    def __call__(self, z_src, z_dst, edge_label_index):
        d = z_src.shape[-1]
        basis = self.param("basis", TORCH_STACKED_INIT, (self.num_bases, d, d))
        coef = self.param("coef", COEF_INIT, (self.num_levels, self.num_bases))
        bias = self.param("bias", nn.initializers.zeros_init(), (self.num_levels,))
        u, v = z_src[edge_label_index[0]], z_dst[edge_label_index[1]]
        per_basis = jnp.einsum("ei,bij,ej->eb", u, basis, v)
        return per_basis @ coef.T + bias


# --------------------------------------------------------------------------------------------------
# Weights from PyG, for parity checks
# --------------------------------------------------------------------------------------------------

LEAVES = ("kernel", "bias", "embedding", "scale", "weight", "basis", "coef")


def params_from_torch(weights: dict[str, np.ndarray],
                      rename: Callable[[str], tuple[str, ...] | None]) -> dict:
    """flax parameters ``{"params": {...}}`` from torch weights
    (:func:`course_lib.pyg.nn.numpy_weights`).

    ``rename(torch_name)`` gives the flax path of one torch weight, ending in its leaf name
    (``kernel``, ``bias``, ``embedding`` or ``scale``), or None to skip it. A ``kernel`` is
    transposed: torch's ``Linear`` stores ``[out, in]``, flax's ``Dense`` ``[in, out]``.
    """
    params: dict = {}
    for name, value in weights.items():
        path = rename(name)
        if path is None:
            continue
        if path[-1] not in LEAVES:
            raise ValueError(f"{name!r} -> {path}: the flax path must end in one of {LEAVES}")
        node = params
        for key in path[:-1]:
            node = node.setdefault(key, {})
        if path[-1] in node:
            raise ValueError(f"two torch weights map to the flax path {path}")
        node[path[-1]] = jnp.asarray(value.T if path[-1] == "kernel" else value)
    return {"params": params}


def flax_path(torch_name: str) -> tuple[str, ...]:
    """The flax path of a torch weight of the layers above, for :func:`params_from_torch`.

    A ``ModuleList``/``ModuleDict`` entry joins its container's name (``convs.0`` -> ``conv0``,
    ``norms.1`` -> ``norm1``, ``emb.user`` -> ``emb_user``, ``lin.movie`` -> ``lin_movie``,
    ``out.user`` -> ``out_user``); a ``HeteroConv``'s ``convs.<src___rel___dst>`` appends the
    relation to its layer (``conv0_rates``). ``weight`` becomes ``embedding`` in an ``emb_*``,
    ``scale`` in a ``norm*``, ``kernel`` elsewhere::

        gnn.convs.0.convs.<user___rates___movie>.lin_rel.weight -> gnn/conv0_rates/lin_rel/kernel
    """
    tokens = torch_name.split(".")
    leaf = tokens.pop()
    path: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        key = tokens[i + 1] if i + 1 < len(tokens) else None
        if token == "convs" and key is not None and key.startswith("<"):
            path[-1] += "_" + key.strip("<>").split("___")[1]
            i += 2
        elif token in ("convs", "norms") and key is not None and key.isdigit():
            path.append(token[:-1] + key)
            i += 2
        elif token in ("emb", "lin", "out") and key is not None:
            path.append(f"{token}_{key}")
            i += 2
        else:
            path.append(token)
            i += 1
    if leaf == "weight":
        leaf = ("embedding" if path[-1].startswith("emb") else
                "scale" if path[-1].startswith("norm") else "kernel")
    return (*path, leaf)
