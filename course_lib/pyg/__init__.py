"""PyTorch Geometric side of the course. Mirrors :mod:`course_lib.jax` file for file.

Importing it fixes torch's CPU thread count (:data:`course_lib.settings.TORCH_THREADS`), so that
a PyG model trained with a chapter's settings and seed gives the same numbers on every run."""

import torch

from course_lib.settings import TORCH_THREADS

torch.set_num_threads(TORCH_THREADS)
