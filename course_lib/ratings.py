"""Rating prediction, framework-neutral: error metrics and the baselines a GNN must beat.

Every function works on numpy arrays and on the course's shared :class:`BipartiteGraph` and
:class:`EdgeSplit`, so baselines and GNNs are scored on exactly the same validation and test
edges. The baselines learn from the training edges only (``split.train``):

* :func:`global_mean` - one number for everybody;
* :func:`user_mean` / :func:`movie_mean` - each user's (movie's) mean training rating, the global
  mean for users (movies) without training ratings;
* :class:`BiasedMF` - biased matrix factorisation ``mu + b_u + b_m + <p_u, q_m>`` fitted by
  alternating least squares (ridge regressions, no learning rate to tune).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .graph import BipartiteGraph, EdgeSplit

RATING_MIN, RATING_MAX = 0.5, 5.0
#: The ten rating levels of MovieLens, in half stars: 0.5, 1.0, ..., 5.0 (level ``k`` is
#: ``RATING_LEVELS[k]``).
RATING_LEVELS = np.arange(1, 11, dtype=np.float32) * 0.5


def mae(pred, target) -> float:
    """Mean absolute error."""
    return float(np.mean(np.abs(np.asarray(pred, np.float64) - np.asarray(target, np.float64))))


def rmse(pred, target) -> float:
    """Root mean squared error."""
    diff = np.asarray(pred, np.float64) - np.asarray(target, np.float64)
    return float(np.sqrt(np.mean(diff ** 2)))


def errors(pred, target) -> dict[str, float]:
    return {"MAE": mae(pred, target), "RMSE": rmse(pred, target)}


def part_pairs(graph: BipartiteGraph, split: EdgeSplit, part: str
               ) -> tuple[np.ndarray, np.ndarray]:
    """``(edge_index [2, n], rating [n])`` of a part's rated edges: ``train`` (all training edges),
    ``val`` or ``test``."""
    ids = split.train if part == "train" else split.positives(part)
    return graph.edge_index[:, ids], graph.rating[ids]


def message_edges(split: EdgeSplit, part: str) -> np.ndarray:
    """Edge ids a rating model passes messages over when predicting ``part``: all training edges
    for ``train`` and ``val``, training and validation edges for ``test``. Ratings are not edge
    features, so training edges may both pass messages and carry the loss."""
    return split.message_edges("test") if part == "test" else split.train


def rating_level(rating) -> np.ndarray:
    """0-based level of each rating: 0.5 stars -> 0, 1.0 -> 1, ..., 5.0 -> 9 (int64). A rating
    that is not a multiple of half a star between 0.5 and 5 is a ``ValueError``."""
    rating = np.asarray(rating, dtype=np.float64)
    level = np.rint(rating * 2).astype(np.int64) - 1
    if rating.size and (np.any(np.abs(rating * 2 - (level + 1)) > 1e-6) or level.min() < 0
                        or level.max() >= len(RATING_LEVELS)):
        raise ValueError("ratings must be half stars between 0.5 and 5")
    return level


def held_out_edges(num_edges: int, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Sorted ids of a fresh random ``fraction`` of ``num_edges`` training edges (always
    ``max(1, round(fraction * num_edges))`` of them) to hold out of message passing for one
    epoch and score in the loss instead.

    A model whose messages carry the rating (GC-MC: one relation per rating level) would
    otherwise read each training label off the edge it is asked to predict."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be between 0 and 1, got {fraction}")
    size = max(1, round(fraction * num_edges))
    return np.sort(rng.choice(num_edges, size, replace=False))


def part_masks(graph: BipartiteGraph, split: EdgeSplit) -> dict[str, np.ndarray]:
    """Boolean masks over all of ``graph``'s edges: which are ``train``, ``val``, ``test``."""
    masks = {}
    for part, ids in (("train", split.train), ("val", split.val), ("test", split.test)):
        mask = np.zeros(graph.num_edges, dtype=bool)
        mask[ids] = True
        masks[part] = mask
    return masks


def user_pairs(graph: BipartiteGraph, user: int) -> np.ndarray:
    """``[2, num_movies]``: ``user`` paired with every movie, to score them all."""
    return np.stack([np.full(graph.num_movies, user), np.arange(graph.num_movies)])


# --------------------------------------------------------------------------------------------------
# Baselines
# --------------------------------------------------------------------------------------------------


def global_mean(graph: BipartiteGraph, split: EdgeSplit):
    """Predictor ``f(edge_index) -> ratings``: the mean training rating for every pair."""
    mu = float(graph.rating[split.train].mean())
    return lambda edge_index: np.full(np.shape(edge_index)[1], mu)


def _mean_by(index: np.ndarray, rating: np.ndarray, size: int, fallback: float) -> np.ndarray:
    total = np.bincount(index, weights=rating, minlength=size)
    count = np.bincount(index, minlength=size)
    return np.where(count > 0, total / np.maximum(count, 1), fallback)


def user_mean(graph: BipartiteGraph, split: EdgeSplit):
    """Predictor: the user's mean training rating (global mean if the user has none)."""
    ei, r = part_pairs(graph, split, "train")
    means = _mean_by(ei[0], r, graph.num_users, float(r.mean()))
    return lambda edge_index: means[np.asarray(edge_index)[0]]


def movie_mean(graph: BipartiteGraph, split: EdgeSplit):
    """Predictor: the movie's mean training rating (global mean if the movie has none)."""
    ei, r = part_pairs(graph, split, "train")
    means = _mean_by(ei[1], r, graph.num_movies, float(r.mean()))
    return lambda edge_index: means[np.asarray(edge_index)[1]]


@dataclass
class BiasedMF:
    """``r(u, m) = mu + b_u + b_m + <p_u, q_m>``, fitted by alternating least squares.

    Each half-step solves, for every user (then every movie), the ridge regression of its
    training ratings minus ``mu`` and the other side's bias on the other side's factors, with
    penalty ``reg`` on the factors and the bias. Predictions are clipped to 0.5 - 5 stars.
    """

    dim: int = 16
    reg: float = 5.0
    iterations: int = 15
    seed: int = 0

    def fit(self, graph: BipartiteGraph, split: EdgeSplit) -> BiasedMF:
        ei, r = part_pairs(graph, split, "train")
        rng = np.random.default_rng(self.seed)
        self.mu = float(r.mean())
        # factors with a constant column: [p_u, b_u] against [q_m, 1] and vice versa
        self.P = np.hstack([rng.normal(0, 0.1, (graph.num_users, self.dim)),
                            np.zeros((graph.num_users, 1))])
        self.Q = np.hstack([rng.normal(0, 0.1, (graph.num_movies, self.dim)),
                            np.zeros((graph.num_movies, 1))])
        users, movies = ei
        by_user = _groups(users, graph.num_users)
        by_movie = _groups(movies, graph.num_movies)
        for _ in range(self.iterations):
            self._solve(self.P, self.Q, by_user, movies, r)
            self._solve(self.Q, self.P, by_movie, users, r)
        return self

    def _solve(self, own, other, groups, other_index, r):
        """Update ``own = [factors, bias]`` given ``other = [factors, bias]``, row by row."""
        d = self.dim
        eye = self.reg * np.eye(d + 1)
        for row, edges in groups:
            o = other[other_index[edges]]
            x = np.hstack([o[:, :d], np.ones((len(edges), 1))])  # [q_m, 1]
            y = r[edges] - self.mu - o[:, d]                      # minus the other's bias
            own[row] = np.linalg.solve(x.T @ x + eye, x.T @ y)
        rows_without = np.setdiff1d(np.arange(len(own)), [g for g, _ in groups])
        own[rows_without] = 0.0

    def predict(self, edge_index) -> np.ndarray:
        u, m = np.asarray(edge_index)
        d = self.dim
        pred = (self.mu + self.P[u, d] + self.Q[m, d]
                + np.sum(self.P[u, :d] * self.Q[m, :d], axis=1))
        return np.clip(pred, RATING_MIN, RATING_MAX)

    def __call__(self, edge_index) -> np.ndarray:
        return self.predict(edge_index)


def _groups(index: np.ndarray, size: int) -> list[tuple[int, np.ndarray]]:
    """``[(node, edge ids of that node)]`` for the nodes that occur in ``index``."""
    order = np.argsort(index, kind="stable")
    nodes, starts = np.unique(index[order], return_index=True)
    return list(zip(nodes.tolist(), np.split(order, starts[1:])))


def baseline_table(graph: BipartiteGraph, split: EdgeSplit, mf: BiasedMF | None = None
                   ) -> dict[str, dict[str, float]]:
    """``{name: {'val MAE', 'val RMSE', 'test MAE', 'test RMSE'}}`` of the four baselines."""
    predictors = {"global mean": global_mean(graph, split),
                  "per-user mean": user_mean(graph, split),
                  "per-movie mean": movie_mean(graph, split),
                  "matrix factorisation": mf or BiasedMF().fit(graph, split)}
    table = {}
    for name, predict in predictors.items():
        row = {}
        for part in ("val", "test"):
            ei, r = part_pairs(graph, split, part)
            for metric, value in errors(predict(ei), r).items():
                row[f"{part} {metric}"] = value
        table[name] = row
    return table
