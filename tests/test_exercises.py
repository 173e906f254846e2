"""The exercise mechanism: references pass, plausible wrong answers are caught with a counterexample."""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import pytest

from course_lib import exercises
from course_lib.exercises import ExerciseFailed, all_exercises, check, compare, show_solution

# Plausible wrong implementations, at least two per registered exercise.


def _edge_off_by_one(user_raw, movie_raw, user_ids, movie_ids):
    return np.stack([np.asarray(user_raw) - 1, np.asarray(movie_raw) - 1])


def _edge_swapped(user_raw, movie_raw, user_ids, movie_ids):
    u = np.searchsorted(user_ids, user_raw)
    m = np.searchsorted(movie_ids, movie_raw)
    return np.stack([m, u])


def _edge_from_ratings_only(user_raw, movie_raw, user_ids, movie_ids):
    # indexes only the users that occur in these ratings: wrong when one never rated
    u = np.unique(np.asarray(user_raw), return_inverse=True)[1]
    m = np.searchsorted(movie_ids, movie_raw)
    return np.stack([u, m]).reshape(2, -1)


def _edge_float(user_raw, movie_raw, user_ids, movie_ids):
    return np.stack([np.searchsorted(user_ids, user_raw),
                     np.searchsorted(movie_ids, movie_raw)]).astype(np.float32)


def _deg_no_minlength(edge_index, num_users, num_movies):
    ei = np.asarray(edge_index)
    return np.bincount(ei[0]), np.bincount(ei[1])


def _deg_swapped(edge_index, num_users, num_movies):
    ei = np.asarray(edge_index)
    return np.bincount(ei[1], minlength=num_users), np.bincount(ei[0], minlength=num_movies)


def _deg_unique_counts(edge_index, num_users, num_movies):
    ei = np.asarray(edge_index)
    return np.unique(ei[0], return_counts=True)[1], np.unique(ei[1], return_counts=True)[1]


def _dir_no_offset(edge_index, num_users):
    ei = np.asarray(edge_index)
    return np.concatenate([ei[0], ei[1]]), np.concatenate([ei[1], ei[0]])


def _dir_off_by_one(edge_index, num_users):
    ei = np.asarray(edge_index)
    m = ei[1] + num_users - 1
    return np.concatenate([ei[0], m]), np.concatenate([m, ei[0]])


def _dir_forward_only_twice(edge_index, num_users):
    ei = np.asarray(edge_index)
    m = ei[1] + num_users
    return np.concatenate([ei[0], ei[0]]), np.concatenate([m, m])


def _dir_interleaved(edge_index, num_users):
    ei = np.asarray(edge_index)
    m = ei[1] + num_users
    return np.stack([ei[0], m], 1).reshape(-1), np.stack([m, ei[0]], 1).reshape(-1)


def _agg_buffered(messages, receivers, num_nodes):
    out = np.zeros((num_nodes,) + np.shape(messages)[1:])
    out[np.asarray(receivers)] += messages  # repeated receivers are added only once
    return out


def _agg_mean(messages, receivers, num_nodes):
    messages = np.asarray(messages, dtype=float)
    out = np.zeros((num_nodes,) + messages.shape[1:])
    np.add.at(out, receivers, messages)
    count = np.bincount(receivers, minlength=num_nodes).reshape((-1,) + (1,) * (out.ndim - 1))
    return out / np.maximum(count, 1)


def _agg_no_num_nodes(messages, receivers, num_nodes):
    messages = np.asarray(messages, dtype=float)
    n = int(np.max(receivers)) + 1 if len(receivers) else 0
    out = np.zeros((n,) + messages.shape[1:])
    np.add.at(out, receivers, messages)
    return out


def _norm_mean(senders, receivers, num_nodes):
    deg = np.bincount(receivers, minlength=num_nodes).astype(float)
    return 1.0 / deg[receivers]  # random-walk (mean) normalisation, not symmetric


def _norm_out_degree(senders, receivers, num_nodes):
    deg = np.bincount(senders, minlength=num_nodes).astype(float)  # counts the wrong end
    return deg[senders] ** -0.5 * deg[receivers] ** -0.5


def _norm_missing_sqrt(senders, receivers, num_nodes):
    deg = np.bincount(receivers, minlength=num_nodes).astype(float)
    return 1.0 / (deg[senders] * deg[receivers])


def _readout_sum(h, graph_index, num_graphs):
    out = np.zeros((num_graphs,) + np.shape(h)[1:])
    np.add.at(out, graph_index, h)
    return out


def _readout_global(h, graph_index, num_graphs):
    return np.repeat(np.asarray(h, dtype=float).mean(0, keepdims=True), num_graphs, axis=0)


def _readout_nan_on_empty(h, graph_index, num_graphs):
    out = np.zeros((num_graphs,) + np.shape(h)[1:])
    np.add.at(out, graph_index, h)
    count = np.bincount(graph_index, minlength=num_graphs)
    with np.errstate(invalid="ignore", divide="ignore"):
        return out / count[:, None]


def _dot_swapped_rows(x_user, x_movie, edge_label_index):
    # movie row indexes x_user: breaks (or is silently wrong) when the two differ
    return (x_user[edge_label_index[1]] * x_movie[edge_label_index[0]]).sum(-1)


def _dot_sum_over_pairs(x_user, x_movie, edge_label_index):
    return (x_user[edge_label_index[0]] * x_movie[edge_label_index[1]]).sum(0)


def _dot_all_pairs(x_user, x_movie, edge_label_index):
    # every user with every movie: an [n, n] matrix instead of n scores
    return x_user[edge_label_index[0]] @ x_movie[edge_label_index[1]].T


def _dot_sigmoid(x_user, x_movie, edge_label_index):
    import torch

    return torch.sigmoid((x_user[edge_label_index[0]]
                          * x_movie[edge_label_index[1]]).sum(-1))


def _mean_sum(x_src, senders, receivers, num_dst):
    import jraph

    return jraph.segment_sum(x_src[senders], receivers, num_segments=num_dst)


def _mean_nan_isolated(x_src, senders, receivers, num_dst):
    import jax.numpy as jnp
    import jraph

    total = jraph.segment_sum(x_src[senders], receivers, num_segments=num_dst)
    count = jraph.segment_sum(jnp.ones(len(senders)), receivers, num_segments=num_dst)
    return total / count[:, None]


def _mean_too_few_segments(x_src, senders, receivers, num_dst):
    import jraph

    # one segment per receiver that occurs: drops trailing receivers without edges
    n = int(receivers.max()) + 1 if len(receivers) else 0
    return jraph.segment_mean(x_src[senders], receivers, num_segments=n)


def _mean_by_sender(x_src, senders, receivers, num_dst):
    import jraph

    return jraph.segment_mean(x_src[receivers % len(x_src)], senders, num_segments=num_dst)


def _auc_strict(scores, labels):
    pos, neg = scores[labels == 1], scores[labels == 0]
    return float((pos[:, None] > neg[None, :]).mean())


def _auc_ties_win(scores, labels):
    pos, neg = scores[labels == 1], scores[labels == 0]
    return float((pos[:, None] >= neg[None, :]).mean())


def _auc_accuracy(scores, labels):
    return float(((scores > 0.5) == (labels == 1)).mean())


def _auc_sorted_pairs(scores, labels):
    # compares the i-th positive with the i-th negative only
    pos, neg = scores[labels == 1], scores[labels == 0]
    n = min(len(pos), len(neg))
    return float((pos[:n] > neg[:n]).mean())



def _scale_5_sigmoid(logit):
    import torch

    return 5.0 * torch.sigmoid(logit)


def _scale_offset_only(logit):
    import torch

    return 0.5 + 5.0 * torch.sigmoid(logit)


def _scale_clip(logit):
    import torch

    return torch.clamp(logit + 2.75, 0.5, 5.0)


def _l1_mean_over_all(pred, target, mask):
    import jax.numpy as jnp

    return jnp.mean(jnp.abs(pred - target) * mask)


def _l1_squared(pred, target, mask):
    import jax.numpy as jnp

    return jnp.sum((pred - target) ** 2 * mask) / jnp.maximum(mask.sum(), 1)


def _l1_abs_of_sum(pred, target, mask):
    import jax.numpy as jnp

    return jnp.abs(jnp.sum((pred - target) * mask)) / jnp.maximum(mask.sum(), 1)


def _l1_nan_when_empty(pred, target, mask):
    import jax.numpy as jnp

    return jnp.sum(jnp.abs(pred - target) * mask) / mask.sum()


def _top_keeps_seen(scores, seen, n):
    return np.argsort(-scores, kind="stable")[:n]


def _top_ascending(scores, seen, n):
    s = scores.astype(float).copy()
    s[seen] = np.inf
    return np.argsort(s, kind="stable")[:n]


def _top_unstable_ties(scores, seen, n):
    s = scores.astype(float).copy()
    s[seen] = -np.inf
    order = np.argsort(s, kind="stable")[::-1]  # reversing puts ties' higher index first
    return order[np.isfinite(s[order])][:n]


def _top_pads_with_seen(scores, seen, n):
    s = scores.astype(float).copy()
    s[seen] = -np.inf
    return np.argsort(-s, kind="stable")[:n]


def _rel_codes_not_positions(table, column, entities):
    known = table[table[column].isin(list(entities))]
    return np.stack([known["movie"].to_numpy(), known[column].astype("category").cat.codes
                     .to_numpy()]).astype(np.int64)


def _rel_keeps_duplicates(table, column, entities):
    pos = pd.Index(entities).get_indexer(table[column])
    keep = pos >= 0
    return np.stack([table["movie"].to_numpy()[keep], pos[keep]]).astype(np.int64)


def _rel_entity_first(table, column, entities):
    pos = pd.Index(entities).get_indexer(table[column])
    keep = pos >= 0
    return np.unique(np.stack([pos[keep], table["movie"].to_numpy()[keep]]).astype(np.int64),
                     axis=1)


def _rel_unknown_as_last(table, column, entities):
    pos = pd.Index(entities).get_indexer(table[column])
    return np.unique(np.stack([table["movie"].to_numpy(), pos]).astype(np.int64), axis=1)


def _mbr_sum(x_src, edge_index, num_dst):
    return x_src.new_zeros(num_dst, x_src.size(1)).index_add_(0, edge_index[1],
                                                              x_src[edge_index[0]])


def _mbr_rows_swapped(x_src, edge_index, num_dst):
    import torch

    src, dst = edge_index[1], edge_index[0]   # rows read the wrong way round
    n = max(num_dst, x_src.size(0), int(src.max()) + 1 if src.numel() else 0)
    total = x_src.new_zeros(n, x_src.size(1)).index_add_(0, dst, x_src[src.clamp(max=x_src.size(0) - 1)])
    count = torch.bincount(dst, minlength=n).clamp(min=1).to(x_src.dtype)
    return (total / count.unsqueeze(1))[:num_dst]


def _mbr_nan_isolated(x_src, edge_index, num_dst):
    import torch

    total = x_src.new_zeros(num_dst, x_src.size(1)).index_add_(0, edge_index[1],
                                                               x_src[edge_index[0]])
    count = torch.bincount(edge_index[1], minlength=num_dst).to(x_src.dtype)
    return total / count.unsqueeze(1)


def _mbr_global_mean(x_src, edge_index, num_dst):
    total = x_src.new_zeros(num_dst, x_src.size(1)).index_add_(0, edge_index[1],
                                                               x_src[edge_index[0]])
    return total / max(edge_index.size(1), 1)


def _sbd_by_source(outputs):
    out = {}
    for (src, _, dst), h in outputs.items():
        out[src] = h if src not in out else out[src] + h
    return out


def _sbd_last_wins(outputs):
    return {dst: h for (_, _, dst), h in outputs.items()}


def _sbd_mean(outputs):
    out, n = {}, {}
    for (_, _, dst), h in outputs.items():
        out[dst] = h if dst not in out else out[dst] + h
        n[dst] = n.get(dst, 0) + 1
    return {k: v / n[k] for k, v in out.items()}


def _sbd_by_relation(outputs):
    return {rel: h for (_, rel, _), h in outputs.items()}



def _bpr_no_log(pos_scores, neg_scores, ego, weight_decay):
    import jax
    import jax.numpy as jnp

    reg = jnp.sum(ego ** 2) / (2 * pos_scores.shape[0])
    return -jnp.mean(jax.nn.sigmoid(pos_scores - neg_scores)) + weight_decay * reg


def _bpr_reversed(pos_scores, neg_scores, ego, weight_decay):
    import jax
    import jax.numpy as jnp

    reg = jnp.sum(ego ** 2) / (2 * pos_scores.shape[0])
    return -jnp.mean(jax.nn.log_sigmoid(neg_scores - pos_scores)) + weight_decay * reg


def _bpr_reg_not_per_batch(pos_scores, neg_scores, ego, weight_decay):
    import jax
    import jax.numpy as jnp

    return (-jnp.mean(jax.nn.log_sigmoid(pos_scores - neg_scores))
            + weight_decay * jnp.sum(ego ** 2) / 2)


def _bpr_naive_log(pos_scores, neg_scores, ego, weight_decay):
    import jax
    import jax.numpy as jnp

    reg = jnp.sum(ego ** 2) / (2 * pos_scores.shape[0])
    return -jnp.mean(jnp.log(jax.nn.sigmoid(pos_scores - neg_scores))) + weight_decay * reg


def _norm_row_normalised(edge_index, num_users, num_movies):
    ei = np.asarray(edge_index)
    s = np.concatenate([ei[0], ei[1] + num_users])
    r = np.concatenate([ei[1] + num_users, ei[0]])
    deg = np.bincount(r, minlength=num_users + num_movies)
    return s, r, (1.0 / deg[r]).astype(np.float32)


def _norm_no_offset(edge_index, num_users, num_movies):
    ei = np.asarray(edge_index)
    s = np.concatenate([ei[0], ei[1]])
    r = np.concatenate([ei[1], ei[0]])
    deg = np.bincount(r, minlength=num_users + num_movies)
    return s, r, (1.0 / np.sqrt(deg[s] * deg[r])).astype(np.float32)


def _norm_self_loops(edge_index, num_users, num_movies):
    ei = np.asarray(edge_index)
    s = np.concatenate([ei[0], ei[1] + num_users])
    r = np.concatenate([ei[1] + num_users, ei[0]])
    deg = np.bincount(r, minlength=num_users + num_movies) + 1
    return s, r, (1.0 / np.sqrt(deg[s] * deg[r])).astype(np.float32)


def _ndcg_no_ideal(hits, num_relevant, k):
    hits = np.asarray(hits, dtype=bool)[:, :k]
    return (hits / np.log2(np.arange(2, hits.shape[1] + 2))).sum(axis=1)


def _ndcg_ideal_all_relevant(hits, num_relevant, k):
    hits = np.asarray(hits, dtype=bool)[:, :k]
    disc = 1 / np.log2(np.arange(2, k + 2))
    dcg = (hits * disc[:hits.shape[1]]).sum(axis=1)
    ideal = np.array([disc[:n].sum() if n <= k else np.sum(1 / np.log2(np.arange(2, n + 2)))
                      for n in num_relevant])
    return np.divide(dcg, ideal, out=np.zeros_like(dcg), where=ideal > 0)


def _ndcg_log_rank(hits, num_relevant, k):
    hits = np.asarray(hits, dtype=bool)[:, :k]
    disc = 1 / np.log2(np.arange(1, k + 1) + 1e-9 + 1)[:hits.shape[1]] ** 2
    ideal = np.array([disc[:min(n, k)].sum() for n in num_relevant])
    dcg = (hits * disc).sum(axis=1)
    return np.divide(dcg, ideal, out=np.zeros_like(dcg), where=ideal > 0)


def _ndcg_nan_for_empty(hits, num_relevant, k):
    hits = np.asarray(hits, dtype=bool)[:, :k]
    disc = 1 / np.log2(np.arange(2, k + 2))
    dcg = (hits * disc[:hits.shape[1]]).sum(axis=1)
    ideal = np.array([disc[:min(n, k)].sum() for n in num_relevant])
    with np.errstate(invalid="ignore", divide="ignore"):
        return dcg / ideal


WRONG = {
    "bpr_loss": [_bpr_no_log, _bpr_reversed, _bpr_reg_not_per_batch, _bpr_naive_log],
    "normalized_adjacency": [_norm_row_normalised, _norm_no_offset, _norm_self_loops],
    "ndcg_at_k": [_ndcg_no_ideal, _ndcg_ideal_all_relevant, _ndcg_log_rank, _ndcg_nan_for_empty],
    "relation_edge_index": [_rel_codes_not_positions, _rel_keeps_duplicates, _rel_entity_first,
                            _rel_unknown_as_last],
    "mean_by_relation": [_mbr_sum, _mbr_rows_swapped, _mbr_nan_isolated, _mbr_global_mean],
    "sum_by_destination": [_sbd_by_source, _sbd_last_wins, _sbd_mean, _sbd_by_relation],
    "scale_rating": [_scale_5_sigmoid, _scale_offset_only, _scale_clip],
    "masked_l1_loss": [_l1_mean_over_all, _l1_squared, _l1_abs_of_sum, _l1_nan_when_empty],
    "top_n_unseen": [_top_keeps_seen, _top_ascending, _top_unstable_ties, _top_pads_with_seen],
    "dot_product_scores": [_dot_swapped_rows, _dot_sum_over_pairs, _dot_all_pairs,
                           _dot_sigmoid],
    "mean_aggregate": [_mean_sum, _mean_nan_isolated, _mean_too_few_segments,
                       _mean_by_sender],
    "pairwise_auc": [_auc_strict, _auc_ties_win, _auc_accuracy, _auc_sorted_pairs],
    "aggregate_sum": [_agg_buffered, _agg_mean, _agg_no_num_nodes],
    "symmetric_norm": [_norm_mean, _norm_out_degree, _norm_missing_sqrt],
    "mean_readout": [_readout_sum, _readout_global, _readout_nan_on_empty],
    "to_edge_index": [_edge_off_by_one, _edge_swapped, _edge_from_ratings_only, _edge_float],
    "node_degrees": [_deg_no_minlength, _deg_swapped, _deg_unique_counts],
    "bipartite_to_directed": [_dir_no_offset, _dir_off_by_one, _dir_forward_only_twice,
                              _dir_interleaved],
}


def test_every_exercise_has_at_least_two_wrong_implementations():
    for name in all_exercises():
        assert len(WRONG.get(name, [])) >= 2, f"add wrong implementations for {name!r}"


@pytest.mark.parametrize("name", sorted(all_exercises()))
def test_reference_passes_its_checker(name):
    ex = all_exercises()[name]
    assert ex.run(ex.reference).status == "passed"
    assert len(ex.cases()) >= 3


@pytest.mark.parametrize("name,wrong", [(n, w) for n, ws in WRONG.items() for w in ws],
                         ids=lambda x: getattr(x, "__name__", x))
def test_checker_rejects_wrong_implementation(name, wrong):
    with pytest.raises(ExerciseFailed) as e:
        check(name, wrong)
    message = str(e.value)
    assert f"{name}: wrong on the case" in message
    assert "input:" in message and "expected:" in message and "problem:" in message


@pytest.mark.parametrize("name", sorted(all_exercises()))
def test_untouched_stub_is_not_attempted_and_the_reference_stands_in(name, capsys):
    ex = all_exercises()[name]

    def stub(*args, **kwargs):
        raise NotImplementedError

    assert ex.run(stub).status == "not attempted"
    assert check(name, stub) is ex.reference
    assert "not attempted yet" in capsys.readouterr().out


def test_correct_learner_function_is_used_from_then_on(capsys):
    import torch

    def mine(edge_index, num_users, num_movies):  # a torch answer is accepted too
        ei = torch.as_tensor(np.asarray(edge_index))
        return (torch.bincount(ei[0], minlength=num_users),
                torch.bincount(ei[1], minlength=num_movies))

    assert check("node_degrees", mine) is mine
    assert "correct" in capsys.readouterr().out


def test_learner_exception_is_reported_readably():
    def crashes(edge_index, num_users):
        return edge_index[7]

    with pytest.raises(ExerciseFailed, match=r"raised IndexError: .* at line \d+ of your code"):
        check("bipartite_to_directed", crashes)


def test_none_wrong_type_and_shape_are_reported():
    with pytest.raises(ExerciseFailed, match="returned None: did you forget a `return`"):
        check("node_degrees", lambda edge_index, num_users, num_movies: None)
    with pytest.raises(ExerciseFailed, match="expected a tuple of 2 items"):
        check("node_degrees", lambda edge_index, num_users, num_movies: "degrees")
    with pytest.raises(ExerciseFailed, match=r"shape \(4,\) but expected \(2, 4\)"):
        check("to_edge_index", lambda user_raw, movie_raw, user_ids, movie_ids: np.zeros(4, int))
    with pytest.raises(ExerciseFailed, match="expected a function"):
        check("node_degrees", 42)


def test_partial_implementation_is_a_failure_not_a_fallback():
    calls = []

    def partial(edge_index, num_users, num_movies):
        calls.append(1)
        if len(calls) > 1:
            raise NotImplementedError
        return exercises.get("node_degrees").reference(edge_index, num_users, num_movies)

    with pytest.raises(ExerciseFailed, match="raised NotImplementedError"):
        check("node_degrees", partial)


def test_counterexample_names_input_expected_got():
    with pytest.raises(ExerciseFailed) as e:
        check("node_degrees", _deg_no_minlength)
    message = str(e.value)
    assert "isolated nodes" in message
    assert "num_users = 4" in message
    assert "expected: (array([1, 2, 1, 0]" in message
    assert "got:      (array([1, 2, 1]" in message
    # IPython shows only the report, not a stack trace from inside course_lib
    rendered = e.value._render_traceback_()
    assert len(rendered) == 1 and rendered[0].endswith(message) and "File " not in rendered[0]


def test_compare_tolerances():
    assert compare(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-7]), 1e-5, 1e-6) is None
    assert "differ" in compare(np.array([1.0, 2.0]), np.array([1.0, 2.1]), 1e-5, 1e-6)
    assert "integers" in compare(np.array([1, 2]), np.array([1.0, 2.0]), 0, 0)
    assert compare({"a": np.ones(2)}, {"a": np.ones(2)}, 0, 0) is None
    assert "keys" in compare({"a": 1}, {"b": 1}, 0, 0)


def test_show_solution_renders_the_course_lib_source_collapsed():
    from course_lib.graph import node_degrees

    html = show_solution("node_degrees").data
    assert html.startswith('<details class="course-solution">')
    assert "course_lib.graph.node_degrees" in html
    assert exercises.solution_source("node_degrees") == inspect.getsource(node_degrees)
    assert "minlength" in html  # the real body, highlighted


def test_unknown_exercise():
    with pytest.raises(KeyError, match="no exercise named"):
        check("nope", lambda: None)
