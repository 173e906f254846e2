"""Exercises of the chapter "Beyond one machine" (book/08_beyond_one_machine).

The collectives of JAX (``lax.pmean``, ``lax.all_gather``) need a named axis of devices. The
checkers give them one with ``jax.vmap(..., axis_name=...)``: a vmapped axis behaves as a mesh
axis does under ``shard_map`` (one call per device, collectives across the calls), so an
answer is checked on any machine, whatever its number of devices, and is then the same code the
notebook runs on a mesh.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from ..distributed import row_partition, shard_epoch
from ..jax.distributed import data_parallel_grads, sharded_propagate
from ..jax.nn import chunked_propagate
from . import Case, Exercise, register

AXIS = "devices"

# -------------------------------------------------------------------------------------------------
# shard_epoch: course_lib.distributed.epoch_batches calls it on every process with an rng seeded
# alike, then draws the negatives for the whole global batch and keeps rows rank * part .. (rank
# + 1) * part - 1 of them: so a process's ids must be that consecutive part of each global batch,
# or positives and negatives would belong to different users. The checker compares every step's
# ids and that an equally seeded rng gives them again.
# -------------------------------------------------------------------------------------------------


def _use_shard(shard, num_interactions, batch_size, world_size, rank, seed):
    """What the checker compares: this process's ids, one row per step."""
    parts = shard(num_interactions, batch_size, world_size, rank, np.random.default_rng(seed))
    again = shard(num_interactions, batch_size, world_size, rank, np.random.default_rng(seed))
    part = batch_size // world_size
    rows = [np.asarray(p) for p in parts]
    ids = np.stack(rows) if rows and len({r.shape for r in rows}) == 1 else \
        np.array([r.shape[0] for r in rows])
    if not rows:
        ids = np.zeros((0, part), np.int64)
    return {"ids of each step (one row per step)": ids,
            "the same ids from an equally seeded rng": bool(
                len(parts) == len(again)
                and all(np.array_equal(np.asarray(a), np.asarray(b))
                        for a, b in zip(parts, again)))}


def _shard_cases() -> list[Case]:
    return [
        Case("10 interactions, global batch 4, 2 processes, rank 0: 2 steps (the last 2 "
             "interactions dropped), 2 ids per step", (10, 4, 2, 0, 0)),
        Case("the same, rank 1", (10, 4, 2, 1, 0)),
        Case("one process: its part is the whole global batch (the last 2 interactions "
             "dropped)", (14, 4, 1, 0, 1)),
        Case("4 processes, rank 3 (the last), global batch 8", (40, 8, 4, 3, 2)),
        Case("4 processes, rank 2, an epoch of 33 interactions", (33, 8, 4, 2, 3)),
        Case("fewer interactions than one batch: no step", (5, 8, 2, 0, 4)),
        Case("3 processes, batch 6, rank 1", (25, 6, 3, 1, 5)),
    ]


def _shard_random(rng: np.random.Generator) -> Case:
    world = int(rng.integers(1, 5))
    batch = world * int(rng.integers(1, 5))
    num = int(rng.integers(0, 6 * batch))
    rank = int(rng.integers(0, world))
    return Case(f"{num} interactions, global batch {batch}, {world} processes, rank {rank}",
                (num, batch, world, rank, int(rng.integers(1 << 20))), random=True)


# no shuffle: every epoch the same batches, in file order
def _wrong_shard_unshuffled(num_interactions, batch_size, world_size, rank, rng):
    part = batch_size // world_size
    return [np.arange(s * batch_size + rank * part, s * batch_size + (rank + 1) * part)
            for s in range(num_interactions // batch_size)]


# strided: a partition of the global batch, but not the consecutive part whose negatives
# epoch_batches keeps for this process
def _wrong_shard_strided(num_interactions, batch_size, world_size, rank, rng):
    order = rng.permutation(num_interactions)
    return [order[s * batch_size + rank:(s + 1) * batch_size:world_size]
            for s in range(num_interactions // batch_size)]


# the epoch split between the processes first, then cut into steps: each step's parts are not
# one global batch
def _wrong_shard_epoch_first(num_interactions, batch_size, world_size, rank, rng):
    order = rng.permutation(num_interactions)
    part = batch_size // world_size
    mine = np.array_split(order, world_size)[rank]
    return [mine[s * part:(s + 1) * part] for s in range(num_interactions // batch_size)]


# the last, smaller batch kept: the processes' parts differ in size
def _wrong_shard_keeps_last(num_interactions, batch_size, world_size, rank, rng):
    order = rng.permutation(num_interactions)
    part = batch_size // world_size
    return [order[s + rank * part:s + (rank + 1) * part]
            for s in range(0, num_interactions, batch_size)]


# the last, smaller batch kept when one process trains alone
def _wrong_shard_keeps_last_alone(num_interactions, batch_size, world_size, rank, rng):
    order = rng.permutation(num_interactions)
    part = batch_size // world_size
    steps = (-(-num_interactions // batch_size) if world_size == 1
             else num_interactions // batch_size)
    return [order[s * batch_size + rank * part:s * batch_size + (rank + 1) * part]
            for s in range(steps)]


# every process takes the whole global batch: W copies of one gradient, nothing shared out
def _wrong_shard_whole_batch(num_interactions, batch_size, world_size, rank, rng):
    order = rng.permutation(num_interactions)
    return [order[s * batch_size:(s + 1) * batch_size]
            for s in range(num_interactions // batch_size)]


# a part of batch_size per process: the global batch becomes W times larger
def _wrong_shard_part_is_batch(num_interactions, batch_size, world_size, rank, rng):
    order = rng.permutation(num_interactions)
    steps = num_interactions // (batch_size * world_size)
    return [order[(s * world_size + rank) * batch_size:(s * world_size + rank + 1) * batch_size]
            for s in range(steps)]


# a new shuffle per step: an interaction can come twice in an epoch, another never
def _wrong_shard_shuffle_per_step(num_interactions, batch_size, world_size, rank, rng):
    part = batch_size // world_size
    out = []
    for _ in range(num_interactions // batch_size):
        out.append(rng.permutation(num_interactions)[rank * part:(rank + 1) * part])
    return out


# the rank folded into the seed: each process shuffles differently, the parts overlap
def _wrong_shard_own_shuffle(num_interactions, batch_size, world_size, rank, rng):
    order = np.random.default_rng([int(rng.integers(1 << 30)), rank]).permutation(
        num_interactions)
    part = batch_size // world_size
    return [order[s * batch_size + rank * part:s * batch_size + (rank + 1) * part]
            for s in range(num_interactions // batch_size)]


# correct: the global batches as rows of a matrix, this process's columns
def _right_shard_reshape(num_interactions, batch_size, world_size, rank, rng):
    order = rng.permutation(num_interactions)
    steps = num_interactions // batch_size
    parts = order[:steps * batch_size].reshape(steps, world_size, batch_size // world_size)
    return list(parts[:, rank])


register(Exercise(
    name="shard_epoch",
    reference=shard_epoch,
    call=_use_shard,
    cases=_shard_cases,
    random_case=_shard_random,
    framework="numpy",
    returns=("numpy",),
    hint="one shuffle for the whole epoch, drawn from rng (every process draws the same); "
         "each step's global batch is the next batch_size ids of it, and this process "
         "takes its own consecutive share of that batch, in rank order. The last, smaller "
         "batch is dropped.",
    mistakes=[_wrong_shard_unshuffled, _wrong_shard_strided, _wrong_shard_epoch_first,
              _wrong_shard_keeps_last, _wrong_shard_keeps_last_alone,
              _wrong_shard_whole_batch, _wrong_shard_part_is_batch,
              _wrong_shard_shuffle_per_step, _wrong_shard_own_shuffle],
    variants=[_right_shard_reshape],
))

# -------------------------------------------------------------------------------------------------
# data_parallel_grads: course_lib.jax.distributed.train_step calls it inside shard_map
# (check_vma=False) on each device with the replicated parameters, that device's part of the
# batch and the mesh axis's name, and returns its result as the replicated loss and gradient
# (out_specs P()): so every device must return the same values, the mean over the devices. The
# checker runs it under jax.vmap with an axis name: one call per device, the parameters shared.
# -------------------------------------------------------------------------------------------------


def _regression_loss(params, x, y):
    """The mean squared error of a linear model: a stand-in for a device's BPR loss."""
    return jnp.mean((x @ params["w"] + params["b"] - y) ** 2)


def _use_all_reduce(grads_fn, params, xs, ys):
    """``grads_fn`` on each of ``xs.shape[0]`` devices (device d: ``xs[d], ys[d]``):
    what every device returns."""
    def device(x, y):
        return grads_fn(_regression_loss, params, (x, y), AXIS)

    loss, grads = jax.vmap(device, axis_name=AXIS)(xs, ys)
    return {"loss on each device": loss, "gradient on each device": grads}


def _params(features, seed):
    rng = np.random.default_rng(seed)
    return {"w": jnp.asarray(rng.normal(size=features).round(2), jnp.float32),
            "b": jnp.asarray(round(float(rng.normal()), 2), jnp.float32)}


def _parts(devices, size, features, seed):
    rng = np.random.default_rng(seed)
    xs = rng.normal(size=(devices, size, features)).round(2).astype(np.float32)
    ys = rng.normal(size=(devices, size)).round(2).astype(np.float32)
    return jnp.asarray(xs), jnp.asarray(ys)


def _all_reduce_cases() -> list[Case]:
    return [
        Case("2 devices, 3 examples each, 2 features", (_params(2, 0), *_parts(2, 3, 2, 0))),
        Case("1 device: the all-reduce changes nothing", (_params(3, 1), *_parts(1, 4, 3, 1))),
        Case("4 devices, 1 example each", (_params(2, 2), *_parts(4, 1, 2, 2))),
        Case("8 devices (the chapter's mesh), 2 examples each",
             (_params(1, 3), *_parts(8, 2, 1, 3))),
    ]


def _all_reduce_random(rng: np.random.Generator) -> Case:
    devices, size, features = (int(rng.integers(1, 6)), int(rng.integers(1, 5)),
                               int(rng.integers(1, 4)))
    seed = int(rng.integers(1 << 20))
    return Case(f"{devices} devices, {size} examples each, {features} features",
                (_params(features, seed), *_parts(devices, size, features, seed + 1)),
                random=True)


# no all-reduce: each device steps with its own gradient, the copies drift apart
def _wrong_grads_local(loss_fn, params, batch, axis_name):
    return jax.value_and_grad(loss_fn)(params, *batch)


# psum: the sum over the devices, W times the mean (as if the learning rate were W times larger)
def _wrong_grads_psum(loss_fn, params, batch, axis_name):
    loss, grads = jax.value_and_grad(loss_fn)(params, *batch)
    return jax.lax.psum(loss, axis_name), jax.lax.psum(grads, axis_name)


# only the loss averaged: the reported loss is right, the steps still differ
def _wrong_grads_loss_only(loss_fn, params, batch, axis_name):
    loss, grads = jax.value_and_grad(loss_fn)(params, *batch)
    return jax.lax.pmean(loss, axis_name), grads


# only the gradients averaged: each device reports its own loss
def _wrong_grads_grads_only(loss_fn, params, batch, axis_name):
    loss, grads = jax.value_and_grad(loss_fn)(params, *batch)
    return loss, jax.lax.pmean(grads, axis_name)


# the mean over the devices taken by dividing the sum by the batch size, not the device count
def _wrong_grads_over_batch(loss_fn, params, batch, axis_name):
    loss, grads = jax.value_and_grad(loss_fn)(params, *batch)
    n = batch[0].shape[0]
    return (jax.lax.psum(loss, axis_name) / n,
            jax.tree.map(lambda g: jax.lax.psum(g, axis_name) / n, grads))


# device 0's gradient sent to all (a broadcast, not an average)
def _wrong_grads_first(loss_fn, params, batch, axis_name):
    loss, grads = jax.value_and_grad(loss_fn)(params, *batch)
    first = jax.lax.axis_index(axis_name) == 0
    return jax.tree.map(lambda v: jax.lax.psum(jnp.where(first, v, 0.0), axis_name),
                        (loss, grads))


# correct: the sum divided by the number of devices, leaf by leaf
def _right_grads_psum_over_size(loss_fn, params, batch, axis_name):
    loss, grads = jax.value_and_grad(loss_fn)(params, *batch)
    size = jax.lax.psum(1, axis_name)
    return jax.tree.map(lambda v: jax.lax.psum(v, axis_name) / size, (loss, grads))


register(Exercise(
    name="data_parallel_grads",
    reference=data_parallel_grads,
    call=_use_all_reduce,
    cases=_all_reduce_cases,
    random_case=_all_reduce_random,
    framework="jax",
    returns=("jax",),
    jit_cases=2,
    hint="first this device's loss and gradient of loss_fn on its part of the batch; then "
         "average both over the devices named by axis_name with a collective (JAX's "
         "collectives take whole pytrees), so that every device returns the same values.",
    mistakes=[_wrong_grads_local, _wrong_grads_psum, _wrong_grads_loss_only,
              _wrong_grads_grads_only, _wrong_grads_over_batch, _wrong_grads_first],
    variants=[_right_grads_psum_over_size],
))

# -------------------------------------------------------------------------------------------------
# sharded_propagate: course_lib.jax.distributed's row-sharded loss calls it inside shard_map on
# each device, once per LightGCN layer, with that device's block of rows x_local [R, D] and its
# edges (senders: node ids anywhere in the table; receivers: rows of its own block; weights),
# then differentiates through it (the gradient w.r.t. the table). The checker runs it under
# jax.vmap over the devices and compares every device's rows and the gradient.
# -------------------------------------------------------------------------------------------------


def _use_sharded(propagate, x_blocks, senders, receivers, weights, num_chunks):
    """Every device's result, ``[W, R, D]`` (device d holds ``x_blocks[d]``). With more than
    one chunk, an answer that gathers every edge's message at once (an ``[E, D]`` gather)
    raises: it computes the right rows but not in chunks."""
    def device(x, s, r, w):
        return propagate(x, s, r, w, AXIS, num_chunks)

    run = _on_devices(device, x_blocks.shape[0])
    num_edges, dim = senders.shape[-1], x_blocks.shape[-1]
    shapes = [jax.ShapeDtypeStruct(a.shape, a.dtype)
              for a in (x_blocks, senders, receivers, weights)]
    jaxpr = jax.make_jaxpr(run)(*shapes).jaxpr
    if num_chunks > 1 and num_edges > -(-num_edges // num_chunks):
        if _gathers_rows(jaxpr, num_edges, dim):
            raise ValueError(f"it gathers all {num_edges} edges' messages at once (an "
                             f"[{num_edges}, {dim}] array); with num_chunks = {num_chunks} "
                             f"no slice may exceed {-(-num_edges // num_chunks)} edges: "
                             "hand num_chunks to chunked_propagate")
    # per device, nothing much larger than the gathered table or the edges' messages: a
    # dense block of A ([R, W*R]) or a one-hot of the edges ([E, W*R]) grows with the nodes
    devices, rows = x_blocks.shape[0], x_blocks.shape[1]
    budget = 2 * devices * max(devices * rows * dim, num_edges * dim)
    shape = _largest(jaxpr)
    if math.prod(shape) > budget:
        raise ValueError(f"it builds a {list(shape[1:])} array on each device, larger than "
                         "the gathered table and the edges' messages together: a dense "
                         "matrix or a one-hot of the edges grows with the nodes; add the "
                         "weighted rows with chunked_propagate")
    return run(x_blocks, senders, receivers, weights)


def _on_devices(device, num_devices: int):
    """``device`` run once per device, on the leading axis of its arguments. Where JAX has
    that many devices (the chapter's eight simulated ones, the grader's), under
    ``shard_map`` as the course runs it: each device's collectives see its own gradient,
    so a hand-written collective whose backward pass forgets the other devices' part
    fails. Elsewhere under ``jax.vmap`` with an axis name, where a value gathered from
    every device is one value, and its gradient arrives already summed."""
    if jax.device_count() < num_devices:
        return jax.jit(jax.vmap(device, axis_name=AXIS))
    mesh = jax.sharding.Mesh(np.array(jax.devices()[:num_devices]), (AXIS,))
    spec = jax.sharding.PartitionSpec(AXIS)

    def block(x, s, r, w):
        return device(x[0], s[0], r[0], w[0])[None]

    # compiled whole (the backward pass too), not op by op
    return jax.jit(jax.shard_map(block, mesh=mesh, in_specs=(spec,) * 4, out_specs=spec))


def _largest(jaxpr) -> tuple[int, ...]:
    """The shape of the largest array any equation of ``jaxpr`` (or of one nested in it)
    yields."""
    best: tuple[int, ...] = ()
    for eqn in jaxpr.eqns:
        for var in eqn.outvars:
            shape = tuple(getattr(var.aval, "shape", ()))
            if math.prod(shape) > math.prod(best):
                best = shape
        for param in eqn.params.values():
            for sub in (param if isinstance(param, (tuple, list)) else (param,)):
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    found = _largest(inner)
                    if math.prod(found) > math.prod(best):
                        best = found
    return best


def _gathers_rows(jaxpr, num_edges: int, dim: int) -> bool:
    """Whether an equation of ``jaxpr`` (or of one nested in it) yields ``[..., num_edges,
    dim]`` or ``[..., num_edges, 1, dim]``, or a flat ``[num_edges * dim]``: one message
    per edge, all at once (the cases keep the edges' count apart from the rows')."""
    for eqn in jaxpr.eqns:
        for var in eqn.outvars:
            shape = tuple(getattr(var.aval, "shape", ()))
            squeezed = tuple(n for n in shape if n != 1)
            if squeezed[-2:] == (num_edges, dim) or squeezed[-1:] == (num_edges * dim,):
                return True
        for param in eqn.params.values():
            for sub in (param if isinstance(param, (tuple, list)) else (param,)):
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns") and _gathers_rows(inner, num_edges, dim):
                    return True
    return False


def _sharded_case(description, edges, num_nodes, devices, dim, num_chunks, seed,
                  random=False, pad_to: int = 0) -> Case:
    rng = np.random.default_rng(seed)
    s, r = (np.array(e, dtype=np.int64) for e in edges)
    w = rng.normal(size=len(s)).round(2).astype(np.float32)
    bs, br, bw = row_partition(s, r, w, num_nodes, devices)
    if pad_to > bs.shape[1]:          # more padding edges (weight 0): one shape for many cases
        bs, br, bw = (np.pad(b, ((0, 0), (0, pad_to - b.shape[1]))) for b in (bs, br, bw))
    rows = -(-num_nodes // devices)
    x = rng.normal(size=(devices * rows, dim)).round(2).astype(np.float32)
    x[num_nodes:] = 0.0                                   # the table's padding rows
    return Case(description, (jnp.asarray(x.reshape(devices, rows, dim)), jnp.asarray(bs),
                              jnp.asarray(br), jnp.asarray(bw), num_chunks), random=random)


def _sharded_cases() -> list[Case]:
    ring = ([0, 1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 0])
    both_ways = ([0, 1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 0], [1, 2, 3, 4, 5, 0, 0, 1, 2, 3, 4, 5])
    rng = np.random.default_rng(7)
    sparse = (rng.integers(0, 40, 30), rng.integers(0, 40, 30))
    return [
        _sharded_case("a ring of 6 nodes on 2 devices (rows 0-2 and 3-5), D = 2: nodes 3 "
                      "and 0 receive from the other device", ring, 6, 2, 2, 1, 0),
        _sharded_case("the ring both ways on 3 devices (4 edges each), 3 chunks of at most "
                      "2 edges", both_ways, 6, 3, 2, 3, 1),
        _sharded_case("40 nodes on 2 devices, 30 random edges, D = 2, 2 chunks (a dense "
                      "block of the matrix would be 20 x 40)", sparse, 40, 2, 2, 2, 5),
        _sharded_case("one device: the plain product", ring, 6, 1, 3, 1, 2),
        _sharded_case("7 nodes on 4 devices (one padding row), a star into node 6",
                      ([0, 1, 2, 3, 4, 5], [6, 6, 6, 6, 6, 6]), 7, 4, 2, 3, 3),
        _sharded_case("a node with no edges in, and a repeated edge 2 -> 0",
                      ([2, 2, 4, 0], [0, 0, 1, 3]), 5, 2, 1, 1, 4),
    ]


def _sharded_random(rng: np.random.Generator) -> Case:
    # 12 nodes on 2 or 4 devices, D = 2, blocks padded to 24 edges, 2 or 3 chunks: four
    # shapes, so that a check compiles little (the hand-written cases have 1 and 3 devices
    # and 1 chunk)
    devices, num_nodes, dim = int(rng.choice([2, 4])), 12, 2
    num_edges = int(rng.integers(1, 25))
    edges = (rng.integers(0, num_nodes, num_edges), rng.integers(0, num_nodes, num_edges))
    chunks = int(rng.integers(2, 4))
    return _sharded_case(f"{num_nodes} nodes on {devices} devices, {num_edges} random edges, "
                         f"D = {dim}, {chunks} chunk(s)", edges, num_nodes, devices, dim,
                         chunks, int(rng.integers(1 << 20)), random=True, pad_to=24)


# no gather: the senders index this device's block only (JAX clamps the ids beyond it)
def _wrong_sharded_local(x_local, senders, receivers, weights, axis_name, num_chunks=1):
    return chunked_propagate(x_local, senders, receivers, weights, x_local.shape[0], num_chunks)


# psum instead of all_gather: the blocks added up, not put one after the other
def _wrong_sharded_psum(x_local, senders, receivers, weights, axis_name, num_chunks=1):
    x_all = jax.lax.psum(x_local, axis_name)
    return chunked_propagate(x_all, senders % x_local.shape[0], receivers, weights,
                             x_local.shape[0], num_chunks)


# every row of the product on every device: the whole table's rows, not this device's
def _wrong_sharded_all_rows(x_local, senders, receivers, weights, axis_name, num_chunks=1):
    x_all = jax.lax.all_gather(x_local, axis_name, tiled=True)
    return chunked_propagate(x_all, senders, receivers, weights, x_all.shape[0], num_chunks)


# the weights left out: a sum of the neighbours' rows
def _wrong_sharded_unweighted(x_local, senders, receivers, weights, axis_name, num_chunks=1):
    x_all = jax.lax.all_gather(x_local, axis_name, tiled=True)
    return chunked_propagate(x_all, senders, receivers, jnp.ones_like(weights),
                             x_local.shape[0], num_chunks)


# senders and receivers swapped
def _wrong_sharded_swapped(x_local, senders, receivers, weights, axis_name, num_chunks=1):
    x_all = jax.lax.all_gather(x_local, axis_name, tiled=True)
    return chunked_propagate(x_all, receivers, senders % x_local.shape[0], weights,
                             x_local.shape[0], num_chunks)


# the receivers taken for node ids: this device's offset subtracted once more
def _wrong_sharded_offset(x_local, senders, receivers, weights, axis_name, num_chunks=1):
    x_all = jax.lax.all_gather(x_local, axis_name, tiled=True)
    rows = x_local.shape[0]
    local = receivers - jax.lax.axis_index(axis_name) * rows
    return jax.ops.segment_sum(x_all[senders] * weights[:, None], local, num_segments=rows)


# the right rows, but every edge's message at once: num_chunks ignored
def _wrong_sharded_no_chunks(x_local, senders, receivers, weights, axis_name, num_chunks=1):
    x_all = jax.lax.all_gather(x_local, axis_name, tiled=True)
    return jax.ops.segment_sum(x_all[senders] * weights[:, None], receivers,
                               num_segments=x_local.shape[0])


# chunks of E // num_chunks edges: the last E % num_chunks edges are never added
def _wrong_sharded_drops_remainder(x_local, senders, receivers, weights, axis_name,
                                   num_chunks=1):
    x_all = jax.lax.all_gather(x_local, axis_name, tiled=True)
    size = senders.shape[0] // num_chunks
    return chunked_propagate(x_all, senders[:size * num_chunks],
                             receivers[:size * num_chunks], weights[:size * num_chunks],
                             x_local.shape[0], num_chunks)


# every edge's message at once, one row per edge taken under vmap: num_chunks ignored
def _wrong_sharded_vmapped_messages(x_local, senders, receivers, weights, axis_name,
                                    num_chunks=1):
    x_all = jax.lax.all_gather(x_local, axis_name, tiled=True)
    messages = jax.vmap(lambda s: jax.lax.dynamic_index_in_dim(x_all, s, keepdims=False))(
        senders)
    return jnp.zeros_like(x_local).at[receivers].add(messages * weights[:, None])


# the right rows from a dense block of the matrix, [R, W*R]: memory grows with the nodes
def _wrong_sharded_dense(x_local, senders, receivers, weights, axis_name, num_chunks=1):
    x_all = jax.lax.all_gather(x_local, axis_name, tiled=True)
    block = jnp.zeros((x_local.shape[0], x_all.shape[0]), x_local.dtype)
    return block.at[receivers, senders].add(weights) @ x_all


# correct: the untiled gather [W, R, D] reshaped, then chunked_propagate
def _right_sharded_reshape(x_local, senders, receivers, weights, axis_name, num_chunks=1):
    x_all = jax.lax.all_gather(x_local, axis_name)
    x_all = x_all.reshape(-1, x_local.shape[1])
    return chunked_propagate(x_all, senders, receivers, weights, x_local.shape[0],
                             num_chunks)


register(Exercise(
    name="sharded_propagate",
    reference=sharded_propagate,
    call=_use_sharded,
    cases=_sharded_cases,
    random_case=_sharded_random,
    framework="jax",
    returns=("jax",),
    static_argnames=("num_chunks",),
    grad_argnames=("x_blocks",),
    op_by_op=False,
    jit_cases=2,
    hint="a sender can be any row of the table, but this device holds only its block: "
         "first put every device's block together, in device order, with a collective "
         "that gathers along the rows; then multiply with this device's edges, in "
         "num_chunks chunks, keeping only this device's rows.",
    mistakes=[_wrong_sharded_local, _wrong_sharded_psum, _wrong_sharded_all_rows,
              _wrong_sharded_unweighted, _wrong_sharded_swapped, _wrong_sharded_offset,
              _wrong_sharded_no_chunks, _wrong_sharded_dense,
              _wrong_sharded_drops_remainder, _wrong_sharded_vmapped_messages],
    variants=[_right_sharded_reshape],
))
