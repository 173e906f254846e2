"""The training state in JAX (PyG twin: ``course_lib/pyg/state.py``).

flax's ``TrainState`` holds the parameters, the optax optimizer and its state, and the step
count; a step returns a new one. :class:`TrainState` adds ``key``, the PRNG key that dropout
draws from: each step folds the step count into it (:meth:`TrainState.step_key`), so a
``train_step(state, ...)`` needs no key argument, as its PyG twin, whose dropout draws from
torch's global generator, needs none.
"""

from __future__ import annotations

from typing import Any

import jax
from flax.training import train_state


class TrainState(train_state.TrainState):
    """flax's ``TrainState`` (``step``, ``apply_fn``, ``params``, ``tx``, ``opt_state``) plus
    ``key``, the dropout key (None for a model without dropout)."""

    key: Any = None

    def step_key(self) -> jax.Array:
        """A fresh key for this step's dropout: ``key`` folded with the step count."""
        return jax.random.fold_in(self.key, self.step)


def num_parameters(state: TrainState) -> int:
    """How many trainable numbers the state's parameters hold."""
    return int(sum(x.size for x in jax.tree.leaves(state.params)))
