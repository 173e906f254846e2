"""The contract checks beyond values: arguments left unchanged, and gradients (JAX under
``jax.grad``, torch by backpropagation) equal to the reference's."""

from __future__ import annotations

import numpy as np

from .compare import array_kind, to_numpy


def changed_arguments(names: list[str], before: list, after: list) -> str | None:
    for name, b, a in zip(names, before, after):
        try:
            changed = differs(b, a)
        except Exception:  # noqa: BLE001 - an argument the checker cannot compare
            changed = False
        if changed:
            return (f"your function changed its argument `{name}` in place; the notebook passes "
                    "the course's own data, which this would corrupt for every later cell. "
                    "Work on a copy (for example `x = x.copy()` or `x.clone()`) or build a new "
                    "array")
    return None


def differs(before, after) -> bool:
    if isinstance(before, dict):
        return (not isinstance(after, dict) or list(before) != list(after)
                or any(differs(before[k], after[k]) for k in before))
    if isinstance(before, list | tuple):
        return (type(before) is not type(after) or len(before) != len(after)
                or any(differs(b, a) for b, a in zip(before, after)))
    if type(before).__module__.startswith("pandas"):
        return not (type(before) is type(after) and before.equals(after)
                    and list(getattr(before, "columns", [])) == list(getattr(after, "columns", []))
                    and before.index.equals(after.index))
    kind = array_kind(before)
    if kind in ("numpy", "torch", "jax"):  # a jax array itself is immutable, but can be replaced
        b, a = np.asarray(to_numpy(before)), np.asarray(to_numpy(after))
        return b.shape != a.shape or b.dtype != a.dtype or not np.array_equal(
            b, a, equal_nan=b.dtype.kind in "fc")
    return False  # scalars are passed by value


def jax_grad(f, positions: tuple, static: tuple, traced: list, compiled: bool = True):
    """``jax.grad`` of a weighted sum of ``f``'s outputs with respect to the arguments at
    ``positions`` (``static``: (position, value) pairs), compiled once per function and shapes,
    or op by op (``compiled=False``: XLA's simplifications can hide a NaN that an op-by-op
    gradient, the mathematical one, shows)."""
    global _JAX_GRAD, _JAX_GRAD_EAGER
    if _JAX_GRAD is None:
        import jax

        def grad(f, positions, static, traced):
            def objective(gvals):
                call = list(traced)
                for p, v in static:
                    call[p] = v
                for p, g in zip(positions, gvals):
                    call[p] = g
                return weighted_sum(f(*call), jax.numpy)

            return jax.grad(objective)([traced[p] for p in positions])

        _JAX_GRAD, _JAX_GRAD_EAGER = jax.jit(grad, static_argnums=(0, 1, 2)), grad
    return (_JAX_GRAD if compiled else _JAX_GRAD_EAGER)(f, positions, static, traced)


_JAX_GRAD = _JAX_GRAD_EAGER = None


def weighted_sum(out, xp):
    """A scalar that depends on every float entry of ``out``, with fixed pseudo-random weights
    (so that a gradient check sees each output entry, not only their sum)."""
    if isinstance(out, dict):
        leaves = [out[k] for k in sorted(out, key=repr)]
    elif isinstance(out, list | tuple):
        leaves = list(out)
    else:
        leaves = [out]
    total = 0.0
    for i, leaf in enumerate(leaves):
        if isinstance(leaf, dict | list | tuple):
            total = total + weighted_sum(leaf, xp)
            continue
        dtype = getattr(leaf, "dtype", None)
        if dtype is None:
            continue
        if not (dtype.is_floating_point if xp.__name__ == "torch"
                else np.issubdtype(np.dtype(dtype), np.floating)):
            continue
        w = np.random.default_rng(1000 + i).uniform(0.5, 1.5, size=tuple(leaf.shape))
        if xp.__name__ == "torch":
            total = total + (leaf * xp.as_tensor(w, dtype=leaf.dtype)).sum()
        else:
            total = total + xp.sum(leaf * w.astype(np.dtype(dtype)))
    return total
