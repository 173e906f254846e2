"""What every chapter's first cell runs in Colab, after installing the course from its repository.

The course's own dependencies (``pyproject.toml``) are libraries Colab already ships, unpinned, so
installing the course never replaces Colab's torch, jax, flax or optax. :func:`setup` then
installs what Colab lacks and the chapters import: PyG, jraph and faiss (:data:`PACKAGES`, the
versions the book was made with). Last, PyG's compiled neighbour sampler, which chapter 3's PyG
half needs: a prebuilt ``pyg-lib`` from PyG's wheel index for the running torch, else prebuilt
``torch-scatter`` and ``torch-sparse`` from the same index, each checked by importing PyG in a
fresh process (a build for another torch is removed again). Nothing is compiled from source: when
the index has no build yet for Colab's torch (it can lag behind a Colab upgrade), everything else
is installed and one line says that only chapter 3's PyG half is affected.

``$COURSE_PYG_WHEELS`` replaces PyG's wheel index by another page or folder of wheels (the Colab
rehearsal, ``scripts/colab_rehearsal.py``, points it at prebuilt wheels on the machine).
"""

from __future__ import annotations

import os
import subprocess
import sys

# What the chapters import and Colab does not ship (pins as in requirements.txt).
PACKAGES = ("torch-geometric==2.8.1", "jraph==0.0.6.dev0", "faiss-cpu==1.15.1")

# The libraries a fresh Colab runtime ships that the course and its chapters import
# (distribution names): installing the course must neither replace nor pin them.
COLAB_SHIPS = ("torch", "jax", "jaxlib", "flax", "optax", "numpy", "pandas", "scipy",
               "scikit-learn", "matplotlib", "networkx", "tqdm", "ipython", "ipykernel",
               "ipywidgets", "pygments", "nbformat", "nbclient", "requests", "pyyaml")

# PyG's neighbour sampler, in order of preference: each entry is installed as one.
SAMPLERS = (("pyg-lib",), ("torch-scatter", "torch-sparse"))
PYG_WHEELS = "https://data.pyg.org/whl/torch-{torch}+{device}.html"
WHEELS_ENV = "COURSE_PYG_WHEELS"

# Exits 0 when PyG imports and finds a sampler, and no extension it tried to load was broken
# (a build for another torch: PyG then warns on every import and ignores it).
SAMPLER_CHECK = """\
import sys, warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import torch_geometric.typing as t
broken = [w for w in caught if "An issue occurred while importing" in str(w.message)]
sys.exit(0 if (t.WITH_PYG_LIB or t.WITH_TORCH_SPARSE) and not broken else 1)
"""


def pip(*args: str) -> bool:
    """``pip ARGS`` with the running interpreter's pip; True when it succeeded."""
    command = [sys.executable, "-m", "pip", *args]
    return subprocess.run(command).returncode == 0


def pyg_wheel_index(torch_version: str, cuda: str | None) -> str:
    """PyG's page of wheels for a torch build: ``('2.8.0+cu126', '12.6')`` ->
    ``https://data.pyg.org/whl/torch-2.8.0+cu126.html``; ``cuda`` None: the CPU page."""
    device = "cu" + cuda.replace(".", "") if cuda else "cpu"
    return PYG_WHEELS.format(torch=torch_version.split("+")[0], device=device)


def sampler_works() -> bool:
    """Whether PyG, imported in a fresh process, finds a neighbour sampler that loads."""
    return subprocess.run([sys.executable, "-c", SAMPLER_CHECK]).returncode == 0


def install_sampler(index: str) -> str | None:
    """Install the first of :data:`SAMPLERS` that PyG's index (or ``index``) has a working
    build of; its first package's name, or None when there is none."""
    for packages in SAMPLERS:
        if pip("install", "-q", "--no-index", "--find-links", index, *packages):
            if sampler_works():
                return packages[0]
            pip("uninstall", "-q", "-y", *packages)          # built for another torch
    return None


def setup() -> str | None:
    """Install what the chapters need and Colab lacks (see the module's text). Returns the
    neighbour sampler's package, or None when PyG's index has none for this torch."""
    import torch

    if not pip("install", "-q", *PACKAGES):
        raise RuntimeError(f"installing {', '.join(PACKAGES)} failed: pip says why above. "
                           "Run the cell again; if it fails again, restart the runtime "
                           "(Runtime > Restart session) and run it once more.")
    index = os.environ.get(WHEELS_ENV) or pyg_wheel_index(torch.__version__, torch.version.cuda)
    sampler = install_sampler(index)
    if sampler is None:
        print(f"Ready, except PyG's neighbour sampler: no pyg-lib build for torch "
              f"{torch.__version__} yet; only chapter 3's PyG half needs it.")
    else:
        print(f"Ready: the course, PyG, jraph, faiss and {sampler} are installed.")
    return sampler
