"""``course_lib/kg.py`` (chapter 5): the heterogeneous knowledge graph - its construction, the
edges both frameworks see, cold-start movies and the link report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from course_lib.kg import (EDGE_TYPES, HAS_ACTOR, HAS_DIRECTOR, HAS_GENRE, RATES,
                           cold_start_movies, link_report, movielens_knowledge_graph,
                           neighbourhood, relation_coverage, relation_edge_index, reverse,
                           slice_recall)
from course_lib.metrics import ranking_metrics, roc_auc


@pytest.fixture(scope="module")
def kg(ml):
    return movielens_knowledge_graph(ml)


def test_edge_types_are_the_seed_names_and_their_reverses():
    names = [r for _, r, _ in EDGE_TYPES]
    assert names == ["rates", "has_genre", "has_director", "has_actor", "rev_rates",
                     "rev_has_genre", "rev_has_director", "rev_has_actor"]
    assert reverse(("movie", "has_actor", "actor")) == ("actor", "rev_has_actor", "movie")


def test_knowledge_graph_counts(kg, ml):
    assert kg.num_nodes == {"user": 610, "movie": 9742, "genre": 19, "director": 1077,
                            "actor": 4998}
    sizes = {r: ei.shape[1] for (_, r, _), ei in kg.side_edges.items()}
    assert sizes == {"has_genre": 22050, "has_director": 4471, "has_actor": 20042}
    assert "(no genres listed)" not in kg.names["genre"]
    assert kg.movie_x.shape == (9742, 22)
    # every genre edge is a genre of ml-latest-small's movies.csv
    g = kg.side_edges[HAS_GENRE]
    assert all(kg.names["genre"][j] in ml.movies["genres"].iloc[m] for m, j in g[:, ::997].T)


def test_people_are_kept_only_for_imdb_consistent_movies_and_in_at_least_two(kg, ml):
    from course_lib.data import join_side_information, load_hetrec

    side = join_side_information(ml, load_hetrec())
    for rel, num in ((HAS_DIRECTOR, "director"), (HAS_ACTOR, "actor")):
        ei = kg.side_edges[rel]
        assert np.isin(ei[0], side.consistent).all()
        assert not np.isin(ei[0], side.mismatched).any()
        per_person = np.bincount(ei[1], minlength=kg.num_nodes[num])
        assert per_person.min() >= 2
        assert len(np.unique(ei, axis=1).T) == ei.shape[1]  # no duplicate edges
    # Christopher Nolan directed several kept movies; his edges point at his films
    nolan = int(np.flatnonzero(kg.names["director"] == "Christopher Nolan")[0])
    films = kg.side_edges[HAS_DIRECTOR][0, kg.side_edges[HAS_DIRECTOR][1] == nolan]
    titles = set(kg.names["movie"][films])
    assert "Memento (2000)" in titles and "Dark Knight, The (2008)" in titles


def test_min_movies_one_keeps_every_person(ml):
    from course_lib.data import join_side_information, load_hetrec
    from course_lib.kg import build_knowledge_graph

    side = join_side_information(ml, load_hetrec())
    every = build_knowledge_graph(ml, side, min_movies=1)
    assert every.num_nodes["actor"] == side.actors["actorID"].nunique()
    assert every.num_nodes["director"] == side.directors["directorID"].nunique()


def test_movie_features_standardise_the_year(kg, ml):
    year, unknown = kg.movie_x[:, 20], kg.movie_x[:, 21]
    known = unknown == 0
    assert unknown.sum() == ml.movies["year"].isna().sum() == 12
    assert abs(year[known].mean()) < 1e-4 and abs(year[known].std() - 1) < 1e-3
    assert (year[~known] == 0).all()
    np.testing.assert_array_equal(kg.movie_x[:, :20], ml.genres.to_numpy())


def test_edge_index_dict_adds_the_ratings_and_flips_reverses(kg, graph, split):
    edges = kg.message_edges(graph, split, "train")
    assert list(edges) == list(EDGE_TYPES)
    np.testing.assert_array_equal(edges[RATES], graph.edge_index[:, split.train_message])
    for et in (RATES, HAS_GENRE, HAS_DIRECTOR, HAS_ACTOR):
        np.testing.assert_array_equal(edges[reverse(et)], edges[et][::-1])
    plain = kg.without_side_information()
    assert plain.edge_types == (RATES, reverse(RATES))
    assert plain.node_types == ("user", "movie") and plain.name == "plain"
    assert kg.node_types == ("user", "movie", "genre", "director", "actor")


def test_relation_edge_index_maps_to_positions_and_drops_unknowns():
    table = pd.DataFrame({"movie": [5, 1, 5, 2], "who": ["b", "a", "b", "zz"]})
    np.testing.assert_array_equal(relation_edge_index(table, "who", ["a", "b"]),
                                  [[1, 5], [0, 1]])
    assert relation_edge_index(table, "who", ["q"]).shape == (2, 0)


def test_both_frameworks_see_the_same_graph(kg, graph, split):
    from course_lib.jax.data import from_knowledge_graph as to_jax
    from course_lib.pyg.data import from_knowledge_graph as to_pyg

    edges = kg.message_edges(graph, split, "test")
    data, jg = to_pyg(kg, edges), to_jax(kg, edges)
    for (src, rel, dst), ei in edges.items():
        np.testing.assert_array_equal(data[src, rel, dst].edge_index.numpy(), ei)
        np.testing.assert_array_equal(np.asarray(jg.edge_index[rel]), ei)
    for t in kg.node_types:
        assert data[t].num_nodes == jg.node_id[t].shape[0] == kg.num_nodes[t]
    assert set(jg.edge_types) == set(EDGE_TYPES)


def test_cold_start_movies_and_coverage(kg, graph, split):
    seen = split.message_edges("test")
    cold = cold_start_movies(graph, seen, max_ratings=5)
    _, degree = graph.degrees(seen)
    assert (degree[cold] <= 5).all() and (np.delete(degree, cold) > 5).all()
    assert len(cold) == 6681
    cov = relation_coverage(kg, cold)
    assert cov["has_genre"] > 0.99 and 0 < cov["has_actor"] < cov["has_director"] < 1


def test_neighbourhood_lists_edges_of_every_type_and_a_two_hop_path(kg, graph, split):
    movie = int(np.flatnonzero(kg.names["movie"] == "Memento (2000)")[0])
    edges = neighbourhood(kg, graph.edge_index[:, split.message_edges("test")], movie)
    types = {other for _, _, other, _ in edges}
    assert types == {"user", "genre", "director", "actor"}
    assert any(m != movie for _, m, _, _ in edges)  # another film of the same person


def test_link_report_on_hand_made_embeddings(tiny_graph):
    from course_lib.graph import split_edges

    split = split_edges(tiny_graph, val_ratio=0.25, test_ratio=0.25, neg_ratio=1.0, seed=0)
    rng = np.random.default_rng(1)
    zu, zm = rng.normal(size=(4, 3)), rng.normal(size=(5, 3))
    report = link_report(zu, zm, tiny_graph, split, cold=np.array([0, 1, 2, 3, 4]), k=2)
    pairs, labels = split.labelled_pairs(tiny_graph, "test")
    assert report["auc"] == roc_auc((zu[pairs[0]] * zm[pairs[1]]).sum(1), labels)
    assert report["cold auc"] == report["auc"]        # every movie counted as cold
    assert report["recall@2"] == ranking_metrics(
        zu @ zm.T, tiny_graph.edge_index[:, split.test],
        tiny_graph.edge_index[:, split.message_edges("test")], ks=(2,))["recall@2"]


def test_slice_recall_is_ranking_metrics_recall_with_candidates():
    """Chapter 5's exercise reference, written out for the learner, against the vectorised
    ranking_metrics (tested against a brute-force loop in test_metrics) on ties, repeats and
    seen held-out pairs."""
    rng = np.random.default_rng(0)
    compared = 0
    for trial in range(300):
        users, movies = int(rng.integers(1, 6)), int(rng.integers(2, 12))
        scores = (rng.integers(0, 3, (users, movies)).astype(float) if trial % 2
                  else rng.normal(size=(users, movies)))
        held = np.stack([rng.integers(0, users, 8), rng.integers(0, movies, 8)])
        seen = np.stack([rng.integers(0, users, 5), rng.integers(0, movies, 5)])
        part = rng.choice(movies, int(rng.integers(1, movies + 1)))
        k = int(rng.integers(1, 6))
        try:
            expected = ranking_metrics(scores, held, seen, ks=(k,), candidates=part)[f"recall@{k}"]
        except ValueError:
            with pytest.raises(ValueError):
                slice_recall(scores, held, seen, part, k)
            continue
        before = scores.copy()
        assert slice_recall(scores, held, seen, part, k) == pytest.approx(expected, abs=1e-12)
        assert np.array_equal(scores, before)
        compared += 1
    assert compared > 200
