"""Exercises of the chapter "Recommendation as link prediction with GraphSAGE"
(book/03_link_prediction_sage)."""

from __future__ import annotations

import numpy as np

from ..jax.sage import mean_aggregate
from ..metrics import pairwise_auc
from ..pyg.sage import dot_product_scores
from . import Case, Exercise, register


def _dot_product_cases() -> list[Case]:
    import torch

    g = torch.Generator().manual_seed(0)
    x_user, x_movie = torch.randn(3, 4, generator=g), torch.randn(5, 4, generator=g)
    return [
        Case("3 users, 5 movies, 4 pairs (more movies than users)",
             (x_user, x_movie, torch.tensor([[0, 2, 1, 2], [4, 0, 3, 3]]))),
        Case("the same user with every movie",
             (x_user, x_movie, torch.tensor([[1, 1, 1, 1, 1], [0, 1, 2, 3, 4]]))),
        Case("one pair, one-dimensional embeddings",
             (torch.tensor([[2.0], [-1.0]]), torch.tensor([[3.0], [0.5], [1.0]]),
              torch.tensor([[1], [0]]))),
        Case("no pairs (an empty batch)", (x_user, x_movie, torch.zeros(2, 0, dtype=torch.long))),
    ]


register(Exercise(
    name="dot_product_scores",
    reference=dot_product_scores,
    cases=_dot_product_cases,
    hint="row 0 of edge_label_index indexes x_user, row 1 indexes x_movie; multiply the two "
         "[n, H] gathers elementwise and sum over the feature dimension: one logit per pair.",
))


def _mean_aggregate_cases() -> list[Case]:
    import jax.numpy as jnp

    x = jnp.arange(12, dtype=jnp.float32).reshape(4, 3)
    return [
        Case("4 senders, 3 receivers with 1, 2 and 3 incoming edges",
             (x, jnp.array([0, 1, 2, 0, 1, 3]), jnp.array([0, 1, 1, 2, 2, 2]), 3)),
        Case("a receiver without edges (receiver 1), and the last receiver has none either",
             (x, jnp.array([3, 2, 1]), jnp.array([0, 0, 2]), 4)),
        Case("the same sender twice into one receiver",
             (x, jnp.array([1, 1, 2]), jnp.array([0, 0, 0]), 1)),
        Case("more receivers than senders",
             (x[:2], jnp.array([0, 1, 1]), jnp.array([4, 4, 0]), 6)),
        Case("no edges", (x, jnp.zeros(0, jnp.int32), jnp.zeros(0, jnp.int32), 2)),
    ]


register(Exercise(
    name="mean_aggregate",
    reference=mean_aggregate,
    cases=_mean_aggregate_cases,
    hint="gather x_src[senders], then jraph.segment_sum (or segment_mean) by receivers with "
         "num_segments=num_dst; divide by each receiver's in-degree, using 1 where it is 0.",
))


def _auc_cases() -> list[Case]:
    return [
        Case("perfect ranking", (np.array([0.9, 0.8, 0.1, 0.3]), np.array([1, 1, 0, 0]))),
        Case("one positive below one negative",
             (np.array([0.9, 0.2, 0.5, 0.1, 0.3]), np.array([1, 1, 0, 0, 0]))),
        Case("ties between a positive and a negative count one half",
             (np.array([0.5, 0.5, 0.7, 0.2]), np.array([1, 0, 1, 0]))),
        Case("logits, not probabilities: negative scores",
             (np.array([-2.0, -3.5, 1.0, -0.5, -4.0, 0.0]), np.array([0, 0, 1, 1, 0, 1]))),
        Case("every score equal", (np.zeros(5), np.array([1, 0, 0, 1, 0]))),
        Case("worst ranking", (np.array([0.1, 0.2, 0.8, 0.9]), np.array([1, 1, 0, 0]))),
    ]


register(Exercise(
    name="pairwise_auc",
    reference=pairwise_auc,
    cases=_auc_cases,
    hint="compare every positive's score with every negative's (broadcasting: "
         "pos[:, None] - neg[None, :]); count wins as 1 and ties as 1/2, then average.",
))
