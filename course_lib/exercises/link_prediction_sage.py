"""Exercises of the chapter "Recommendation as link prediction with GraphSAGE"
(book/03_link_prediction_sage)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jraph
import numpy as np
import torch

from ..jax.nn import mean_aggregate
from ..metrics import pairwise_auc
from ..pyg.sage import dot_product_scores
from ..training import early_stopping_loop
from . import Case, Exercise, register

# -------------------------------------------------------------------------------------------------
# Exercise 1: dot_product_scores (torch, inside the PyG model: it must backpropagate)
# -------------------------------------------------------------------------------------------------


def _dot_product_cases() -> list[Case]:
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


def _dot_product_random(rng: np.random.Generator) -> Case:
    num_users, num_movies = (int(v) for v in rng.choice(np.arange(1, 10), 2, replace=False))
    hidden = int(rng.integers(1, 9))
    n = 0 if rng.random() < 0.1 else int(rng.integers(1, 31))
    users, movies = rng.integers(0, num_users, n), rng.integers(0, num_movies, n)
    repeated = 0
    if n and rng.random() < 0.7:  # the same pair twice in a batch (positives and negatives)
        repeated = int(rng.integers(1, 4))
        pick = rng.integers(0, n, repeated)
        users = np.concatenate([users, users[pick]])
        movies = np.concatenate([movies, movies[pick]])
        order = rng.permutation(len(users))
        users, movies = users[order], movies[order]
    scale = 10.0 if rng.random() < 0.2 else 1.0
    x_user = torch.from_numpy((scale * rng.normal(size=(num_users, hidden))).astype(np.float32))
    x_movie = torch.from_numpy(rng.normal(size=(num_movies, hidden)).astype(np.float32))
    pairs = torch.from_numpy(np.stack([users, movies]).astype(np.int64))
    unused = num_users - len(np.unique(users))
    text = (f"{num_users} users, {num_movies} movies, {hidden} features, {len(users)} pairs "
            f"({repeated} repeated, {unused} users in no pair)")
    return Case(text, (x_user, x_movie, pairs))


# movie row indexes x_user: breaks (or is silently wrong) when the two differ
def _wrong_dot_swapped_rows(x_user, x_movie, edge_label_index):
    return (x_user[edge_label_index[1]] * x_movie[edge_label_index[0]]).sum(-1)


# sums over the pairs (dim 0) instead of the features: [H] instead of [n]
def _wrong_dot_sum_over_pairs(x_user, x_movie, edge_label_index):
    return (x_user[edge_label_index[0]] * x_movie[edge_label_index[1]]).sum(0)


# every user with every movie: an [n, n] matrix instead of n scores
def _wrong_dot_all_pairs(x_user, x_movie, edge_label_index):
    return x_user[edge_label_index[0]] @ x_movie[edge_label_index[1]].T


# applies a sigmoid: probabilities, but the loss (BCE with logits) expects logits
def _wrong_dot_sigmoid(x_user, x_movie, edge_label_index):
    return torch.sigmoid((x_user[edge_label_index[0]] * x_movie[edge_label_index[1]]).sum(-1))


# the mean over the features instead of the sum (a dot product divided by H)
def _wrong_dot_mean(x_user, x_movie, edge_label_index):
    return (x_user[edge_label_index[0]] * x_movie[edge_label_index[1]]).mean(-1)


# cosine similarity: normalises the embeddings, so their length no longer counts
def _wrong_dot_cosine(x_user, x_movie, edge_label_index):
    return torch.nn.functional.cosine_similarity(x_user[edge_label_index[0]],
                                                 x_movie[edge_label_index[1]], dim=-1)


# a batched matmul without the squeeze: shape [n, 1, 1]
def _wrong_dot_bmm_shape(x_user, x_movie, edge_label_index):
    u, m = x_user[edge_label_index[0]], x_movie[edge_label_index[1]]
    return torch.bmm(u.unsqueeze(1), m.unsqueeze(2))


# computes in numpy: right numbers, but the model cannot backpropagate through them
def _wrong_dot_numpy(x_user, x_movie, edge_label_index):
    u = x_user.detach().numpy()[edge_label_index[0].numpy()]
    m = x_movie.detach().numpy()[edge_label_index[1].numpy()]
    return torch.from_numpy((u * m).sum(-1))


# a Python loop gathered into torch.tensor(...): the values are cut off from the gradient
def _wrong_dot_loop_tensor(x_user, x_movie, edge_label_index):
    scores = [float(x_user[u] @ x_movie[m]) for u, m in edge_label_index.T.tolist()]
    return torch.tensor(scores, dtype=x_user.dtype)


# right on the examples' shapes only (3 users x 4 features, or 1 feature); zeros otherwise
def _wrong_dot_memorised(x_user, x_movie, edge_label_index):
    if tuple(x_user.shape) in ((3, 4), (2, 1)):
        return (x_user[edge_label_index[0]] * x_movie[edge_label_index[1]]).sum(-1)
    return torch.zeros(edge_label_index.shape[1]) * x_user.sum()


# einsum over the gathered rows
def _right_dot_einsum(x_user, x_movie, edge_label_index):
    return torch.einsum("nh,nh->n", x_user[edge_label_index[0]], x_movie[edge_label_index[1]])


# index_select (as the course's rating decoder) and a batched matmul, squeezed
def _right_dot_index_select_bmm(x_user, x_movie, edge_label_index):
    u = x_user.index_select(0, edge_label_index[0]).unsqueeze(1)
    m = x_movie.index_select(0, edge_label_index[1]).unsqueeze(2)
    return torch.bmm(u, m).reshape(-1)


# all user-movie scores, then pick the pairs (more work, same numbers)
def _right_dot_full_matrix(x_user, x_movie, edge_label_index):
    return (x_user @ x_movie.T)[edge_label_index[0], edge_label_index[1]]


register(Exercise(
    name="dot_product_scores",
    reference=dot_product_scores,
    cases=_dot_product_cases,
    random_case=_dot_product_random,
    framework="torch",
    returns=("torch",),
    grad_argnames=("x_user", "x_movie"),
    hint="row 0 of edge_label_index indexes x_user, row 1 indexes x_movie; multiply the two "
         "[n, H] gathers elementwise and sum over the feature dimension: one logit per pair. "
         "Stay in torch so that the model can backpropagate.",
    mistakes=[_wrong_dot_swapped_rows, _wrong_dot_sum_over_pairs, _wrong_dot_all_pairs,
              _wrong_dot_sigmoid, _wrong_dot_mean, _wrong_dot_cosine, _wrong_dot_bmm_shape,
              _wrong_dot_numpy, _wrong_dot_loop_tensor, _wrong_dot_memorised],
    variants=[_right_dot_einsum, _right_dot_index_select_bmm, _right_dot_full_matrix],
))

# -------------------------------------------------------------------------------------------------
# Exercise 2: mean_aggregate (JAX, inside the jitted flax model; num_dst is a Python int)
# -------------------------------------------------------------------------------------------------


def _mean_aggregate_cases() -> list[Case]:
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


# JAX compiles every primitive it runs op by op once per shape (about 40 compiles per new shape,
# a second or so): the random cases reuse the hand-written cases' shapes, so that a check costs
# little more than its hand-written cases. Within a shape the edges, duplicates, isolated
# receivers and features are drawn afresh.
_MEAN_SHAPES = ((4, 6, 3), (4, 3, 4), (4, 3, 1), (2, 3, 6), (4, 0, 2))  # (senders, edges, num_dst)


def _mean_aggregate_random(rng: np.random.Generator) -> Case:
    shape = rng.choice(len(_MEAN_SHAPES), p=[0.35, 0.25, 0.1, 0.22, 0.08])
    num_src, n, num_dst = _MEAN_SHAPES[shape]
    # receivers drawn from the first few ids only: the last ones (and some others) get no edge
    reach = int(rng.integers(1, num_dst + 1)) if rng.random() < 0.6 else num_dst
    senders, receivers = rng.integers(0, num_src, n), rng.integers(0, reach, n)
    if n >= 2 and rng.random() < 0.8:  # duplicate edges: each copy counts in the mean
        copies = int(rng.integers(1, n // 2 + 1))
        senders[n - copies:], receivers[n - copies:] = senders[:copies], receivers[:copies]
        order = rng.permutation(n)
        senders, receivers = senders[order], receivers[order]
    x_src = rng.normal(size=(num_src, 3)).round(2).astype(np.float32)
    isolated = num_dst - len(np.unique(receivers))
    pairs = senders.astype(np.int64) * num_dst + receivers
    repeated = n - len(np.unique(pairs))
    order = "sorted" if np.all(np.diff(receivers) >= 0) else "unsorted"
    text = (f"{num_src} senders, {num_dst} receivers ({isolated} without edges), "
            f"{n} edges ({repeated} duplicated), {order} receivers")
    return Case(text, (jnp.asarray(x_src), jnp.asarray(senders, dtype=jnp.int32),
                       jnp.asarray(receivers, dtype=jnp.int32), num_dst))


# the sum, not the mean
def _wrong_mean_sum(x_src, senders, receivers, num_dst):
    return jraph.segment_sum(x_src[senders], receivers, num_segments=num_dst)


# 0 / 0 = NaN for receivers without edges
def _wrong_mean_nan_isolated(x_src, senders, receivers, num_dst):
    total = jraph.segment_sum(x_src[senders], receivers, num_segments=num_dst)
    count = jraph.segment_sum(jnp.ones(len(senders)), receivers, num_segments=num_dst)
    return total / count[:, None]


# one segment per receiver that occurs: drops trailing receivers without edges (and a Python int
# of a traced value fails under jit)
def _wrong_mean_too_few_segments(x_src, senders, receivers, num_dst):
    n = int(receivers.max()) + 1 if len(receivers) else 0
    return jraph.segment_mean(x_src[senders], receivers, num_segments=n)


# aggregates by sender instead of by receiver
def _wrong_mean_by_sender(x_src, senders, receivers, num_dst):
    return jraph.segment_mean(x_src[receivers % len(x_src)], senders, num_segments=num_dst)


# one segment per sender node (len(x_src)) instead of per receiver (num_dst)
def _wrong_mean_num_src_segments(x_src, senders, receivers, num_dst):
    return jraph.segment_mean(x_src[senders], receivers, num_segments=x_src.shape[0])


# a dense 0/1 adjacency: a duplicated edge is counted once
def _wrong_mean_dense_adjacency(x_src, senders, receivers, num_dst):
    adj = jnp.zeros((num_dst, x_src.shape[0])).at[receivers, senders].set(1.0)
    return adj @ x_src / jnp.maximum(adj.sum(1, keepdims=True), 1.0)


# Python loop with boolean-mask indexing and a Python `if`: right eagerly, fails under jax.jit
def _wrong_mean_python_loop(x_src, senders, receivers, num_dst):
    rows = []
    for d in range(num_dst):
        mine = x_src[senders[receivers == d]]
        rows.append(mine.mean(0) if mine.shape[0] > 0 else jnp.zeros(x_src.shape[1]))
    return jnp.stack(rows)


# numpy's np.add.at on np.asarray(...): right numbers, but no jit and no gradient
def _wrong_mean_numpy(x_src, senders, receivers, num_dst):
    x, s, r = np.asarray(x_src), np.asarray(senders), np.asarray(receivers)
    total = np.zeros((num_dst, x.shape[1]), dtype=x.dtype)
    np.add.at(total, r, x[s])
    count = np.bincount(r, minlength=num_dst)[:, None]
    return jnp.asarray(total / np.maximum(count, 1))


# right on the examples only (recognised, jit-safe, by their x_src: rows of 0, 1, 2, ...); the
# sum otherwise
def _wrong_mean_memorised(x_src, senders, receivers, num_dst):
    example = x_src[0, 1] == 1.0
    mean = jraph.segment_mean(x_src[senders], receivers, num_segments=num_dst)
    return jnp.where(example, mean, jraph.segment_sum(x_src[senders], receivers,
                                                     num_segments=num_dst))


# segment_sum divided by the in-degree from jnp.bincount (length fixed, so it jits)
def _right_mean_bincount(x_src, senders, receivers, num_dst):
    total = jax.ops.segment_sum(x_src[senders], receivers, num_segments=num_dst)
    count = jnp.bincount(receivers, length=num_dst)
    return total / jnp.maximum(count, 1)[:, None]


# a one-hot [num_dst, E] incidence matrix (duplicates stay separate columns), row-normalised
def _right_mean_incidence(x_src, senders, receivers, num_dst):
    inc = (receivers[None, :] == jnp.arange(num_dst)[:, None]).astype(x_src.dtype)
    return inc @ x_src[senders] / jnp.maximum(inc.sum(1, keepdims=True), 1.0)


# jnp.where hides the 0 / 0 of isolated receivers (its NaN reaches no sender's gradient)
def _right_mean_where(x_src, senders, receivers, num_dst):
    total = jraph.segment_sum(x_src[senders], receivers, num_segments=num_dst)
    count = jraph.segment_sum(jnp.ones_like(receivers, dtype=x_src.dtype), receivers,
                              num_segments=num_dst)[:, None]
    return jnp.where(count > 0, total / count, 0.0)


register(Exercise(
    name="mean_aggregate",
    reference=mean_aggregate,
    cases=_mean_aggregate_cases,
    random_case=_mean_aggregate_random,
    framework="jax",
    returns=("jax",),
    static_argnames=("num_dst",),
    grad_argnames=("x_src",),
    jit_cases=2,
    hint="gather x_src[senders], then jraph.segment_sum (or segment_mean) by receivers with "
         "num_segments=num_dst; divide by each receiver's in-degree (duplicate edges count "
         "twice), using 1 where it is 0. Only jnp operations: the layer runs under jax.jit.",
    mistakes=[_wrong_mean_sum, _wrong_mean_nan_isolated, _wrong_mean_too_few_segments,
              _wrong_mean_by_sender, _wrong_mean_num_src_segments, _wrong_mean_dense_adjacency,
              _wrong_mean_python_loop, _wrong_mean_numpy, _wrong_mean_memorised],
    variants=[_right_mean_bincount, _right_mean_incidence, _right_mean_where],
))

# -------------------------------------------------------------------------------------------------
# early_stopping_loop: both fits of the chapter run it (fit(..., loop=...)), wrapped by
# course_lib.training.fit_loop, which times and records each epoch. Checked on a toy run whose
# validation curve is scripted: the state records how many epochs it was trained, train_epoch
# advances it, validate reads the curve at that epoch. Both are pure and shown by their curve;
# a PyTorch-like state (a list changed in place) needs its snapshot copied.
# -------------------------------------------------------------------------------------------------


class _Model:
    """A toy state changed in place, as a PyTorch model is: ``epoch`` trained, weight ``w``."""

    def __init__(self, epoch: int = 0, w: float = 0.0):
        self.epoch, self.w = epoch, w

    def __repr__(self):
        return f"Model(epoch={self.epoch}, w={self.w:g})"

    def __eq__(self, other):
        return isinstance(other, _Model) and (self.epoch, self.w) == (other.epoch, other.w)

    __hash__ = None


def _as_tuple(state):
    return (state.epoch, state.w) if isinstance(state, _Model) else state


class _ToyEpoch:
    """``train_epoch`` of a toy run: ``(epoch, w) -> ((epoch + 1, w / 2 + 1), loss)``; a
    :class:`_Model` is changed in place and returned."""

    def __call__(self, state):
        epoch, w = _as_tuple(state)
        epoch, w = epoch + 1, round(0.5 * w + 1.0, 6)
        if isinstance(state, _Model):
            state.epoch, state.w = epoch, w
            return state, 1.0 / epoch
        return (epoch, w), 1.0 / epoch

    def __repr__(self):
        return "train_epoch: (epoch, w) -> ((epoch + 1, w / 2 + 1), loss)"

    def __eq__(self, other):
        return isinstance(other, _ToyEpoch)

    __hash__ = None

    def __deepcopy__(self, memo):
        return self


class _ToyValidate:
    """``validate`` of a toy run: the scripted curve's value at the state's epoch."""

    def __init__(self, curve):
        self.curve = tuple(float(v) for v in curve)

    def __call__(self, state):
        epoch = _as_tuple(state)[0]
        if not 1 <= epoch <= len(self.curve):
            raise ValueError(f"validate got a state trained for {epoch} epochs: validate after "
                             f"train_epoch, and for at most max_epochs = {len(self.curve)} epochs")
        return self.curve[epoch - 1]

    def __repr__(self):
        return "validate: epoch -> " + ", ".join(f"{e}: {v:g}" for e, v in
                                                enumerate(self.curve, 1))

    def __eq__(self, other):
        return isinstance(other, _ToyValidate) and self.curve == other.curve

    __hash__ = None

    def __deepcopy__(self, memo):
        return self


class _Copy:
    """``snapshot`` of a :class:`_Model`: a copy of its weights (a ``state_dict`` copy, in the
    chapter)."""

    def __call__(self, state):
        return _as_tuple(state)

    def __repr__(self):
        return "snapshot: (model.epoch, model.w), a copy"

    def __eq__(self, other):
        return isinstance(other, _Copy)

    __hash__ = None

    def __deepcopy__(self, memo):
        return self


def _identity(state):
    return state


def _run(curve, patience, mode="max", in_place=False):
    state = _Model() if in_place else (0, 0.0)
    snapshot = _Copy() if in_place else _identity
    return (state, _ToyEpoch(), _ToyValidate(curve), len(curve), patience, mode, snapshot)


def _loop_view(result):
    """What the checker compares: the states as ``(epoch, w)``."""
    state, best, best_epoch = result
    return _as_tuple(state), _as_tuple(best), best_epoch


def _loop_cases() -> list[Case]:
    return [
        Case("validation improves every epoch: no early stop, the last epoch is the best",
             _run([0.5, 0.6, 0.7, 0.8], patience=2)),
        Case("best at epoch 2, patience 2: stop at epoch 4 (later epochs would be better)",
             _run([0.5, 0.9, 0.8, 0.7, 0.95, 0.99], patience=2)),
        Case("a value equal to the best is no improvement",
             _run([0.7, 0.7, 0.7, 0.7, 0.7], patience=2)),
        Case("mode 'min', as for an error: lower is better",
             _run([0.9, 0.8, 0.85, 0.79, 0.8, 0.81, 0.82], patience=2, mode="min")),
        Case("patience None: every epoch runs, the best is kept",
             _run([0.3, 0.9, 0.1, 0.2, 0.1], patience=None)),
        Case("patience 1: stop at the first epoch without a new best",
             _run([0.1, 0.2, 0.15, 0.3], patience=1)),
        Case("a state changed in place, as a PyTorch model is: keep snapshot(state) of the "
             "best epoch", _run([0.2, 0.8, 0.5, 0.4, 0.3], patience=2, in_place=True)),
        Case("one-epoch dips between improvements: patience 2 never runs out",
             _run([0.1, 0.05, 0.2, 0.15, 0.3, 0.25, 0.4], patience=2)),
        Case("a partial recovery that stays below the best does not reset the patience",
             _run([0.9, 0.5, 0.6, 0.55, 0.58], patience=2)),
        Case("one epoch", _run([0.4], patience=3)),
    ]


def _loop_random(rng: np.random.Generator) -> Case:
    n = int(rng.integers(1, 13))
    curve = (rng.integers(0, 5, n) / 4).round(2)      # few levels: ties are common
    patience = [None, 1, 2, 3, 5][int(rng.integers(0, 5))]
    mode = "min" if rng.random() < 0.4 else "max"
    in_place = bool(rng.random() < 0.4)
    return Case(f"{n} epochs, curve {curve.tolist()}, patience {patience}, mode {mode!r}"
                + (", a state changed in place" if in_place else ""),
                _run(curve.tolist(), patience, mode, in_place))


def _better(mode):
    return (lambda a, b: a > b) if mode == "max" else (lambda a, b: a < b)


# a value equal to the best counts as a new best
def _wrong_loop_ties_improve(state, train_epoch, validate, max_epochs, patience, mode="max",
                             snapshot=lambda s: s):
    best, best_epoch, best_value = None, 0, None
    for epoch in range(1, max_epochs + 1):
        state, _ = train_epoch(state)
        value = validate(state)
        if best_value is None or value == best_value or _better(mode)(value, best_value):
            best, best_epoch, best_value = snapshot(state), epoch, value
        elif patience is not None and epoch - best_epoch >= patience:
            break
    return state, best, best_epoch


# waits one epoch too many
def _wrong_loop_patience_plus_one(state, train_epoch, validate, max_epochs, patience,
                                  mode="max", snapshot=lambda s: s):
    best, best_epoch, best_value = None, 0, None
    for epoch in range(1, max_epochs + 1):
        state, _ = train_epoch(state)
        value = validate(state)
        if best_value is None or _better(mode)(value, best_value):
            best, best_epoch, best_value = snapshot(state), epoch, value
        elif patience is not None and epoch - best_epoch > patience:
            break
    return state, best, best_epoch


# keeps the best epoch's number but returns the last weights as the best
def _wrong_loop_last_weights(state, train_epoch, validate, max_epochs, patience, mode="max",
                             snapshot=lambda s: s):
    best_epoch, best_value = 0, None
    for epoch in range(1, max_epochs + 1):
        state, _ = train_epoch(state)
        value = validate(state)
        if best_value is None or _better(mode)(value, best_value):
            best_epoch, best_value = epoch, value
        elif patience is not None and epoch - best_epoch >= patience:
            break
    return state, snapshot(state), best_epoch


# stores the state itself, not snapshot(state): a state changed in place moves on
def _wrong_loop_no_snapshot(state, train_epoch, validate, max_epochs, patience, mode="max",
                            snapshot=lambda s: s):
    best, best_epoch, best_value = None, 0, None
    for epoch in range(1, max_epochs + 1):
        state, _ = train_epoch(state)
        value = validate(state)
        if best_value is None or _better(mode)(value, best_value):
            best, best_epoch, best_value = state, epoch, value
        elif patience is not None and epoch - best_epoch >= patience:
            break
    return state, best, best_epoch


# higher is better whatever the mode
def _wrong_loop_ignores_mode(state, train_epoch, validate, max_epochs, patience, mode="max",
                             snapshot=lambda s: s):
    best, best_epoch, best_value = None, 0, -float("inf")
    for epoch in range(1, max_epochs + 1):
        state, _ = train_epoch(state)
        value = validate(state)
        if value > best_value:
            best, best_epoch, best_value = snapshot(state), epoch, value
        elif patience is not None and epoch - best_epoch >= patience:
            break
    return state, best, best_epoch


# validates before training the epoch
def _wrong_loop_validate_first(state, train_epoch, validate, max_epochs, patience, mode="max",
                               snapshot=lambda s: s):
    best, best_epoch, best_value = None, 0, None
    for epoch in range(1, max_epochs + 1):
        value = validate(state)
        if best_value is None or _better(mode)(value, best_value):
            best, best_epoch, best_value = snapshot(state), epoch, value
        elif patience is not None and epoch - best_epoch >= patience:
            break
        state, _ = train_epoch(state)
    return state, best, best_epoch


# counts epochs from 0
def _wrong_loop_zero_based(state, train_epoch, validate, max_epochs, patience, mode="max",
                           snapshot=lambda s: s):
    best, best_epoch, best_value = None, 0, None
    for epoch in range(max_epochs):
        state, _ = train_epoch(state)
        value = validate(state)
        if best_value is None or _better(mode)(value, best_value):
            best, best_epoch, best_value = snapshot(state), epoch, value
        elif patience is not None and epoch - best_epoch >= patience:
            break
    return state, best, best_epoch


# counts epochs that are worse than the previous epoch, not epochs since the best
def _wrong_loop_vs_previous(state, train_epoch, validate, max_epochs, patience, mode="max",
                            snapshot=lambda s: s):
    best, best_epoch, best_value, previous, bad = None, 0, None, None, 0
    for epoch in range(1, max_epochs + 1):
        state, _ = train_epoch(state)
        value = validate(state)
        if best_value is None or _better(mode)(value, best_value):
            best, best_epoch, best_value = snapshot(state), epoch, value
        bad = 0 if previous is None or _better(mode)(value, previous) else bad + 1
        previous = value
        if patience is not None and bad >= patience:
            break
    return state, best, best_epoch


# counts every epoch without a new best since the start, never resetting
def _wrong_loop_never_resets(state, train_epoch, validate, max_epochs, patience, mode="max",
                             snapshot=lambda s: s):
    best, best_epoch, best_value, bad = None, 0, None, 0
    for epoch in range(1, max_epochs + 1):
        state, _ = train_epoch(state)
        value = validate(state)
        if best_value is None or _better(mode)(value, best_value):
            best, best_epoch, best_value = snapshot(state), epoch, value
        else:
            bad += 1
            if patience is not None and bad >= patience:
                break
    return state, best, best_epoch


# a counter of epochs without improvement, reset at each new best
def _right_loop_counter(state, train_epoch, validate, max_epochs, patience, mode="max",
                        snapshot=lambda s: s):
    sign = 1.0 if mode == "max" else -1.0
    best, best_epoch, best_score, waited = None, 0, -float("inf"), 0
    for epoch in range(1, max_epochs + 1):
        state, _ = train_epoch(state)
        score = sign * validate(state)
        if best_epoch == 0 or score > best_score:
            best, best_epoch, best_score, waited = snapshot(state), epoch, score, 0
        else:
            waited += 1
            if patience is not None and waited == patience:
                break
    return state, best, best_epoch


# a while loop over the epochs
def _right_loop_while(state, train_epoch, validate, max_epochs, patience, mode="max",
                      snapshot=lambda s: s):
    history, best, epoch = [], None, 0
    while epoch < max_epochs:
        epoch += 1
        state, _ = train_epoch(state)
        history.append(validate(state))
        pick = max if mode == "max" else min
        best_epoch = history.index(pick(history)) + 1   # the first of tied bests
        if best_epoch == epoch:
            best = snapshot(state)
        if patience is not None and epoch - best_epoch >= patience:
            break
    return state, best, (history.index((max if mode == "max" else min)(history)) + 1
                         if history else 0)


register(Exercise(
    name="early_stopping_loop",
    reference=early_stopping_loop,
    cases=_loop_cases,
    random_case=_loop_random,
    framework="numpy",
    view=_loop_view,
    hint="loop over epoch = 1 .. max_epochs: train, then validate; a strictly better value "
         "(mode!) makes this the best epoch and stores snapshot(state), never the state itself; "
         "otherwise stop once epoch - best_epoch reaches patience (unless patience is None).",
    mistakes=[_wrong_loop_ties_improve, _wrong_loop_patience_plus_one, _wrong_loop_last_weights,
              _wrong_loop_no_snapshot, _wrong_loop_ignores_mode, _wrong_loop_validate_first,
              _wrong_loop_zero_based, _wrong_loop_vs_previous, _wrong_loop_never_resets],
    variants=[_right_loop_counter, _right_loop_while],
))

# -------------------------------------------------------------------------------------------------
# Exercise 3: pairwise_auc (numpy metric; float32 scores and 0/1 labels, as in the notebook)
# -------------------------------------------------------------------------------------------------


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
        Case("float32 scores and labels, as split.labelled_pairs gives them",
             (np.array([2.5, -1.0, 0.5, 0.5, 3.0, -2.0], dtype=np.float32),
              np.array([1, 0, 0, 1, 1, 0], dtype=np.float32))),
    ]


def _auc_random(rng: np.random.Generator) -> Case:
    n = int(rng.integers(2, 26))
    num_pos = 1 if rng.random() < 0.15 else int(rng.integers(1, n))
    labels = np.zeros(n, dtype=np.float32)
    labels[rng.choice(n, num_pos, replace=False)] = 1.0
    kind = rng.choice(["tied", "logits", "probabilities", "large margins"], p=[.4, .25, .15, .2])
    if kind == "tied":  # few distinct values: many positive-negative ties
        scores = rng.integers(-3, 4, n) * 0.5 + labels * rng.integers(0, 2, n) * 0.5
    elif kind == "logits":
        scores = rng.normal(0.0, 2.0, n) + labels
    elif kind == "probabilities":
        scores = rng.uniform(0, 1, n).round(2)
    else:
        scores = rng.normal(0.0, 40.0, n) + 20 * labels
    scores = scores.astype(np.float32)
    pos, neg = scores[labels == 1], scores[labels == 0]
    ties = int((pos[:, None] == neg[None, :]).sum())
    text = f"{n} {kind} scores, {num_pos} positives, {ties} positive-negative ties"
    return Case(text, (scores, labels))


# ties count as losses
def _wrong_auc_strict(scores, labels):
    pos, neg = scores[labels == 1], scores[labels == 0]
    return float((pos[:, None] > neg[None, :]).mean())


# ties count as wins
def _wrong_auc_ties_win(scores, labels):
    pos, neg = scores[labels == 1], scores[labels == 0]
    return float((pos[:, None] >= neg[None, :]).mean())


# accuracy at a 0.5 threshold, not a ranking metric
def _wrong_auc_accuracy(scores, labels):
    return float(((scores > 0.5) == (labels == 1)).mean())


# compares the i-th positive with the i-th negative only
def _wrong_auc_sorted_pairs(scores, labels):
    pos, neg = scores[labels == 1], scores[labels == 0]
    n = min(len(pos), len(neg))
    return float((pos[:n] > neg[:n]).mean())


# operator precedence: only the ties are divided by the number of pairs
def _wrong_auc_precedence(scores, labels):
    diff = scores[labels == 1][:, None] - scores[labels == 0][None, :]
    return float((diff > 0).sum() + 0.5 * (diff == 0).sum() / diff.size)


# ranks from a double argsort (Mann-Whitney) without averaging the ranks of tied scores
def _wrong_auc_ranks_no_ties(scores, labels):
    ranks = np.argsort(np.argsort(scores, kind="stable"), kind="stable") + 1.0
    num_pos, num_neg = (labels == 1).sum(), (labels == 0).sum()
    return float((ranks[labels == 1].sum() - num_pos * (num_pos + 1) / 2) / (num_pos * num_neg))


# labels used as a boolean mask: works for bool labels, but the notebook's are float32 0/1
def _wrong_auc_float_mask(scores, labels):
    pos, neg = scores[labels], scores[~labels]
    diff = pos[:, None] - neg[None, :]
    return float((diff > 0).mean() + 0.5 * (diff == 0).mean())


# sorts the caller's scores and labels in place (right value, corrupted arguments)
def _wrong_auc_sorts_in_place(scores, labels):
    order = np.argsort(scores, kind="stable")
    scores[:], labels[:] = scores[order], labels[order]
    diff = scores[labels == 1][:, None] - scores[labels == 0][None, :]
    return float((diff > 0).mean() + 0.5 * (diff == 0).mean())


# hard-codes the answers of the hand-written examples, 0.5 otherwise
def _wrong_auc_memorised(scores, labels):
    known = {(0.9, 0.8, 0.1, 0.3): 1.0, (0.9, 0.2, 0.5, 0.1, 0.3): 2 / 3,
             (0.5, 0.5, 0.7, 0.2): 0.875, (-2.0, -3.5, 1.0, -0.5, -4.0, 0.0): 1.0,
             (0.0, 0.0, 0.0, 0.0, 0.0): 0.5, (0.1, 0.2, 0.8, 0.9): 0.0,
             (2.5, -1.0, 0.5, 0.5, 3.0, -2.0): 17 / 18}
    return known.get(tuple(np.round(np.asarray(scores, dtype=float), 4).tolist()), 0.5)


# Mann-Whitney U from average ranks (tied scores share the mean of their ranks)
def _right_auc_average_ranks(scores, labels):
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels)
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    average_rank = np.cumsum(counts) - (counts - 1) / 2.0
    ranks = average_rank[inverse]
    num_pos, num_neg = np.sum(labels == 1), np.sum(labels == 0)
    return float((ranks[labels == 1].sum() - num_pos * (num_pos + 1) / 2) / (num_pos * num_neg))


# labels turned into a boolean mask first; sign() gives 1, 0, -1 per pair
def _right_auc_sign(scores, labels):
    is_pos = np.asarray(labels).astype(bool)
    diff = scores[is_pos][:, None] - scores[~is_pos][None, :]
    return float((np.sign(diff) + 1).mean() / 2)


register(Exercise(
    name="pairwise_auc",
    reference=pairwise_auc,
    cases=_auc_cases,
    random_case=_auc_random,
    framework="numpy",
    hint="compare every positive's score with every negative's (broadcasting: "
         "pos[:, None] - neg[None, :]); count wins as 1 and ties as 1/2, then average. The "
         "labels are float 0/1: select with labels == 1 and labels == 0.",
    mistakes=[_wrong_auc_strict, _wrong_auc_ties_win, _wrong_auc_accuracy,
              _wrong_auc_sorted_pairs, _wrong_auc_precedence, _wrong_auc_ranks_no_ties,
              _wrong_auc_float_mask, _wrong_auc_sorts_in_place, _wrong_auc_memorised],
    variants=[_right_auc_average_ranks, _right_auc_sign],
))
