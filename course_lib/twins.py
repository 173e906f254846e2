"""The two frameworks' twin modules by name, for code that runs a chapter's model in both: the
benchmarks, the leaderboard. Every chapter module pair has the same names and signatures
(``tests/test_layout.py``), so such code calls ``twin(framework, 'bpr').fit(...)`` and never
branches on the framework.

* :data:`FRAMEWORKS` - ``'PyG'`` and ``'JAX'``, the names the records and tables use;
* :func:`twin` - a framework's module for a chapter (``twin('JAX', 'gcn')`` is
  :mod:`course_lib.jax.gcn`).
"""

from __future__ import annotations

import importlib
from types import ModuleType

FRAMEWORKS = ("PyG", "JAX")
_PACKAGES = {"PyG": "course_lib.pyg", "JAX": "course_lib.jax"}


def twin(framework: str, module: str) -> ModuleType:
    """``course_lib.<pyg|jax>.<module>`` for ``framework`` ``'PyG'`` or ``'JAX'``."""
    if framework not in _PACKAGES:
        raise ValueError(f"framework must be one of {FRAMEWORKS}, got {framework!r}")
    return importlib.import_module(f"{_PACKAGES[framework]}.{module}")
