"""Serving a trained model's embeddings with PyTorch and PyG (JAX twin:
``course_lib/jax/serving.py``; the API and its checks: :mod:`course_lib.serving`).

Exact retrieval is one matrix product and ``torch.topk`` (a partial sort) after the seen movies
are set to ``-inf`` (PyG's ``MIPSKNNIndex``, faiss's flat inner-product index, computes the same
thing). Approximate retrieval is PyG's ``MIPSKNNIndex`` over faiss's inverted-file index
(:func:`ivf_index`): its build clusters the movie embeddings into ``num_cells`` cells (k-means);
a query scores the cells' centres and then only the movies in the ``num_cells_to_visit`` best
cells, so it may miss a movie the exact search finds. (PyG's ``ApproxMIPSKNNIndex`` also
compresses the embeddings, product quantisation, which costs more recall than a catalogue of
10,000 movies needs to save.) Seen movies are excluded
by PyG's ``exclude_links`` (it asks faiss for ``k`` plus the user's number of seen movies);
a user with so many seen movies that faiss's limit of 2,048 results leaves fewer than ``k`` is
served exactly instead.
"""

from __future__ import annotations

import numpy as np
import torch

from ..serving import BaseRecommender

FAISS_MAX_K = 2048


def ivf_index(num_cells: int, num_cells_to_visit: int):
    """PyG's ``MIPSKNNIndex`` with faiss's inverted-file index (``IndexIVFFlat``, inner
    product) in place of the flat one."""
    from torch_geometric.nn.pool import MIPSKNNIndex

    class IVFMIPSKNNIndex(MIPSKNNIndex):
        def _create_index(self, channels: int):
            import faiss

            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(channels), channels, num_cells,
                                       faiss.METRIC_INNER_PRODUCT)
            index.nprobe = num_cells_to_visit
            return index

    return IVFMIPSKNNIndex()


def masked_top_k(scores: torch.Tensor, seen: torch.Tensor, k: int
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(values [B, k], indices [B, k])`` of the ``k`` highest ``scores`` ``[B, M]`` per row
    among the entries where ``seen`` ``[B, M]`` (bool) is False, best first (``torch.topk``;
    a row with fewer than ``k`` unseen entries ends in values ``-inf``). JAX twin:
    :func:`course_lib.jax.serving.masked_top_k`."""
    return torch.topk(scores.masked_fill(seen, float("-inf")), k, dim=1)


class Recommender(BaseRecommender):
    """Top-k recommendations from embeddings, in PyTorch; see
    :class:`course_lib.serving.BaseRecommender` for the API."""

    def _setup(self) -> None:
        self.user_emb = torch.from_numpy(self._user_emb_np)
        self.movie_emb = torch.from_numpy(self._movie_emb_np)
        self._tables = {"movie": self.movie_emb, "unit": torch.from_numpy(self._movie_unit_np)}
        self.index = None

    def build_index(self, num_cells: int = 64, num_cells_to_visit: int = 8) -> None:
        """Build the approximate index over the movie embeddings: ``num_cells`` k-means cells,
        ``num_cells_to_visit`` of them searched per query."""
        self.index = ivf_index(num_cells, num_cells_to_visit)
        self.index.add(self.movie_emb)

    @torch.no_grad()
    def _top_k(self, queries, seen, k, approximate, table="movie"):
        queries, seen = torch.from_numpy(np.ascontiguousarray(queries)), torch.from_numpy(seen)
        if approximate:
            if self.index is None:
                self.build_index()
            rows, cols = seen.nonzero(as_tuple=True)
            exclude = torch.stack([rows, cols])
            fits = seen.sum(1) + k <= FAISS_MAX_K
            out = torch.full((len(queries), k), -1, dtype=torch.long)
            if fits.any():
                keep = fits.nonzero().flatten()
                local = torch.full((len(queries),), -1, dtype=torch.long)
                local[keep] = torch.arange(len(keep))
                sub = exclude[:, fits[exclude[0]]]
                sub = torch.stack([local[sub[0]], sub[1]])
                out[keep] = self.index.search(queries[keep], k, exclude_links=sub).index
            if (~fits).any():     # too many seen movies for faiss: exact
                rest = (~fits).nonzero().flatten()
                out[rest] = self._exact(queries[rest], seen[rest], k, self.movie_emb)
            return out.numpy()
        return self._exact(queries, seen, k, self._tables[table]).numpy()

    @staticmethod
    def _exact(queries, seen, k, table):
        values, index = masked_top_k(queries @ table.T, seen, k)
        return index.masked_fill(values == float("-inf"), -1)
