"""Every chapter's hyper-parameters, in one place: the PyG and the JAX twin of a chapter read the
same dict (``course_lib.pyg.gcn.SETTINGS is course_lib.jax.gcn.SETTINGS``), so the two train
with the same numbers by construction.

A chapter with several models keeps one settings dict per model, each naming itself under
``'model'``; ``fit(graph, split, model=..., **overrides)`` picks one
(:func:`course_lib.training.settings_for`). How each value was chosen is recorded by the
benchmark that chose it (``benchmarks/``, records in ``course_lib/records``); the tests check
that every record names the settings below.
"""

from __future__ import annotations

import os

#: PyTorch's CPU threads. On a CPU, PyG's scatter sums and torch's matrix products add in an
#: order that depends on the number of threads, so a PyG run is reproducible bit for bit only
#: at a fixed count: every PyG result in the book and in ``course_lib/records`` is made with 2
#: threads (the cores of a Colab CPU runtime), set when :mod:`course_lib.pyg` is imported, but
#: chapter 3's sampled GraphSAGE, whose steps repeat bit for bit on one thread only and which
#: trains on one.
#: ``COURSE_TORCH_THREADS`` overrides it (the test runner uses 1: its two processes share two
#: cores). On a GPU the count does not matter, and GPU scatter sums are not reproducible anyway.
TORCH_THREADS = int(os.environ.get("COURSE_TORCH_THREADS", "2"))

#: Chapter 1: one dict per task. Every task trains for a fixed number of epochs (no early
#: stopping) and keeps the last weights.
GRAPH_TASKS = {
    "node": {"hidden": 16, "lr": 0.01, "weight_decay": 5e-4, "max_epochs": 200, "seed": 0},
    "link": {"hidden": 32, "out_channels": 16, "lr": 0.01, "weight_decay": 0.0,
             "max_epochs": 200, "seed": 0},
    "graph": {"hidden": 32, "num_layers": 3, "lr": 0.01, "weight_decay": 0.0,
              "batch_size": 32, "max_epochs": 60, "seed": 0},
}

#: Chapter 3: GraphSAGE link prediction, the same training in both frameworks but for the
#: neighbourhoods: PyG trains on ``'sampled'`` subgraphs (``LinkNeighborLoader``, [20, 10]
#: neighbours per endpoint, as in PyG's MovieLens tutorial), JAX ``'full_graph'`` (a step
#: propagates over the whole graph, no neighbour is sampled). Both: batches of 512 positives
#: with two negatives each, Adam at 2e-3, early stopping after 3 epochs without a better
#: validation AUC (at most 20 epochs).
SAGE = {
    "sampled": {"hidden": 64, "lr": 2e-3, "batch_size": 512, "num_neighbors": (20, 10),
                "neg_ratio": 2.0, "max_epochs": 20, "patience": 3, "seed": 0},
    "full_graph": {"hidden": 64, "lr": 2e-3, "batch_size": 512, "num_neighbors": None,
                   "neg_ratio": 2.0, "max_epochs": 20, "patience": 3, "seed": 0},
}

#: Chapter 4: rating prediction, full batch, L1 loss, early stopping on validation MAE after
#: ``patience`` epochs without a better one (``benchmarks/convergence.py``), validating every
#: ``eval_every`` epochs.
GCN = {
    "gcn": {"model": "gcn", "hidden": 32, "num_layers": 2, "layer_norm": True, "lr": 0.005,
            "weight_decay": 0.0, "max_epochs": 1500, "patience": 100, "eval_every": 5,
            "seed": 0},
    "hetero": {"model": "hetero", "hidden": 64, "num_layers": 2, "aggr": "mean", "lr": 0.003,
               "weight_decay": 0.0, "max_epochs": 600, "patience": 50, "eval_every": 5,
               "seed": 0},
}

#: Chapter 4: GC-MC, chosen on validation MAE (``benchmarks/gcmc_settings.py``). Each epoch
#: holds a random ``supervision`` share of the training edges out of message passing and
#: computes the loss (``'ce'``: cross-entropy of the rating level; ``'l1'``: L1 error of the
#: expected rating) on them.
GCMC = {"embed_dim": 64, "hidden": 100, "out": 32, "accum": "stack", "num_bases": 2,
        "ordinal": True, "dropout": 0.2, "lr": 0.01, "max_epochs": 1500, "patience": 150,
        "eval_every": 5, "seed": 0, "supervision": 0.1, "loss": "ce"}

_HETERO = {"hidden": 64, "out_channels": 32, "relation_aggr": "sum", "lr": 5e-3,
           "batch_size": 2048, "max_epochs": 30, "patience": 3, "seed": 0}
#: Chapter 5: link prediction on the knowledge graph, both encoders with the same settings:
#: ``hidden`` then ``out_channels`` features, ``relation_aggr`` combines the edge types that
#: reach a node type; early stopping on validation AUC.
HETERO = {"sage": {"model": "sage", **_HETERO}, "graphconv": {"model": "graphconv", **_HETERO}}

#: Chapter 6: BPR, early stopping on validation recall@20 every ``eval_every`` epochs
#: (``benchmarks/bpr_settings.py``). ``batch_size`` None: one full-batch step per epoch.
BPR = {
    "mf": {"model": "mf", "embedding_dim": 128, "num_layers": 0, "lr": 0.005,
           "weight_decay": 1e-4, "batch_size": 16384, "max_epochs": 1000, "patience": 50,
           "eval_every": 5, "seed": 0},
    "ngcf": {"model": "ngcf", "embedding_dim": 64, "num_layers": 3, "lr": 0.004,
             "weight_decay": 1e-4, "batch_size": 16384, "max_epochs": 300, "patience": 20,
             "eval_every": 1, "seed": 0},
    "lightgcn": {"model": "lightgcn", "embedding_dim": 128, "num_layers": 3, "lr": 0.05,
                 "weight_decay": 1e-4, "batch_size": None, "max_epochs": 1000, "patience": 50,
                 "eval_every": 5, "seed": 0},
}

#: Chapter 8: LightGCN trained data-parallel and row-sharded, BPR over ``batch_size``
#: interactions per step (the global batch, split over the processes or devices);
#: ``num_chunks`` slices of the edges per propagation (:func:`course_lib.jax.nn.chunked_propagate`).
DISTRIBUTED = {"model": "lightgcn", "embedding_dim": 64, "num_layers": 3, "lr": 0.01,
               "weight_decay": 1e-4, "batch_size": 8192, "num_chunks": 8, "seed": 0}
