"""Saved models: "load if it exists, else train", in both frameworks.

Every ``fit`` of chapters 3 to 7 hands :func:`course_lib.training.fit_loop` a
:class:`Checkpoint`, named after the model and keyed on three things:

* the **code**: a hash of the source of the module whose ``fit`` trains the model and of every
  ``course_lib`` module it imports, directly or not (:func:`code_files`): a change to any of
  them trains again, so a checkpoint never outlives the code that made it, while a change to an
  exercise, a plot or another model's module leaves it valid;
* the **settings**: the chapter's ``SETTINGS`` with the fit's overrides (``lr``, ``seed``, ...);
* the **data**: a hash of the arrays the fit trains on (the graph, the split, a starting point)
  and of the functions handed to it (an epoch loop, a negative sampler): by name for the
  course's own, by their source for any other (one defined in a notebook), and never reused
  when the source cannot be read, so a model changed in a notebook never loads a stale
  checkpoint.

When a checkpoint with that key exists and is intact, ``fit_loop`` loads the best weights and the
training history from it instead of training, and says so; otherwise it trains and saves one.
A checkpoint is a folder in the course cache (``$COURSE_CACHE_DIR``, by default
``~/.cache/gnn-recsys-course/checkpoints``) holding the weights and ``meta.json`` (key, the
weights' sha256, the history). PyG weights are a ``state_dict`` saved with ``torch.save`` and
read back with ``torch.load(weights_only=True)`` (no pickled code runs); flax parameters are
``flax.serialization`` bytes. Before anything is loaded, the file's sha256, the names and the
shapes are checked against the model being built: a corrupt or mismatched checkpoint is
reported and the model trained again, never loaded half. ``COURSE_CHECKPOINTS=off`` trains
every time.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import inspect
import json
import os
import re
import shutil
import tempfile
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

CACHE_ENV = "COURSE_CACHE_DIR"
SWITCH_ENV = "COURSE_CHECKPOINTS"   # "off": never load or save
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")   # a checkpoint's name: a folder's


class CheckpointError(Exception):
    """A checkpoint exists but cannot be used: corrupt, or made for another model."""


def enabled() -> bool:
    return os.environ.get(SWITCH_ENV, "on").lower() not in ("off", "0", "no", "false")


def cache_dir() -> Path:
    """Where checkpoints live: ``$COURSE_CACHE_DIR`` or ``~/.cache/gnn-recsys-course/checkpoints``."""
    root = os.environ.get(CACHE_ENV)
    return Path(root) if root else Path.home() / ".cache" / "gnn-recsys-course" / "checkpoints"


_ROOT = Path(__file__).resolve().parent


def _module_file(name: str) -> Path | None:
    """The source file of ``course_lib`` module ``name`` (a package's ``__init__.py``)."""
    parts = name.split(".")
    if parts[0] != _ROOT.name:
        return None
    base = _ROOT.joinpath(*parts[1:])
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imported(name: str, path: Path) -> set[str]:
    """The ``course_lib`` modules that module ``name`` (at ``path``) imports anywhere in its
    source, function-level imports included, and the packages that hold them."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            targets = [module] + [f"{module}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            parts = target.split(".")
            for i in range(1, len(parts) + 1):   # the packages on the way are imported too
                if _module_file(".".join(parts[:i])) is not None:
                    found.add(".".join(parts[:i]))
    return found


@lru_cache(maxsize=None)
def code_files(module: str | None = None) -> tuple[Path, ...]:
    """The source files a checkpoint of ``module``'s models depends on: the module and every
    ``course_lib`` module it imports, transitively; ``None``: every file of the library."""
    if module is None or _module_file(module) is None:
        return tuple(sorted(_ROOT.rglob("*.py")))
    seen, todo = set(), [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(_imported(name, _module_file(name)) - seen)
    return tuple(sorted(_module_file(name) for name in seen))


@lru_cache(maxsize=None)
def code_version(module: str | None = None) -> str:
    """sha256 of the paths and contents of :func:`code_files` (``module``)."""
    h = hashlib.sha256()
    for path in code_files(module):
        h.update(str(path.relative_to(_ROOT)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _feed(h, obj) -> None:
    """Hash ``obj`` into ``h``: arrays by dtype, shape and bytes; containers recursively."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        h.update(type(obj).__name__.encode())
        for f in dataclasses.fields(obj):
            h.update(f.name.encode())
            _feed(h, getattr(obj, f.name))
    elif isinstance(obj, dict):
        for k in sorted(obj, key=str):
            h.update(str(k).encode())
            _feed(h, obj[k])
    elif isinstance(obj, (list, tuple)):
        h.update(f"seq{len(obj)}".encode())
        for item in obj:
            _feed(h, item)
    elif hasattr(obj, "detach") and hasattr(obj, "numpy"):       # a torch tensor
        _feed(h, obj.detach().cpu().numpy())
    elif hasattr(obj, "shape") and hasattr(obj, "dtype"):          # numpy or JAX array
        a = np.ascontiguousarray(np.asarray(obj))
        h.update(f"{a.dtype}{a.shape}".encode())
        if a.dtype.hasobject:       # strings and such: their bytes are pointers, hash values
            h.update(repr(a.tolist()).encode())
        else:
            h.update(a.tobytes())
    elif hasattr(obj, "items") and callable(obj.items):           # flax FrozenDict and such
        _feed(h, dict(obj.items()))
    elif obj is None or isinstance(obj, (str, int, float, bool, np.generic)):
        h.update(repr(obj).encode())
    elif callable(obj) and hasattr(obj, "__qualname__"):            # a function or a class
        module = getattr(obj, "__module__", None) or ""
        h.update(f"{module}.{obj.__qualname__}".encode())
        if module.split(".")[0] != "course_lib":     # the course's code is in the key already
            try:
                h.update(inspect.getsource(obj).encode())
            except (OSError, TypeError):             # no source to compare: never the same key
                h.update(os.urandom(16))
    elif hasattr(obj, "__dict__"):                                  # other records (HeteroData)
        _feed(h, {k: v for k, v in vars(obj).items() if not k.startswith("__")})
    else:
        raise TypeError(f"cannot fingerprint a {type(obj).__name__}")


def fingerprint(*objs) -> str:
    """sha256 of ``objs`` (arrays, dataclasses, dicts, sequences, scalars)."""
    h = hashlib.sha256()
    for obj in objs:
        _feed(h, obj)
    return h.hexdigest()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _is_torch(weights) -> bool:
    return isinstance(weights, dict) and all(hasattr(v, "detach") for v in weights.values())


def _shapes(tree) -> dict[str, tuple]:
    """``'path/to/leaf' -> shape`` of a nested dict of arrays (a flax ``params`` tree)."""
    out = {}
    for k, v in tree.items():
        if hasattr(v, "items"):
            out.update({f"{k}/{kk}": s for kk, s in _shapes(v).items()})
        else:
            out[str(k)] = tuple(np.shape(v))
    return out


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """A model's checkpoint in the cache: ``name`` (say ``'jax-bpr-lightgcn'``) and ``key``.
    The name becomes a folder's name, printed and typed in a shell: letters, digits, ``.``,
    ``_`` and ``-`` only (a label such as ``'side information'`` is joined with ``-``)."""

    name: str
    key: str
    root: Path | None = None

    def __post_init__(self):
        if not NAME.fullmatch(self.name):
            raise ValueError(f"checkpoint name {self.name!r}: use letters, digits, '.', '_' and "
                             "'-' only (no spaces)")

    @classmethod
    def for_fit(cls, name: str, settings: dict, *data, module: str) -> Checkpoint:
        """The checkpoint of model ``name`` trained with ``settings`` on ``data`` by the current
        code of ``module`` (the module whose ``fit`` trains it: pass ``__name__``) and of what
        it imports."""
        key = hashlib.sha256(json.dumps(
            {"name": name, "settings": settings, "code": code_version(module),
             "data": fingerprint(*data)}, sort_keys=True, default=repr).encode()).hexdigest()
        return cls(name, key)

    @property
    def path(self) -> Path:
        return (self.root or cache_dir()) / f"{self.name}-{self.key[:16]}"

    def exists(self) -> bool:
        return (self.path / "meta.json").exists()

    def save(self, weights, history: dict) -> Path:
        """Write ``weights`` (a torch ``state_dict`` or a flax parameter tree) and ``history``;
        the folder appears whole or not at all."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{self.name}-", dir=self.path.parent))
        if _is_torch(weights):
            import torch

            fmt, file = "torch", tmp / "weights.pt"
            torch.save({k: v.detach().cpu() for k, v in weights.items()}, file)
        else:
            from flax import serialization

            fmt, file = "flax", tmp / "weights.msgpack"
            file.write_bytes(serialization.to_bytes(weights))
        meta = {"name": self.name, "key": self.key, "format": fmt, "file": file.name,
                "sha256": _sha256(file), "saved": time.strftime("%Y-%m-%d %H:%M:%S"),
                "history": _jsonable(history)}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        if self.path.exists():
            shutil.rmtree(self.path)
        os.replace(tmp, self.path)
        return self.path

    def load(self, template) -> tuple[Any, dict]:
        """``(weights, history)``, checked against ``template`` (the weights of the freshly
        built model: same names, same shapes). Raises ``FileNotFoundError`` when there is no
        checkpoint and :class:`CheckpointError` when it cannot be used."""
        meta_file = self.path / "meta.json"
        if not meta_file.exists():
            raise FileNotFoundError(meta_file)
        try:
            meta = json.loads(meta_file.read_text())
            file = self.path / meta["file"]
            if meta.get("key") != self.key:
                raise CheckpointError("it was saved for other code, settings or data")
            if not file.exists() or _sha256(file) != meta["sha256"]:
                raise CheckpointError("its weights file is corrupt (sha256 does not match)")
            if meta["format"] == "torch":
                weights = self._load_torch(file, template)
            else:
                weights = self._load_flax(file, template)
            return weights, meta["history"]
        except CheckpointError:
            raise
        except Exception as e:  # unreadable JSON, missing fields, undecodable weights
            raise CheckpointError(f"it cannot be read ({type(e).__name__}: {e})") from e

    @staticmethod
    def _load_torch(file: Path, template: dict):
        import torch

        if not _is_torch(template):
            raise CheckpointError("it holds PyTorch weights, the model is not a PyTorch one")
        weights = torch.load(file, map_location="cpu", weights_only=True)
        expected = {k: tuple(v.shape) for k, v in template.items()}
        found = {k: tuple(v.shape) for k, v in weights.items()}
        if found != expected:
            raise CheckpointError(f"its weights do not fit the model ({_diff(expected, found)})")
        return {k: v.to(template[k].device, template[k].dtype) for k, v in weights.items()}

    @staticmethod
    def _load_flax(file: Path, template):
        from flax import serialization

        if _is_torch(template):
            raise CheckpointError("it holds flax parameters, the model is a PyTorch one")
        state = serialization.msgpack_restore(file.read_bytes())
        expected, found = _shapes(template), _shapes(state)
        if found != expected:
            raise CheckpointError(f"its weights do not fit the model ({_diff(expected, found)})")
        return serialization.from_state_dict(template, state)


def _diff(expected: dict, found: dict) -> str:
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    shapes = [f"{k}: {found[k]} instead of {expected[k]}" for k in sorted(set(found) & set(expected))
              if found[k] != expected[k]]
    parts = ([f"missing {missing[:3]}"] if missing else []) + (
        [f"unexpected {extra[:3]}"] if extra else []) + shapes[:3]
    return "; ".join(parts)


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.generic,)):
        return obj.item()
    return obj
