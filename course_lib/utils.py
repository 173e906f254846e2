"""Small shared helpers: device choice, progress bars, an environment report, showing code,
gluing a computed number into the book's text."""

from __future__ import annotations

import contextlib
import os
import platform


def torch_device():
    """``cuda`` if a CUDA device is available, else ``cpu``."""
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@contextlib.contextmanager
def torch_threads(count: int):
    """PyTorch's CPU thread count set to ``count`` inside the block, restored after it."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def progress(iterable=None, **kwargs):
    """A tqdm progress bar that renders as a widget in notebooks and as text elsewhere."""
    from tqdm.auto import tqdm

    kwargs.setdefault("dynamic_ncols", True)
    kwargs.setdefault("mininterval", 0.5)  # fewer redraws: less output traffic from kernels
    kwargs.setdefault("disable", os.environ.get("COURSE_NO_PROGRESS") == "1")
    return tqdm(iterable, **kwargs)


OUTPUT_WIDTH = 88  # characters a line: what the book's output blocks show without scrolling


def say(*parts: str, width: int = OUTPUT_WIDTH) -> None:
    """Print ``parts`` joined by spaces, a line at most ``width`` characters: a part that would
    pass the edge starts a new line, indented two spaces (a part is never split)."""
    lines = [parts[0]]
    for part in parts[1:]:
        if len(lines[-1]) + 1 + len(part) <= width:
            lines[-1] += " " + part
        else:
            lines.append("  " + part)
    print("\n".join(lines))


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


GLUE_PREFIX = "application/papermill.record/"


def glue(name: str, value) -> None:
    """Store ``value`` under ``name`` in the cell's output, for the book's text to show.

    The same output as ``myst_nb.glue(name, value, display=False)``, without needing myst-nb
    in the kernel (Colab has none): the text writes ``{glue:text}`name:.3f``` and the built
    page shows the number this run computed. Nothing is displayed in the notebook itself.
    NumPy and torch scalars are stored as Python numbers, so that a format spec applies."""
    from IPython.core.formatters import format_display_data
    from IPython.display import display

    if hasattr(value, "item") and tuple(getattr(value, "shape", (1,))) == ():
        value = value.item()
    bundle, metadata = format_display_data(value)
    metadata["scrapbook"] = {"name": name, "mime_prefix": GLUE_PREFIX}
    display({GLUE_PREFIX + k: v for k, v in bundle.items()}, raw=True, metadata=metadata)
