"""Serving a trained model's embeddings with JAX (PyG twin: ``course_lib/pyg/serving.py``; the
API and its checks: :mod:`course_lib.serving`).

Exact retrieval is :func:`masked_top_k` under ``jax.jit``: one matrix
product, the seen movies set to ``-inf``, ``jax.lax.top_k`` (a partial sort). The first call
of each batch size and ``k`` compiles (see ``benchmarks/serving.py`` for the cost); later calls
reuse the compiled code. Approximate retrieval is ``jax.lax.approx_max_k`` with a
``recall_target``: on TPUs it runs a partial reduction that may miss a few of the true top-k;
on CPU and GPU XLA computes it exactly (an exact top-k), so here its recall against exact is 1.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ..serving import BaseRecommender


def masked_top_k(scores, seen, k: int):
    """``(values [B, k], indices [B, k])`` of the ``k`` highest
    ``scores`` ``[B, M]`` per row among the entries where ``seen`` ``[B, M]`` (bool)
    is False, best first; ties keep the lower index first. JAX, jittable with ``k``
    static. A row with fewer than ``k`` unseen entries ends in values ``-inf``. PyG
    twin: :func:`course_lib.pyg.serving.masked_top_k`."""
    return jax.lax.top_k(jnp.where(seen, -jnp.inf, scores), k)


@partial(jax.jit, static_argnames="k")
def exact_top_k(table, queries, seen, k: int):
    """``[B, k]`` indices of the best rows of ``table`` ``[M, D]`` for ``queries`` ``[B, D]``
    outside ``seen`` ``[B, M]``, and their scores."""
    values, index = masked_top_k(queries @ table.T, seen, k)
    return values, index


@partial(jax.jit, static_argnames=("k", "recall_target"))
def approx_top_k(table, queries, seen, k: int, recall_target: float = 0.95):
    """:func:`exact_top_k` with ``jax.lax.approx_max_k``."""
    scores = jnp.where(seen, -jnp.inf, queries @ table.T)
    return jax.lax.approx_max_k(scores, k, recall_target=recall_target)


class Recommender(BaseRecommender):
    """Top-k recommendations from embeddings, in JAX; see
    :class:`course_lib.serving.BaseRecommender` for the API."""

    def _setup(self) -> None:
        self.user_emb = jnp.asarray(self._user_emb_np)
        self.movie_emb = jnp.asarray(self._movie_emb_np)
        self._tables = {"movie": self.movie_emb, "unit": jnp.asarray(self._movie_unit_np)}
        self.recall_target = 0.95

    def build_index(self, recall_target: float = 0.95) -> None:
        """Set the approximate search's recall target (``approx_max_k`` needs no index)."""
        self.recall_target = recall_target

    def _top_k(self, queries, seen, k, approximate, table="movie"):
        args = (self._tables[table], jnp.asarray(queries), jnp.asarray(seen))
        if approximate:
            values, index = approx_top_k(*args, k=k, recall_target=self.recall_target)
        else:
            values, index = exact_top_k(*args, k=k)
        values, index = np.asarray(values), np.asarray(index)
        return np.where(np.isneginf(values), -1, index)
