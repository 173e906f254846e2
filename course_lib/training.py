"""The one training loop of the course, shared by every chapter in both frameworks.

A chapter supplies its state and two small functions, and the loop does the bookkeeping::

    state, history, best = fit_loop(
        state,          # PyG: the model (its optimiser lives in train_epoch); JAX: a TrainState
        train_epoch,    # state -> (state, mean training loss): loops over batches, train_step
        validate,       # state -> the validation metric: runs eval_step
        snapshot=...,   # state -> a copy of the weights (PyG: a state_dict copy;
                        #          JAX: state.params, immutable, so no copy is needed)
        max_epochs=..., patience=..., mode="max", metric="val_auc", desc="PyG SAGE")

The state goes in and comes out of every epoch, as it does of a JAX ``train_step``: a PyTorch
``train_epoch`` changes the model in place and returns it, a JAX one returns a new
``TrainState``; the loop treats both the same and needs no ``nonlocal``. Each epoch it times
the training pass, validates, records ``loss``, the metric and ``seconds`` in ``history``,
shows them on a progress bar, keeps the snapshot of the best epoch so far and stops after
``patience`` epochs without a new best (``patience=None``: never early).
``history["best_epoch"]`` is 1-based; the caller restores ``best`` (PyG:
``model.load_state_dict(best)``; JAX: ``state.replace(params=best)``).

What differs between PyG and JAX is the training *step* (who owns the state, where the
gradient comes from), and each chapter shows its two ``train_step`` functions side by side.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from .checkpoints import Checkpoint, CheckpointError, enabled
from .utils import progress, say


class Fit(NamedTuple):
    """What every chapter's ``fit`` returns, in both frameworks: the trained ``state`` with the
    best epoch's weights (PyG: a :class:`course_lib.pyg.state.TrainState`, the model and its
    optimizer; JAX: a :class:`course_lib.jax.state.TrainState`), the per-epoch ``history``
    (:func:`fit_loop`) and the 1-based ``best_epoch``."""

    state: Any
    history: dict
    best_epoch: int


def settings_for(table: dict, overrides: dict) -> dict:
    """A chapter's ``SETTINGS`` (``table``) updated with a ``fit``'s keyword ``overrides``.

    ``table`` is one settings dict, or one per model (``{name: settings}``, each naming itself
    under ``'model'``), of which ``overrides['model']`` picks one (by default the first). A key
    the settings do not have is a ``TypeError`` naming the keys they have (a typo such as
    ``max_epoch=5`` must not be silently ignored); an unknown model is a ``ValueError``.
    """
    if table and all(isinstance(v, dict) for v in table.values()):
        name = overrides.get("model", next(iter(table)))
        if name not in table:
            raise ValueError(f"model must be one of {tuple(table)}, got {name!r}")
        table = table[name]
    unknown = set(overrides) - set(table)
    if unknown:
        raise TypeError(f"unknown settings {sorted(unknown)}; the chapter's SETTINGS has "
                        f"{sorted(table)}")
    return {**table, **overrides}


class EarlyStopping:
    """Tracks a validation metric, keeps the best epoch's snapshot, and says when to stop.

    ``mode='max'`` for scores such as AUC, ``'min'`` for errors such as MAE. Each epoch call
    ``update(epoch, value, snapshot)``: when ``value`` is a new best, ``snapshot()`` (a function
    returning a copy of the weights) is stored; the return value is True once ``patience``
    epochs have passed without a new best (never, if ``patience`` is None).
    """

    def __init__(self, patience: int | None, mode: str = "max"):
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        self.patience, self.mode = patience, mode
        self.best = -np.inf if mode == "max" else np.inf
        self.best_epoch = 0
        self.best_snapshot = None

    def update(self, epoch: int, value: float, snapshot: Callable[[], Any]) -> bool:
        if np.isnan(value):
            raise FloatingPointError(f"the validation metric is NaN at epoch {epoch}: training "
                                     "diverged. Try a lower learning rate.")
        if value > self.best if self.mode == "max" else value < self.best:
            self.best, self.best_epoch = value, epoch
            self.best_snapshot = snapshot()
            return False
        return self.patience is not None and epoch - self.best_epoch >= self.patience


def early_stopping_loop(state, train_epoch, validate, max_epochs: int,
                        patience: int | None, mode: str = "max",
                        snapshot=lambda s: s) -> tuple:
    """The epoch loop with early stopping, the heart of :func:`fit_loop`.

    Epoch ``e = 1, 2, ..., max_epochs``: ``state, loss = train_epoch(state)``, then
    ``value = validate(state)``. A value strictly better than every earlier one
    (higher for ``mode='max'``, lower for ``'min'``) makes ``e`` the best epoch and
    ``snapshot(state)`` its weights (a copy: a PyTorch ``train_epoch`` changes the
    state in place). The loop stops after ``max_epochs`` epochs, or at the first
    epoch with ``e - best_epoch == patience`` (``patience=None``: never early).
    Returns ``(state, best, best_epoch)``: the state after the last epoch run, the
    best epoch's snapshot and the best epoch (1-based).
    """
    better = (lambda a, b: a > b) if mode == "max" else (lambda a, b: a < b)
    best, best_epoch, best_value = None, 0, None
    for epoch in range(1, max_epochs + 1):
        state, _ = train_epoch(state)
        value = validate(state)
        if best_value is None or better(value, best_value):
            best, best_epoch, best_value = snapshot(state), epoch, value
        elif patience is not None and epoch - best_epoch >= patience:
            break
    return state, best, best_epoch


def fit_loop(state: Any, train_epoch: Callable[[Any], tuple[Any, float]],
             validate: Callable[[Any], float], *, snapshot: Callable[[Any], Any] = lambda s: s,
             max_epochs: int, patience: int | None = None, mode: str = "max",
             metric: str = "val_auc", desc: str = "train", eval_every: int = 1,
             checkpoint: Checkpoint | None = None,
             loop: Callable = early_stopping_loop) -> tuple[Any, dict, Any]:
    """Run up to ``max_epochs`` epochs with early stopping.

    Returns ``(state, history, best)``: the state after the last epoch, the history (per-epoch
    lists ``loss``, ``<metric>`` and ``seconds``, the training pass only; ``best_epoch``,
    1-based, and ``best``, the best metric value) and the snapshot of the best epoch.

    ``loop`` runs the epochs (:func:`early_stopping_loop`, or a learner's function with its
    signature); around it this function times and records every epoch, shows a progress bar
    and checks for a diverged (NaN) metric. ``eval_every``: validate every that many epochs
    (and at the last one) when validation costs as much as an epoch; ``history[metric]`` then
    has one value per validation and ``history["eval_epochs"]`` their (1-based) epochs; the
    epochs in between repeat the last value to the loop, which counts no new best on them.
    ``patience`` still counts epochs.

    ``checkpoint`` (:class:`course_lib.checkpoints.Checkpoint`): load if it exists, else train
    and save it. A loaded checkpoint returns the state untrained, with the saved history and
    best weights (which the caller restores, as after training); one that cannot be used is
    reported and the model trained again.
    """
    if mode not in ("max", "min"):
        raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
    if checkpoint is not None and enabled():
        try:
            best, history = checkpoint.load(snapshot(state))
            say(f"{desc}: loaded the saved model", checkpoint.path.name,
                f"(trained {len(history['loss'])} epochs, "
                f"{sum(history['seconds']):.0f} s; best epoch {history['best_epoch']})")
            return state, history, best
        except FileNotFoundError:
            pass
        except CheckpointError as e:
            say(f"{desc}: the saved model", checkpoint.path.name, "cannot be used:",
                *f"{e}. Training again.".split(" "))
    history: dict = {"loss": [], metric: [], "seconds": []}
    if eval_every > 1:
        history["eval_epochs"] = []
    bar = progress(total=max_epochs, desc=desc)
    worst = -np.inf if mode == "max" else np.inf
    validated: dict = {}              # epoch -> metric, for the epochs that validated

    def timed_epoch(state):
        start = time.perf_counter()
        state, loss = train_epoch(state)
        loss = float(loss)            # waits for the epoch to finish (JAX runs asynchronously)
        history["seconds"].append(time.perf_counter() - start)
        history["loss"].append(loss)
        bar.update(1)
        return state, loss

    def recorded_validate(state):
        epoch = len(history["loss"])
        if epoch % eval_every and epoch != max_epochs:
            return history[metric][-1] if history[metric] else worst
        value = float(validate(state))
        if np.isnan(value):
            raise FloatingPointError(f"the validation metric is NaN at epoch {epoch}: "
                                     "training diverged. Try a lower learning rate.")
        history[metric].append(value)
        validated[epoch] = value
        if eval_every > 1:
            history["eval_epochs"].append(epoch)
        bar.set_postfix({"loss": f"{history['loss'][-1]:.4f}", metric: f"{value:.4f}"})
        return value

    state, best, best_epoch = loop(state, timed_epoch, recorded_validate, max_epochs, patience,
                                   mode, snapshot)
    epochs = len(history["loss"])
    if epochs < max_epochs:           # end the bar as finished, not as failed
        bar.total = epochs
        bar.set_description(f"{desc}: stopped early, best epoch {best_epoch} of {epochs}")
        bar.refresh()
    bar.close()
    history["best_epoch"] = best_epoch
    history["best"] = validated.get(best_epoch, worst)
    if checkpoint is not None and enabled() and best is not None:
        checkpoint.save(best, history)
        say(f"{desc}: trained {epochs} epochs in {sum(history['seconds']):.0f} s "
            f"(best epoch {best_epoch});", f"saved as {checkpoint.path.name}")
    return state, history, best
