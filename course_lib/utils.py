"""Small shared helpers: device choice, progress bars, an environment report, showing code."""

from __future__ import annotations

import os
import platform



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
