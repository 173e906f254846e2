"""Chapter 5: the heterogeneous knowledge graph, HeteroSAGE / HeteroGraphConv in PyG and JAX,
full-ranking metrics and the side-information comparison."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import torch

from course_lib.graph import supervision_batches
from course_lib.jax import hetero as jhetero
from course_lib.kg import (EDGE_TYPES, HAS_ACTOR, HAS_DIRECTOR, HAS_GENRE, RATES,
                           KnowledgeGraph, cold_start_movies, link_report,
                           movielens_knowledge_graph, neighbourhood, relation_coverage,
                           relation_edge_index, reverse)
from course_lib.metrics import ranking_metrics, roc_auc
from course_lib.pyg import hetero as phetero

# float32 parity tolerance for embeddings of order 1-5: the largest deviation seen is 1e-6
RTOL, ATOL = 1e-5, 1e-5


@pytest.fixture(scope="module")
def kg(ml):
    return movielens_knowledge_graph(ml)


@pytest.fixture
def tiny_kg(tiny_graph):
    """The tiny rating graph plus 2 genres, 2 directors (one of them unused) and 3 actors."""
    return KnowledgeGraph(
        num_nodes={"user": 4, "movie": 5, "genre": 2, "director": 2, "actor": 3},
        names={"genre": np.array(["a", "b"])},
        movie_x=np.eye(5, 3, dtype=np.float32),
        feature_names=("a", "b", "c"),
        side_edges={HAS_GENRE: np.array([[0, 1, 2, 3, 4], [0, 1, 0, 1, 1]]),
                    HAS_DIRECTOR: np.array([[0, 2, 4], [0, 0, 0]]),
                    HAS_ACTOR: np.array([[0, 1, 1, 3], [0, 0, 2, 2]])},
    )


# --------------------------------------------------------------------------------------------------
# The graph
# --------------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------------
# Full-ranking metrics: the vectorised implementation against a brute-force reference
# --------------------------------------------------------------------------------------------------


def _brute_force(scores, relevant, exclude, ks, candidates=None):
    num_users, num_movies = scores.shape
    rel = set(map(tuple, np.asarray(relevant).T))
    ex = set(map(tuple, np.asarray(exclude).T)) if exclude is not None else set()
    cand = range(num_movies) if candidates is None else sorted(set(candidates))
    out = {f"{m}@{k}": [] for k in ks for m in ("recall", "precision", "ndcg")}
    for u in range(num_users):
        allowed = [m for m in cand if (u, m) not in ex]
        wanted = {m for m in allowed if (u, m) in rel}
        if not wanted:
            continue
        ranked = sorted(allowed, key=lambda m: (-scores[u, m], m))
        for k in ks:
            hits = [m in wanted for m in ranked[:k]]
            dcg = sum(h / np.log2(i + 2) for i, h in enumerate(hits))
            idcg = sum(1 / np.log2(i + 2) for i in range(min(len(wanted), k)))
            out[f"recall@{k}"].append(sum(hits) / len(wanted))
            out[f"precision@{k}"].append(sum(hits) / k)
            out[f"ndcg@{k}"].append(dcg / idcg)
    return {name: float(np.mean(v)) if v else float("nan") for name, v in out.items()}


def test_ranking_metrics_by_hand():
    scores = np.array([[0.9, 0.8, 0.7, 0.1],
                       [0.1, 0.2, 0.3, 0.4]])
    relevant = np.array([[0, 0, 1], [1, 3, 0]])      # user 0: movies 1, 3; user 1: movie 0
    exclude = np.array([[0], [0]])                    # user 0 already rated movie 0
    m = ranking_metrics(scores, relevant, exclude, ks=(1, 2))
    # user 0 ranks 1, 2, 3: hit at rank 1 -> recall@1 1/2, @2 1/2; ndcg@2 = 1 / (1 + 1/log2 3)
    # user 1 ranks 3, 2, 1, 0: movie 0 is last -> all zero
    assert m["recall@1"] == pytest.approx(0.25) and m["precision@1"] == pytest.approx(0.5)
    assert m["recall@2"] == pytest.approx(0.25) and m["precision@2"] == pytest.approx(0.25)
    assert m["ndcg@2"] == pytest.approx(0.5 / (1 + 1 / np.log2(3)))


@pytest.mark.parametrize("seed", range(40))
def test_ranking_metrics_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    num_users, num_movies = int(rng.integers(1, 7)), int(rng.integers(2, 13))
    ties = seed % 2 == 0
    scores = (rng.integers(0, 3, (num_users, num_movies)).astype(float) if ties
              else rng.normal(size=(num_users, num_movies)))
    codes = rng.choice(num_users * num_movies, int(rng.integers(1, num_users * num_movies + 1)),
                       replace=False)
    relevant = np.stack([codes // num_movies, codes % num_movies])
    ex = rng.choice(num_users * num_movies, int(rng.integers(0, num_users * num_movies // 2 + 1)),
                    replace=False)
    exclude = np.stack([ex // num_movies, ex % num_movies])
    candidates = None if seed % 3 else rng.choice(num_movies, int(rng.integers(1, num_movies + 1)),
                                                  replace=False)
    ks = (1, 3, 20)                                   # 20 > num_movies: shorter lists
    expected = _brute_force(scores, relevant, exclude, ks, candidates)
    if any(np.isnan(v) for v in expected.values()):
        with pytest.raises(ValueError, match="no user"):
            ranking_metrics(scores, relevant, exclude, ks, candidates)
        return
    got = ranking_metrics(scores, relevant, exclude, ks, candidates, chunk=2)
    for name in expected:
        assert got[name] == pytest.approx(expected[name], abs=1e-12), name


def test_ranking_metrics_on_movielens_size(graph, split):
    """Random scores on the real shapes: recall@K near K / (unseen movies), as chance predicts."""
    rng = np.random.default_rng(0)
    scores = rng.random((graph.num_users, graph.num_movies))
    seen = graph.edge_index[:, split.message_edges("test")]
    m = ranking_metrics(scores, graph.edge_index[:, split.test], seen, ks=(20,))
    assert 0.5 * 20 / 9742 < m["recall@20"] < 2 * 20 / 9500
    chunked = ranking_metrics(scores, graph.edge_index[:, split.test], seen, ks=(20,), chunk=97)
    assert chunked == pytest.approx(m, rel=1e-12)


def test_link_report_on_hand_made_embeddings(tiny_graph):
    from course_lib.graph import split_edges

    split = split_edges(tiny_graph, val_ratio=0.25, test_ratio=0.25, neg_ratio=1.0, seed=0)
    rng = np.random.default_rng(1)
    zu, zm = rng.normal(size=(4, 3)), rng.normal(size=(5, 3))
    report = link_report(zu, zm, tiny_graph, split, cold=np.array([0, 1, 2, 3, 4]), k=2)
    pairs, labels = split.labelled_pairs(tiny_graph, "test")
    assert report["auc"] == roc_auc((zu[pairs[0]] * zm[pairs[1]]).sum(1), labels)
    assert report["cold auc"] == report["auc"]        # every movie counted as cold
    assert report["recall@2"] == pytest.approx(_brute_force(
        zu @ zm.T, tiny_graph.edge_index[:, split.test],
        tiny_graph.edge_index[:, split.message_edges("test")], (2,))["recall@2"])


# --------------------------------------------------------------------------------------------------
# Training batches: one stream for both frameworks
# --------------------------------------------------------------------------------------------------


def test_supervision_batches_are_reproducible_and_cover_the_supervision_edges(graph, split):
    a = list(supervision_batches(graph, split, 1000, np.random.default_rng(3)))
    b = list(supervision_batches(graph, split, 1000, np.random.default_rng(3)))
    assert len(a) == len(split.train_supervision) // 1000
    for (pa, la), (pb, lb) in zip(a, b):
        np.testing.assert_array_equal(pa, pb)
        np.testing.assert_array_equal(la, lb)
        assert pa.shape == (2, 3000) and la.sum() == 1000 and (la[:1000] == 1).all()
    positives = np.concatenate([p[:, :1000] for p, _ in a], axis=1)
    codes = graph.pair_codes(positives)
    assert len(np.unique(codes)) == positives.shape[1]          # each positive once
    assert np.isin(codes, graph.pair_codes(graph.edge_index[:, split.train_supervision])).all()


# --------------------------------------------------------------------------------------------------
# Parity: the same weights give the same embeddings in PyG and JAX
# --------------------------------------------------------------------------------------------------


def _embeddings(kg, graph, split, architecture, seed=0):
    torch.manual_seed(seed)
    model = phetero.build_model(kg, architecture)
    data = phetero.kg_graphs(kg, graph, split)["test"]
    zu_pyg, zm_pyg = phetero.embed_all(model, data)
    params = jhetero.params_from_pyg(phetero.numpy_weights(model))
    state = type("S", (), {"apply_fn": jhetero.build_model(kg, architecture).apply,
                           "params": params})()
    zu_jax, zm_jax = jhetero.embed_all(state, jhetero.kg_graphs(kg, graph, split)["test"])
    return (zu_pyg, zm_pyg), (zu_jax, zm_jax)


@pytest.mark.usefixtures("full_precision")
@pytest.mark.parametrize("architecture,side", list(itertools.product(
    ["sage", "graphconv"], [True, False])))
def test_parity_on_a_tiny_knowledge_graph(tiny_kg, tiny_graph, architecture, side):
    from course_lib.graph import split_edges

    kg = tiny_kg if side else tiny_kg.without_side_information()
    split = split_edges(tiny_graph, val_ratio=0.25, test_ratio=0.25, neg_ratio=1.0, seed=0)
    pyg, jx = _embeddings(kg, tiny_graph, split, architecture)
    for a, b in zip(pyg, jx):
        np.testing.assert_allclose(b, a, rtol=RTOL, atol=ATOL)
        assert np.isfinite(b).all()


@pytest.mark.usefixtures("full_precision")
@pytest.mark.parametrize("architecture", ["sage", "graphconv"])
def test_parity_on_the_movielens_knowledge_graph(kg, graph, split, architecture):
    pyg, jx = _embeddings(kg, graph, split, architecture)
    for a, b in zip(pyg, jx):
        np.testing.assert_allclose(b, a, rtol=RTOL, atol=ATOL)
    assert np.abs(pyg[1]).max() > 0.5               # not a comparison of zeros


@pytest.mark.parametrize("architecture", ["sage", "graphconv"])
def test_params_from_pyg_covers_every_flax_parameter(tiny_kg, tiny_graph, architecture):
    import jax

    from course_lib.graph import split_edges

    split = split_edges(tiny_graph, val_ratio=0.25, test_ratio=0.25, neg_ratio=1.0, seed=0)
    model = phetero.build_model(tiny_kg, architecture)
    mapped = jhetero.params_from_pyg(phetero.numpy_weights(model))
    graph = jhetero.kg_graphs(tiny_kg, tiny_graph, split)["train"]
    init = jhetero.build_model(tiny_kg, architecture).init(jax.random.key(0), graph,
                                                           np.zeros((2, 1), np.int32))
    assert jax.tree.structure(mapped) == jax.tree.structure(init)
    for a, b in zip(jax.tree.leaves(mapped), jax.tree.leaves(init)):
        assert a.shape == b.shape
    n_torch = sum(p.numel() for p in model.parameters())
    assert n_torch == sum(x.size for x in jax.tree.leaves(init))


def test_mean_by_relation_is_what_sage_aggregates():
    from torch_geometric.utils import scatter

    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 4, generator=g)
    ei = torch.tensor([[0, 5, 3, 3, 1], [2, 2, 0, 4, 2]])
    expected = scatter(x[ei[0]], ei[1], dim=0, dim_size=7, reduce="mean")
    torch.testing.assert_close(phetero.mean_by_relation(x, ei, 7), expected)


@pytest.mark.filterwarnings("ignore:There exist node types")  # users and actors receive nothing
def test_sum_by_destination_matches_heteroconv():
    """PyG's HeteroConv(aggr='sum') output equals the sum of its per-edge-type convolutions."""
    import jax.numpy as jnp
    from torch_geometric.nn import HeteroConv, SAGEConv

    torch.manual_seed(0)
    x = {"user": torch.randn(3, 4), "movie": torch.randn(4, 4), "actor": torch.randn(2, 4)}
    edges = {("user", "rates", "movie"): torch.tensor([[0, 1, 2], [0, 3, 3]]),
             ("actor", "rev_has_actor", "movie"): torch.tensor([[0, 1], [3, 1]])}
    conv = HeteroConv({et: SAGEConv(4, 5) for et in edges}, aggr="sum")
    with torch.no_grad():
        expected = conv(x, edges)["movie"].numpy()
        parts = {et: conv.convs[et]((x[et[0]], x[et[2]]), ei).numpy() for et, ei in edges.items()}
    got = jhetero.sum_by_destination({et: jnp.asarray(v) for et, v in parts.items()})
    assert set(got) == {"movie"}
    np.testing.assert_allclose(np.asarray(got["movie"]), expected, rtol=1e-6, atol=1e-6)


def test_unknown_architecture_is_a_clear_error(tiny_kg):
    with pytest.raises(ValueError, match="architecture must be one of"):
        phetero.build_model(tiny_kg, "gat")


# --------------------------------------------------------------------------------------------------
# Training: thresholds that hold on the shared split (measured figures in the chapter)
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(kg, graph, split):
    """HeteroSAGE on the knowledge graph in both frameworks, and on the plain graph in JAX."""
    seen = split.message_edges("test")
    cold = cold_start_movies(graph, seen)
    out = {}
    model, hist = phetero.fit(kg, graph, split, architecture="sage")
    z = phetero.embed_all(model, phetero.kg_graphs(kg, graph, split)["test"])
    out["pyg"] = (hist, link_report(*z, graph, split, cold=cold))
    for name, g in (("jax", kg), ("jax plain", kg.without_side_information())):
        state, hist = jhetero.fit(g, graph, split, architecture="sage")
        z = jhetero.embed_all(state, jhetero.kg_graphs(g, graph, split)["test"])
        out[name] = (hist, link_report(*z, graph, split, cold=cold))
    return out


def test_hetero_sage_learns_in_both_frameworks(trained):
    for name in ("pyg", "jax"):
        hist, report = trained[name]
        assert hist["val_auc"][hist["best_epoch"] - 1] == max(hist["val_auc"])
        assert hist["loss"][-1] < 0.8 * hist["loss"][0]
        assert report["auc"] > 0.93, (name, report)
        assert report["recall@20"] > 0.09, (name, report)
        assert report["cold auc"] > 0.88, (name, report)
    assert abs(trained["pyg"][1]["auc"] - trained["jax"][1]["auc"]) < 0.01


def test_plain_graph_is_at_least_as_good_as_side_information_here(trained):
    """The chapter's answer on this split: the side information does not help HeteroSAGE."""
    side, plain = trained["jax"][1], trained["jax plain"][1]
    assert plain["auc"] > 0.95
    assert plain["auc"] >= side["auc"] - 0.002
    assert plain["recall@20"] >= side["recall@20"] - 0.005
