"""Exercises of the chapter "GCN: predicting ratings and recommending top-N"
(book/04_gcn_ratings)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import torch

from ..jax.gcmc import expected_rating
from ..jax.gcn import masked_l1_loss
from ..pyg.nn import ordinal_weights
from ..recommend import top_n_unseen
from . import Case, Exercise, register

# -------------------------------------------------------------------------------------------------
# Exercise 1: masked_l1_loss (JAX, inside the jitted training step; mask is a boolean jax array)
# -------------------------------------------------------------------------------------------------


def _masked_l1_cases() -> list[Case]:
    return [
        Case("half of the edges are training edges",
             (jnp.array([3.0, 4.5, 2.0, 1.0]), jnp.array([4.0, 4.0, 2.5, 5.0]),
              jnp.array([True, False, True, False]))),
        Case("errors in both directions (over- and under-prediction)",
             (jnp.array([1.0, 5.0, 3.0, 2.5]), jnp.array([2.0, 4.0, 3.0, 3.5]),
              jnp.array([True, True, True, True]))),
        Case("a single selected edge",
             (jnp.array([0.5, 2.0, 3.5, 4.0]), jnp.array([5.0, 1.0, 3.0, 4.5]),
              jnp.array([False, False, True, False]))),
        Case("no edge selected: the loss is 0, not NaN",
             (jnp.array([1.0, 2.0, 4.5, 3.0]), jnp.array([3.0, 3.0, 3.0, 3.0]),
              jnp.array([False, False, False, False]))),
        Case("saturated predictions of exactly 0.5 and 5 stars that equal their targets",
             (jnp.array([0.5, 5.0, 3.25, 5.0]), jnp.array([0.5, 5.0, 3.5, 4.5]),
              jnp.array([True, True, True, False]))),
    ]


# JAX compiles every primitive it runs op by op once per shape (about 35 compiles per new size,
# a second or so): the hand-written and the random cases all have 4 edges, so that a check
# compiles once. Values, ties and masks are drawn afresh (the loss is the same for any length).
_L1_EDGES = 4


def _masked_l1_random(rng: np.random.Generator) -> Case:
    n = _L1_EDGES
    target = rng.integers(1, 11, n) * 0.5  # half stars, 0.5 to 5
    pred = rng.uniform(0.5, 5.0, n).round(2)
    saturated = rng.random(n) < 0.15
    pred[saturated] = rng.choice([0.5, 5.0], int(saturated.sum()))
    equal = rng.random(n) < 0.25  # predictions equal to their target (the kink of |x|)
    pred[equal] = target[equal]
    draw = rng.random()
    if draw < 0.2:
        mask, what = np.zeros(n, dtype=bool), "no edge selected"
    elif draw < 0.35:
        mask, what = np.ones(n, dtype=bool), "every edge selected"
    else:
        mask = rng.random(n) < rng.uniform(0.2, 0.9)
        what = f"{int(mask.sum())} selected"
    text = (f"{n} edges, {what}, {int((pred == target)[mask].sum())} selected predictions "
            f"equal to their target")
    return Case(text, (jnp.asarray(pred, dtype=jnp.float32), jnp.asarray(target, jnp.float32),
                       jnp.asarray(mask)))


# divides by the number of all edges, not of the selected ones
def _wrong_l1_mean_over_all(pred, target, mask):
    return jnp.mean(jnp.abs(pred - target) * mask)


# squared error (MSE), not absolute
def _wrong_l1_squared(pred, target, mask):
    return jnp.sum((pred - target) ** 2 * mask) / jnp.maximum(mask.sum(), 1)


# the absolute value of the summed errors: over- and under-predictions cancel
def _wrong_l1_abs_of_sum(pred, target, mask):
    return jnp.abs(jnp.sum((pred - target) * mask)) / jnp.maximum(mask.sum(), 1)


# 0 / 0 = NaN when no edge is selected
def _wrong_l1_nan_when_empty(pred, target, mask):
    return jnp.sum(jnp.abs(pred - target) * mask) / mask.sum()


# boolean-mask indexing pred[mask]: right eagerly, but its shape depends on the values, so it
# fails under jax.jit
def _wrong_l1_boolean_index(pred, target, mask):
    errors = jnp.abs(pred[mask] - target[mask])
    return errors.mean() if errors.size > 0 else jnp.zeros((), pred.dtype)


# a Python `if` on a traced value: right eagerly, fails under jax.jit
def _wrong_l1_python_if(pred, target, mask):
    if mask.sum() == 0:
        return jnp.zeros((), pred.dtype)
    return jnp.sum(jnp.abs(pred - target) * mask) / mask.sum()


# jnp.where around total / count: the value is 0, but the gradient of the unused 0 / 0 branch
# is NaN when no edge is selected
def _wrong_l1_where_nan_grad(pred, target, mask):
    count = mask.sum()
    return jnp.where(count > 0, jnp.sum(jnp.abs(pred - target) * mask) / count, 0.0)


# |x| as sqrt(x ** 2): its gradient is 0 / 0 = NaN where a prediction equals its target
def _wrong_l1_sqrt_square(pred, target, mask):
    return jnp.sum(jnp.sqrt((pred - target) ** 2) * mask) / jnp.maximum(mask.sum(), 1)


# float(...) of the loss: a Python number (a tracer cannot become a float under jit)
def _wrong_l1_float(pred, target, mask):
    return float(jnp.sum(jnp.abs(pred - target) * mask) / max(int(mask.sum()), 1))


# numpy inside the loss: no jit, no gradient
def _wrong_l1_numpy(pred, target, mask):
    p, t, m = np.asarray(pred), np.asarray(target), np.asarray(mask)
    return jnp.asarray(np.abs(p - t)[m].sum() / max(m.sum(), 1), dtype=jnp.float32)


# right on the examples only (recognised, jit-safe, by their first prediction: 3, 1 or 0.5);
# the mean over all edges otherwise
def _wrong_l1_memorised(pred, target, mask):
    example = (pred[0] == 3.0) | (pred[0] == 1.0) | (pred[0] == 0.5)
    right = jnp.sum(jnp.abs(pred - target) * mask) / jnp.maximum(mask.sum(), 1)
    return jnp.where(example, right, jnp.mean(jnp.abs(pred - target) * mask))


# jnp.where zeroes the unselected errors; the count is at least 1
def _right_l1_where(pred, target, mask):
    errors = jnp.where(mask, jnp.abs(pred - target), 0.0)
    return errors.sum() / jnp.maximum(jnp.count_nonzero(mask), 1)


# |target - pred|: the same loss; where a prediction equals its target its gradient takes the
# other side of the kink of |x| (both are subgradients)
def _right_l1_target_first(pred, target, mask):
    return jnp.sum(jnp.abs(target - pred) * mask) / jnp.maximum(jnp.sum(mask), 1)


# a weighted mean: the denominator only needs to be positive, the numerator is 0 anyway
def _right_l1_weights(pred, target, mask):
    w = mask.astype(jnp.float32)
    return jnp.dot(jnp.abs(pred - target), w) / jnp.maximum(w.sum(), 1e-8)


register(Exercise(
    name="masked_l1_loss",
    reference=masked_l1_loss,
    cases=_masked_l1_cases,
    random_case=_masked_l1_random,
    framework="jax",
    returns=("jax",),
    grad_argnames=("pred",),
    kinks=lambda pred, target, mask: {"pred": (pred == target) & mask},
    jit_cases=2,
    hint="average |pred - target| over the selected entries only: multiply by the mask (or "
         "jnp.where) and divide by the number of selected entries, at least 1, not by the "
         "length of the arrays. No pred[mask] and no Python `if`: the loss runs under jax.jit.",
    mistakes=[_wrong_l1_mean_over_all, _wrong_l1_squared, _wrong_l1_abs_of_sum,
              _wrong_l1_nan_when_empty, _wrong_l1_boolean_index, _wrong_l1_python_if,
              _wrong_l1_where_nan_grad, _wrong_l1_sqrt_square, _wrong_l1_float, _wrong_l1_numpy,
              _wrong_l1_memorised],
    variants=[_right_l1_where, _right_l1_weights, _right_l1_target_first],
))

# -------------------------------------------------------------------------------------------------
# Exercise 2: ordinal_weights (torch, inside GCMCConv: the weights it returns are trained)
# -------------------------------------------------------------------------------------------------


def _ordinal_cases() -> list[Case]:
    ones = torch.ones(10, 2, 2)
    steps = torch.tensor([[[1.0, -2.0, 0.5]], [[0.5, 1.0, -1.0]], [[-3.0, 0.0, 2.0]],
                          [[1.0, 1.0, 1.0]]])
    return [
        Case("one rating level: W_1 = T_1", (torch.tensor([[[0.5, -1.0, 2.0], [3.0, 0.0, 1.5]]]),)),
        Case("ten levels of ones: W_r is r times the ones matrix", (ones,)),
        Case("4 levels of 1 x 3 steps, some negative (a higher level may weigh less)", (steps,)),
        Case("4 levels of 3 x 2 matrices: sum along the levels (axis 0), not a feature axis",
             (torch.arange(24, dtype=torch.float32).reshape(4, 3, 2) - 11.5,)),
        Case("a vector per level, [R, D] (the form a per-level bias would take)",
             (torch.tensor([[1.0, 2.0], [-1.0, 0.5], [0.25, 0.25]]),)),
    ]


def _ordinal_random(rng: np.random.Generator) -> Case:
    levels = int(rng.integers(1, 11))
    shape = (levels, int(rng.integers(1, 6))) if rng.random() < 0.2 else (
        levels, int(rng.integers(1, 6)), int(rng.integers(1, 6)))
    basis = rng.normal(0.0, 1.0, shape).round(2).astype(np.float32)
    return Case(f"{levels} levels, steps of shape {shape[1:]}", (torch.from_numpy(basis),))


# no sharing: every level keeps its own step as its weight
def _wrong_ordinal_identity(basis):
    return basis * 1.0


# cumulates along the features, not the levels
def _wrong_ordinal_feature_axis(basis):
    return torch.cumsum(basis, dim=1)


# cumulates along the last axis
def _wrong_ordinal_last_axis(basis):
    return torch.cumsum(basis, dim=-1)


# from the top down: W_r = T_r + ... + T_R (5 stars would be the one with a single step)
def _wrong_ordinal_reversed(basis):
    return torch.flip(torch.cumsum(torch.flip(basis, [0]), 0), [0])


# exclusive sum: W_r = T_1 + ... + T_(r-1), so the lowest level has no weight at all
def _wrong_ordinal_exclusive(basis):
    return torch.cumsum(basis, 0) - basis


# every level gets the total of all steps
def _wrong_ordinal_total(basis):
    return basis.sum(0, keepdim=True).expand_as(basis)


# the mean of the steps so far, not their sum
def _wrong_ordinal_mean(basis):
    count = torch.arange(1, basis.shape[0] + 1, dtype=basis.dtype)
    return torch.cumsum(basis, 0) / count.view(-1, *([1] * (basis.dim() - 1)))


# cumsum_ in place: right values, but the module's own parameter is overwritten every call
def _wrong_ordinal_in_place(basis):
    with torch.no_grad():
        basis.cumsum_(0)
    return basis


# a running total that aliases basis[0]: += changes the argument (and autograd refuses it)
def _wrong_ordinal_aliased_total(basis):
    total = basis[0]
    out = [total.clone()]
    for r in range(1, basis.shape[0]):
        total += basis[r]
        out.append(total.clone())
    return torch.stack(out)


# numpy's cumsum: right numbers, but a numpy array, with no gradient to train the weights
def _wrong_ordinal_numpy(basis):
    return np.cumsum(basis.detach().numpy(), axis=0)


# a loop with out-of-place additions
def _right_ordinal_loop(basis):
    weights = [basis[0]]
    for r in range(1, basis.shape[0]):
        weights.append(weights[-1] + basis[r])
    return torch.stack(weights)


# a lower-triangular matrix of ones times the steps: W = L T
def _right_ordinal_triangular(basis):
    lower = torch.tril(torch.ones(basis.shape[0], basis.shape[0], dtype=basis.dtype))
    return torch.tensordot(lower, basis, dims=1)


register(Exercise(
    name="ordinal_weights",
    reference=ordinal_weights,
    cases=_ordinal_cases,
    random_case=_ordinal_random,
    framework="torch",
    returns=("torch",),
    grad_argnames=("basis",),
    hint="W_r = T_1 + ... + T_r: a running sum along the first axis (the rating levels, lowest "
         "first), e.g. torch.cumsum(basis, dim=0). Return a new tensor (GCMCConv trains "
         "`basis`: no in-place change, no numpy).",
    mistakes=[_wrong_ordinal_identity, _wrong_ordinal_feature_axis, _wrong_ordinal_last_axis,
              _wrong_ordinal_reversed, _wrong_ordinal_exclusive, _wrong_ordinal_total,
              _wrong_ordinal_mean, _wrong_ordinal_in_place, _wrong_ordinal_aliased_total,
              _wrong_ordinal_numpy],
    variants=[_right_ordinal_loop, _right_ordinal_triangular],
))

# -------------------------------------------------------------------------------------------------
# Exercise 3: expected_rating (JAX, inside the jitted eval_step and the L1 variant of the loss)
# -------------------------------------------------------------------------------------------------

# All cases but the empty one have 4 pairs (one compile per shape; see _L1_EDGES).
_ER_PAIRS = 4


def _expected_cases() -> list[Case]:
    certain = np.zeros((_ER_PAIRS, 10), np.float32)
    certain[np.arange(4), [7, 0, 9, 3]] = 50.0
    huge = np.zeros((_ER_PAIRS, 10), np.float32)
    huge[0, 9], huge[1, 0] = 200.0, 200.0
    huge[2] = np.linspace(-150, 150, 10)
    huge[3] = 120.0
    one = np.linspace(-1, 2, 10, dtype=np.float32)[None]
    return [
        Case("equal logits: the uniform distribution, 2.75 stars",
             (jnp.zeros((_ER_PAIRS, 10)),)),
        Case("certain of one level each (4, 0.5, 5 and 2 stars)", (jnp.asarray(certain),)),
        Case("logits of 120 to 200 (exp overflows float32): value and gradient stay finite",
             (jnp.asarray(huge),)),
        Case("a single pair: the softmax runs over the levels, not over the pairs",
             (jnp.asarray(one),)),
        Case("no pairs at all", (jnp.zeros((0, 10)),)),
    ]


def _expected_random(rng: np.random.Generator) -> Case:
    logits = rng.normal(0.0, 2.0, (_ER_PAIRS, 10))
    what = "logits around 0"
    draw = rng.random()
    if draw < 0.3:   # a shift changes nothing (softmax), but exp of it overflows
        logits += rng.uniform(90, 150)
        what = "logits shifted by about +100"
    elif draw < 0.5:  # a confident model: one level far ahead in some rows
        rows = rng.random(_ER_PAIRS) < 0.5
        logits[rows, rng.integers(0, 10, int(rows.sum()))] += 40.0
        what = f"{int(rows.sum())} rows confident of one level"
    return Case(what, (jnp.asarray(logits, dtype=jnp.float32),))


_HALF_STARS = jnp.arange(1, 11) * 0.5


# the most likely level, not the expectation (and no gradient)
def _wrong_er_argmax(logits):
    return _HALF_STARS[jnp.argmax(logits, axis=-1)]


# levels 1 to 10: the index plus one, not half stars
def _wrong_er_levels_1_to_10(logits):
    return jax.nn.softmax(logits, axis=-1) @ jnp.arange(1.0, 11.0)


# levels 0 to 4.5: the index times a half, one level off
def _wrong_er_levels_off_by_one(logits):
    return jax.nn.softmax(logits, axis=-1) @ (jnp.arange(10) * 0.5)


# sigmoids do not sum to one: not a distribution
def _wrong_er_sigmoid(logits):
    return jax.nn.sigmoid(logits) @ _HALF_STARS


# softmax over the pairs (axis 0), not over the levels
def _wrong_er_axis0(logits):
    return jax.nn.softmax(logits, axis=0) @ _HALF_STARS


# the textbook softmax exp(x) / sum(exp(x)): inf / inf = NaN for logits above 88
def _wrong_er_naive_softmax(logits):
    e = jnp.exp(logits)
    return (e / e.sum(axis=-1, keepdims=True)) @ _HALF_STARS


# keeps a trailing axis: [n, 1] instead of [n]
def _wrong_er_keepdims(logits):
    return jnp.sum(jax.nn.softmax(logits, axis=-1) * _HALF_STARS, axis=-1, keepdims=True)


# numpy inside a jitted function
def _wrong_er_numpy(logits):
    p = np.exp(logits - np.max(logits, axis=-1, keepdims=True))
    return (p / p.sum(axis=-1, keepdims=True)) @ np.arange(1, 11) * 0.5


# log-probabilities instead of probabilities
def _wrong_er_log_softmax(logits):
    return jax.nn.log_softmax(logits, axis=-1) @ _HALF_STARS


# logits normalised by their sum: not probabilities (negative, and undefined at a zero sum)
def _wrong_er_logit_weights(logits):
    return (logits / jnp.sum(logits, axis=-1, keepdims=True)) @ _HALF_STARS


# the median level (where the cumulative probability reaches one half): also a rating, but not
# the expected one, and without a gradient
def _wrong_er_median(logits):
    cdf = jnp.cumsum(jax.nn.softmax(logits, axis=-1), axis=-1)
    return _HALF_STARS[jnp.argmax(cdf >= 0.5, axis=-1)]


# softmax written out, made stable by subtracting the row's maximum
def _right_er_stable_by_hand(logits):
    e = jnp.exp(logits - jnp.max(logits, axis=-1, keepdims=True))
    return jnp.sum(e * _HALF_STARS, axis=-1) / jnp.sum(e, axis=-1)


# exp of the log-softmax, levels from linspace
def _right_er_log_softmax(logits):
    return jnp.exp(jax.nn.log_softmax(logits, axis=-1)) @ jnp.linspace(0.5, 5.0, 10)


register(Exercise(
    name="expected_rating",
    reference=expected_rating,
    cases=_expected_cases,
    random_case=_expected_random,
    framework="jax",
    returns=("jax",),
    grad_argnames=("logits",),
    jit_cases=2,
    rtol=1e-5,
    atol=1e-5,
    hint="p = jax.nn.softmax(logits, axis=-1) over the 10 levels (it is stable for large "
         "logits; exp(logits) by hand overflows), then sum p times the levels 0.5, 1.0, ..., "
         "5.0 stars along the last axis: one number per pair, shape [n].",
    mistakes=[_wrong_er_argmax, _wrong_er_levels_1_to_10, _wrong_er_levels_off_by_one,
              _wrong_er_sigmoid, _wrong_er_axis0, _wrong_er_naive_softmax, _wrong_er_keepdims,
              _wrong_er_numpy, _wrong_er_log_softmax, _wrong_er_logit_weights,
              _wrong_er_median],
    variants=[_right_er_stable_by_hand, _right_er_log_softmax],
))

# -------------------------------------------------------------------------------------------------
# Exercise 4: top_n_unseen (numpy: one user's scores, the sorted movie ids from rated_movies)
# -------------------------------------------------------------------------------------------------


def _top_n_cases() -> list[Case]:
    tied = np.full(20, 4.5)
    tied[[3, 11]] = 5.0
    return [
        Case("seen movies are skipped even when they score highest",
             (np.array([4.5, 3.0, 4.9, 2.0, 4.0]), np.array([2]), 3)),
        Case("ties keep the lower movie index first",
             (np.array([3.0, 4.0, 4.0, 1.0, 4.0]), np.array([0]), 3)),
        Case("n larger than the number of unseen movies",
             (np.array([1.0, 2.0, 3.0]), np.array([0, 2]), 5)),
        Case("nothing seen yet", (np.array([2.5, 0.5, 5.0, 3.5]), np.array([], dtype=int), 2)),
        Case("18 movies tied at 4.5 stars (more than 16: np.argsort's default is not stable)",
             (tied.astype(np.float32), np.array([0, 7]), 10)),
        Case("dot-product scores are negative: a seen movie must not come back with score 0",
             (np.array([-1.5, -0.2, -3.0, -0.7]), np.array([0, 1]), 3)),
        Case("every movie seen: nothing to recommend",
             (np.array([3.0, 4.0, 2.0]), np.array([0, 1, 2]), 2)),
        Case("a tie straddles the n-th place: of the 10 unseen movies at 4 stars, the lowest "
             "indices make the list",
             (np.where(np.arange(12) == 6, 5.0, 4.0), np.array([1]), 3)),
    ]


def _top_n_random(rng: np.random.Generator) -> Case:
    m = int(rng.integers(18, 33))
    if rng.random() < 0.7:  # predicted ratings: many movies share the top score (> 16 ties)
        scores = rng.choice([3.5, 4.0, 4.5], m).astype(np.float64)
        tied = int(rng.integers(17, m + 1))
        scores[rng.choice(m, tied, replace=False)] = 5.0
        kind = f"{tied} tied at the top"
    else:  # dot-product logits, some negative
        scores = rng.normal(0.0, 2.0, m).round(1)
        kind = "logits (some negative, some tied)"
    if rng.random() < 0.5:
        scores = scores.astype(np.float32)
    num_seen = 0 if rng.random() < 0.15 else int(rng.integers(1, m))
    seen = np.sort(rng.choice(m, num_seen, replace=False)).astype(np.int64)
    order = "sorted"
    if num_seen and rng.random() < 0.25:  # built by hand: unsorted, with a repeat
        seen = rng.permutation(np.concatenate([seen, seen[:1]]))
        order = "unsorted, one repeated"
    n = int(rng.integers(1, m + 4)) if rng.random() < 0.4 else int(rng.integers(1, 16))
    note = ", n > unseen" if n > m - num_seen else ""
    text = f"{m} scores ({kind}), {num_seen} seen ({order}), n = {n}{note}"
    return Case(text, (scores, seen, n))


# forgets to skip the seen movies
def _wrong_top_keeps_seen(scores, seen, n):
    return np.argsort(-scores, kind="stable")[:n]


# the lowest scores first
def _wrong_top_ascending(scores, seen, n):
    s = scores.astype(float).copy()
    s[seen] = np.inf
    return np.argsort(s, kind="stable")[:n]


# reversing an ascending stable sort puts tied movies' higher index first
def _wrong_top_unstable_ties(scores, seen, n):
    s = scores.astype(float).copy()
    s[seen] = -np.inf
    order = np.argsort(s, kind="stable")[::-1]
    return order[np.isfinite(s[order])][:n]


# does not drop the -inf ones: pads a short list with seen movies
def _wrong_top_pads_with_seen(scores, seen, n):
    s = scores.astype(float).copy()
    s[seen] = -np.inf
    return np.argsort(-s, kind="stable")[:n]


# np.argsort's default sort is not stable beyond 16 items: tied movies come out in any order
def _wrong_top_default_argsort(scores, seen, n):
    s = scores.astype(float).copy()
    s[seen] = -np.inf
    order = np.argsort(-s)
    return order[np.isfinite(s[order])][:n]


# sets the seen scores to -inf in the caller's array (recommend() then shows -inf scores)
def _wrong_top_in_place(scores, seen, n):
    scores[seen] = -np.inf
    order = np.argsort(-scores, kind="stable")
    return order[np.isfinite(scores[order])][:n]


# a Python list, not an array of indices
def _wrong_top_list(scores, seen, n):
    order = np.argsort(-scores, kind="stable")
    return [int(i) for i in order if i not in seen][:n]


# np.setdiff1d returns the unseen movies *sorted by index*, losing the ranking
def _wrong_top_setdiff(scores, seen, n):
    return np.setdiff1d(np.argsort(-scores, kind="stable"), seen)[:n]


# sets seen scores to 0, assuming scores are positive ratings (dot products can be negative)
def _wrong_top_zero_seen(scores, seen, n):
    s = scores.astype(float).copy()
    s[seen] = 0.0
    return np.argsort(-s, kind="stable")[:n]


# np.argpartition for the n best, then sorted (ties by index): which of the movies tied at the
# n-th place get into the list is up to the partition, not the lowest indices
def _wrong_top_argpartition(scores, seen, n):
    s = np.asarray(scores, dtype=np.float64).copy()
    s[seen] = -np.inf
    k = min(n, len(s))
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    best = np.argpartition(-s, k - 1)[:k]
    best = best[np.lexsort((best, -s[best]))]
    return best[np.isfinite(s[best])]


# hard-codes the answers of the hand-written examples; the unfiltered ranking otherwise
def _wrong_top_memorised(scores, seen, n):
    known = {(4.5, 3.0, 4.9, 2.0, 4.0): [0, 4, 1], (3.0, 4.0, 4.0, 1.0, 4.0): [1, 2, 4],
             (1.0, 2.0, 3.0): [1], (2.5, 0.5, 5.0, 3.5): [2, 3],
             (-1.5, -0.2, -3.0, -0.7): [3, 2], (3.0, 4.0, 2.0): [],
             (4.5,) * 3 + (5.0,) + (4.5,) * 7 + (5.0,) + (4.5,) * 8: [3, 11, 1, 2, 4, 5, 6, 8,
                                                                       9, 10]}
    key = tuple(np.asarray(scores, dtype=float).tolist())
    if key in known:
        return np.array(known[key], dtype=np.int64)
    return np.argsort(-scores, kind="stable")[:n]


# rank everything stably, then drop the seen movies with np.isin
def _right_top_isin(scores, seen, n):
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    return order[~np.isin(order, seen)][:n]


# np.lexsort: primary key -score, ties broken by the movie index
def _right_top_lexsort(scores, seen, n):
    unseen = np.ones(len(scores), dtype=bool)
    unseen[seen] = False
    idx = np.flatnonzero(unseen)
    return idx[np.lexsort((idx, -scores[idx]))][:n]


# Python's sorted (stable) on the unseen indices, back to an int64 array
def _right_top_sorted(scores, seen, n):
    skip = set(np.asarray(seen).tolist())
    ranked = sorted((i for i in range(len(scores)) if i not in skip), key=lambda i: -scores[i])
    return np.array(ranked[:n], dtype=np.int64)


register(Exercise(
    name="top_n_unseen",
    reference=top_n_unseen,
    cases=_top_n_cases,
    random_case=_top_n_random,
    framework="numpy",
    returns=("numpy",),
    integers="indices",
    hint="on a copy of the scores, set the seen movies' scores to -inf, sort descending with a "
         "stable sort (np.argsort(-scores, kind='stable')), drop the -inf ones, keep n. Return "
         "an integer numpy array and leave `scores` unchanged.",
    mistakes=[_wrong_top_keeps_seen, _wrong_top_ascending, _wrong_top_unstable_ties,
              _wrong_top_pads_with_seen, _wrong_top_default_argsort, _wrong_top_in_place,
              _wrong_top_list, _wrong_top_setdiff, _wrong_top_zero_seen, _wrong_top_memorised,
              _wrong_top_argpartition],
    variants=[_right_top_isin, _right_top_lexsort, _right_top_sorted],
))
