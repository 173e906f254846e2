"""Comparing an attempt's output with the reference's (values, types, shapes, dtypes) and
formatting a counterexample short enough to read."""

from __future__ import annotations

import textwrap

import numpy as np

_KIND_NAMES = {"numpy": "numpy array", "torch": "torch tensor", "jax": "jax array"}


def requires_grad(x) -> bool:
    return bool(getattr(x, "requires_grad", False))


def to_numpy(x):
    """numpy view of a torch tensor, a jax array, a list or a scalar (others returned as they are)."""
    if array_kind(x) == "torch":
        return x.detach().cpu().numpy()
    if array_kind(x) == "jax":
        return np.asarray(x)
    return x


def array_kind(x) -> str | None:
    """``"numpy"``, ``"torch"``, ``"jax"`` or ``None`` (not an array)."""
    if isinstance(x, np.ndarray):
        return "numpy"
    module = type(x).__module__
    if module.startswith("torch") and hasattr(x, "detach"):
        return "torch"
    if module.startswith(("jax", "jaxlib")) and hasattr(x, "shape") and hasattr(x, "dtype"):
        return "jax"
    return None


def describe_type(x) -> str:
    """What ``x`` is, in the learner's terms: 'list of int', 'torch tensor of torch.float32'."""
    kind = array_kind(x)
    if kind is not None:
        dtype = x.dtype if kind != "jax" else np.dtype(x.dtype).name
        return f"{_KIND_NAMES[kind]} of dtype {dtype}"
    if isinstance(x, list | tuple):
        inner = sorted({type(v).__name__ for v in x})
        return f"{type(x).__name__} of {', '.join(inner)}" if inner else f"empty {type(x).__name__}"
    if isinstance(x, np.generic):
        return f"numpy scalar of dtype {x.dtype}"
    return type(x).__name__


def compare(expected, got, rtol: float, atol: float, where: str = "",
            returns: tuple[str, ...] = ("numpy", "torch", "jax"),
            integers: str = "indices") -> str | None:
    """``None`` if ``got`` matches ``expected``, else a sentence saying how it differs.

    Where ``expected`` is an array, ``got`` must be an array of one of the ``returns`` kinds.
    Integer results need an integer dtype (``integers="indices"``) or whole values
    (``integers="counts"``)."""
    at = f" (in {where})" if where else ""
    if got is None and expected is not None:
        return f"your function returned None{at}: did you forget a `return`?"
    if isinstance(expected, tuple | list) and not is_arraylike(expected):
        if not isinstance(got, tuple | list) or len(got) != len(expected):
            n = f"{len(got)} items" if isinstance(got, tuple | list) else describe_type(got)
            return f"expected a tuple of {len(expected)} items{at}, got {n}"
        for i, (e, g) in enumerate(zip(expected, got)):
            problem = compare(e, g, rtol, atol, f"item {i}" if not where else f"{where}, item {i}",
                              returns, integers)
            if problem:
                return problem
        return None
    if isinstance(expected, dict):
        if not isinstance(got, dict) or set(got) != set(expected):
            keys = sorted(got, key=repr) if isinstance(got, dict) else describe_type(got)
            return f"expected a dict with keys {sorted(expected, key=repr)}{at}, got {keys}"
        for k in expected:
            problem = compare(expected[k], got[k], rtol, atol, f"key {k!r}", returns, integers)
            if problem:
                return problem
        return None
    kind = array_kind(got)
    if array_kind(expected) is not None:
        allowed = " or ".join(_KIND_NAMES[k] for k in returns)
        if kind is None:
            return f"expected a {allowed}{at}, got {describe_type(got)}"
        if kind not in returns:
            return (f"expected a {allowed}{at}, got a {describe_type(got)}: the next cells "
                    f"use it as a {_KIND_NAMES[returns[0]]}")
    elif kind is None and not isinstance(got, int | float | np.number | bool | np.bool_):
        return f"expected a number{at}, got {describe_type(got)} {safe_repr(got, 60)}"
    e = np.asarray(to_numpy(expected))
    g = np.asarray(to_numpy(got))
    if g.dtype.kind not in "biuf":
        return (f"expected numbers{at}, got {describe_type(got)}"
                + (" (compute in float32: bfloat16/float16 are too coarse for this check)"
                   if g.dtype.kind == "V" or "bfloat16" in str(g.dtype) else ""))
    if g.shape != e.shape:
        return f"shape {g.shape} but expected {e.shape}{at}"
    if e.dtype.kind in "iu" and g.dtype.kind not in "iu":
        if integers == "counts" and g.dtype.kind == "f" and np.all(g == np.round(g)):
            g = g.astype(np.int64)
        elif integers == "counts":
            return f"{describe_type(got)} but expected whole-number counts{at}"
        else:
            empty = (" Even an empty result needs one: np.array([[], []]) is float64, so give "
                     "dtype=np.int64." if g.size == 0 else "")
            return (f"{describe_type(got)} but expected integer indices{at} (an integer dtype "
                    f"such as {e.dtype}: they index arrays).{empty}")
    if e.dtype.kind == "b" and g.dtype.kind != "b":
        return f"{describe_type(got)} but expected booleans{at}"
    if e.dtype.kind in "iub":
        bad = e != g
    else:
        bad = ~np.isclose(g.astype(np.float64), e.astype(np.float64), rtol=rtol, atol=atol,
                          equal_nan=True)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        pos = f"[{', '.join(map(str, idx))}]" if idx else ""
        return (f"{int(bad.sum())} of {bad.size} values differ{at}; first at {pos or 'the value'}: "
                f"expected {e[idx].item()!r}, got {g[idx].item()!r}")
    return None


def is_arraylike(x) -> bool:
    return isinstance(x, list) and all(np.isscalar(v) for v in x)


def safe_repr(x, limit: int = 600) -> str:
    try:
        text = repr(x)
    except Exception as e:  # noqa: BLE001 - a learner's object whose repr raises
        return f"<{type(x).__name__} object; its repr raised {type(e).__name__}>"
    return text if len(text) <= limit else text[:limit] + f"... ({len(text):,} characters)"


def fmt(x, max_items: int) -> str:
    try:
        return _fmt_unsafe(x, max_items)
    except Exception:  # noqa: BLE001 - formatting must never crash the checker
        return f"<{describe_type(x)}>"


def _fmt_unsafe(x, max_items: int) -> str:
    if x is None:
        return "None"
    if type(x).__name__ == "TrainState" and hasattr(x, "opt_state"):   # flax: shapes, not values
        import jax

        shapes = {jax.tree_util.keystr(k): tuple(np.shape(v)) for k, v in
                  jax.tree_util.tree_flatten_with_path(x.params)[0]}
        return f"TrainState(step={int(x.step)}, params of shapes {shapes}, an optax optimiser)"
    if isinstance(x, dict) and len(x) > 8:        # a long dict: the first entries, then a count
        shown = list(x.items())[:4]
        return ("{" + ", ".join(f"{k!r}: {fmt(v, 6)}" for k, v in shown)
                + f", ... ({len(x) - 4} more entries)}}")
    if isinstance(x, tuple | list) and not is_arraylike(x):
        inner = ", ".join(fmt(v, max_items) for v in x[:max_items])
        more = ", ..." if len(x) > max_items else ""
        return f"({inner}{more})" if isinstance(x, tuple) else f"[{inner}{more}]"
    if isinstance(x, dict):
        return "{" + ", ".join(f"{k!r}: {fmt(v, max_items)}" for k, v in x.items()) + "}"
    kind = array_kind(x)
    if kind is not None:
        arr = to_numpy(x)
        text = np.array2string(arr, threshold=max_items * 2, edgeitems=max_items // 2,
                               separator=", ").replace("\n", "\n" + " " * 14)
        label = {"numpy": "array", "torch": "tensor", "jax": "jax array"}[kind]
        grad = ", requires_grad=True" if requires_grad(x) and x.is_leaf else ""
        return f"{label}({text}, shape={arr.shape}, dtype={arr.dtype}{grad})"
    if type(x).__name__ == "Series" and type(x).__module__.startswith("pandas"):
        values = np.array2string(x.to_numpy(), threshold=max_items * 2,
                                 edgeitems=max_items // 2, separator=", ")
        index = x.index
        plain = type(index).__name__ == "RangeIndex" and index.start == 0 and index.step == 1
        where = "" if plain else f", index={fmt(index.to_numpy(), max_items)}"
        return f"Series({values}, name={x.name!r}, dtype={x.dtype}{where})"
    if type(x).__module__.startswith("pandas"):
        return "\n" + textwrap.indent(safe_repr(x), " " * 8)
    return safe_repr(x, 300)
