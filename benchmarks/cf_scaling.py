"""Chapter 6's speed and memory figures: NGCF training memory on MovieLens, and how a LightGCN
full-batch epoch grows from 0.1 M to 10 M interactions, in PyG and JAX.

Usage (from the repository root, after ``make setup``)::

    python benchmarks/cf_scaling.py --write            # everything, stored for chapter 6
    python benchmarks/cf_scaling.py --sizes 1e5 1e6    # skip the 10 M graph (printed only)

Every measurement runs in its own subprocess, so its peak resident memory (``ru_maxrss``) is its
own (it includes the framework and the graph: compare the frameworks, not the absolute sizes).
``--write`` stores the table in ``course_lib/records/cf_scaling.json``, which chapter 6 shows.

* **NGCF memory**: the chapter's NGCF with its ``SETTINGS`` (``course_lib.settings.BPR``:
  64 dimensions, 3 layers, batches of 16,384 BPR triples, full propagation every step)
  trained for 3 epochs on ml-latest-small; peak RSS of the process (the target is at most
  2 GB; a dense ``N x N`` adjacency of a graph of 113,000 nodes would need 51 GB).
* **LightGCN full-batch epoch**: one gradient step over *every* interaction, each
  framework's ``bpr.chunked_train_step``: propagate the embeddings over the whole sparse graph
  (3 layers, the cached CSR product of ``Adjacency``), the BPR loss of every interaction with
  one random negative (in chunks of 1 M triples, gradients accumulated on the final
  embeddings), back-propagate once through the propagation, Adam update (the chapter's
  LightGCN learning rate). Synthetic interactions:
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RECORD = ROOT / "course_lib" / "records" / "cf_scaling.json"

from course_lib.twins import FRAMEWORKS, twin  # noqa: E402

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
    start = time.perf_counter()
    # the chapter's NGCF and SETTINGS, for a few epochs
    fit = twin(framework, "bpr").fit(graph, split, model="ngcf", max_epochs=epochs,
                                     patience=epochs)
    seconds = fit.history["seconds"]
    return {"epoch_s": round(sorted(seconds)[len(seconds) // 2], 2),
            "total_s": round(time.perf_counter() - start, 1)}


def lightgcn_epoch(framework: str, num_interactions: int, epochs: int = 3) -> dict:
    """Full-batch LightGCN epochs on a synthetic graph: the chapter's step,
    ``chunked_train_step``, on every interaction with one random negative each."""
    import numpy as np

    bpr = twin(framework, "bpr")
    graph = synthetic_graph(num_interactions)
    edges = np.arange(graph.num_edges)
    rng = np.random.default_rng(0)
    users, pos = graph.edge_index
    offset = graph.num_users
    adj = twin(framework, "data").to_normalized_adjacency(graph, edges)
    # chapter 6's LightGCN, at 64 dimensions (the table's)
    state = bpr.create_state(graph, adj, model="lightgcn", embedding_dim=DIMS)
    times = []
    for _ in range(epochs + 1):
        neg = rng.integers(0, graph.num_movies, graph.num_edges)
        batch = (users, pos + offset, neg + offset)
        start = time.perf_counter()
        state, loss = bpr.chunked_train_step(state, adj, batch, CHUNK)
        float(loss)                       # wait for the step (JAX runs asynchronously)
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
    env = {**os.environ, "COURSE_NO_PROGRESS": "1", "COURSE_CHECKPOINTS": "off"}
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["1e5", "1e6", "1e7"])
    parser.add_argument("--write", action="store_true", help=f"write {RECORD.name}")
    parser.add_argument("--worker", nargs=3, metavar=("TASK", "FRAMEWORK", "SIZE"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        args.task, args.framework, args.size = args.worker
        worker(args)
        return
    from course_lib.settings import BPR

    ngcf = BPR["ngcf"]
    print(f"{os.cpu_count()} CPU cores\n")
    print(f"NGCF training on ml-latest-small ({ngcf['embedding_dim']} dims, "
          f"{ngcf['num_layers']} layers, batches of {ngcf['batch_size']:,}, 3 epochs)")
    print(f"{'framework':>9} | {'epoch':>7} | {'peak RSS':>9} | within 2 GB")
    record = {"machine": f"{os.cpu_count()} CPU cores", "date": time.strftime("%Y-%m-%d"),
              "chunk": CHUNK, "dims": DIMS, "ngcf": {}, "lightgcn": []}
    for framework in FRAMEWORKS:
        r = run("ngcf", framework, 0)
        record["ngcf"][framework] = r
        print(f"{framework:>9} | {r['epoch_s']:>5.2f} s | {r['peak_rss_mib']:>5} MiB | "
              f"{'yes' if r['peak_rss_mib'] <= 2048 else 'NO'}", flush=True)
    print(f"\nLightGCN full-batch epoch (3 layers, {DIMS} dims, every interaction in one step)")
    print(f"{'framework':>9} | {'interactions':>12} | {'users':>7} | {'movies':>7} | "
          f"{'epoch':>8} | {'1st epoch':>9} | {'peak RSS':>9}")
    for size in args.sizes:
        for framework in FRAMEWORKS:
            r = {"framework": framework, **run("lightgcn", framework, size)}
            record["lightgcn"].append(r)
            print(f"{framework:>9} | {r['interactions']:>12,} | {r['users']:>7,} | "
                  f"{r['movies']:>7,} | {r['epoch_s']:>6.3f} s | {r['first_epoch_s']:>7.2f} s | "
                  f"{r['peak_rss_mib']:>5} MiB", flush=True)
    if args.write:
        RECORD.write_text(json.dumps(record, indent=1) + "\n")
        print(f"wrote {RECORD.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
