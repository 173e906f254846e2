"""Chapter 6's speed and memory figures: NGCF training memory on MovieLens, and how a LightGCN
full-batch epoch grows from 0.1 M to 10 M interactions, in PyG and JAX.

Usage (from the repository root, after ``make setup``)::

    python benchmarks/cf_scaling.py                    # everything (about 5 minutes on 2 cores)
    python benchmarks/cf_scaling.py --sizes 1e5 1e6    # skip the 10 M graph

Every measurement runs in its own subprocess, so its peak resident memory (``ru_maxrss``) is its
own.

* **NGCF memory**: the chapter's NGCF with its ``SETTINGS`` (``course_lib.pyg.bpr`` and
  ``course_lib.jax.bpr``: 64 dimensions, 3 layers, batches of 4,096 BPR triples, full
  propagation every step) trained for 3 epochs on ml-latest-small; peak RSS of the process (the
  target is at most 2 GB). The seed notebook asked for 51 GB: it built the
  ``N x N`` adjacency as a dense matrix.
* **LightGCN full-batch epoch**: one gradient step over *every* interaction: propagate the
  embeddings over the whole sparse graph (3 layers), the BPR loss of every interaction with one
  random negative (computed in chunks of 1 M triples, gradients accumulated on the final
  embeddings), back-propagate once through the propagation, Adam update (the chapter's LightGCN
  learning rate). Synthetic interactions:
  ``n / 50`` users, ``n / 100`` movies, movie popularity skewed (a quarter of the movies get
  about half of the interactions). The median of 3 epochs after a warm-up epoch (which includes
  JAX's compilation).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

CHUNK = 1_000_000
DIMS = 64   # the LightGCN epoch's embedding size (chapter 6's scaling table is at 64)


def synthetic_graph(num_interactions: int, seed: int = 0):
    import numpy as np

    from course_lib.graph import BipartiteGraph

    rng = np.random.default_rng(seed)
    num_users, num_movies = max(num_interactions // 50, 2), max(num_interactions // 100, 2)
    codes = np.unique(rng.integers(0, num_users, num_interactions) * num_movies
                      + (num_movies * rng.random(num_interactions) ** 2).astype(np.int64))
    while len(codes) < num_interactions:   # top up the duplicates
        extra = (rng.integers(0, num_users, num_interactions - len(codes)) * num_movies
                 + (num_movies * rng.random(num_interactions - len(codes)) ** 2).astype(np.int64))
        codes = np.unique(np.concatenate([codes, extra]))
    codes = codes[:num_interactions]
    edge_index = np.stack([codes // num_movies, codes % num_movies])
    e = edge_index.shape[1]
    return BipartiteGraph(num_users=num_users, num_movies=num_movies, edge_index=edge_index,
                          rating=np.ones(e, np.float32), timestamp=np.zeros(e, np.int64),
                          movie_x=np.zeros((num_movies, 1), np.float32))


def ngcf_memory(framework: str, epochs: int = 3) -> dict:
    from course_lib.graph import movielens_graph_and_split

    _, graph, split = movielens_graph_and_split()
    if framework == "pyg":
        from course_lib.pyg import bpr
    else:
        from course_lib.jax import bpr
    start = time.perf_counter()
    # the chapter's NGCF and SETTINGS, for a few epochs
    _, history = bpr.fit("ngcf", graph, split, max_epochs=epochs, patience=epochs)
    return {"epoch_s": round(sorted(history["seconds"])[len(history["seconds"]) // 2], 2),
            "total_s": round(time.perf_counter() - start, 1)}


def lightgcn_epoch(framework: str, num_interactions: int, epochs: int = 3) -> dict:
    import numpy as np

    graph = synthetic_graph(num_interactions)
    edges = np.arange(graph.num_edges)
    rng = np.random.default_rng(0)
    users, pos = graph.edge_index
    offset = graph.num_users
    times = []
    if framework == "pyg":
        import torch
        import torch.nn.functional as F

        from course_lib.pyg import bpr
        from course_lib.pyg.data import to_normalized_adjacency

        adj = to_normalized_adjacency(graph, edges)
        model = bpr.build_model("lightgcn", graph, DIMS)  # chapter 6's table: 64 dims
        optimizer = torch.optim.Adam(model.parameters(), lr=bpr.SETTINGS["lightgcn"]["lr"])
        for _ in range(epochs + 1):
            neg = rng.integers(0, graph.num_movies, graph.num_edges)
            start = time.perf_counter()
            optimizer.zero_grad()
            z = model.get_embedding(adj)
            z_leaf = z.detach().requires_grad_()
            for c in range(0, graph.num_edges, CHUNK):
                u = torch.from_numpy(users[c:c + CHUNK])
                i = torch.from_numpy(pos[c:c + CHUNK] + offset)
                j = torch.from_numpy(neg[c:c + CHUNK] + offset)
                z_u = z_leaf.index_select(0, u)
                diff = (z_u * (z_leaf.index_select(0, i) - z_leaf.index_select(0, j))).sum(-1)
                (-F.logsigmoid(diff).sum() / graph.num_edges).backward()
            z.backward(z_leaf.grad)
            optimizer.step()
            times.append(time.perf_counter() - start)
    else:
        import jax
        import jax.numpy as jnp
        import optax

        from course_lib.jax import bpr
        from course_lib.jax.data import to_normalized_adjacency

        adj = to_normalized_adjacency(graph, edges)
        model = bpr.build_model("lightgcn", graph, DIMS)  # chapter 6's table: 64 dims
        params = model.init(jax.random.key(0), adj)
        tx = optax.adam(bpr.SETTINGS["lightgcn"]["lr"])
        opt_state = tx.init(params)

        @jax.jit
        def chunk_grad(z, u, i, j):
            def loss(z):
                diff = jnp.sum(z[u] * (z[i] - z[j]), axis=-1)
                return -jnp.sum(jax.nn.log_sigmoid(diff)) / graph.num_edges
            return jax.grad(loss)(z)

        @jax.jit
        def forward(params, adj):
            return jax.vjp(lambda p: model.apply(p, adj)[0], params)

        @jax.jit
        def update(params, opt_state, grads):
            updates, opt_state = tx.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state

        for _ in range(epochs + 1):
            neg = rng.integers(0, graph.num_movies, graph.num_edges)
            start = time.perf_counter()
            z, vjp = forward(params, adj)
            g = jnp.zeros_like(z)
            for c in range(0, graph.num_edges, CHUNK):
                n = min(CHUNK, graph.num_edges - c)
                pad = CHUNK - n if graph.num_edges > CHUNK else 0   # one compiled chunk shape
                u = np.pad(users[c:c + n], (0, pad))
                i = np.pad(pos[c:c + n] + offset, (0, pad))
                j = np.pad(neg[c:c + n] + offset, (0, pad), constant_values=offset)
                j[n:] = i[n:]     # padded triples have diff 0 and a constant gradient of 0
                g = g + chunk_grad(z, u, i, j)
            (grads,) = vjp(g)
            params, opt_state = update(params, opt_state, grads)
            jax.block_until_ready(params)
            times.append(time.perf_counter() - start)
    return {"interactions": graph.num_edges, "users": graph.num_users,
            "movies": graph.num_movies, "first_epoch_s": round(times[0], 2),
            "epoch_s": round(float(np.median(times[1:])), 3)}


def worker(args) -> None:
    if args.task == "ngcf":
        result = ngcf_memory(args.framework)
    else:
        result = lightgcn_epoch(args.framework, int(float(args.size)))
    result["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(result))


def run(*extra) -> dict:
    cmd = [sys.executable, __file__, "--worker", *map(str, extra)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["1e5", "1e6", "1e7"])
    parser.add_argument("--worker", nargs=3, metavar=("TASK", "FRAMEWORK", "SIZE"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("COURSE_NO_PROGRESS", "1")
    if args.worker:
        args.task, args.framework, args.size = args.worker
        worker(args)
        return
    from course_lib.pyg.bpr import SETTINGS

    dims, layers = SETTINGS["ngcf"]["embedding_dim"], SETTINGS["ngcf"]["num_layers"]
    print(f"{os.cpu_count()} CPU cores\n")
    print(f"NGCF training on ml-latest-small ({dims} dims, {layers} layers, batches of "
          f"{SETTINGS['ngcf']['batch_size']:,}, 3 epochs)")
    print(f"{'framework':>9} | {'epoch':>7} | {'peak RSS':>9} | within 2 GB")
    for framework in ("pyg", "jax"):
        r = run("ngcf", framework, 0)
        print(f"{framework:>9} | {r['epoch_s']:>5.2f} s | {r['peak_rss_mib']:>5} MiB | "
              f"{'yes' if r['peak_rss_mib'] <= 2048 else 'NO'}")
    print(f"\nLightGCN full-batch epoch ({layers} layers, {DIMS} dims, every interaction in one "
          "step)")
    print(f"{'framework':>9} | {'interactions':>12} | {'users':>7} | {'movies':>7} | "
          f"{'epoch':>8} | {'1st epoch':>9} | {'peak RSS':>9}")
    for framework in ("pyg", "jax"):
        for size in args.sizes:
            r = run("lightgcn", framework, size)
            print(f"{framework:>9} | {r['interactions']:>12,} | {r['users']:>7,} | "
                  f"{r['movies']:>7,} | {r['epoch_s']:>6.3f} s | {r['first_epoch_s']:>7.2f} s | "
                  f"{r['peak_rss_mib']:>5} MiB")


if __name__ == "__main__":
    main()
