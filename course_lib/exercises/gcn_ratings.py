"""Exercises of the chapter "GCN: predicting ratings and recommending top-N"
(book/04_gcn_ratings)."""

from __future__ import annotations

import numpy as np

from ..jax.gcn import masked_l1_loss
from ..pyg.gcn import scale_rating
from ..recommend import top_n_unseen
from . import Case, Exercise, register


def _scale_cases() -> list[Case]:
    import torch

    return [
        Case("zero is the middle of the range", (torch.tensor([0.0]),)),
        Case("large logits approach 0.5 and 5 stars",
             (torch.tensor([-30.0, -3.0, 3.0, 30.0]),)),
        Case("a batch of logits", (torch.linspace(-2, 2, 7),)),
        Case("an empty batch", (torch.zeros(0),)),
    ]


register(Exercise(
    name="scale_rating",
    reference=scale_rating,
    cases=_scale_cases,
    hint="a sigmoid maps to (0, 1); stretch it to the width of the range (5 - 0.5) and shift "
         "it to start at 0.5.",
))


def _masked_l1_cases() -> list[Case]:
    import jax.numpy as jnp

    return [
        Case("half of the edges are training edges",
             (jnp.array([3.0, 4.5, 2.0, 1.0]), jnp.array([4.0, 4.0, 2.5, 5.0]),
              jnp.array([True, False, True, False]))),
        Case("errors in both directions (over- and under-prediction)",
             (jnp.array([1.0, 5.0, 3.0]), jnp.array([2.0, 4.0, 3.0]),
              jnp.array([True, True, True]))),
        Case("a single selected edge",
             (jnp.array([0.5, 2.0, 3.5]), jnp.array([5.0, 1.0, 3.0]),
              jnp.array([False, False, True]))),
        Case("no edge selected: the loss is 0, not NaN",
             (jnp.array([1.0, 2.0]), jnp.array([3.0, 3.0]), jnp.array([False, False]))),
    ]


register(Exercise(
    name="masked_l1_loss",
    reference=masked_l1_loss,
    cases=_masked_l1_cases,
    hint="average |pred - target| over the selected entries only: divide by the number of "
         "selected entries (at least 1), not by the length of the arrays.",
))


def _top_n_cases() -> list[Case]:
    return [
        Case("seen movies are skipped even when they score highest",
             (np.array([4.5, 3.0, 4.9, 2.0, 4.0]), np.array([2]), 3)),
        Case("ties keep the lower movie index first",
             (np.array([3.0, 4.0, 4.0, 1.0, 4.0]), np.array([0]), 3)),
        Case("n larger than the number of unseen movies",
             (np.array([1.0, 2.0, 3.0]), np.array([0, 2]), 5)),
        Case("nothing seen yet", (np.array([2.5, 0.5, 5.0, 3.5]), np.array([], dtype=int), 2)),
    ]


register(Exercise(
    name="top_n_unseen",
    reference=top_n_unseen,
    cases=_top_n_cases,
    hint="set the seen movies' scores to -inf, sort descending with a stable sort "
         "(np.argsort(-scores, kind='stable')), drop the -inf ones, keep n.",
))
