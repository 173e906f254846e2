"""``course_lib/recommend.py``: top-n lists that skip rated movies, overlaps, rank agreement."""

from __future__ import annotations

import numpy as np
import pytest

from course_lib.recommend import overlap, rank_agreement, rated_movies, top_n_unseen


def test_top_n_unseen_ranks_and_skips_seen():
    scores = np.array([0.1, 0.9, 0.5, 0.9, -1.0])
    assert top_n_unseen(scores, [], 3).tolist() == [1, 3, 2]  # ties: lower index first
    assert top_n_unseen(scores, [1, 2], 3).tolist() == [3, 0, 4]
    assert top_n_unseen(scores, [0, 1, 2, 3], 3).tolist() == [4]  # fewer than n left
    with pytest.raises(ValueError, match="one score per movie"):
        top_n_unseen(scores[None], [], 3)


def test_rated_movies_and_overlap(tiny_graph):
    assert rated_movies(tiny_graph, 0).tolist() == [0, 1, 2]
    assert rated_movies(tiny_graph, 3).tolist() == []
    assert rated_movies(tiny_graph, 2, edge_ids=[5, 6]).tolist() == [0, 2]
    assert overlap([1, 2, 3, 4], [4, 3, 9, 8]) == 0.5
    a = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    assert rank_agreement(a, a ** 3, seen=[]) == pytest.approx(1.0)
    assert rank_agreement(a, -a, seen=[0]) == pytest.approx(-1.0)
    # seen movies are left out: only the order of movies 2, 3, 4 counts
    assert rank_agreement(a, np.array([9.0, -9.0, 1.0, 2.0, 3.0]), seen=[0, 1]) == 1.0
