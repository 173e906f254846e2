"""Run by ``tests/test_distributed_jax.py`` in a process of its own, with 4 simulated CPU
devices (JAX fixes its device count when it first runs, and the test process has 1): trains
LightGCN for a few steps unsharded (:func:`course_lib.jax.bpr.train_step`), data-parallel
over 4 devices and row-sharded over 4 devices, from the same weights on the same global
batches, and prints the largest differences as JSON."""

from __future__ import annotations

import json
import sys

import jax

jax.config.update("jax_num_cpu_devices", 4)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from course_lib.cf import normalized_adjacency  # noqa: E402
from course_lib.distributed import epoch_batches, from_rows, load_graph  # noqa: E402
from course_lib.jax import bpr, distributed as D  # noqa: E402
from course_lib.jax.data import to_normalized_adjacency  # noqa: E402

STEPS, BATCH, WD = 4, 2048, 1e-4


def main() -> None:
    graph, edges = load_graph("small")
    adj = to_normalized_adjacency(graph, edges)
    start = D.create_state(graph.num_nodes, adj, embedding_dim=16, num_layers=3, lr=0.01)
    batches = []
    for users, pos, neg in epoch_batches(graph, edges, BATCH, 1, 0, seed=0, epoch=0):
        batches.append(tuple(np.asarray(x, np.int32) for x in
                             (users, pos + graph.num_users, neg + graph.num_users)))
        if len(batches) == STEPS:
            break

    def table(state):
        return np.asarray(state.params["params"]["embedding"])[:graph.num_nodes]

    state, ref_losses = start, []
    for b in batches:
        state, loss = bpr.train_step(state, adj, b, WD)
        ref_losses.append(float(loss))
    ref = table(state)

    mesh = D.make_mesh(4)
    state, dp_losses = start, []
    for b in batches:
        state, loss = D.train_step(state, adj, D.shard_batch(b, mesh), mesh, WD)
        dp_losses.append(float(loss))
    dp = table(state)
    dp_sharding = str(state.params["params"]["embedding"].sharding.spec)

    rows = D.make_mesh(4, "rows")
    senders, receivers, weights = normalized_adjacency(graph.edge_index[:, edges],
                                                       graph.num_users, graph.num_movies)
    blocks = D.shard_blocks(senders, receivers, weights, graph.num_nodes, rows)
    state, rs_losses = D.shard_state(start, graph.num_nodes, rows), []
    for b in batches:
        state, loss = D.sharded_train_step(state, blocks, tuple(map(jnp.asarray, b)), rows,
                                           3, 3, WD)
        rs_losses.append(float(loss))
    rs = from_rows(np.asarray(state.params["params"]["embedding"]), graph.num_nodes, 4)
    fit = D.fit_row_sharded(graph, edges, steps=STEPS, batch_size=BATCH, seed=0, lr=0.01,
                            embedding_dim=16, num_layers=3, weight_decay=WD, num_chunks=2,
                            start={"embedding.weight": table(start)})
    spec = state.params["params"]["embedding"].sharding.spec
    per_device = {int(s.device.id): s.data.shape[0]
                  for s in state.params["params"]["embedding"].addressable_shards}
    json.dump({
        "devices": jax.device_count(),
        "moved": float(np.abs(ref - table(start)).max()),
        "data_parallel": float(np.abs(dp - ref).max()),
        "row_sharded": float(np.abs(rs - ref).max()),
        "fit_row_sharded": float(np.abs(fit["params"]["embedding.weight"] - ref).max()),
        "fit_losses": fit["losses"].tolist(), "fit_rows_per_shard": fit["rows_per_shard"],
        "losses": [ref_losses, dp_losses, rs_losses],
        "dp_table_spec": dp_sharding, "rows_table_spec": str(spec),
        "rows_per_device": per_device,
        "largest_block": int(blocks[0].shape[1]), "edges": int(len(senders)),
        "memory": [D.memory_per_device(20_000, 2_000_000, n, num_chunks=c)
                   for c in (1, 8) for n in (1, 2, 4)],
    }, sys.stdout)


if __name__ == "__main__":
    main()
