"""Exercises of the chapter "NGCF and LightGCN: collaborative filtering with BPR and full
ranking" (book/06_ngcf_lightgcn)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..cf import normalized_adjacency
from ..jax.bpr import bpr_loss
from ..metrics import ndcg_at_k
from . import Case, Exercise, register

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
# normalized_adjacency: the notebook passes graph.edge_index[:, train_edges] (an int64 numpy
# array) and Python ints, then np.bincount(receivers) on the result; course_lib turns the three
# numpy arrays into a torch sparse matrix and a JAX edge list.
# -------------------------------------------------------------------------------------------------


def _norm_cases() -> list[Case]:
    return [
        Case("2 users, 3 movies: user 0 rated movies 0 and 1, user 1 rated movie 1",
             (np.array([[0, 0, 1], [0, 1, 1]]), 2, 3)),
        Case("an isolated movie (2) and an isolated user (2)",
             (np.array([[0, 1, 1], [0, 0, 1]]), 3, 3)),
        Case("a star: one user rated all four movies", (np.array([[0, 0, 0, 0], [0, 1, 2, 3]]),
                                                         1, 4)),
        Case("more users than movies", (np.array([[0, 1, 2, 3, 3], [0, 0, 0, 0, 1]]), 4, 2)),
        Case("the interaction (1, 0) is listed twice: both copies are edges and count in the "
             "degrees; edges unsorted", (np.array([[1, 0, 1, 2], [0, 2, 0, 1]]), 3, 3)),
        Case("users 0 and 3 and movie 0 have no interaction (isolated, not at the end)",
             (np.array([[2, 1, 2], [1, 2, 2]]), 4, 3)),
        Case("no interactions", (np.zeros((2, 0), dtype=np.int64), 2, 2)),
    ]


def _norm_random(rng: np.random.Generator) -> Case:
    num_users, num_movies = int(rng.integers(1, 7)), int(rng.integers(1, 7))
    users = rng.choice(num_users, int(rng.integers(1, num_users + 1)), replace=False)
    movies = rng.choice(num_movies, int(rng.integers(1, num_movies + 1)), replace=False)
    n = 0 if rng.random() < 0.05 else int(rng.integers(1, 5))
    ei = np.stack([rng.choice(users, n), rng.choice(movies, n)]).astype(np.int64)
    again = rng.integers(0, n, int(rng.integers(1, 3)) if n and rng.random() < 0.6 else 0)
    ei = np.concatenate([ei, ei[:, again]], axis=1)  # <= 6 edges: 2E <= 12, printed in full
    ei = ei[:, rng.permutation(ei.shape[1])]
    repeated = ei.shape[1] - len(set(zip(ei[0].tolist(), ei[1].tolist())))
    iso_u = num_users - len(np.unique(ei[0]))
    iso_m = num_movies - len(np.unique(ei[1]))
    return Case(f"{ei.shape[1]} interactions ({repeated} repeated, unsorted), {num_users} users "
                f"({iso_u} isolated), {num_movies} movies ({iso_m} isolated)",
                (ei, num_users, num_movies))


# row-normalised 1 / deg(receiver) instead of the symmetric 1 / sqrt(deg(s) * deg(r))
def _wrong_norm_row_normalised(edge_index, num_users, num_movies):
    ei = np.asarray(edge_index)
    s = np.concatenate([ei[0], ei[1] + num_users])
    r = np.concatenate([ei[1] + num_users, ei[0]])
    deg = np.bincount(r, minlength=num_users + num_movies)
    return s, r, (1.0 / deg[r]).astype(np.float32)


# forgets to offset movies by num_users: movie j and user j become the same node
def _wrong_norm_no_offset(edge_index, num_users, num_movies):
    ei = np.asarray(edge_index)
    s = np.concatenate([ei[0], ei[1]])
    r = np.concatenate([ei[1], ei[0]])
    deg = np.bincount(r, minlength=num_users + num_movies)
    return s, r, (1.0 / np.sqrt(deg[s] * deg[r])).astype(np.float32)


# adds self loops to the degrees (GCN's A + I; LightGCN has none)
def _wrong_norm_self_loops(edge_index, num_users, num_movies):
    ei = np.asarray(edge_index)
    s = np.concatenate([ei[0], ei[1] + num_users])
    r = np.concatenate([ei[1] + num_users, ei[0]])
    deg = np.bincount(r, minlength=num_users + num_movies) + 1
    return s, r, (1.0 / np.sqrt(deg[s] * deg[r])).astype(np.float32)


# degrees from a dense 0/1 adjacency: an interaction listed twice is counted once
def _wrong_norm_dense_once(edge_index, num_users, num_movies):
    ei = np.asarray(edge_index)
    n = num_users + num_movies
    s = np.concatenate([ei[0], ei[1] + num_users])
    r = np.concatenate([ei[1] + num_users, ei[0]])
    adj = np.zeros((n, n), dtype=np.float32)
    adj[r, s] = 1.0
    deg = adj.sum(axis=1)
    return s, r, (1.0 / np.sqrt(deg[s] * deg[r])).astype(np.float32)


# np.unique(return_counts=True) skips nodes without edges: the degrees shift to other nodes
def _wrong_norm_unique_counts(edge_index, num_users, num_movies):
    ei = np.asarray(edge_index)
    s = np.concatenate([ei[0], ei[1] + num_users])
    r = np.concatenate([ei[1] + num_users, ei[0]])
    _, deg = np.unique(r, return_counts=True)
    deg = np.concatenate([deg, np.ones(num_users + num_movies - len(deg), dtype=deg.dtype)])
    return s, r, (1.0 / np.sqrt(deg[s] * deg[r])).astype(np.float32)


# np.bincount without minlength: the user degrees are short when the last users are isolated
def _wrong_norm_no_minlength(edge_index, num_users, num_movies):
    ei = np.asarray(edge_index)
    deg = np.concatenate([np.bincount(ei[0]), np.bincount(ei[1], minlength=num_movies)])
    s = np.concatenate([ei[0], ei[1] + num_users])
    r = np.concatenate([ei[1] + num_users, ei[0]])
    return s, r, (1.0 / np.sqrt(deg[s] * deg[r])).astype(np.float32)


# 1 / (deg(s) * deg(r)): the square root is missing
def _wrong_norm_missing_sqrt(edge_index, num_users, num_movies):
    ei = np.asarray(edge_index)
    s = np.concatenate([ei[0], ei[1] + num_users])
    r = np.concatenate([ei[1] + num_users, ei[0]])
    deg = np.bincount(r, minlength=num_users + num_movies)
    return s, r, (1.0 / (deg[s] * deg[r])).astype(np.float32)


# edge_index[1] += num_users: right values, but it shifts the caller's movie ids in place
def _wrong_norm_in_place(edge_index, num_users, num_movies):
    edge_index[1] += num_users
    s = np.concatenate([edge_index[0], edge_index[1]])
    r = np.concatenate([edge_index[1], edge_index[0]])
    deg = np.bincount(r, minlength=num_users + num_movies)
    return s, r, (1.0 / np.sqrt(deg[s] * deg[r])).astype(np.float32)


# builds Python lists edge by edge: the next cell needs numpy arrays (np.bincount, .shape)
def _wrong_norm_lists(edge_index, num_users, num_movies):
    pairs = [(int(u), int(m) + num_users) for u, m in zip(edge_index[0], edge_index[1])]
    senders = [u for u, _ in pairs] + [m for _, m in pairs]
    receivers = [m for _, m in pairs] + [u for u, _ in pairs]
    deg = [receivers.count(i) for i in range(num_users + num_movies)]
    weights = [1.0 / (deg[s] * deg[r]) ** 0.5 for s, r in zip(senders, receivers)]
    return senders, receivers, weights


# memorises the hand-written cases' weights (by their sizes) and returns weights of 1 otherwise
def _wrong_norm_memorised(edge_index, num_users, num_movies):
    ei = np.asarray(edge_index, dtype=np.int64)
    s = np.concatenate([ei[0], ei[1] + num_users])
    r = np.concatenate([ei[1] + num_users, ei[0]])
    h = 0.70710677
    known = {(3, 2, 3): [h, 0.5, h] * 2, (3, 3, 3): [h, 0.5, h] * 2, (4, 1, 4): [0.5] * 8,
             (5, 4, 2): [0.5, 0.5, 0.5, 0.35355338, h] * 2, (4, 3, 3): [0.5, 1.0] * 4,
             (3, 4, 3): [h, h, 0.5] * 2}
    weights = known.get((ei.shape[1], num_users, num_movies), [1.0] * len(s))
    return s, r, np.array(weights, dtype=np.float32)


# np.add.at counts the degrees, float32 all the way
def _right_norm_add_at(edge_index, num_users, num_movies):
    ei = np.asarray(edge_index, dtype=np.int64)
    senders = np.concatenate([ei[0], ei[1] + num_users])
    receivers = np.concatenate([ei[1] + num_users, ei[0]])
    deg = np.zeros(num_users + num_movies, dtype=np.float32)
    np.add.at(deg, receivers, 1.0)
    inv_sqrt = np.zeros_like(deg)
    inv_sqrt[deg > 0] = deg[deg > 0] ** -0.5
    return senders, receivers, inv_sqrt[senders] * inv_sqrt[receivers]


# user and movie degrees counted separately (bincount with minlength), weights per edge
def _right_norm_separate(edge_index, num_users, num_movies):
    users, movies = np.asarray(edge_index)
    du = np.bincount(users, minlength=num_users)
    dm = np.bincount(movies, minlength=num_movies)
    w = (1.0 / np.sqrt(du[users] * dm[movies])).astype(np.float32)
    return (np.concatenate([users, movies + num_users]),
            np.concatenate([movies + num_users, users]), np.concatenate([w, w]))


# the edges sorted by (receiver, sender): the order the next cells ignore
def _right_norm_sorted(edge_index, num_users, num_movies):
    ei = np.asarray(edge_index)
    s = np.concatenate([ei[0], ei[1] + num_users])
    r = np.concatenate([ei[1] + num_users, ei[0]])
    deg = np.bincount(r, minlength=num_users + num_movies).astype(np.float64)
    order = np.lexsort((s, r))
    s, r = s[order], r[order]
    return s, r, (1.0 / np.sqrt(deg[s] * deg[r])).astype(np.float32)


def _edges_in_order(out):
    """(senders, receivers, weights) sorted by receiver, then sender: the next cells build a
    sparse matrix from the triples, so their order does not matter."""
    senders, receivers, weights = out
    order = np.lexsort((np.asarray(senders), np.asarray(receivers)))
    return senders[order], receivers[order], weights[order]


register(Exercise(
    name="normalized_adjacency",
    canonical=_edges_in_order,
    reference=normalized_adjacency,
    cases=_norm_cases,
    random_case=_norm_random,
    returns=("numpy",),
    integers="indices",
    rtol=1e-6,
    hint="movie j is node num_users + j. Senders: users then movies; receivers: movies then "
         "users (the 2E directed edges, forward then reverse; any order of the edges is "
         "accepted). The degree of a node counts the "
         "edges it receives (np.bincount with minlength=num_users + num_movies: a repeated "
         "interaction counts twice); weight = 1 / sqrt(deg[sender] * deg[receiver]), as float32.",
    mistakes=[_wrong_norm_row_normalised, _wrong_norm_no_offset, _wrong_norm_self_loops,
              _wrong_norm_dense_once, _wrong_norm_unique_counts, _wrong_norm_no_minlength,
              _wrong_norm_missing_sqrt, _wrong_norm_in_place, _wrong_norm_lists,
              _wrong_norm_memorised],
    variants=[_right_norm_add_at, _right_norm_separate, _right_norm_sorted],
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
