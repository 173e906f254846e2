"""The training state in PyG (JAX twin: ``course_lib/jax/state.py``).

What a training step changes: in PyG the model's weights and the optimizer's moments, both
updated in place. :class:`TrainState` holds the two so that a PyG ``train_step(state, ...)``
has the signature of its JAX twin, whose state is a value that each step replaces. The
chapters' steps return the state as JAX's do: ``state, loss = train_step(state, ...)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class TrainState:
    """A PyG model and its optimizer (``state.model``, ``state.optimizer``); ``step`` counts
    the optimizer steps taken."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    step: int = 0

    @classmethod
    def create(cls, model: nn.Module, optimizer: torch.optim.Optimizer) -> TrainState:
        """The state of a model about to be trained with ``optimizer``."""
        return cls(model, optimizer)

    def apply_gradients(self) -> TrainState:
        """``optimizer.step()`` with the gradients that ``loss.backward()`` left on the
        model; returns the state, as JAX's ``state.apply_gradients(grads=...)`` does."""
        self.optimizer.step()
        self.step += 1
        return self


def num_parameters(state: TrainState) -> int:
    """How many trainable numbers the state's model has."""
    return int(sum(p.numel() for p in state.model.parameters() if p.requires_grad))
