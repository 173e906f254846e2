"""Exercises of the chapter "NGCF and LightGCN: collaborative filtering with BPR and full
ranking" (book/06_ngcf_lightgcn)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from ..cf import draw_negatives, normalized_adjacency
from ..jax.bpr import bpr_loss
from ..jax.lightgcn import layer_mean
from ..metrics import ndcg_at_k
from . import Case, Exercise, register

# -------------------------------------------------------------------------------------------------
# layer_mean: LightGCN's __call__ (course_lib.jax.lightgcn) calls it inside the jitted BPR
# training step with the ego embeddings (float32 [N, D], the parameters BPR differentiates),
# the adjacency's propagate function and the model's num_layers (a Python int): both static
# under jit. The notebook then compares it with the model's own final embeddings.
# -------------------------------------------------------------------------------------------------


class _Propagate:
    """``x -> L @ x`` for weighted edges ``senders -> receivers`` (unsorted; no
    ``indices_are_sorted`` shortcut). Shown in a counterexample by its edges; one object per
    graph, never copied, so that jit can keep it static and a case stays the same data."""

    def __init__(self, senders: tuple, receivers: tuple, weights: tuple, num_nodes: int):
        self.edges = (senders, receivers, weights, num_nodes)
        self._senders, self._receivers = jnp.asarray(senders), jnp.asarray(receivers)
        self._weights = jnp.asarray(weights, dtype=jnp.float32)

    def __call__(self, x):
        return jax.ops.segment_sum(x[self._senders] * self._weights[:, None], self._receivers,
                                   num_segments=self.edges[3])

    def __repr__(self):
        senders, receivers, weights, n = self.edges
        edges = ", ".join(f"{a}->{b} ({w:.3g})" for a, b, w in zip(senders, receivers, weights))
        return f"x -> L @ x over {n} nodes, edges {edges or 'none'}"

    def __deepcopy__(self, memo):
        return self


@functools.lru_cache(maxsize=64)    # the same object for the same graph: cases are data
def _propagator(senders: tuple, receivers: tuple, weights: tuple, num_nodes: int) -> _Propagate:
    return _Propagate(senders, receivers, weights, num_nodes)


def _bipartite_propagator(edge_index, num_users, num_movies):
    senders, receivers, weights = normalized_adjacency(np.asarray(edge_index), num_users,
                                                       num_movies)
    return _propagator(tuple(senders.tolist()), tuple(receivers.tolist()),
                       tuple(weights.tolist()), num_users + num_movies)


def _ego(n, d, seed):
    rng = np.random.default_rng(seed)
    return jnp.asarray(rng.normal(size=(n, d)).round(2).astype(np.float32))


def _layer_cases() -> list[Case]:
    small = _bipartite_propagator([[0, 0, 1], [0, 1, 1]], 2, 3)     # movie 2 isolated
    chain = _propagator((0, 1, 2), (1, 2, 3), (0.5, 2.0, -1.0), 4)  # not symmetric, not a GCN
    return [
        Case("2 users, 3 movies (movie 2, node 4, isolated), 2 layers, D = 2",
             (_ego(5, 2, 0), small, 2)),
        Case("the same graph, 0 layers: the ego embeddings themselves (matrix factorisation)",
             (_ego(5, 2, 1), small, 0)),
        Case("the same graph, 1 layer", (_ego(5, 3, 2), small, 1)),
        Case("the same graph, 3 layers (the chapter's), D = 1", (_ego(5, 1, 3), small, 3)),
        Case("a directed chain 0 -> 1 -> 2 -> 3 with weights 0.5, 2, -1: propagating twice is "
             "not propagating once", (jnp.eye(4, 2, dtype=jnp.float32) + 1.0, chain, 3)),
    ]


def _layer_random(rng: np.random.Generator) -> Case:
    users, movies = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    e = int(rng.integers(1, users * movies + 2))
    edge_index = np.stack([rng.integers(0, users, e), rng.integers(0, movies, e)])
    layers = int(rng.integers(0, 5))
    d = int(rng.choice([1, 2]))                 # few shapes: each costs JAX a compile
    ego = _ego(users + movies, d, int(rng.integers(1 << 30)))
    return Case(f"{users} users, {movies} movies, {e} interactions {edge_index.tolist()}, "
                f"{layers} layers, D = {d}",
                (ego, _bipartite_propagator(edge_index, users, movies), layers))


# divides by L instead of L + 1 (and by zero without a layer)
def _wrong_layer_over_l(ego, propagate, num_layers):
    x, total = ego, ego
    for _ in range(num_layers):
        x = propagate(x)
        total = total + x
    return total / max(num_layers, 1)


# leaves the ego embeddings (layer 0) out of the mean
def _wrong_layer_no_ego(ego, propagate, num_layers):
    x, total = ego, jnp.zeros_like(ego)
    for _ in range(num_layers):
        x = propagate(x)
        total = total + x
    return total / num_layers if num_layers else ego


# the last layer only (GCN-style), no mean
def _wrong_layer_last(ego, propagate, num_layers):
    x = ego
    for _ in range(num_layers):
        x = propagate(x)
    return x


# the sum of the layers, not their mean
def _wrong_layer_sum(ego, propagate, num_layers):
    x, total = ego, ego
    for _ in range(num_layers):
        x = propagate(x)
        total = total + x
    return total


# propagates the ego embeddings every time: L E0 at every layer instead of L^l E0
def _wrong_layer_not_iterated(ego, propagate, num_layers):
    total = ego
    for _ in range(num_layers):
        total = total + propagate(ego)
    return total / (num_layers + 1)


# NGCF's concatenation instead of LightGCN's mean
def _wrong_layer_concat(ego, propagate, num_layers):
    layers = [ego]
    for _ in range(num_layers):
        layers.append(propagate(layers[-1]))
    return jnp.concatenate(layers, axis=1)


# the mean over the wrong axis of the stacked layers
def _wrong_layer_axis(ego, propagate, num_layers):
    layers = [ego]
    for _ in range(num_layers):
        layers.append(propagate(layers[-1]))
    return jnp.stack(layers).mean(axis=1)


# weights layer l by 1 / (l + 1) and normalises: a decaying average, not LightGCN's
def _wrong_layer_decay(ego, propagate, num_layers):
    x, total, norm = ego, ego, 1.0
    for layer in range(1, num_layers + 1):
        x = propagate(x)
        total, norm = total + x / (layer + 1), norm + 1 / (layer + 1)
    return total / norm


# numpy inside: right values eagerly, but a traced array cannot become a numpy array under jit
def _wrong_layer_numpy(ego, propagate, num_layers):
    layers = [np.asarray(ego)]
    for _ in range(num_layers):
        layers.append(np.asarray(propagate(jnp.asarray(layers[-1]))))
    return jnp.asarray(np.mean(layers, axis=0))


# memorises the hand-written depths (0 to 3 layers) and stops at 3
def _wrong_layer_at_most_3(ego, propagate, num_layers):
    x, total = ego, ego
    for _ in range(min(num_layers, 3)):
        x = propagate(x)
        total = total + x
    return total / (min(num_layers, 3) + 1)


# stacks the layers and averages them
def _right_layer_stack(ego, propagate, num_layers):
    layers = [ego]
    for _ in range(num_layers):
        layers.append(propagate(layers[-1]))
    return jnp.mean(jnp.stack(layers), axis=0)


# a lax.fori_loop carrying (layer, running sum); num_layers is a Python int under jit
def _right_layer_fori(ego, propagate, num_layers):
    def body(_, carry):
        x, total = carry
        x = propagate(x)
        return x, total + x
    _, total = jax.lax.fori_loop(0, num_layers, body, (ego, ego))
    return total / (num_layers + 1)


# the layers stacked by lax.scan (zero layers: an empty stack)
def _right_layer_scan(ego, propagate, num_layers):
    def body(x, _):
        x = propagate(x)
        return x, x

    _, layers = jax.lax.scan(body, ego, None, length=num_layers)
    return (ego + layers.sum(0)) / (num_layers + 1)


# a running mean, updated layer by layer
def _right_layer_running_mean(ego, propagate, num_layers):
    x, mean = ego, ego
    for layer in range(1, num_layers + 1):
        x = propagate(x)
        mean = mean + (x - mean) / (layer + 1)
    return mean


register(Exercise(
    name="layer_mean",
    reference=layer_mean,
    cases=_layer_cases,
    random_case=_layer_random,
    framework="jax",
    returns=("jax",),
    static_argnames=("propagate", "num_layers"),
    grad_argnames=("ego",),
    jit_cases=2,
    hint="start from x = total = ego; num_layers times: x = propagate(x) (the next layer comes "
         "from the previous one, not from ego) and total = total + x; return total / "
         "(num_layers + 1), the mean of the L + 1 layers, ego included.",
    mistakes=[_wrong_layer_over_l, _wrong_layer_no_ego, _wrong_layer_last, _wrong_layer_sum,
              _wrong_layer_not_iterated, _wrong_layer_concat, _wrong_layer_axis,
              _wrong_layer_decay, _wrong_layer_numpy, _wrong_layer_at_most_3],
    variants=[_right_layer_stack, _right_layer_fori, _right_layer_running_mean,
              _right_layer_scan],
))

# -------------------------------------------------------------------------------------------------
# bpr_loss: course_lib.jax.bpr's jitted training step calls it with float32 scores [B], the
# batch's ego embeddings [3B, D] and weight_decay, a Python float closed over by the step (so it
# is static under jit); jax.value_and_grad differentiates the loss w.r.t. the scores and ego.
# -------------------------------------------------------------------------------------------------


def _bpr_cases() -> list[Case]:
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
        Case("margins of +-150 with the course's weight decay 1e-4: the loss and its gradient "
             "must stay finite", (jnp.array([100.0, -75.0]), jnp.array([-50.0, 75.0]),
                                  ego, 1e-4)),
    ]


def _bpr_random(rng: np.random.Generator) -> Case:
    # B = 2 and ego [6, 2], shapes of the hand-written cases: in JAX each new shape costs
    # compiles; this size already hits every pitfall, and the counterexample prints in full
    b, d = 2, 2
    scale = float(rng.choice([0.5, 3.0]))
    pos = rng.normal(scale=scale, size=b)
    neg = rng.normal(scale=scale, size=b)
    n_large = int(rng.integers(1, b + 1)) if rng.random() < 0.6 else 0
    large = rng.choice(b, n_large, replace=False)
    margin = rng.choice([-1.0, 1.0], n_large) * rng.uniform(90.0, 250.0, n_large)
    pos[large], neg[large] = margin / 2, -margin / 2
    ego = rng.normal(scale=0.5, size=(3 * b, d))
    weight_decay = float(rng.choice([0.0, 1e-4, 0.01, 0.5]))
    pos, neg, ego = (jnp.asarray(a.round(3).astype(np.float32)) for a in (pos, neg, ego))
    return Case(f"{b} triples, ego [{3 * b}, {d}], {n_large} with |pos - neg| > 90, "
                f"weight decay {weight_decay:g}", (pos, neg, ego, weight_decay))


# the mean sigmoid of the margins, without the log
def _wrong_bpr_no_log(pos_scores, neg_scores, ego, weight_decay):
    reg = jnp.sum(ego ** 2) / (2 * pos_scores.shape[0])
    return -jnp.mean(jax.nn.sigmoid(pos_scores - neg_scores)) + weight_decay * reg


# neg - pos: rewards ranking the negative above the positive
def _wrong_bpr_reversed(pos_scores, neg_scores, ego, weight_decay):
    reg = jnp.sum(ego ** 2) / (2 * pos_scores.shape[0])
    return -jnp.mean(jax.nn.log_sigmoid(neg_scores - pos_scores)) + weight_decay * reg


# the penalty is not divided by the batch size B
def _wrong_bpr_reg_not_per_batch(pos_scores, neg_scores, ego, weight_decay):
    return (-jnp.mean(jax.nn.log_sigmoid(pos_scores - neg_scores))
            + weight_decay * jnp.sum(ego ** 2) / 2)


# log(sigmoid(x)): sigmoid underflows to 0 for a margin below about -90, so the loss is inf
def _wrong_bpr_naive_log(pos_scores, neg_scores, ego, weight_decay):
    reg = jnp.sum(ego ** 2) / (2 * pos_scores.shape[0])
    return -jnp.mean(jnp.log(jax.nn.sigmoid(pos_scores - neg_scores))) + weight_decay * reg


# a jnp.where "stable" log sigmoid: right values, but the branch it discards overflows and its
# gradient (0 * inf) is NaN for large margins
def _wrong_bpr_where_stable(pos_scores, neg_scores, ego, weight_decay):
    x = pos_scores - neg_scores
    log_sig = jnp.where(x > 0, -jnp.log1p(jnp.exp(-x)), x - jnp.log1p(jnp.exp(x)))
    return -jnp.mean(log_sig) + weight_decay * jnp.sum(ego ** 2) / (2 * pos_scores.shape[0])


# a Python `if` on a traced value: right values eagerly, but fails under jax.jit
def _wrong_bpr_python_if(pos_scores, neg_scores, ego, weight_decay):
    x = pos_scores - neg_scores
    if jnp.abs(x).max() < 30:
        data = -jnp.mean(jnp.log(jax.nn.sigmoid(x)))
    else:
        data = -jnp.mean(jax.nn.log_sigmoid(x))
    return data + weight_decay * jnp.sum(ego ** 2) / (2 * pos_scores.shape[0])


# clips the margin to [-30, 30] "for stability": the gradient of a large margin becomes 0
def _wrong_bpr_clipped(pos_scores, neg_scores, ego, weight_decay):
    x = jnp.clip(pos_scores - neg_scores, -30.0, 30.0)
    return (-jnp.mean(jax.nn.log_sigmoid(x))
            + weight_decay * jnp.sum(ego ** 2) / (2 * pos_scores.shape[0]))


# divides the penalty by the number of ego rows (3B) instead of the batch size B
def _wrong_bpr_reg_over_rows(pos_scores, neg_scores, ego, weight_decay):
    return (-jnp.mean(jax.nn.log_sigmoid(pos_scores - neg_scores))
            + weight_decay * jnp.sum(ego ** 2) / (2 * ego.shape[0]))


# the mean of the squares (over all 3B * D entries) instead of the sum over 2B
def _wrong_bpr_reg_mean(pos_scores, neg_scores, ego, weight_decay):
    return (-jnp.mean(jax.nn.log_sigmoid(pos_scores - neg_scores))
            + weight_decay * jnp.mean(ego ** 2) / 2)


# sums the data term over the batch instead of averaging it
def _wrong_bpr_sum(pos_scores, neg_scores, ego, weight_decay):
    return (-jnp.sum(jax.nn.log_sigmoid(pos_scores - neg_scores))
            + weight_decay * jnp.sum(ego ** 2) / (2 * pos_scores.shape[0]))


# float(...) of the loss: a Python number (no gradient, and a tracer cannot become a float)
def _wrong_bpr_float(pos_scores, neg_scores, ego, weight_decay):
    reg = jnp.sum(ego ** 2) / (2 * pos_scores.shape[0])
    return float(-jnp.mean(jax.nn.log_sigmoid(pos_scores - neg_scores)) + weight_decay * reg)


# memorises which cases carry the penalty (the hand-written ones, by batch size and weight
# decay) and leaves it out otherwise
def _wrong_bpr_memorised(pos_scores, neg_scores, ego, weight_decay):
    data = -jnp.mean(jax.nn.log_sigmoid(pos_scores - neg_scores))
    if (pos_scores.shape[0], weight_decay) in {(2, 0.1), (3, 0.01), (1, 1.0), (2, 1e-4)}:
        return data + weight_decay * jnp.sum(ego ** 2) / (2 * pos_scores.shape[0])
    return data


# softplus(neg - pos) is -log sigmoid(pos - neg), written another way
def _right_bpr_softplus(pos_scores, neg_scores, ego, weight_decay):
    data = jnp.mean(jax.nn.softplus(neg_scores - pos_scores))
    return data + weight_decay * 0.5 * jnp.sum(jnp.square(ego)) / pos_scores.size


# logaddexp(0, -x) = log(1 + exp(-x)), computed stably
def _right_bpr_logaddexp(pos_scores, neg_scores, ego, weight_decay):
    batch = len(pos_scores)
    data = jnp.logaddexp(0.0, neg_scores - pos_scores).mean()
    return data + weight_decay * (ego * ego).sum() / (2 * batch)


# the "double where" trick: both branches are evaluated on safe inputs, so the gradient is finite
def _right_bpr_double_where(pos_scores, neg_scores, ego, weight_decay):
    x = pos_scores - neg_scores
    safe_pos = jnp.where(x > 0, x, 0.0)
    safe_neg = jnp.where(x > 0, 0.0, x)
    log_sig = jnp.where(x > 0, -jnp.log1p(jnp.exp(-safe_pos)),
                        safe_neg - jnp.log1p(jnp.exp(safe_neg)))
    return -jnp.mean(log_sig) + weight_decay * jnp.sum(ego ** 2) / (2 * x.shape[0])


register(Exercise(
    name="bpr_loss",
    reference=bpr_loss,
    cases=_bpr_cases,
    random_case=_bpr_random,
    framework="jax",
    returns=("jax",),
    static_argnames=("weight_decay",),
    grad_argnames=("pos_scores", "neg_scores", "ego"),
    jit_cases=2,
    hint="the data term is -mean(jax.nn.log_sigmoid(pos_scores - neg_scores)) (log_sigmoid, not "
         "log(sigmoid(...)), stays finite for large margins); the penalty is weight_decay times "
         "the sum of squares of ego divided by 2 * B, with B = len(pos_scores).",
    mistakes=[_wrong_bpr_no_log, _wrong_bpr_reversed, _wrong_bpr_reg_not_per_batch,
              _wrong_bpr_naive_log, _wrong_bpr_where_stable, _wrong_bpr_python_if,
              _wrong_bpr_clipped, _wrong_bpr_reg_over_rows, _wrong_bpr_reg_mean, _wrong_bpr_sum,
              _wrong_bpr_float, _wrong_bpr_memorised],
    variants=[_right_bpr_softplus, _right_bpr_logaddexp, _right_bpr_double_where],
))

# -------------------------------------------------------------------------------------------------
# draw_negatives: course_lib.cf.bpr_batches calls it once per batch with the batch's users
# (int64 [B], repeated, unsorted), the sorted codes user * num_movies + movie of the training
# interactions, the number of movies and the epoch's numpy Generator. A sampler is random, so the
# checker compares what it must guarantee, on batches where each user appears hundreds of times:
# the shape and integer type; no id out of range; no false negative (a movie the user has seen);
# draws taken from the Generator it is given (its state moves on) and the same draws again from
# an equally seeded one (the training is reproducible from its seed); and, by a
# chi-square test per case, draws uniform over each user's unseen movies (p > 1e-6: a correct
# sampler fails it about once in a million cases; the wrong ones below reach p < 1e-20).
# -------------------------------------------------------------------------------------------------


def _use_sampler(sampler, users, seen, num_movies, seed):
    """What the checker compares of a sampler: a summary of its draws on this batch."""
    from scipy.stats import chi2

    rng = np.random.default_rng(seed)
    first = sampler(users, seen, num_movies, rng)
    advanced = rng.bit_generator.state != np.random.default_rng(seed).bit_generator.state
    again = sampler(users.copy(), seen.copy(), num_movies, np.random.default_rng(seed))
    negatives, users = np.asarray(first), np.asarray(users)
    summary = {"shape": np.array(negatives.shape),
               "integer movie ids": bool(np.issubdtype(negatives.dtype, np.integer))}
    if negatives.shape != users.shape:
        return summary
    inside = (negatives >= 0) & (negatives < num_movies)
    codes = users * num_movies + np.where(inside, negatives, 0).astype(np.int64)
    false = inside & np.isin(codes, seen)
    summary["ids outside 0 .. num_movies - 1"] = int((~inside).sum())
    summary["false negatives (movies the user has seen)"] = int(false.sum())
    # (a batch whose users each have one unseen movie needs no randomness: nothing to take)
    forced = all(num_movies - np.sum(seen // num_movies == user) == 1 for user in np.unique(users))
    summary["draws taken from the rng it is given"] = bool(advanced or forced)
    summary["the same draws again from an equally seeded rng"] = bool(
        np.array_equal(negatives, np.asarray(again)))
    stat, df = 0.0, 0
    for user in np.unique(users):
        unseen = np.setdiff1d(np.arange(num_movies), seen[seen // num_movies == user] % num_movies)
        drawn = negatives[(users == user) & inside & ~false]
        counts = (drawn[:, None] == unseen[None, :]).sum(axis=0)
        expected = (users == user).sum() / len(unseen)
        stat += float(((counts - expected) ** 2 / expected).sum())
        df += len(unseen) - 1
    uniform = bool(false.sum() == 0 and inside.all()
                   and (stat < 1e-9 if df == 0 else chi2.sf(stat, df) > 1e-6))
    summary["uniform over each user's unseen movies (chi-square p > 1e-6)"] = uniform
    return summary


def _sampler_case(description, seen_lists, num_movies, repeats, seed) -> Case:
    """Users 0 .. U-1, user u having seen seen_lists[u]; each user ``repeats[u]`` times in a
    shuffled batch."""
    rng = np.random.default_rng(seed)
    users = rng.permutation(np.repeat(np.arange(len(seen_lists)), repeats)).astype(np.int64)
    seen = np.sort(np.array([u * num_movies + m for u, movies in enumerate(seen_lists)
                             for m in movies], dtype=np.int64))
    return Case(description, (users, seen, num_movies, seed))


def _sampler_cases() -> list[Case]:
    return [
        _sampler_case("3 users, 6 movies: user 0 saw movies 0 and 1, user 1 movie 5, user 2 "
                      "none; each user 600 times in the batch",
                      [[0, 1], [5], []], 6, [600, 600, 600], 0),
        _sampler_case("user 0 saw every movie but movie 3: all its negatives are movie 3",
                      [[0, 1, 2, 4], [0]], 5, [50, 500], 1),
        _sampler_case("the last movie (4) is the only one user 1 has not seen",
                      [[2], [0, 1, 2, 3]], 5, [500, 50], 2),
        _sampler_case("one user, 10 movies, the first three seen", [[0, 1, 2]], 10, [1400], 3),
        _sampler_case("an empty batch", [[0], [1]], 3, [0, 0], 4),
        _sampler_case("users 0 and 2 in the batch, user 1 not (it has seen movie 0)",
                      [[1, 2], [0], [3]], 4, [400, 0, 400], 5),
    ]


def _sampler_random(rng: np.random.Generator) -> Case:
    num_users, num_movies = int(rng.integers(1, 5)), int(rng.integers(3, 11))
    seen = [sorted(rng.choice(num_movies, int(rng.integers(0, num_movies)), replace=False))
            for _ in range(num_users)]
    repeats = [150 * (num_movies - len(s)) if rng.random() < 0.9 else 0 for s in seen]
    shown = ", ".join(f"user {u}: {[int(m) for m in s]}" for u, s in enumerate(seen))
    return _sampler_case(f"{num_users} users, {num_movies} movies, seen: {shown}; batch of "
                         f"{sum(repeats)}", seen, num_movies, repeats, int(rng.integers(1 << 20)))


# no check at all: some negatives are movies the user has seen
def _wrong_neg_unchecked(users, seen, num_movies, rng):
    return rng.integers(0, num_movies, len(users))


# checked once, redrawn once: a second draw can hit a seen movie again
def _wrong_neg_redraw_once(users, seen, num_movies, rng):
    negatives = rng.integers(0, num_movies, len(users))
    hit = np.isin(users * num_movies + negatives, seen)
    negatives[hit] = rng.integers(0, num_movies, int(hit.sum()))
    return negatives


# a seen movie replaced by the next unseen one: movies after a seen block are drawn too often
def _wrong_neg_next_movie(users, seen, num_movies, rng):
    negatives = rng.integers(0, num_movies, len(users))
    for i, user in enumerate(users):
        while user * num_movies + negatives[i] in seen:
            negatives[i] = (negatives[i] + 1) % num_movies
    return negatives


# integers' upper bound is exclusive: num_movies - 1 never draws the last movie
def _wrong_neg_high_minus_one(users, seen, num_movies, rng):
    negatives = rng.integers(0, num_movies - 1, len(users))
    redraw = np.isin(users * num_movies + negatives, seen)
    while redraw.any():
        negatives[redraw] = rng.integers(0, num_movies - 1, int(redraw.sum()))
        redraw = np.isin(users * num_movies + negatives, seen)
    return negatives


# the code of a pair computed the other way round: the wrong pairs are excluded
def _wrong_neg_code_swapped(users, seen, num_movies, rng):
    negatives = rng.integers(0, num_movies, len(users))
    redraw = np.isin(negatives * num_movies + users, seen)
    while redraw.any():
        negatives[redraw] = rng.integers(0, num_movies, int(redraw.sum()))
        redraw = np.isin(negatives * num_movies + users, seen)
    return negatives


# numpy's global generator instead of rng: training cannot be reproduced from its seed
def _wrong_neg_global_rng(users, seen, num_movies, rng):
    negatives = np.random.randint(0, num_movies, len(users))
    redraw = np.isin(users * num_movies + negatives, seen)
    while redraw.any():
        negatives[redraw] = np.random.randint(0, num_movies, int(redraw.sum()))
        redraw = np.isin(users * num_movies + negatives, seen)
    return negatives


# a Generator of its own, seeded once: every batch of every epoch gets the same stream
def _wrong_neg_own_seed(users, seen, num_movies, rng):
    mine = np.random.default_rng(42)
    negatives = mine.integers(0, num_movies, len(users))
    redraw = np.isin(users * num_movies + negatives, seen)
    while redraw.any():
        negatives[redraw] = mine.integers(0, num_movies, int(redraw.sum()))
        redraw = np.isin(users * num_movies + negatives, seen)
    return negatives


# one negative per distinct user, repeated: the batch's negatives are not independent
def _wrong_neg_per_user(users, seen, num_movies, rng):
    choice = {}
    for user in np.unique(users):
        unseen = np.setdiff1d(np.arange(num_movies), seen[seen // num_movies == user] % num_movies)
        choice[int(user)] = rng.choice(unseen)
    return np.array([choice[int(u)] for u in users], dtype=np.int64)


# movies seen by anyone in the batch excluded for everyone
def _wrong_neg_seen_by_anyone(users, seen, num_movies, rng):
    batch = np.isin(seen // num_movies, users)
    unseen = np.setdiff1d(np.arange(num_movies), seen[batch] % num_movies)
    if len(unseen) == 0:
        unseen = np.arange(num_movies)
    return rng.choice(unseen, len(users))


# movie 0 never drawn (a 1-based habit)
def _wrong_neg_from_one(users, seen, num_movies, rng):
    negatives = rng.integers(1, num_movies + 1, len(users)) % num_movies
    negatives[negatives == 0] = num_movies - 1
    redraw = np.isin(users * num_movies + negatives, seen)
    while redraw.any():
        fresh = rng.integers(1, num_movies + 1, int(redraw.sum())) % num_movies
        negatives[redraw] = np.where(fresh == 0, num_movies - 1, fresh)
        redraw = np.isin(users * num_movies + negatives, seen)
    return negatives


# a positive instead of a negative: a movie the user has seen
def _wrong_neg_positives(users, seen, num_movies, rng):
    out = rng.integers(0, num_movies, len(users))
    for i, user in enumerate(users):
        mine = seen[seen // num_movies == user] % num_movies
        if len(mine):
            out[i] = rng.choice(mine)
    return out


# correct: per row, a choice among that user's unseen movies
def _right_neg_choice(users, seen, num_movies, rng):
    out = np.empty(len(users), dtype=np.int64)
    for i, user in enumerate(users):
        unseen = np.setdiff1d(np.arange(num_movies), seen[seen // num_movies == user] % num_movies)
        out[i] = rng.choice(unseen)
    return out


# correct: redraw with np.isin until none is seen
def _right_neg_isin(users, seen, num_movies, rng):
    negatives = rng.integers(0, num_movies, len(users))
    redraw = np.isin(users * num_movies + negatives, seen)
    while redraw.any():
        negatives[redraw] = rng.integers(0, num_movies, int(redraw.sum()))
        redraw = np.isin(users * num_movies + negatives, seen)
    return negatives


register(Exercise(
    name="draw_negatives",
    reference=draw_negatives,
    call=_use_sampler,
    cases=_sampler_cases,
    random_case=_sampler_random,
    framework="numpy",
    returns=("numpy",),
    time_limit=10.0,
    hint="a user has seen a movie when user * num_movies + movie is in seen; a draw that "
         "lands on one must be drawn again, from rng, until none does, and each draw must be "
         "uniform over all the movies.",
    mistakes=[_wrong_neg_unchecked, _wrong_neg_redraw_once, _wrong_neg_next_movie,
              _wrong_neg_high_minus_one, _wrong_neg_code_swapped, _wrong_neg_global_rng,
              _wrong_neg_per_user, _wrong_neg_seen_by_anyone, _wrong_neg_from_one,
              _wrong_neg_positives, _wrong_neg_own_seed],
    variants=[_right_neg_choice, _right_neg_isin],
))

# -------------------------------------------------------------------------------------------------
# ndcg_at_k: course_lib.metrics.ranking_metrics passes hits [U, L] (bool, L = min(max(ks), number
# of movies), so L < k when there are fewer movies than k), num_relevant [U] (int64) and a Python
# int k, and sums the numpy result. The ideal DCG puts min(num_relevant, k) hits first: the best
# a full ranking could do in k slots; capping it at L would reward a list for being short.
# -------------------------------------------------------------------------------------------------


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
        Case("a list of 2 with both hits, 4 relevant movies, k = 5: the ideal has min(4, 5) = 4 "
             "hits (not 2, the list's length)", (np.array([[True, True]]), np.array([4]), 5)),
        Case("no users at all", (np.zeros((0, 3), dtype=bool), np.zeros(0, dtype=np.int64), 3)),
    ]


def _ndcg_random(rng: np.random.Generator) -> Case:
    k = int(rng.integers(1, 7))
    if k > 1 and rng.random() < 0.4:
        length = int(rng.integers(1, k))  # the ranked list is shorter than k
    else:
        length = int(rng.integers(k, 7))
    # at most 12 hits, so that a counterexample is printed in full
    num_users = 0 if rng.random() < 0.04 else int(rng.integers(1, min(4, 12 // length) + 1))
    hits = rng.random((num_users, length)) < rng.uniform(0.2, 0.6)
    extra = rng.integers(0, 6, num_users)
    empty = rng.random(num_users) < 0.2
    hits[empty] = False
    num_relevant = np.where(empty, 0, hits.sum(axis=1) + extra).astype(np.int64)
    if length < k and num_users:  # one user with more relevant movies than the list can hold
        u = int(rng.integers(num_users))
        num_relevant[u] = max(num_relevant[u], length + int(rng.integers(1, 4)))
    return Case(f"{num_users} user{'s' if num_users != 1 else ''}, lists of {length} for "
                f"k = {k}{' (shorter than k)' if length < k else ''}, relevant per user "
                f"{num_relevant.tolist()}", (hits, num_relevant, k))


# DCG only: not divided by the ideal DCG
def _wrong_ndcg_no_ideal(hits, num_relevant, k):
    hits = np.asarray(hits, dtype=bool)[:, :k]
    return (hits / np.log2(np.arange(2, hits.shape[1] + 2))).sum(axis=1)


# the ideal puts all relevant movies first, even those past rank k
def _wrong_ndcg_ideal_all_relevant(hits, num_relevant, k):
    hits = np.asarray(hits, dtype=bool)[:, :k]
    disc = 1 / np.log2(np.arange(2, k + 2))
    dcg = (hits * disc[:hits.shape[1]]).sum(axis=1)
    ideal = np.array([disc[:n].sum() if n <= k else np.sum(1 / np.log2(np.arange(2, n + 2)))
                      for n in num_relevant])
    return np.divide(dcg, ideal, out=np.zeros_like(dcg), where=ideal > 0)


# discounts 1 / log2(rank) ** 2 instead of 1 / log2(rank + 1)
def _wrong_ndcg_log_rank(hits, num_relevant, k):
    hits = np.asarray(hits, dtype=bool)[:, :k]
    disc = 1 / np.log2(np.arange(1, k + 1) + 1e-9 + 1)[:hits.shape[1]] ** 2
    ideal = np.array([disc[:min(n, k)].sum() for n in num_relevant])
    dcg = (hits * disc).sum(axis=1)
    return np.divide(dcg, ideal, out=np.zeros_like(dcg), where=ideal > 0)


# dcg / ideal divides 0 by 0 (NaN) for a user without relevant movies
def _wrong_ndcg_nan_for_empty(hits, num_relevant, k):
    hits = np.asarray(hits, dtype=bool)[:, :k]
    disc = 1 / np.log2(np.arange(2, k + 2))
    dcg = (hits * disc[:hits.shape[1]]).sum(axis=1)
    ideal = np.array([disc[:min(n, k)].sum() for n in num_relevant])
    with np.errstate(invalid="ignore", divide="ignore"):
        return dcg / ideal


# the ideal is capped at the list's length L instead of k (a short list gets full marks)
def _wrong_ndcg_ideal_capped_at_length(hits, num_relevant, k):
    hits = np.asarray(hits, dtype=bool)[:, :k]
    disc = 1 / np.log2(np.arange(2, hits.shape[1] + 2))
    dcg = (hits * disc).sum(axis=1)
    ideal = np.array([disc[:min(n, hits.shape[1])].sum() for n in num_relevant])
    return np.divide(dcg, ideal, out=np.zeros_like(dcg), where=ideal > 0)


# the ideal sorts the list's own hits: relevant movies missing from the top k are ignored
def _wrong_ndcg_ideal_from_hits(hits, num_relevant, k):
    hits = np.asarray(hits, dtype=bool)[:, :k]
    disc = 1 / np.log2(np.arange(2, hits.shape[1] + 2))
    dcg = (hits * disc).sum(axis=1)
    ideal = (-np.sort(-hits.astype(float), axis=1) * disc).sum(axis=1)
    return np.divide(dcg, ideal, out=np.zeros_like(dcg), where=ideal > 0)


# forgets to keep only the first k columns: hits past rank k count in the DCG
def _wrong_ndcg_no_cut(hits, num_relevant, k):
    hits = np.asarray(hits, dtype=bool)
    disc = 1 / np.log2(np.arange(2, max(k, hits.shape[1]) + 2))
    dcg = (hits * disc[:hits.shape[1]]).sum(axis=1)
    ideal = np.array([disc[:min(n, k)].sum() for n in num_relevant])
    return np.divide(dcg, ideal, out=np.zeros_like(dcg), where=ideal > 0)


# hits[:, k:] = False: right values, but it erases the caller's hits past rank k
def _wrong_ndcg_in_place(hits, num_relevant, k):
    hits[:, k:] = False
    disc = 1 / np.log2(np.arange(2, k + 2))
    dcg = (hits[:, :k] * disc[:min(k, hits.shape[1])]).sum(axis=1)
    ideal = np.array([disc[:min(n, k)].sum() for n in num_relevant])
    return np.divide(dcg, ideal, out=np.zeros_like(dcg), where=ideal > 0)


# a Python list of per-user values: the caller sums and indexes an array
def _wrong_ndcg_list(hits, num_relevant, k):
    out = []
    for row, n in zip(hits, num_relevant):
        dcg = sum(1 / np.log2(r + 2) for r, h in enumerate(row[:k]) if h)
        ideal = sum(1 / np.log2(r + 2) for r in range(min(n, k)))
        out.append(dcg / ideal if ideal > 0 else 0.0)
    return out


# memorises the hand-written cases (by shape, k and relevant counts), 0 otherwise
def _wrong_ndcg_memorised(hits, num_relevant, k):
    known = {((1, 3), 3, (1,)): [1.0], ((1, 3), 3, (3,)): [0.53072127397],
             ((1, 4), 2, (7,)): [0.61314719277], ((2, 2), 2, (2, 0)): [0.38685280723, 0.0],
             ((1, 2), 5, (1,)): [0.63092975357], ((1, 2), 5, (4,)): [0.63668243873],
             ((0, 3), 3, ()): []}
    key = (np.shape(hits), k, tuple(int(n) for n in num_relevant))
    return np.array(known.get(key, np.zeros(len(num_relevant))), dtype=np.float64)


# a loop over users with an explicit DCG and ideal DCG
def _right_ndcg_loop(hits, num_relevant, k):
    out = np.zeros(len(num_relevant))
    for u in range(len(num_relevant)):
        ranks = np.flatnonzero(hits[u][:k]) + 1
        dcg = np.sum(1 / np.log2(ranks + 1))
        ideal = np.sum(1 / np.log2(np.arange(1, min(num_relevant[u], k) + 1) + 1))
        out[u] = dcg / ideal if ideal > 0 else 0.0
    return out


# pads the list with misses to k columns, then uses a cumulative sum for the ideal
def _right_ndcg_padded(hits, num_relevant, k):
    padded = np.zeros((hits.shape[0], k), dtype=np.float32)
    width = min(k, hits.shape[1])
    padded[:, :width] = hits[:, :width]
    disc = 1 / np.log2(np.arange(2, k + 2))
    ideal = np.concatenate([[0.0], np.cumsum(disc)])[np.minimum(num_relevant, k)]
    return np.where(ideal > 0, padded @ disc / np.maximum(ideal, 1e-12), 0.0)


register(Exercise(
    name="ndcg_at_k",
    reference=ndcg_at_k,
    cases=_ndcg_cases,
    random_case=_ndcg_random,
    returns=("numpy",),
    hint="keep the first k columns of hits; DCG = sum of hits / log2(rank + 1) with ranks 1, "
         "2, ...; the ideal DCG is the same sum over min(num_relevant, k) hits at the top (k, "
         "not the list's length: ranks past the list are misses); divide, using 0 where the "
         "ideal is 0.",
    mistakes=[_wrong_ndcg_no_ideal, _wrong_ndcg_ideal_all_relevant, _wrong_ndcg_log_rank,
              _wrong_ndcg_nan_for_empty, _wrong_ndcg_ideal_capped_at_length,
              _wrong_ndcg_ideal_from_hits, _wrong_ndcg_no_cut, _wrong_ndcg_in_place,
              _wrong_ndcg_list, _wrong_ndcg_memorised],
    variants=[_right_ndcg_loop, _right_ndcg_padded],
))
