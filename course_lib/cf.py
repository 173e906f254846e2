"""Collaborative filtering from implicit feedback, framework-neutral (chapter 6).

Every rating is an *interaction* (the user watched and rated the movie, whatever the stars). The
models of chapter 6 (matrix factorisation, NGCF, LightGCN) learn one *ego embedding* per user and
per movie and propagate them over the interaction graph; what both frameworks share lives here:

* :func:`interaction_edges` - which interactions a part of the shared split may use: the graph
  and BPR positives of training are all training interactions; validation ranks against them;
  test propagates over training and validation interactions and ranks against both;
* :func:`normalized_adjacency` - the symmetric-normalised bipartite adjacency
  ``Ã = D^-1/2 A D^-1/2`` as a sparse edge list (never an ``N x N`` dense matrix);
* :func:`bpr_batches` - (user, positive movie, negative movie) triples, the negative drawn
  uniformly among the movies the user has not interacted with in training
  (:func:`draw_negatives`, chapter 6's exercise, or any sampler with its signature);
* :func:`popularity_scores` and :func:`evaluate_scores` - the popularity ranker and full-ranking
  evaluation (:func:`course_lib.metrics.ranking_metrics`) with the right interactions excluded.

Node layout, as everywhere in the course: users ``0 .. U-1``, movie ``j`` is node ``U + j``.
"""

from __future__ import annotations

import numpy as np

from .graph import BipartiteGraph, EdgeSplit
from .metrics import ranking_metrics
from .sparse import symmetric_weights


def interaction_edges(split: EdgeSplit, part: str) -> np.ndarray:
    """Edge ids of the interactions the model may see when predicting ``part``.

    ``'train'`` and ``'val'``: every training interaction (message-passing and supervision edges
    of the split together; BPR needs no separate supervision set). ``'test'``: training and
    validation interactions.
    """
    if part not in ("train", "val", "test"):
        raise ValueError(f"part must be 'train', 'val' or 'test', got {part!r}")
    return split.message_edges("test" if part == "test" else "val")


def normalized_adjacency(edge_index, num_users: int, num_movies: int
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(senders, receivers, weights)`` of the bipartite graph's
    ``Ã = D^-1/2 A D^-1/2``.

    ``edge_index`` ``[2, E]`` holds (user, movie) interactions; the result has
    ``2E`` directed edges on the ``U + M`` nodes (user -> movie first, then movie ->
    user), each weighted ``1 / sqrt(deg(sender) * deg(receiver))``. No self loops.
    Nodes without interactions have no edges (their rows of ``Ã`` are zero).
    """
    ei = np.asarray(edge_index, dtype=np.int64)
    users, movies = ei[0], ei[1] + num_users
    senders = np.concatenate([users, movies])  # user -> movie, then movie -> user
    receivers = np.concatenate([movies, users])
    return symmetric_weights(senders, receivers, num_users + num_movies)


def draw_negatives(users, seen, num_movies: int, rng: np.random.Generator
                   ) -> np.ndarray:
    """One negative movie per entry of ``users``, uniform among the movies that user
    has not interacted with: ``seen`` holds the sorted codes
    ``user * num_movies + movie`` of the interactions. Draws all at once, then again
    where a draw was seen."""
    users = np.asarray(users)
    negatives = rng.integers(0, num_movies, len(users))
    redraw = np.arange(len(users))                  # the negatives still to check
    while len(redraw):
        codes = users[redraw] * num_movies + negatives[redraw]
        pos = np.searchsorted(seen, codes).clip(max=max(len(seen) - 1, 0))
        hit = seen[pos] == codes if len(seen) else np.zeros(len(redraw), bool)
        redraw = redraw[hit]                        # seen by that user: draw again
        negatives[redraw] = rng.integers(0, num_movies, len(redraw))
    return negatives


def bpr_batches(graph: BipartiteGraph, edge_ids, batch_size: int, rng: np.random.Generator,
                sampler=draw_negatives):
    """One epoch of BPR training triples: yields ``(users, positives, negatives)`` int64 arrays.

    Every interaction ``edge_ids`` is a positive once per epoch (shuffled; the last, smaller
    batch is dropped so compiled steps see one shape). ``sampler(users, seen, num_movies, rng)``
    draws the negatives; :func:`draw_negatives`, uniform among the movies the user has *not*
    interacted with in ``edge_ids``, unless another is given.
    """
    ei = graph.edge_index[:, np.asarray(edge_ids)]
    seen = np.sort(graph.pair_codes(ei))
    order = rng.permutation(ei.shape[1])
    for b in range(ei.shape[1] // batch_size):
        idx = order[b * batch_size:(b + 1) * batch_size]
        users, positives = ei[0, idx], ei[1, idx]
        negatives = np.asarray(sampler(users, seen, graph.num_movies, rng), dtype=np.int64)
        yield users, positives, negatives


def interaction_mask(graph: BipartiteGraph, edge_ids) -> np.ndarray:
    """``[U, M]`` (bool): True where user and movie share one of the edges ``edge_ids``."""
    mask = np.zeros((graph.num_users, graph.num_movies), dtype=bool)
    users, movies = graph.edge_index[:, np.asarray(edge_ids, dtype=np.int64)]
    mask[users, movies] = True
    return mask


def popularity_scores(graph: BipartiteGraph, edge_ids) -> np.ndarray:
    """``[U, M]`` scores of the popularity ranker: every user gets each movie's number of
    interactions among ``edge_ids``."""
    _, movie_degree = graph.degrees(edge_ids)
    return np.broadcast_to(movie_degree.astype(np.float32), (graph.num_users, graph.num_movies))


def evaluate_scores(scores, graph: BipartiteGraph, split: EdgeSplit, part: str,
                    ks=(10, 20)) -> dict[str, float]:
    """Recall, precision and NDCG at ``ks`` of full rankings ``scores`` ``[U, M]`` on ``part``'s
    held-out interactions, excluding the interactions the model saw (:func:`interaction_edges`)."""
    if part not in ("val", "test"):
        raise ValueError(f"part must be 'val' or 'test', got {part!r}")
    seen = graph.edge_index[:, interaction_edges(split, part)]
    held_out = graph.edge_index[:, split.val if part == "val" else split.test]
    return ranking_metrics(scores, held_out, seen, ks=ks)
