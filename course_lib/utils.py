"""Small shared helpers: seeding, device choice, progress bars, early stopping, an environment
report."""

from __future__ import annotations

import os
import platform
import random
import time

import numpy as np


def seed_everything(seed: int = 42) -> np.random.Generator:
    """Seed Python, numpy and torch (if installed); return a numpy Generator for explicit use.

    JAX has no global seed: pass ``jax.random.key(seed)`` explicitly.
    """
    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:  # pragma: no cover - torch is part of the pinned stack
        pass
    return np.random.default_rng(seed)


def torch_device():
    """``cuda`` if a CUDA device is available, else ``cpu``."""
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def progress(iterable=None, **kwargs):
    """A tqdm progress bar that renders as a widget in notebooks and as text elsewhere."""
    from tqdm.auto import tqdm

    kwargs.setdefault("dynamic_ncols", True)
    kwargs.setdefault("mininterval", 0.5)  # fewer redraws: less output traffic from kernels
    kwargs.setdefault("disable", os.environ.get("COURSE_NO_PROGRESS") == "1")
    return tqdm(iterable, **kwargs)


class EarlyStopping:
    """Tracks a validation metric, keeps the best epoch's checkpoint, and says when to stop.

    ``mode='max'`` for scores such as AUC, ``'min'`` for errors such as MAE. Each epoch call
    ``update(epoch, value, checkpoint)``: when ``value`` is a new best, ``checkpoint()`` (a
    function returning a copy of the weights) is stored; the return value is True once
    ``patience`` epochs have passed without a new best.
    """

    def __init__(self, patience: int, mode: str = "max"):
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        self.patience, self.mode = patience, mode
        self.best = -np.inf if mode == "max" else np.inf
        self.best_epoch = 0
        self.best_checkpoint = None

    def update(self, epoch: int, value: float, checkpoint) -> bool:
        if np.isnan(value):
            raise FloatingPointError(f"the validation metric is NaN at epoch {epoch}: training "
                                     "diverged. Try a lower learning rate.")
        if value > self.best if self.mode == "max" else value < self.best:
            self.best, self.best_epoch = value, epoch
            self.best_checkpoint = checkpoint()
            return False
        return epoch - self.best_epoch >= self.patience


def train_with_early_stopping(train_epoch, validate, checkpoint, *, max_epochs: int,
                              patience: int, mode: str = "max", metric: str = "val_auc",
                              desc: str = "train") -> tuple[dict, object]:
    """The epoch loop shared by the link-prediction ``fit`` functions of both frameworks.

    Each epoch: ``train_epoch()`` returns the mean training loss; ``validate()`` the validation
    metric; when it is a new best, ``checkpoint()`` copies the weights. Stops after ``patience``
    epochs without a new best (or at ``max_epochs``). Returns the history (per-epoch ``loss``,
    ``metric`` and ``seconds`` of training, plus ``best_epoch``, 1-based) and the best
    checkpoint.
    """
    history = {"loss": [], metric: [], "seconds": []}
    stopper = EarlyStopping(patience, mode=mode)
    epochs = progress(range(1, max_epochs + 1), desc=desc)
    for epoch in epochs:
        start = time.perf_counter()
        loss = train_epoch()
        history["seconds"].append(time.perf_counter() - start)
        value = validate()
        history["loss"].append(loss)
        history[metric].append(value)
        epochs.set_postfix({"loss": f"{loss:.4f}", metric: f"{value:.4f}"})
        if stopper.update(epoch, value, checkpoint):
            break
    history["best_epoch"] = stopper.best_epoch
    return history, stopper.best_checkpoint


def environment_report() -> dict[str, str]:
    """Versions and devices of the stack, for bug reports and for checking a Colab setup."""
    report = {"python": platform.python_version()}
    for name in ("numpy", "pandas", "torch", "torch_geometric", "jax", "jraph", "flax", "optax"):
        try:
            module = __import__(name)
            report[name] = getattr(module, "__version__", "?")
        except ImportError:
            report[name] = "not installed"
    try:
        report["torch device"] = str(torch_device())
    except ImportError:
        pass
    try:
        import jax

        report["jax backend"] = jax.default_backend()
    except ImportError:
        pass
    return report


def show_code(obj):
    """Display the source of a ``course_lib`` function or class as a highlighted code block."""
    import inspect

    from IPython.display import Markdown

    return Markdown(f"```python\n{inspect.getsource(obj).rstrip()}\n```")
