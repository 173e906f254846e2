"""Companion library of the course *Graph Neural Networks for Recommender Systems*.

* :mod:`course_lib.data` - MovieLens and HetRec loading (the one data layer);
* :mod:`course_lib.graph` - the framework-neutral bipartite graph and the seeded edge split;
* :mod:`course_lib.pyg` / :mod:`course_lib.jax` - the same pieces in PyTorch Geometric and in JAX,
  file for file;
* :mod:`course_lib.exercises` - the exercise checkers; :mod:`course_lib.plotting`,
  :mod:`course_lib.utils` - shared helpers.
"""

__version__ = "0.1.0"
