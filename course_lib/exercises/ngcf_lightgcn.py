"""Exercises of the chapter "NGCF and LightGCN: collaborative filtering with BPR and full
ranking" (book/06_ngcf_lightgcn)."""

from __future__ import annotations

import numpy as np

from ..cf import normalized_adjacency
from ..jax.bpr import bpr_loss
from ..metrics import ndcg_at_k
from . import Case, Exercise, register


def _bpr_cases() -> list[Case]:
    import jax.numpy as jnp

    ego = jnp.arange(12, dtype=jnp.float32).reshape(6, 2) / 10
    return [
        Case("2 triples, no regularisation", (jnp.array([2.0, 0.5]), jnp.array([1.0, 1.5]),
                                              ego, 0.0)),
        Case("2 triples, weight decay 0.1 (6 ego rows: 2 users, 2 positives, 2 negatives)",
             (jnp.array([2.0, 0.5]), jnp.array([1.0, 1.5]), ego, 0.1)),
        Case("a large margin: log sigmoid must not overflow",
             (jnp.array([60.0, -100.0, 3.0]), jnp.array([-60.0, 100.0, 3.0]),
              jnp.ones((9, 4)), 0.01)),
        Case("one triple", (jnp.array([0.3]), jnp.array([0.7]), ego[:3], 1.0)),
    ]


register(Exercise(
    name="bpr_loss",
    reference=bpr_loss,
    cases=_bpr_cases,
    hint="the data term is -mean(jax.nn.log_sigmoid(pos_scores - neg_scores)) (log_sigmoid, not "
         "log(sigmoid(...)), stays finite for large margins); the penalty is weight_decay times "
         "the sum of squares of ego divided by 2 * B, with B = len(pos_scores).",
))


def _norm_cases() -> list[Case]:
    return [
        Case("2 users, 3 movies: user 0 rated movies 0 and 1, user 1 rated movie 1",
             (np.array([[0, 0, 1], [0, 1, 1]]), 2, 3)),
        Case("an isolated movie (2) and an isolated user (2)",
             (np.array([[0, 1, 1], [0, 0, 1]]), 3, 3)),
        Case("a star: one user rated all four movies", (np.array([[0, 0, 0, 0], [0, 1, 2, 3]]),
                                                         1, 4)),
        Case("more users than movies", (np.array([[0, 1, 2, 3, 3], [0, 0, 0, 0, 1]]), 4, 2)),
    ]


register(Exercise(
    name="normalized_adjacency",
    reference=normalized_adjacency,
    cases=_norm_cases,
    rtol=1e-6,
    hint="movie j is node num_users + j. Senders: users then movies; receivers: movies then "
         "users (the 2E directed edges, forward then reverse). The degree of a node counts the "
         "edges it receives; weight = 1 / sqrt(deg[sender] * deg[receiver]), as float32.",
))


def _ndcg_cases() -> list[Case]:
    return [
        Case("one hit at rank 1, one relevant movie", (np.array([[True, False, False]]),
                                                      np.array([1]), 3)),
        Case("hits at ranks 2 and 3, three relevant movies (the ideal puts 3 hits first)",
             (np.array([[False, True, True]]), np.array([3]), 3)),
        Case("more relevant movies than k: the ideal has k hits",
             (np.array([[True, False, True, False]]), np.array([7]), 2)),
        Case("two users, one with no relevant movie (NDCG 0, not NaN)",
             (np.array([[False, True], [False, False]]), np.array([2, 0]), 2)),
        Case("the ranked list is shorter than k (only 2 movies could be ranked)",
             (np.array([[False, True]]), np.array([1]), 5)),
    ]


register(Exercise(
    name="ndcg_at_k",
    reference=ndcg_at_k,
    cases=_ndcg_cases,
    hint="keep the first k columns of hits; DCG = sum of hits / log2(rank + 1) with ranks 1, "
         "2, ...; the ideal DCG is the same sum over min(num_relevant, k) hits at the top; "
         "divide, using 0 where the ideal is 0.",
))
