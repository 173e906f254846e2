"""PyTorch Geometric side of the course. Mirrors :mod:`course_lib.jax` file for file."""
