"""The course's one training loop (``course_lib.training``): early stopping and ``fit_loop``."""

from __future__ import annotations

import pytest

from course_lib.training import EarlyStopping, fit_loop


def test_early_stopping_keeps_the_best_snapshot_and_stops_after_patience():
    stopper = EarlyStopping(patience=2, mode="max")
    stops = [stopper.update(e, v, lambda v=v: f"weights@{v}")
             for e, v in enumerate([0.5, 0.7, 0.6, 0.7, 0.65], start=1)]
    assert stops == [False, False, False, True, True]  # a tie is not an improvement
    assert (stopper.best, stopper.best_epoch, stopper.best_snapshot) == (0.7, 2, "weights@0.7")
    low = EarlyStopping(patience=1, mode="min")
    assert not low.update(1, 0.9, lambda: 1) and not low.update(2, 0.8, lambda: 2)
    assert low.update(3, 0.85, lambda: 3) and low.best_snapshot == 2
    with pytest.raises(FloatingPointError, match="NaN at epoch 4"):
        low.update(4, float("nan"), lambda: 4)
    with pytest.raises(ValueError, match="'max' or 'min'"):
        EarlyStopping(3, mode="best")


def test_early_stopping_without_patience_never_stops():
    stopper = EarlyStopping(patience=None)
    assert not any(stopper.update(e, 1.0 - e / 10, lambda e=e: e) for e in range(1, 9))
    assert (stopper.best_epoch, stopper.best_snapshot) == (1, 1)


def test_early_stopping_takes_a_snapshot_only_at_a_new_best():
    taken = []
    stopper = EarlyStopping(patience=None, mode="min")
    for epoch, value in enumerate([3.0, 2.0, 2.5, 1.0], start=1):
        stopper.update(epoch, value, lambda epoch=epoch: taken.append(epoch) or epoch)
    assert taken == [1, 2, 4]


def _counting_loop(metrics, **kwargs):
    """``fit_loop`` over an integer state: each epoch adds one and "validates" to
    ``metrics[state - 1]``; the snapshot of a state is its value times ten."""
    return fit_loop(0, lambda state: (state + 1, 1.0 / (state + 1)),
                    lambda state: metrics[state - 1], snapshot=lambda state: state * 10,
                    **kwargs)


def test_fit_loop_threads_the_state_and_records_the_history():
    state, history, best = _counting_loop([0.5, 0.6, 0.7], max_epochs=3, metric="val_auc")
    assert state == 3  # train_epoch's returned state goes into the next epoch
    assert set(history) == {"loss", "val_auc", "seconds", "best_epoch", "best"}
    assert history["loss"] == pytest.approx([1.0, 0.5, 1 / 3])
    assert history["val_auc"] == [0.5, 0.6, 0.7]
    assert len(history["seconds"]) == 3 and all(s >= 0 for s in history["seconds"])
    assert (history["best_epoch"], history["best"], best) == (3, 0.7, 30)


def test_fit_loop_stops_after_patience_and_returns_the_best_snapshot():
    state, history, best = _counting_loop([0.5, 0.8, 0.7, 0.6, 0.9, 1.0], max_epochs=6,
                                          patience=2)
    assert state == 4 and len(history["loss"]) == 4  # stopped two epochs after the best
    assert (history["best_epoch"], history["best"], best) == (2, 0.8, 20)


def test_fit_loop_without_patience_runs_every_epoch():
    state, history, best = _counting_loop([0.9, 0.1, 0.1, 0.1], max_epochs=4, patience=None)
    assert state == 4 and len(history["val_auc"]) == 4
    assert (history["best_epoch"], best) == (1, 10)  # the last state is returned as well


def test_fit_loop_in_min_mode_names_the_metric():
    _, history, best = _counting_loop([0.9, 0.4, 0.6], max_epochs=3, mode="min",
                                      metric="val_mae")
    assert history["val_mae"] == [0.9, 0.4, 0.6]
    assert (history["best_epoch"], history["best"], best) == (2, 0.4, 20)


def test_fit_loop_stops_with_an_error_on_a_nan_metric():
    with pytest.raises(FloatingPointError, match="NaN at epoch 2"):
        _counting_loop([0.5, float("nan"), 0.7], max_epochs=3)


def test_settings_for_overrides_known_keys_and_refuses_unknown_ones():
    from course_lib.training import settings_for

    defaults = {"lr": 0.01, "max_epochs": 20}
    assert settings_for(defaults, {"lr": 0.1}) == {"lr": 0.1, "max_epochs": 20}
    assert defaults == {"lr": 0.01, "max_epochs": 20}  # the chapter's SETTINGS stay as they are
    with pytest.raises(TypeError, match=r"unknown settings \['max_epoch'\].*'max_epochs'"):
        settings_for(defaults, {"max_epoch": 5})


def test_settings_for_picks_a_model_by_name_the_first_by_default():
    from course_lib.training import settings_for

    table = {"a": {"model": "a", "lr": 0.1}, "b": {"model": "b", "lr": 0.2}}
    assert settings_for(table, {}) == {"model": "a", "lr": 0.1}
    assert settings_for(table, {"model": "b", "lr": 0.3}) == {"model": "b", "lr": 0.3}
    with pytest.raises(ValueError, match=r"model must be one of \('a', 'b'\), got 'c'"):
        settings_for(table, {"model": "c"})
    with pytest.raises(TypeError, match="unknown settings"):
        settings_for(table, {"model": "b", "hidden": 3})


def test_fit_loop_validates_every_few_epochs_and_counts_patience_in_epochs():
    validated = []
    values = iter([0.1, 0.5, 0.4, 0.45, 0.3, 0.2])

    def validate(state):
        validated.append(state)
        return next(values)

    def train_epoch(state):
        return state + 1, 1.0 / (state + 1)

    state, history, best = fit_loop(0, train_epoch, validate, max_epochs=30, patience=10,
                                    eval_every=5, snapshot=lambda s: s, metric="val")
    # validated at epochs 5, 10, 15, 20; the best (0.5) at 10; 20 - 10 >= patience: stop
    assert validated == [5, 10, 15, 20] and history["eval_epochs"] == [5, 10, 15, 20]
    assert history["val"] == [0.1, 0.5, 0.4, 0.45]
    assert history["best_epoch"] == 10 and best == 10 and state == 20
    assert len(history["loss"]) == len(history["seconds"]) == 20
    # the last epoch is always validated
    _, history, _ = fit_loop(0, train_epoch, lambda s: float(s), max_epochs=7, eval_every=5,
                             snapshot=lambda s: s, metric="val")
    assert history["eval_epochs"] == [5, 7] and history["best_epoch"] == 7


def test_fit_loop_runs_the_loop_it_is_given_and_records_its_epochs():
    seen = []

    def two_epochs(state, train_epoch, validate, max_epochs, patience, mode, snapshot):
        for _ in range(2):
            state, _ = train_epoch(state)
            seen.append(validate(state))
        return state, snapshot(state), 2

    state, history, best = _counting_loop([0.5, 0.6, 0.7], max_epochs=3, loop=two_epochs)
    assert seen == [0.5, 0.6] and state == 2 and best == 20
    assert history["val_auc"] == [0.5, 0.6] and history["best_epoch"] == 2
    assert history["best"] == 0.6 and len(history["seconds"]) == 2


def test_the_fit_messages_fit_the_book_s_output_column(capsys):
    """``say`` (fit_loop's "trained ... saved as ..." line) breaks between parts, never inside
    one, so that no printed line is wider than the book's output column."""
    from course_lib.utils import OUTPUT_WIDTH, say

    name = "pyg-hetero-graphconv-side-information-e07754fdfa06d76e"
    say("PyG graphconv (side information): trained 16 epochs in 14 s (best epoch 13);",
        f"saved as {name}")
    say("PyG SAGE: trained 13 epochs in 27 s;", "saved as pyg-sage-e4a733ef77f89376")
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "PyG graphconv (side information): trained 16 epochs in 14 s (best epoch 13);",
        f"  saved as {name}",
        "PyG SAGE: trained 13 epochs in 27 s; saved as pyg-sage-e4a733ef77f89376"]
    assert max(map(len, lines)) <= OUTPUT_WIDTH == 88
