"""LightGCN beyond one device in JAX: data-parallel BPR and a row-sharded embedding table
(PyG twin: ``course_lib/pyg/distributed.py``). Chapter 8.

JAX spreads one program over a **mesh** of devices (``jax.make_mesh``): an array carries a
``NamedSharding`` (which mesh axis splits which of its dimensions, ``PartitionSpec``), and
``jax.shard_map`` runs a function once per device on that device's block, where collectives
(``lax.pmean``, ``lax.psum``, ``lax.all_gather``) name the mesh axis they reduce or gather over.
On one CPU the devices are simulated (``jax.config.update('jax_num_cpu_devices', 8)`` before
JAX first runs); on several hosts :func:`setup` calls ``jax.distributed.initialize`` and the
mesh spans every process's devices. The same code runs on GPUs.

* **Data parallel** (:func:`train_step`): every device holds the whole model and adjacency and
  one part of the batch (:func:`shard_batch`); each computes its part's loss and gradient, and
  :func:`data_parallel_grads` averages them with an all-reduce, so every copy takes the same
  step: the step of one device on the whole batch. Memory per device does not fall.
* **Row-sharded** (:func:`sharded_train_step`): device ``d`` holds rows ``d*R .. (d+1)*R-1``
  of the embedding table and the adjacency's rows for them
  (:func:`course_lib.distributed.row_partition`); a layer gathers the table's current rows
  from every device and multiplies its own block (:func:`sharded_propagate`); a batch's rows
  are fetched from the devices that hold them (:func:`gather_rows`). Table, optimizer
  state, adjacency and messages per device fall as ``1 / devices``
  (:func:`memory_per_device` measures it from the compiled program);
  :func:`fit_row_sharded` trains so over this process's devices.

Run on several processes (one per machine, or two on one machine to try it)::

    python -m course_lib.jax.distributed --coordinator HOST:PORT --num-processes 2 \\
        --process-id 0 --steps 20 --out run.npz     # and --process-id 1 on the other

``jax.distributed.initialize`` connects the processes through the coordinator (process 0's
address); CPU collectives between processes go over gloo.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import NamedSharding, PartitionSpec as P

from .. import settings
from ..cf import normalized_adjacency
from ..distributed import (command_line, count_steps, from_rows, report, row_partition,
                           rows_per_shard, run_steps, to_rows, train_from)
from ..graph import BipartiteGraph
from ..training import settings_for
from .bpr import batch_ego, bpr_loss
from .data import Adjacency, to_normalized_adjacency
from .lightgcn import build_lightgcn, layer_mean
from .nn import chunked_propagate, pair_scores
from .state import TrainState

#: Chapter 8's settings (:data:`course_lib.settings.DISTRIBUTED`, read by the PyG twin too).
SETTINGS = settings.DISTRIBUTED
WEIGHT_DECAY = SETTINGS["weight_decay"]


def make_mesh(num_devices: int | None = None, axis_name: str = "data") -> jax.sharding.Mesh:
    """A one-axis mesh over the first ``num_devices`` devices (all if None)."""
    n = jax.device_count() if num_devices is None else num_devices
    return jax.make_mesh((n,), (axis_name,), devices=jax.devices()[:n])


# --------------------------------------------------------------------------------------------------
# Data parallel
# --------------------------------------------------------------------------------------------------


def shard_batch(batch, mesh: jax.sharding.Mesh):
    """``batch`` (a tuple of arrays, each ``[B, ...]``) placed on ``mesh``, every array
    split along its first dimension over the mesh's axis: device ``d`` of ``W`` holds rows
    ``d*B/W .. (d+1)*B/W - 1``. ``B`` must be a multiple of ``W``. Chapter 8's exercise."""
    sharding = NamedSharding(mesh, P(mesh.axis_names[0]))
    return tuple(jax.device_put(x, sharding) for x in batch)


def data_parallel_grads(loss_fn, params, batch, axis_name: str):
    """Inside ``shard_map``, on each device: ``(loss, grads)`` of ``loss_fn(params,
    *batch)`` on this device's part of the batch, then averaged over the devices of
    ``axis_name`` with an all-reduce (``lax.pmean``), so every device returns the
    same loss and gradient: the mean over the whole batch when the parts are of
    equal size. Chapter 8's exercise."""
    loss, grads = jax.value_and_grad(loss_fn)(params, *batch)
    return jax.lax.pmean(loss, axis_name), jax.lax.pmean(grads, axis_name)


def _bpr(z, ego, users, positives, negatives, weight_decay):
    pos_scores = pair_scores(z, users, positives)
    neg_scores = pair_scores(z, users, negatives)
    ego = batch_ego(ego, jnp.concatenate([users, positives, negatives]))
    return bpr_loss(pos_scores, neg_scores, ego, weight_decay)


@partial(jax.jit, static_argnames=("mesh", "weight_decay", "grads"))
def train_step(state: TrainState, adj: Adjacency, batch, mesh: jax.sharding.Mesh,
               weight_decay: float = WEIGHT_DECAY, grads=data_parallel_grads
               ) -> tuple[TrainState, jax.Array]:
    """One data-parallel Adam step of LightGCN: ``batch`` (users, positives,
    negatives, node ids ``[B]``) sharded over ``mesh`` (:func:`shard_batch`), the
    parameters and the adjacency replicated. On each device the BPR loss of its
    part, over the whole graph; ``grads`` (:func:`data_parallel_grads`) averages the
    gradients; the update is the same everywhere. ``check_vma=False``: each device's
    gradient stays its own until the all-reduce we write (with JAX's checks on, the
    gradient of a replicated parameter is summed over the devices automatically)."""
    axis = mesh.axis_names[0]

    def loss_fn(params, adj, users, positives, negatives):
        z, ego = state.apply_fn(params, adj, train=True)
        return _bpr(z, ego, users, positives, negatives, weight_decay)

    def local(params, adj, users, positives, negatives):
        return grads(lambda p, *b: loss_fn(p, adj, *b), params,
                     (users, positives, negatives), axis)

    split, replicated = P(axis), P()
    per_device = jax.shard_map(
        local, mesh=mesh, in_specs=(replicated, replicated, split, split, split),
        out_specs=replicated, check_vma=False)
    loss, g = per_device(state.params, adj, *batch)
    return state.apply_gradients(grads=g), loss


# --------------------------------------------------------------------------------------------------
# Row-sharded: the embedding table and the adjacency split by rows over the devices
# --------------------------------------------------------------------------------------------------


def sharded_propagate(x_local, senders, receivers, weights, axis_name: str,
                      num_chunks: int = 1):
    """Inside ``shard_map``, on each device: this device's rows of ``A @ x``, where
    ``x_local`` ``[R, D]`` is its block of ``x`` (rows ``d*R .. (d+1)*R-1`` of the
    whole table on device ``d``) and ``senders``, ``receivers``, ``weights``
    ``[E_d]`` are the edges ending in its rows (senders as rows of the whole table,
    receivers as rows of the block; padding edges weigh 0). The senders may live on
    any device, so first gather every device's block
    (``lax.all_gather(..., tiled=True)`` puts block ``d`` at rows ``d*R ..``:
    ``[W*R, D]``, the whole table), then add up the weighted rows,
    :func:`course_lib.jax.nn.chunked_propagate` with ``num_chunks``. Chapter 8's
    exercise."""
    x_all = jax.lax.all_gather(x_local, axis_name, tiled=True)
    return chunked_propagate(x_all, senders, receivers, weights, x_local.shape[0],
                             num_chunks)


def gather_rows(x_local, rows, axis_name: str):
    """Inside ``shard_map``: ``[B, D]``, the rows ``rows`` (of the whole sharded table,
    :func:`course_lib.distributed.row_of`) of the row-sharded ``x``, the same on every
    device: each device fills the rows it holds, zeros elsewhere, and a ``psum`` adds the
    parts. Only ``B`` rows travel, not the table."""
    per_device = x_local.shape[0]
    local = rows - jax.lax.axis_index(axis_name) * per_device
    mine = (local >= 0) & (local < per_device)
    part = jnp.where(mine[:, None], x_local[jnp.clip(local, 0, per_device - 1)], 0.0)
    return jax.lax.psum(part, axis_name)


def _sharded_loss(ego, senders, receivers, weights, users, positives, negatives, *,
                  axis_name, num_layers, num_chunks, weight_decay, propagate):
    edges = (senders[0], receivers[0], weights[0])    # this device's block, [1, E_max]
    z = layer_mean(ego, lambda x: propagate(x, *edges, axis_name, num_chunks), num_layers)
    zu, zp, zn = (gather_rows(z, ids, axis_name) for ids in (users, positives, negatives))
    pos_scores, neg_scores = jnp.sum(zu * zp, -1), jnp.sum(zu * zn, -1)
    ego_rows = gather_rows(ego, jnp.concatenate([users, positives, negatives]), axis_name)
    return bpr_loss(pos_scores, neg_scores, ego_rows, weight_decay)


def sharded_loss_fn(mesh: jax.sharding.Mesh, num_layers: int, num_chunks: int = 1,
                    weight_decay: float = WEIGHT_DECAY, propagate=sharded_propagate):
    """``loss(params, blocks, batch)``: LightGCN's BPR loss with the table (``params``'
    ``'embedding'``, ``[W*R, D]``) and the adjacency ``blocks`` (``[W, E_max]`` each,
    :func:`course_lib.distributed.row_partition`) split by rows over ``mesh`` (node ``n``
    in row :func:`course_lib.distributed.row_of`); the batch (node ids) replicated; each
    layer is ``propagate`` (:func:`sharded_propagate`). Differentiable; the gradient is
    row-sharded like the table."""
    axis = mesh.axis_names[0]
    spec = P(axis)
    body = jax.shard_map(
        partial(_sharded_loss, axis_name=axis, num_layers=num_layers, num_chunks=num_chunks,
                weight_decay=weight_decay, propagate=propagate),
        mesh=mesh, in_specs=(spec, spec, spec, spec, P(), P(), P()), out_specs=P())
    def loss(params, blocks, batch):
        table = params["params"]["embedding"]
        per_device = table.shape[0] // mesh.size
        rows = [ids % mesh.size * per_device + ids // mesh.size for ids in batch]  # row_of
        return body(table, *blocks, *rows)

    return loss


@partial(jax.jit, static_argnames=("mesh", "num_layers", "num_chunks", "weight_decay",
                                   "propagate"))
def sharded_train_step(state: TrainState, blocks, batch, mesh: jax.sharding.Mesh,
                       num_layers: int = 3, num_chunks: int = 1,
                       weight_decay: float = WEIGHT_DECAY, propagate=sharded_propagate
                       ) -> tuple[TrainState, jax.Array]:
    """One Adam step with the table, its Adam moments and the adjacency split by rows over
    ``mesh`` (:func:`shard_state`, :func:`shard_blocks`); the same step as one device's
    :func:`course_lib.jax.bpr.train_step` on the whole batch."""
    loss_fn = sharded_loss_fn(mesh, num_layers, num_chunks, weight_decay, propagate)
    loss, grads = jax.value_and_grad(loss_fn)(state.params, blocks, batch)
    return state.apply_gradients(grads=grads), loss


def shard_blocks(senders, receivers, weights, num_nodes: int, mesh: jax.sharding.Mesh):
    """The adjacency's weighted edges split by rows (:func:`row_partition`) and placed on
    ``mesh``, one block per device."""
    blocks = row_partition(senders, receivers, weights, num_nodes, mesh.size)
    sharding = NamedSharding(mesh, P(mesh.axis_names[0]))
    return tuple(jax.device_put(b, sharding) for b in blocks)


def shard_state(state: TrainState, num_nodes: int, mesh: jax.sharding.Mesh) -> TrainState:
    """``state`` (a LightGCN's, table ``[num_nodes, D]``) with the table laid out in the
    rows of :func:`course_lib.distributed.row_of` (padded to a multiple of the mesh size)
    and split by rows over ``mesh``, and a fresh Adam state that follows the table's
    sharding. :func:`course_lib.distributed.from_rows` gives the node-ordered table back."""
    table = to_rows(np.asarray(state.params["params"]["embedding"]), mesh.size)
    table = jax.device_put(table, NamedSharding(mesh, P(mesh.axis_names[0])))
    params = {"params": {"embedding": table}}
    return state.replace(params=params, opt_state=state.tx.init(params))


def memory_per_device(num_nodes: int, num_edges: int, num_devices: int, *,
                      embedding_dim: int = 64, num_layers: int = 3, num_chunks: int = 1,
                      batch_size: int = 8192) -> dict[str, int]:
    """Bytes per device of one row-sharded training step (:func:`sharded_train_step`, Adam
    included) over ``num_devices`` devices, for a graph of ``num_nodes`` nodes and
    ``num_edges`` directed edges, read from the compiled program
    (``compiled.memory_analysis()``): nothing of that size is allocated, so it answers for
    MovieLens-25M on a laptop. ``arguments``: table, Adam moments, adjacency block, batch;
    ``temporaries``: what the step allocates while it runs (messages, layers, gradients)."""
    mesh = make_mesh(num_devices, "rows")
    rows = rows_per_shard(num_nodes, num_devices) * num_devices
    edges = -(-num_edges // num_devices)
    split = NamedSharding(mesh, P("rows"))
    table = jax.ShapeDtypeStruct((rows, embedding_dim), jnp.float32, sharding=split)
    tx = optax.adam(SETTINGS["lr"])
    params = {"params": {"embedding": table}}
    opt_state = jax.eval_shape(tx.init, params)
    opt_state = jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=(
        split if s.ndim == 2 else NamedSharding(mesh, P()))), opt_state)
    blocks = tuple(jax.ShapeDtypeStruct((num_devices, edges), dtype, sharding=split)
                   for dtype in (jnp.int32, jnp.int32, jnp.float32))
    batch = tuple(jax.ShapeDtypeStruct((batch_size,), jnp.int32) for _ in range(3))
    loss_fn = sharded_loss_fn(mesh, num_layers, num_chunks)

    def step(params, opt_state, blocks, batch):
        loss, grads = jax.value_and_grad(loss_fn)(params, blocks, batch)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    compiled = jax.jit(step, donate_argnums=(0, 1)).lower(params, opt_state, blocks,
                                                          batch).compile()
    m = compiled.memory_analysis()
    return {"devices": num_devices, "arguments": int(m.argument_size_in_bytes),
            "temporaries": int(m.temp_size_in_bytes), "outputs": int(m.output_size_in_bytes),
            "aliased": int(m.alias_size_in_bytes)}


def fit_row_sharded(graph: BipartiteGraph, edge_ids, *, steps: int | None = None,
                    epochs: int | None = None, batch_size: int = SETTINGS["batch_size"],
                    seed: int = SETTINGS["seed"], lr: float = SETTINGS["lr"],
                    embedding_dim: int = SETTINGS["embedding_dim"],
                    num_layers: int = SETTINGS["num_layers"],
                    weight_decay: float = SETTINGS["weight_decay"], num_chunks: int = 1,
                    start: dict | None = None, progress: bool = False) -> dict:
    """Train LightGCN with BPR with the embedding table, its Adam moments and the
    normalised adjacency of ``edge_ids`` split by rows over this process's devices
    (:func:`shard_state`, :func:`shard_blocks`, :func:`sharded_train_step`). Every step
    takes the whole batch of :func:`course_lib.distributed.epoch_batches`, so the devices
    follow one device step for step. As the PyG twin (one process per shard there):
    ``steps`` or ``epochs``; ``start``: numpy weights under PyG's names. Returns the dict
    of :func:`fit_data_parallel` (``params``: the node-ordered table) plus
    ``rows_per_shard`` and ``edges_per_shard`` (the largest block, padding included)."""
    mesh = make_mesh(None, "rows")
    state = _starting_state(graph, edge_ids, start, seed=seed, lr=lr,
                            embedding_dim=embedding_dim, num_layers=num_layers)
    senders, receivers, weights = normalized_adjacency(
        graph.edge_index[:, np.asarray(edge_ids)], graph.num_users, graph.num_movies)
    blocks = shard_blocks(senders, receivers, weights, graph.num_nodes, mesh)
    state = shard_state(state, graph.num_nodes, mesh)
    steps = count_steps(len(edge_ids), batch_size, steps, epochs)

    def step(*ids):
        nonlocal state
        batch = tuple(jnp.asarray(x, jnp.int32) for x in ids)
        state, loss = sharded_train_step(state, blocks, batch, mesh, num_layers,
                                         num_chunks, weight_decay)
        return float(loss)

    losses, per_step = run_steps(graph, edge_ids, batch_size, 1, 0, seed, steps, step,
                                 progress)
    table = from_rows(jax.device_get(state.params["params"]["embedding"]), graph.num_nodes,
                      mesh.size)
    return {"params": {"embedding.weight": table}, "losses": np.array(losses),
            "seconds_per_step": per_step, "interactions_per_second": batch_size / per_step,
            "world_size": jax.process_count(), "steps": steps, "batch_size": batch_size,
            "rows_per_shard": rows_per_shard(graph.num_nodes, mesh.size),
            "edges_per_shard": int(blocks[0].shape[1])}


# --------------------------------------------------------------------------------------------------
# Several processes: jax.distributed
# --------------------------------------------------------------------------------------------------


def setup(coordinator: str | None = None, num_processes: int | None = None,
          process_id: int | None = None) -> tuple[int, int]:
    """Join the other processes (``jax.distributed.initialize`` with process 0's
    ``coordinator`` address, ``HOST:PORT``; with no coordinator, a single process) and
    return ``(process_id, num_processes)``. CPU collectives between processes go over gloo.
    Call it before JAX first runs."""
    if coordinator is None:
        return 0, 1
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator, num_processes, process_id)
    return jax.process_index(), jax.process_count()


def create_state(num_nodes: int, adj: Adjacency, **overrides) -> TrainState:
    """LightGCN's training state: the table initialised Xavier-uniform from the settings'
    ``seed`` (as :func:`course_lib.jax.bpr.create_state`), Adam."""
    s = settings_for(SETTINGS, overrides)
    init_key, key = jax.random.split(jax.random.key(s["seed"]))
    model = build_lightgcn(num_nodes, s["embedding_dim"], s["num_layers"])
    params = jax.jit(model.init)(init_key, adj)
    return TrainState.create(apply_fn=model.apply, params=params, tx=optax.adam(s["lr"]),
                             key=key)


def _starting_state(graph, edge_ids, start, adj=None, **settings) -> TrainState:
    """:func:`create_state` for ``graph``, or from ``start``'s weights (numpy, PyG's names)
    with a fresh Adam state."""
    adj = adj if adj is not None else to_normalized_adjacency(graph, edge_ids)
    state = create_state(graph.num_nodes, adj, **settings)
    if start is None:
        return state
    params = {"params": {"embedding": jnp.asarray(start["embedding.weight"])}}
    return state.replace(params=params, opt_state=state.tx.init(params))


def fit_data_parallel(graph: BipartiteGraph, edge_ids, *, steps: int | None = None,
                      epochs: int | None = None, batch_size: int = SETTINGS["batch_size"],
                      seed: int = SETTINGS["seed"], lr: float = SETTINGS["lr"],
                      embedding_dim: int = SETTINGS["embedding_dim"],
                      num_layers: int = SETTINGS["num_layers"],
                      weight_decay: float = SETTINGS["weight_decay"],
                      start: dict | None = None, progress: bool = False) -> dict:
    """Train LightGCN with BPR on the interactions ``edge_ids``, data-parallel over every
    device of every process (:func:`setup` first, for several processes). As the PyG twin:
    ``batch_size`` is the global batch; each process builds its own part of each step's
    batch (:func:`course_lib.distributed.epoch_batches`, this process's index) and the
    global array is assembled from the parts (``jax.make_array_from_process_local_data``);
    ``steps`` or ``epochs`` (one epoch if neither); ``start``: numpy weights under PyG's
    names. Returns ``params`` (PyG's names), ``losses``, ``seconds_per_step`` (median after
    the first, compiling, step), ``interactions_per_second``, ``world_size`` (processes),
    ``steps`` and ``batch_size``."""
    mesh = make_mesh()
    adj = to_normalized_adjacency(graph, edge_ids)
    state = _starting_state(graph, edge_ids, start, adj=adj, seed=seed, lr=lr,
                            embedding_dim=embedding_dim, num_layers=num_layers)
    sharding = NamedSharding(mesh, P(mesh.axis_names[0]))
    rank, world = jax.process_index(), jax.process_count()
    steps = count_steps(len(edge_ids), batch_size, steps, epochs)

    def step(*local):
        nonlocal state
        batch = tuple(jax.make_array_from_process_local_data(sharding, x.astype(np.int32))
                      for x in local)
        state, loss = train_step(state, adj, batch, mesh, weight_decay)
        return float(loss)

    losses, per_step = run_steps(graph, edge_ids, batch_size, world, rank, seed, steps,
                                 step, progress)
    table = np.asarray(jax.device_get(state.params["params"]["embedding"]))
    return {"params": {"embedding.weight": table}, "losses": np.array(losses),
            "seconds_per_step": per_step, "interactions_per_second": batch_size / per_step,
            "world_size": world, "steps": steps, "batch_size": batch_size}


def main(argv=None) -> dict:
    """The command line (see the module's docstring): data-parallel LightGCN over every
    process that joins; process 0 prints and writes ``--out``
    (:func:`course_lib.distributed.report`)."""
    p = command_line("python -m course_lib.jax.distributed",
                     "Data-parallel LightGCN (BPR) with JAX sharding.")
    p.add_argument("--coordinator", help="process 0's HOST:PORT (omit for one process)")
    p.add_argument("--num-processes", type=int, default=1)
    p.add_argument("--process-id", type=int, default=0)
    args = p.parse_args(argv)
    rank, world = setup(args.coordinator, args.num_processes, args.process_id)
    try:
        _, _, result = train_from(args, fit_data_parallel)
        if rank == 0:
            report(result, args, f"{world} process(es), {jax.device_count()} device(s): ")
        return result
    finally:
        if args.coordinator:
            jax.distributed.shutdown()


if __name__ == "__main__":
    main()
