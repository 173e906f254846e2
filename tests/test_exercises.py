"""The exercise mechanism: references pass, every registered wrong answer is caught with a
counterexample, correct variants pass, and the contracts (no in-place change, array types, jit,
gradients, time limits, captured output) hold for honest mistakes of every kind."""

from __future__ import annotations

import copy
import inspect
import re

import numpy as np
import pytest

from course_lib import exercises
from course_lib.exercises import (Case, ExerciseFailed, all_exercises, check, compare,
                                  show_solution)
from course_lib.exercises.compare import array_kind

EXERCISES = all_exercises()
MISTAKES = [(name, m) for name, ex in EXERCISES.items() for m in ex.mistakes]
VARIANTS = [(name, v) for name, ex in EXERCISES.items() for v in ex.variants]
SEEDS = (0, 1)
# References and correct variants: one check seed here (make test-fast), two more in
# test_reference_and_variants_pass_under_more_check_seeds (make test)
FAST_SEED, MORE_SEEDS = 0, (1, 2)


def _ids(x):
    return getattr(x, "__name__", str(x))


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_each_exercise_draws_random_cases_and_carries_its_mistakes(name):
    ex = EXERCISES[name]
    assert ex.random_case is not None and ex.n_random >= 20, "at least 20 random cases"
    assert len(ex.cases()) >= 3, "hand-written edge cases"
    assert len(ex.mistakes) >= 5, "at least 5 plausible wrong answers"
    assert len(ex.variants) >= 1, "at least one correct-but-different answer"
    assert ex.chapter in exercises.CHAPTER_MODULES


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_reference_passes_its_checker(name):
    ex = EXERCISES[name]
    result = ex.run(ex.reference, seed=FAST_SEED)
    assert result.status == "passed", result.message
    assert result.cases_run == len(ex.cases()) + ex.n_random


@pytest.mark.parametrize("name,wrong", MISTAKES, ids=_ids)
def test_checker_rejects_each_registered_mistake(name, wrong):
    for seed in SEEDS:
        with pytest.raises(ExerciseFailed) as e:
            check(name, wrong, seed=seed)
        message = str(e.value)
        assert f"{name}: wrong on the case" in message
        assert "input:" in message and "expected:" in message and "problem:" in message


CHECK_SEEDS = range(50)


@pytest.mark.seeds
@pytest.mark.parametrize("name,wrong", MISTAKES, ids=_ids)
def test_each_registered_mistake_is_rejected_under_every_one_of_50_check_seeds(name, wrong):
    """A learner's check draws a fresh seed: a mistake must not pass in any of them. One that
    fails on a hand-written case fails under every seed (the hand-written cases come first and
    do not depend on it); one caught only by random cases is run under all 50."""
    ex = EXERCISES[name]
    first = ex.run(wrong, seed=0)
    assert first.status == "failed", first.message
    if not first.case.random:
        return
    passed = [seed for seed in CHECK_SEEDS if ex.run(wrong, seed=seed).status != "failed"]
    assert not passed, f"{wrong.__name__} passes the check under seeds {passed}"


# make test-fast checks each exercise's first variant; make test all of them
FIRST_VARIANTS = [pytest.param(n, v, marks=() if v is EXERCISES[n].variants[0]
                               else pytest.mark.seeds) for n, v in VARIANTS]


@pytest.mark.parametrize("name,right", FIRST_VARIANTS, ids=_ids)
def test_checker_accepts_each_correct_variant(name, right, capsys):
    assert check(name, right, seed=FAST_SEED) is right
    assert "correct" in capsys.readouterr().out


@pytest.mark.seeds
@pytest.mark.parametrize("name,right", [(n, EXERCISES[n].reference) for n in sorted(EXERCISES)]
                         + VARIANTS, ids=_ids)
def test_reference_and_variants_pass_under_more_check_seeds(name, right):
    for seed in MORE_SEEDS:
        result = EXERCISES[name].run(right, seed=seed)
        assert result.status == "passed", (seed, result.message)


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_untouched_stub_is_not_attempted_and_the_reference_stands_in(name, capsys):
    ex = EXERCISES[name]

    def stub(*args, **kwargs):
        """The notebook's stub."""
        # YOUR CODE HERE
        raise NotImplementedError

    assert ex.run(stub).status == "not attempted"
    assert check(name, stub) is ex.reference
    assert "not attempted yet" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------------
# Generic honest mistakes, built from each exercise's own reference
# --------------------------------------------------------------------------------------------------


def _plain(ex) -> None:
    """The generic answers below are functions of a case's arguments, wrapped around the
    reference; an exercise whose answer is used through ``call`` (a layer written as a class,
    a sampler judged by its draws) has mistakes of its own for these."""
    if ex.call is not None:
        pytest.skip("the answer is used through `call`: its registered mistakes cover this")


def _memoriser(ex):
    """Returns the right answer on the hand-written cases (copied from failure messages) and the
    first case's answer otherwise."""
    known = [(c, ex.reference(*copy.deepcopy(ex._positional(c)))) for c in ex.cases()]

    def memorised(*args):
        for case, out in known:
            if all(_same(a, b) for a, b in zip(args, ex._positional(case))):
                return out
        return known[0][1]

    return memorised


def _same(a, b) -> bool:
    try:
        if isinstance(a, dict):
            return isinstance(b, dict) and a.keys() == b.keys() and all(
                _same(a[k], b[k]) for k in a)
        if type(a).__name__ in ("TrainState", "GraphsTuple"):   # pytrees: structure, leaves
            import jax

            return (jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
                    and all(_same(x, y) for x, y in zip(jax.tree_util.tree_leaves(a),
                                                        jax.tree_util.tree_leaves(b))))
        a_np, b_np = exercises.to_numpy(a), exercises.to_numpy(b)
        if hasattr(a_np, "equals"):
            return a_np.equals(b_np)
        return bool(np.array_equal(np.asarray(a_np), np.asarray(b_np)))
    except Exception:  # noqa: BLE001
        return False


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_memorised_counterexamples_do_not_pass(name):
    ex = EXERCISES[name]
    _plain(ex)
    memorised = _memoriser(ex)
    assert all(ex.compare(ex.reference(*copy.deepcopy(ex._positional(c))),
                          memorised(*copy.deepcopy(ex._positional(c))))
               is None for c in ex.cases())  # it does know the hand-written cases
    assert ex.run(memorised, seed=3).status == "failed"


@pytest.mark.seeds
@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_memorised_counterexamples_fail_under_every_one_of_50_check_seeds(name):
    ex = EXERCISES[name]
    _plain(ex)
    memorised = _memoriser(ex)
    passed = [seed for seed in CHECK_SEEDS if ex.run(memorised, seed=seed).status != "failed"]
    assert not passed, f"a memorised answer passes under seeds {passed}"


def _mutate_in_place(x) -> bool:
    """Change a numpy array, torch tensor or DataFrame in place; False if x is none of those."""
    kind = array_kind(x)
    if kind == "numpy" and x.size and x.flags.writeable:
        x.reshape(-1)[0] = x.reshape(-1)[0] + 1 if x.dtype != bool else not x.reshape(-1)[0]
        return True
    if kind == "torch" and x.numel():
        import torch

        with torch.no_grad():
            x.view(-1)[0] += 1 if x.dtype != torch.bool else 0
        return x.dtype != torch.bool
    if hasattr(x, "columns"):  # a DataFrame: a column added in place
        x["added_in_place"] = 0
        return True
    if hasattr(x, "iloc") and len(x):  # a Series: one value changed in place
        x.iloc[0] = x.iloc[0] + 1
        return True
    return False


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_changing_an_argument_in_place_is_caught(name):
    ex = EXERCISES[name]
    if ex.framework == "jax":
        pytest.skip("jax arrays are immutable")
    if inspect.isclass(ex.reference):
        pytest.skip("a layer's inputs reach it through its forward pass (torch's own checks)")
    if not any(array_kind(a) or type(a).__module__.startswith("pandas")
               for c in ex.cases() for a in ex._positional(c)):
        pytest.skip("no array argument to change (a training loop's state changes by design)")

    def right_values_then_mutates(*args):
        out = ex.reference(*args)
        for a in args:
            if _mutate_in_place(a):
                break
        return out

    result = ex.run(right_values_then_mutates, seed=0)
    assert result.status == "failed"
    assert "in place" in result.message


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_a_list_is_not_an_array(name):
    ex = EXERCISES[name]
    _plain(ex)
    out = ex.reference(*ex._positional(ex.cases()[0]))
    if (array_kind(out) is None or np.ndim(exercises.to_numpy(out)) == 0) \
            and not isinstance(out, tuple):
        pytest.skip("the reference returns no array (a scalar or a dict)")

    def as_lists(*args):
        out = ex.reference(*args)
        return tuple(exercises.to_numpy(o).tolist() for o in out) if isinstance(out, tuple) \
            else exercises.to_numpy(out).tolist()

    result = ex.run(as_lists, seed=0)
    assert result.status == "failed"
    assert "list" in result.message


# --------------------------------------------------------------------------------------------------
# Contracts: jit, gradients, types, messages
# --------------------------------------------------------------------------------------------------


def test_jax_exercise_must_run_under_jit():
    import jax.numpy as jnp

    def python_if(pred, target, mask):  # right values, but a Python `if` on a traced value
        if mask.sum() == 0:
            return jnp.float32(0.0)
        return jnp.abs(pred - target)[mask].mean()

    with pytest.raises(ExerciseFailed, match="under jax.jit"):
        check("masked_l1_loss", python_if, seed=0)


def test_jax_loss_with_nan_gradient_is_rejected():
    import jax
    import jax.numpy as jnp

    def where_log_sigmoid(pos_scores, neg_scores, ego, weight_decay):
        x = pos_scores - neg_scores
        # "stable": picks the right branch, but the other branch's gradient is NaN/inf
        log_sig = jnp.where(x > 0, -jnp.log1p(jnp.exp(-x)), x - jnp.log1p(jnp.exp(x)))
        reg = weight_decay * jnp.sum(ego ** 2) / (2 * pos_scores.shape[0])
        return -jnp.mean(log_sig) + reg

    assert np.isfinite(float(where_log_sigmoid(jnp.array([200.0]), jnp.array([-200.0]),
                                               jnp.ones((3, 2)), 0.0)))
    g = jax.grad(where_log_sigmoid)(jnp.array([200.0]), jnp.array([-200.0]), jnp.ones((3, 2)), 0.0)
    if np.all(np.isfinite(g)):
        pytest.skip("this JAX version gives a finite gradient here")
    with pytest.raises(ExerciseFailed, match="gradient"):
        check("bpr_loss", where_log_sigmoid, seed=0)


def test_torch_exercise_must_backpropagate():
    import torch

    def via_numpy(x_user, x_movie, edge_label_index):
        u, m = edge_label_index.numpy()
        return torch.from_numpy((x_user.detach().numpy()[u] * x_movie.detach().numpy()[m]).sum(-1))

    with pytest.raises(ExerciseFailed, match="gradient"):
        check("dot_product_scores", via_numpy, seed=0)

    def numpy_crash(x_user, x_movie, edge_label_index):  # .numpy() on a tensor requiring grad
        return torch.from_numpy(x_user.numpy()[edge_label_index[0]]).sum(-1)

    with pytest.raises(ExerciseFailed, match="raised RuntimeError"):
        check("dot_product_scores", numpy_crash, seed=0)


def test_float_degree_counts_are_accepted_but_float_indices_are_not(capsys):
    def float_counts(edge_index, num_users, num_movies):
        ei = np.asarray(edge_index)
        return (np.bincount(ei[0], minlength=num_users).astype(float),
                np.bincount(ei[1], minlength=num_movies).astype(float))

    assert check("node_degrees", float_counts) is float_counts
    ref = EXERCISES["to_edge_index"].reference

    def float_indices(user_raw, movie_raw, user_ids, movie_ids):
        return ref(user_raw, movie_raw, user_ids, movie_ids).astype(np.float32)

    with pytest.raises(ExerciseFailed, match="integer indices"):
        check("to_edge_index", float_indices)


def test_messages_name_the_actual_type():
    assert "got str 'abc'" in compare(1.0, "abc", 0, 0)
    assert "got list of int" in compare(np.array([1.0, 2.0]), [1, 2], 0, 0)
    assert "got list of int" in compare(np.array([1, 2]), [1, 2], 0, 0)
    problem = compare(np.array([1.0]), np.array(["a"]), 0, 0)
    assert "expected numbers" in problem and "<U1" in problem
    import jax.numpy as jnp

    problem = compare(jnp.ones(2), jnp.ones(2, dtype=jnp.bfloat16), 0, 0, returns=("jax",))
    assert "bfloat16" in problem
    problem = compare(np.ones(2), jnp.ones(2), 0, 0, returns=("numpy",))
    assert "expected a numpy array" in problem and "jax array" in problem


def test_none_wrong_type_and_shape_are_reported():
    with pytest.raises(ExerciseFailed, match="returned None: did you forget a `return`"):
        check("node_degrees", lambda edge_index, num_users, num_movies: None)
    with pytest.raises(ExerciseFailed, match="expected a tuple of 2 items"):
        check("node_degrees", lambda edge_index, num_users, num_movies: "degrees")
    with pytest.raises(ExerciseFailed, match=r"shape \(4,\) but expected \(2, \d+\)"):
        check("to_edge_index", lambda user_raw, movie_raw, user_ids, movie_ids: np.zeros(4, int))
    with pytest.raises(ExerciseFailed, match="expected a function"):
        check("node_degrees", 42)


# --------------------------------------------------------------------------------------------------
# "Not attempted" only for the untouched stub
# --------------------------------------------------------------------------------------------------


def test_finished_function_calling_an_unfinished_helper_is_a_failure():
    def helper(edge_index):
        raise NotImplementedError

    def finished(edge_index, num_users, num_movies):
        return helper(edge_index)

    with pytest.raises(ExerciseFailed, match="raised NotImplementedError"):
        check("node_degrees", finished)


def test_not_implemented_inside_a_library_is_a_failure():
    import torch

    def sparse_scores(x_user, x_movie, edge_label_index):
        products = x_user[edge_label_index[0]] * x_movie[edge_label_index[1]]
        idx = torch.stack([torch.arange(len(products)), torch.zeros(len(products), dtype=int)])
        adj = torch.sparse_coo_tensor(idx, torch.ones(len(products)), (len(products), 1))
        return adj.mean(dim=1)  # torch raises NotImplementedError for sparse tensors

    with pytest.raises(ExerciseFailed) as e:
        check("dot_product_scores", sparse_scores)
    assert "NotImplementedError" in str(e.value) and "not attempted yet" not in str(e.value)


def test_code_left_above_the_stub_line_is_not_counted_as_untouched():
    def half_done(edge_index, num_users, num_movies):
        ei = np.asarray(edge_index)
        _ = np.bincount(ei[0], minlength=num_users)
        raise NotImplementedError

    with pytest.raises(ExerciseFailed, match="Only the stub's own"):
        check("node_degrees", half_done)


def test_partial_implementation_is_a_failure_not_a_fallback():
    calls = []
    reference = EXERCISES["node_degrees"].reference

    def partial(edge_index, num_users, num_movies):
        calls.append(1)
        if len(calls) > 1:
            raise NotImplementedError
        return reference(edge_index, num_users, num_movies)

    with pytest.raises(ExerciseFailed, match="raised NotImplementedError"):
        check("node_degrees", partial)


# --------------------------------------------------------------------------------------------------
# Limits: time, output, objects that break formatting
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def short_limit(monkeypatch):
    for ex in EXERCISES.values():
        monkeypatch.setattr(ex, "time_limit", 0.5)


def test_endless_python_loop_is_stopped(short_limit):
    def loops(edge_index, num_users, num_movies):
        while True:
            try:
                pass
            except Exception:  # noqa: BLE001 - a learner's catch-all cannot swallow the limit
                pass

    with pytest.raises(ExerciseFailed, match=r"did not finish within 0.5 s"):
        check("node_degrees", loops)


def test_endless_jax_while_loop_is_stopped_and_jax_still_works(short_limit):
    import jax
    import jax.numpy as jnp

    def loops(pred, target, mask):
        n = jax.lax.while_loop(lambda i: i >= 0, lambda i: i + 1, 0)
        return jnp.abs(pred - target).mean() + 0 * n

    with pytest.raises(ExerciseFailed, match="did not finish"):
        check("masked_l1_loss", loops)
    assert float(jax.jit(lambda x: x + 1)(jnp.float32(1))) == 2.0  # the process is fine


def test_printed_output_is_captured_and_truncated(capsys):
    reference = EXERCISES["node_degrees"].reference

    def chatty(edge_index, num_users, num_movies):
        print("x" * 1_000_000)
        return reference(edge_index, num_users, num_movies)

    check("node_degrees", chatty)
    out = capsys.readouterr().out
    assert "correct" in out and "more characters not shown" in out and len(out) < 10_000

    def chatty_and_wrong(edge_index, num_users, num_movies):
        print("debug:", "y" * 1_000_000)
        return None

    with pytest.raises(ExerciseFailed) as e:
        check("node_degrees", chatty_and_wrong)
    assert "your function printed" in str(e.value) and len(str(e.value)) < 10_000
    assert "debug:" not in capsys.readouterr().out


def test_an_object_whose_repr_raises_cannot_crash_the_checker():
    class Weird:
        def __repr__(self):
            raise RuntimeError("no repr")

        def __array__(self, *args, **kwargs):
            raise RuntimeError("no array")

    with pytest.raises(ExerciseFailed) as e:
        check("node_degrees", lambda edge_index, num_users, num_movies: (Weird(), Weird()))
    assert "Weird" in str(e.value)
    with pytest.raises(ExerciseFailed):
        check("pairwise_auc", lambda scores, labels: Weird())


def test_a_leaked_tracer_cannot_crash_the_checker():
    import jax

    leaked = []
    jax.jit(lambda x: leaked.append(x) or x)(np.float32(1.0))

    with pytest.raises(ExerciseFailed):
        check("masked_l1_loss", lambda pred, target, mask: leaked[0])


def test_unknown_exercise_is_an_exercise_failure():
    with pytest.raises(ExerciseFailed, match="no exercise named"):
        check("nope", lambda: None)


# --------------------------------------------------------------------------------------------------
# Seeds: random cases change per call, a seed reproduces a counterexample
# --------------------------------------------------------------------------------------------------


def test_random_cases_change_with_the_seed_and_a_seed_reproduces_them():
    ex = EXERCISES["top_n_unseen"]
    a, b, a_again = (ex.all_cases(s) for s in (1, 2, 1))
    assert [c.description for c in a] == [c.description for c in a_again]
    assert any(not _same(x.args[0], y.args[0]) for x, y in zip(a, b) if x.random)
    assert sum(c.random for c in a) == ex.n_random


def test_failure_report_prints_the_seed_that_reproduces_it():
    memorised = _memoriser(EXERCISES["top_n_unseen"])  # right on every hand-written case
    with pytest.raises(ExerciseFailed) as e:
        check("top_n_unseen", memorised)
    message = str(e.value)
    assert "wrong on the case 'random case 1 of 20" in message
    seed = int(re.search(r"check\('top_n_unseen', your_function, seed=(\d+)\)", message).group(1))
    with pytest.raises(ExerciseFailed) as again:
        check("top_n_unseen", memorised, seed=seed)
    assert str(again.value) == message
    with pytest.raises(ExerciseFailed) as other:
        check("top_n_unseen", memorised, seed=seed + 1)
    assert str(other.value) != message


def test_counterexample_names_input_expected_got():
    def no_minlength(edge_index, num_users, num_movies):
        ei = np.asarray(edge_index)
        return np.bincount(ei[0]), np.bincount(ei[1])

    with pytest.raises(ExerciseFailed) as e:
        check("node_degrees", no_minlength, seed=0)
    message = str(e.value)
    assert "num_users = " in message and "expected: (array([" in message
    assert "got:      (array([" in message
    # IPython shows only the report, not a stack trace from inside course_lib
    rendered = e.value._render_traceback_()
    assert len(rendered) == 1 and rendered[0].endswith(message) and "File " not in rendered[0]


def test_learner_exception_is_reported_readably():
    def crashes(edge_index, num_users):
        return edge_index[7]

    with pytest.raises(ExerciseFailed, match=r"raised IndexError: .* at line \d+ of your code"):
        check("bipartite_to_directed", crashes)


def test_compare_tolerances():
    assert compare(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-7]), 1e-5, 1e-6) is None
    assert "differ" in compare(np.array([1.0, 2.0]), np.array([1.0, 2.1]), 1e-5, 1e-6)
    assert "integer" in compare(np.array([1, 2]), np.array([1.0, 2.0]), 0, 0)
    assert compare(np.array([1, 2]), np.array([1.0, 2.0]), 0, 0, integers="counts") is None
    assert compare({"a": np.ones(2)}, {"a": np.ones(2)}, 0, 0) is None
    assert "keys" in compare({"a": 1}, {"b": 1}, 0, 0)


def test_show_solution_renders_the_course_lib_source_collapsed():
    from course_lib.graph import node_degrees

    solution = show_solution("node_degrees")
    source = exercises.solution_source("node_degrees")
    assert source == inspect.getsource(node_degrees)
    # Jupyter and Colab: a <details> toggle whose label says what a click does
    html = solution._repr_html_()
    assert '<details class="course-solution">' in html
    assert "(click to show)" in html and "(click to hide)" in html  # open and closed
    assert "course_lib.graph.node_degrees" in html and "minlength" in html  # the real body
    # the book: a dropdown around the site's own code block (copy button, dark mode)
    md = solution._repr_markdown_()
    assert md.startswith(":::{dropdown} Reference solution: `course_lib.graph.node_degrees`")
    assert ":class-container: course-solution" in md
    assert "```python\n" + source.rstrip() + "\n```\n:::" in md
    assert repr(solution).endswith(source)


def test_a_solution_holding_a_code_fence_keeps_its_dropdown_closed():
    solution = exercises.Solution("x.py", 'TEXT = """\n```python\nprint(1)\n```\n"""\n')
    md = solution._repr_markdown_()
    assert "````python\n" in md and md.rstrip().endswith("````\n:::")


def test_case_is_reproducible_data():
    case = Case("x", (1, 2))
    assert case.kwargs == {} and case.random is False


def test_a_layer_written_as_a_class_is_checked_from_the_same_weights(capsys):
    """A class answer: its untouched stub (every method still `raise NotImplementedError`) is
    "not attempted"; a stub with one method written is an attempt; a class whose parameters
    are not named as the stub says fails with the names in the message."""
    from torch.nn import Linear
    from torch_geometric.nn import MessagePassing

    class Stub(MessagePassing):
        def __init__(self, in_channels, out_channels):
            # YOUR CODE HERE
            raise NotImplementedError

        def forward(self, x, edge_index, edge_weight):
            raise NotImplementedError

    ex = EXERCISES["GraphConvPyG"]
    assert ex.run(Stub).status == "not attempted"
    assert check("GraphConvPyG", Stub) is ex.reference
    assert "not attempted yet" in capsys.readouterr().out

    class Half(Stub):
        def __init__(self, in_channels, out_channels):
            super(Stub, self).__init__(aggr="add")
            self.lin_rel = Linear(in_channels, out_channels)
            self.lin_root = Linear(in_channels, out_channels, bias=False)

    assert ex.run(Half, seed=0).status == "failed"

    class Renamed(MessagePassing):
        def __init__(self, in_channels, out_channels):
            super().__init__(aggr="add")
            self.rel = Linear(in_channels, out_channels)
            self.root = Linear(in_channels, out_channels, bias=False)

        def forward(self, x, edge_index, edge_weight):
            return self.rel(self.propagate(edge_index, x=x, w=edge_weight)) + self.root(x)

        def message(self, x_j, w):
            return w.view(-1, 1) * x_j

    result = ex.run(Renamed, seed=0)
    assert result.status == "failed" and "lin_rel" in result.message


def test_a_sampler_is_judged_by_its_draws():
    """draw_negatives: a sampler that ignores its rng cannot be reproduced; one that changes
    the batch in place is caught; the reference passes on the course's real data."""
    ex = EXERCISES["draw_negatives"]
    reference = ex.reference

    def fresh_rng(users, seen, num_movies, rng):
        return reference(users, seen, num_movies, np.random.default_rng())

    result = ex.run(fresh_rng, seed=0)
    assert result.status == "failed" and "equally seeded rng" in result.message

    def sorts_the_batch(users, seen, num_movies, rng):
        out = reference(users, seen, num_movies, rng)
        users.sort()
        return out

    result = ex.run(sorts_the_batch, seed=0)
    assert result.status == "failed" and "in place" in result.message
