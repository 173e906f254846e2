"""JAX side of the course (jraph + flax + optax). Mirrors :mod:`course_lib.pyg` file for file."""
