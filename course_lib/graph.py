"""One framework-neutral user-movie graph and one seeded edge split, for PyG and JAX alike.

The single source of truth is :class:`BipartiteGraph`: numpy arrays of user and movie indices per
rating edge, plus the movie features. :func:`split_edges` cuts its edges into

* **training message-passing edges** - the edges a GNN may propagate over while training;
* **training supervision edges** - training positives the loss is computed on, kept out of
  message passing (``disjoint_train_ratio``) so the model cannot simply look its labels up;
* **validation** and **test** edges, each with a fixed set of sampled **negatives** (user-movie
  pairs with no rating) at ``neg_ratio`` negatives per positive.

Both :func:`course_lib.pyg.data.to_heterodata` and :func:`course_lib.jax.data.to_graphstuple`
consume these arrays, so the two frameworks see the same ids, the same edges and the same split.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data import MovieLens


# --------------------------------------------------------------------------------------------------
# Small building blocks (each is also an exercise in the data chapter)
# --------------------------------------------------------------------------------------------------


def to_edge_index(user_raw, movie_raw, user_ids, movie_ids) -> np.ndarray:
    """Map raw rating ids to a ``[2, E]`` int64 edge index of 0-based (user, movie)
    indices.

    ``user_ids`` and ``movie_ids`` list the raw ids in index order (``user_ids[i]``
    is the raw id of user ``i``). Row 0 holds user indices (the source), row 1 movie
    indices (the target).
    """
    user_pos = {int(raw): i for i, raw in enumerate(user_ids)}
    movie_pos = {int(raw): j for j, raw in enumerate(movie_ids)}
    users = [user_pos[int(u)] for u in user_raw]
    movies = [movie_pos[int(m)] for m in movie_raw]
    return np.array([users, movies], dtype=np.int64).reshape(2, -1)


def node_degrees(edge_index, num_users: int, num_movies: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Degree of every user and every movie in a ``[2, E]`` user->movie edge index.

    Nodes without edges (isolated nodes) have degree 0, so the outputs always have
    lengths ``num_users`` and ``num_movies``.
    """
    edge_index = np.asarray(edge_index, dtype=np.int64).reshape(2, -1)
    return (np.bincount(edge_index[0], minlength=num_users),
            np.bincount(edge_index[1], minlength=num_movies))


def bipartite_to_directed(edge_index, num_users: int
                          ) -> tuple[np.ndarray, np.ndarray]:
    """``senders, receivers`` of one homogeneous graph holding both edge directions.

    Users keep their index; movie ``j`` becomes node ``num_users + j``. The first
    ``E`` edges run user -> movie, the next ``E`` movie -> user (the reverse of
    each, in the same order). This is how a jraph ``GraphsTuple`` stores the
    bipartite graph.
    """
    edge_index = np.asarray(edge_index, dtype=np.int64).reshape(2, -1)
    users, movies = edge_index[0], edge_index[1] + num_users
    return np.concatenate([users, movies]), np.concatenate([movies, users])


# --------------------------------------------------------------------------------------------------
# The graph
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BipartiteGraph:
    """The user-movie rating graph as numpy arrays (the single source for both frameworks).

    Edge ``e`` says user ``edge_index[0, e]`` rated movie ``edge_index[1, e]`` with
    ``rating[e]`` at ``timestamp[e]``. ``movie_x`` holds the 20 genre indicators per movie.
    """

    num_users: int
    num_movies: int
    edge_index: np.ndarray   # [2, E] int64
    rating: np.ndarray       # [E] float32
    timestamp: np.ndarray    # [E] int64
    movie_x: np.ndarray      # [num_movies, F] float32
    feature_names: tuple[str, ...] = ()

    @property
    def num_edges(self) -> int:
        return self.edge_index.shape[1]

    @property
    def num_nodes(self) -> int:
        return self.num_users + self.num_movies

    def degrees(self, edge_ids=None) -> tuple[np.ndarray, np.ndarray]:
        ei = self.edge_index if edge_ids is None else self.edge_index[:, edge_ids]
        return node_degrees(ei, self.num_users, self.num_movies)

    def pair_codes(self, edge_index=None) -> np.ndarray:
        """One int64 per (user, movie) pair: ``user * num_movies + movie`` (for set operations)."""
        ei = self.edge_index if edge_index is None else np.asarray(edge_index)
        return ei[0].astype(np.int64) * self.num_movies + ei[1]


def build_graph(ml: MovieLens) -> BipartiteGraph:
    """The rating graph of a loaded :class:`~course_lib.data.MovieLens`, edges in file order."""
    r = ml.ratings
    edge_index = to_edge_index(r["userId"].to_numpy(), r["movieId"].to_numpy(), ml.user_ids,
                               ml.movie_ids)
    return BipartiteGraph(
        num_users=ml.num_users,
        num_movies=ml.num_movies,
        edge_index=edge_index,
        rating=r["rating"].to_numpy(np.float32),
        timestamp=r["timestamp"].to_numpy(np.int64),
        movie_x=ml.genres.to_numpy(np.float32),
        feature_names=tuple(ml.genres.columns),
    )


# --------------------------------------------------------------------------------------------------
# The split
# --------------------------------------------------------------------------------------------------


def sample_negatives(graph: BipartiteGraph, num: int, rng: np.random.Generator,
                     exclude_codes: np.ndarray | None = None) -> np.ndarray:
    """``num`` distinct (user, movie) pairs, uniform over pairs without a rating: ``[2, num]``.

    ``exclude_codes`` (see :meth:`BipartiteGraph.pair_codes`) adds pairs that must not be drawn.
    """
    forbidden = graph.pair_codes()
    if exclude_codes is not None:
        forbidden = np.union1d(forbidden, exclude_codes)
    free = graph.num_users * graph.num_movies - len(np.unique(forbidden))
    total = graph.num_users * graph.num_movies
    if num > free:
        raise ValueError(f"cannot sample {num} negatives: only {free} free pairs")
    chosen = np.empty(0, dtype=np.int64)
    while len(chosen) < num:
        draw = rng.integers(0, total, size=2 * (num - len(chosen)) + 16)
        draw = draw[~np.isin(draw, forbidden)]
        # keep first occurrences, in draw order, so the result depends only on the seed
        _, first = np.unique(np.concatenate([chosen, draw]), return_index=True)
        chosen = np.concatenate([chosen, draw])[np.sort(first)][:num]
    return np.stack([chosen // graph.num_movies, chosen % graph.num_movies])


@dataclass(frozen=True)
class EdgeSplit:
    """A seeded split of a :class:`BipartiteGraph`'s edges (arrays of edge ids into the graph).

    Message passing follows PyG's ``RandomLinkSplit``: training uses ``train_message`` only;
    validation may also pass messages over the training supervision edges; testing also over the
    validation edges. Positives of a part are never message-passing edges of that part.
    """

    train_message: np.ndarray
    train_supervision: np.ndarray
    val: np.ndarray
    test: np.ndarray
    val_negatives: np.ndarray    # [2, n_val * neg_ratio] (user, movie) pairs with no rating
    test_negatives: np.ndarray   # [2, n_test * neg_ratio]
    seed: int
    neg_ratio: float

    @property
    def train(self) -> np.ndarray:
        return np.concatenate([self.train_message, self.train_supervision])

    def message_edges(self, part: str = "train") -> np.ndarray:
        """Edge ids a GNN may pass messages over when predicting ``part``."""
        return {
            "train": self.train_message,
            "val": self.train,
            "test": np.concatenate([self.train, self.val]),
        }[_check_part(part)]

    def positives(self, part: str) -> np.ndarray:
        return {"train": self.train_supervision, "val": self.val,
                "test": self.test}[_check_part(part)]

    def labelled_pairs(self, graph: BipartiteGraph, part: str) -> tuple[np.ndarray, np.ndarray]:
        """``(edge_label_index [2, n], edge_label [n])`` for ``val`` or ``test``: positives, then
        the fixed negatives, labelled 1 and 0."""
        if part not in ("val", "test"):
            raise ValueError("fixed negatives exist for 'val' and 'test'; training negatives are "
                             "sampled afresh each epoch with sample_negatives()")
        pos = graph.edge_index[:, self.positives(part)]
        neg = self.val_negatives if part == "val" else self.test_negatives
        label = np.concatenate([np.ones(pos.shape[1]), np.zeros(neg.shape[1])]).astype(np.float32)
        return np.concatenate([pos, neg], axis=1), label

    def sizes(self) -> dict[str, int]:
        return {"train message": len(self.train_message),
                "train supervision": len(self.train_supervision),
                "val": len(self.val), "test": len(self.test),
                "val negatives": self.val_negatives.shape[1],
                "test negatives": self.test_negatives.shape[1]}


def _check_part(part: str) -> str:
    if part not in ("train", "val", "test"):
        raise ValueError(f"part must be 'train', 'val' or 'test', got {part!r}")
    return part


SPLIT_ORDERS = ("random", "time")


def leak_free_split(perm, val_ratio: float, test_ratio: float,
                    supervision_ratio: float) -> dict[str, tuple]:
    """For each part, ``(message edges, target edges)``: the edges a model may
    pass messages over when it predicts that part, and those it learns or is
    scored on.

    ``perm`` lists every edge id once, shuffled. Its first ``n_train`` ids train,
    the next ``floor(E * val_ratio)`` validate, the last ``floor(E * test_ratio)``
    test; of the training ids, the first ``floor(n_train * supervision_ratio)`` are
    supervision targets only. The ids come back sorted.
    """
    perm = np.asarray(perm)
    n_val, n_test = int(len(perm) * val_ratio), int(len(perm) * test_ratio)
    n_train = len(perm) - n_val - n_test
    n_sup = int(n_train * supervision_ratio)
    train = perm[:n_train]
    val, test = perm[n_train:n_train + n_val], perm[n_train + n_val:]
    supervision, message = train[:n_sup], train[n_sup:]
    return {"train": (np.sort(message), np.sort(supervision)),  # targets unseen
            "val": (np.sort(train), np.sort(val)),        # all training edges
            "test": (np.sort(np.concatenate([train, val])), np.sort(test))}


def split_edges(graph: BipartiteGraph, val_ratio: float = 0.1, test_ratio: float = 0.1,
                disjoint_train_ratio: float = 0.3, neg_ratio: float = 2.0,
                seed: int = 42, order: str = "random") -> EdgeSplit:
    """The course's seeded split, the same numbers as PyG's ``RandomLinkSplit``.

    Edges are shuffled with ``seed``; ``floor(E * val_ratio)`` become validation,
    ``floor(E * test_ratio)`` test, and the rest training, of which
    ``floor(n_train * disjoint_train_ratio)`` are supervision-only (drawn at random). Validation
    and test get ``neg_ratio`` negatives per positive, drawn from pairs that are not rated
    anywhere in the graph and distinct across the two parts.

    ``order='time'`` cuts by timestamp instead of at random: the oldest interactions train, the
    next ones validate and the newest test (ties broken by the seeded shuffle), so no model
    learns from the future of what it is tested on.
    """
    if order not in SPLIT_ORDERS:
        raise ValueError(f"order must be one of {SPLIT_ORDERS}, got {order!r}")
    for name, value in [("val_ratio", val_ratio), ("test_ratio", test_ratio)]:
        if not 0 <= value < 1:
            raise ValueError(f"{name} must be in [0, 1), got {value}")
    if val_ratio + test_ratio >= 1:
        raise ValueError("val_ratio + test_ratio must be below 1")
    if not 0 <= disjoint_train_ratio < 1:
        raise ValueError("disjoint_train_ratio must be in [0, 1)")
    rng = np.random.default_rng(seed)
    num_edges = graph.num_edges
    n_val = int(num_edges * val_ratio)
    n_test = int(num_edges * test_ratio)
    n_train = num_edges - n_val - n_test

    perm = rng.permutation(num_edges)
    if order == "time":       # stable sort of the shuffled ids: ties stay in shuffled order
        perm = perm[np.argsort(graph.timestamp[perm], kind="stable")]
        train = perm[:n_train]
        perm = np.concatenate([rng.permutation(train), perm[n_train:]])   # random supervision
    parts = leak_free_split(perm, val_ratio, test_ratio, disjoint_train_ratio)
    n_val_neg, n_test_neg = int(round(n_val * neg_ratio)), int(round(n_test * neg_ratio))
    neg = sample_negatives(graph, n_val_neg + n_test_neg, rng)
    return EdgeSplit(
        train_message=parts["train"][0],
        train_supervision=parts["train"][1],
        val=parts["val"][1],
        test=parts["test"][1],
        val_negatives=neg[:, :n_val_neg],
        test_negatives=neg[:, n_val_neg:],
        seed=seed,
        neg_ratio=neg_ratio,
    )


def movielens_graph_and_split(seed: int = 42, **split_kwargs) -> tuple[MovieLens, BipartiteGraph,
                                                                       EdgeSplit]:
    """Load MovieLens once and return ``(ml, graph, split)``: every chapter's starting point."""
    from .data import load_movielens

    ml = load_movielens()
    graph = build_graph(ml)
    return ml, graph, split_edges(graph, seed=seed, **split_kwargs)


def supervision_batches(graph: BipartiteGraph, split: EdgeSplit, batch_size: int,
                        rng: np.random.Generator, neg_ratio: float | None = None):
    """One epoch of training batches, identical for every framework: yields
    ``(pairs [2, B * (1 + neg_ratio)], labels)`` numpy arrays.

    Each batch holds ``batch_size`` training supervision positives (shuffled with ``rng``; the
    last, smaller batch is dropped so that compiled steps see one shape) followed by
    ``neg_ratio * batch_size`` uniform random (user, movie) pairs as negatives, labelled 0 (as
    ``LinkNeighborLoader`` does, they are not checked against the ratings: about 1.7 % of random
    pairs on ml-latest-small are in fact rated).
    """
    neg_ratio = split.neg_ratio if neg_ratio is None else neg_ratio
    positives = graph.edge_index[:, split.train_supervision]
    num_neg = int(round(batch_size * neg_ratio))
    labels = np.concatenate([np.ones(batch_size), np.zeros(num_neg)]).astype(np.float32)
    order = rng.permutation(positives.shape[1])
    for b in range(positives.shape[1] // batch_size):
        negatives = np.stack([rng.integers(0, graph.num_users, num_neg),
                              rng.integers(0, graph.num_movies, num_neg)])
        pos = positives[:, order[b * batch_size:(b + 1) * batch_size]]
        yield np.concatenate([pos, negatives], axis=1), labels
