"""course_lib.scale (MovieLens-shaped synthetic graphs) and the loader of the full MovieLens
releases in course_lib.data, on small fractions and tiny hand-written files."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from course_lib import data as D
from course_lib import download
from course_lib.data import load_movielens_release
from course_lib.download import ENV_DATA_DIR, DatasetError
from course_lib.scale import GENRES, MOVIELENS_SHAPES, degree_summary, synthetic_graph

# ---------------------------------------------------------------------------------------------
# The synthetic graph
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small():
    """1 % of ML-25M: 1,625 users, 624 movies, 250,001 interactions."""
    return synthetic_graph("ml-25m", 0.01, seed=0)


@pytest.fixture(scope="module")
def small_sized():
    """ml-latest-small at full size: sparse enough for the long tail to show."""
    return synthetic_graph("ml-latest-small", 1.0, seed=0)


def _assert_well_formed(g):
    assert g.edge_index.dtype == np.int64 and g.edge_index.shape == (2, g.num_edges)
    assert g.edge_index[0].min() >= 0 and g.edge_index[0].max() < g.num_users
    assert g.edge_index[1].min() >= 0 and g.edge_index[1].max() < g.num_movies
    assert len(np.unique(g.pair_codes())) == g.num_edges                 # no pair twice
    assert g.rating.dtype == np.float32 and g.rating.shape == (g.num_edges,)
    assert set(np.unique(g.rating).tolist()) <= {x / 2 for x in range(1, 11)}
    assert g.timestamp.dtype == np.int64 and (np.diff(g.timestamp) > 0).all()
    assert g.movie_x.shape == (g.num_movies, 20) and g.movie_x.dtype == np.float32
    assert not g.movie_x.any() and g.feature_names == GENRES


@pytest.mark.parametrize("shape, fraction", [("ml-25m", 0.01), ("ml-25m", 0.004),
                                             ("ml-32m", 0.005), ("ml-1m", 0.2),
                                             ("ml-latest-small", 1.0)])
def test_sizes_follow_the_fraction_exactly(shape, fraction):
    g = synthetic_graph(shape, fraction, seed=3)
    full = MOVIELENS_SHAPES[shape]
    assert g.num_users == round(fraction * full["users"])
    assert g.num_movies == round(fraction * full["movies"])
    assert g.num_edges == round(fraction * full["ratings"])
    _assert_well_formed(g)
    users, _ = g.degrees()
    assert users.min() >= 20                        # every user, as in MovieLens


def test_one_percent_of_ml25m(small):
    assert (small.num_users, small.num_movies, small.num_edges) == (1625, 624, 250_001)
    _assert_well_formed(small)
    stats = degree_summary(small)
    assert stats["min user degree"] == 20
    assert stats["max user degree"] <= 624 // 2     # at most half the movies, as in ML-25M
    assert 60 <= stats["median user degree"] <= 160   # mean 154: skewed to the right


def test_deterministic_for_a_seed(small):
    again = synthetic_graph("ml-25m", 0.01, seed=0)
    for field in ("edge_index", "rating", "timestamp", "movie_x"):
        np.testing.assert_array_equal(getattr(again, field), getattr(small, field))
    other = synthetic_graph("ml-25m", 0.01, seed=1)
    assert other.num_edges == small.num_edges
    assert not np.array_equal(np.sort(other.pair_codes()), np.sort(small.pair_codes()))


def test_long_tail_like_movielens(ml, small_sized):
    """At ml-latest-small size the synthetic graph has the real file's shape: 20 ratings at
    least, a heavy tail of users, and the top 1 % of movies holding 15.8 % of the ratings (the
    synthetic popularity is tuned to give about 37 % at full ML-25M size)."""
    from course_lib.graph import build_graph

    real = degree_summary(build_graph(ml))
    fake = degree_summary(small_sized)
    assert real["top 1% movies' share"] == pytest.approx(0.1583, abs=1e-4)
    assert real["min user degree"] == fake["min user degree"] == 20
    for key in ("users", "movies", "interactions"):
        assert real[key] == fake[key]
    assert 0.12 <= fake["top 1% movies' share"] <= 0.25
    assert 50 <= fake["median user degree"] <= 110          # real: 70.5
    assert fake["max user degree"] >= 10 * fake["median user degree"]     # real: 2,698
    assert 200 <= fake["max movie degree"] <= 500           # real: 329
    # uniform popularity would give each of the top 98 movies about 11 ratings: 1 %
    assert fake["top 1% movies' share"] > 10 * 0.01


def test_top_share_grows_with_the_fraction():
    """A small fraction is dense (the same average user degree over fewer movies), so the top
    1 % of movies are rated by most users and their share is capped at ``top * users /
    interactions``; a larger fraction shows more of the tail. Uniform popularity would give
    them about 1 % at every fraction."""
    shares, caps = [], []
    for fraction in (0.005, 0.02, 0.05):
        stats = degree_summary(synthetic_graph("ml-25m", fraction))
        top = math.ceil(0.01 * stats["movies"])
        shares.append(stats["top 1% movies' share"])
        caps.append(top * stats["users"] / stats["interactions"])
    assert shares[0] < shares[1] < shares[2]
    for share, cap in zip(shares, caps):
        assert 0.4 * cap <= share <= cap
    assert shares[0] >= 0.7 * caps[0]           # the densest: the top movies nearly saturated


def test_fast_enough():
    start = time.perf_counter()
    g = synthetic_graph("ml-25m", 0.02, seed=0)
    assert g.num_edges == 500_002
    assert time.perf_counter() - start < 5          # about 0.2 s on 2 cores


@pytest.mark.parametrize("kwargs, message", [
    ({"shape": "ml-100m"}, "unknown shape 'ml-100m'.*ml-25m"),
    ({"fraction": 0}, r"fraction must be a number in \(0, 1\]"),
    ({"fraction": -0.1}, r"fraction must be a number in \(0, 1\]"),
    ({"fraction": 1.5}, r"fraction must be a number in \(0, 1\]"),
    ({"fraction": float("nan")}, r"fraction must be a number in \(0, 1\]"),
    ({"fraction": "0.1"}, r"fraction must be a number in \(0, 1\]"),
    ({"fraction": 0.001}, "too small.*at least about 0.0025"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        synthetic_graph(**kwargs)


def test_degree_summary_of_a_tiny_graph(tiny_graph):
    stats = degree_summary(tiny_graph)
    assert stats["users"] == 4 and stats["movies"] == 5 and stats["interactions"] == 8
    assert stats["min user degree"] == 0 and stats["max user degree"] == 3
    assert stats["median user degree"] == 2.5
    assert stats["max movie degree"] == 2 and stats["movies without interactions"] == 1
    assert stats["top 1% movies' share"] == 2 / 8      # one movie: the most rated
    assert stats["density"] == 8 / 20


# ---------------------------------------------------------------------------------------------
# Loading a full release
# ---------------------------------------------------------------------------------------------

MOVIES = ("movieId,title,genres\n"
          "1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy\n"
          "2,Jumanji (1995),Adventure|Children|Fantasy\n"
          "5,\"Father of the Bride Part II, The (1995)\",Comedy\n"
          "209171,Women of Devil's Island (1962),Action|Adventure|Drama\n"
          "209169,A Girl Thing (2001),(no genres listed)\n")
RATINGS = ("userId,movieId,rating,timestamp\n"
           "1,5,3.5,1147880044\n"
           "1,209171,0.5,1147868817\n"
           "3,1,5.0,1147868828\n"
           "162541,5,4.0,1240953372\n"
           "3,209169,2.5,1147878820\n")


@pytest.fixture
def release(tmp_path):
    """A tiny ml-25m in the official format, in tmp_path/ml-25m."""
    folder = tmp_path / "ml-25m"
    folder.mkdir()
    (folder / "movies.csv").write_text(MOVIES)
    (folder / "ratings.csv").write_text(RATINGS)
    return folder


def test_tiny_release_gives_the_right_graph(release):
    g = load_movielens_release("ml-25m", release.parent, download=False)
    assert (g.num_users, g.num_movies, g.num_edges) == (3, 5, 5)
    # users 1, 3, 162541 -> 0, 1, 2; movies 1, 2, 5, 209169, 209171 -> 0..4; file order kept
    np.testing.assert_array_equal(g.edge_index, [[0, 0, 1, 2, 1], [2, 4, 0, 2, 3]])
    np.testing.assert_array_equal(g.rating, np.array([3.5, 0.5, 5.0, 4.0, 2.5], np.float32))
    np.testing.assert_array_equal(g.timestamp, [1147880044, 1147868817, 1147868828,
                                                1240953372, 1147878820])
    assert g.edge_index.dtype == np.int64 and g.timestamp.dtype == np.int64
    assert g.rating.dtype == np.float32 and g.movie_x.dtype == np.float32
    assert g.feature_names == ("(no genres listed)", "Action", "Adventure", "Animation",
                               "Children", "Comedy", "Drama", "Fantasy")
    np.testing.assert_array_equal(g.movie_x[2], [0, 0, 0, 0, 0, 1, 0, 0])    # movieId 5
    np.testing.assert_array_equal(g.movie_x[3], [1, 0, 0, 0, 0, 0, 0, 0])    # movieId 209169
    # the dataset folder itself is accepted too
    same = load_movielens_release("ml-25m", release, download=False)
    np.testing.assert_array_equal(same.edge_index, g.edge_index)


def test_ml_latest_small_release_is_the_course_graph(graph):
    """With COURSE_DATA_DIR (set by conftest), the fast loader gives build_graph's graph."""
    g = load_movielens_release("ml-latest-small")
    assert (g.num_users, g.num_movies) == (graph.num_users, graph.num_movies)
    for field in ("edge_index", "rating", "timestamp", "movie_x"):
        a, b = getattr(g, field), getattr(graph, field)
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    assert g.feature_names == graph.feature_names == GENRES


def test_releases_are_listed():
    assert list(D.MOVIELENS_RELEASES) == ["ml-latest-small", "ml-25m", "ml-32m"]
    assert D.MOVIELENS_RELEASES["ml-latest-small"] is D.ML_LATEST_SMALL
    for name in ("ml-25m", "ml-32m"):
        spec = D.MOVIELENS_RELEASES[name]
        assert spec.name == name and spec.url.endswith(f"/movielens/{name}.zip")
        assert list(spec.files) == ["ratings.csv", "movies.csv"] and not spec.checked_files()
    with pytest.raises(ValueError, match=r"unknown MovieLens release 'ml-20m'.*'ml-32m'"):
        load_movielens_release("ml-20m")


def test_missing_file(release):
    (release / "movies.csv").unlink()
    with pytest.raises(DatasetError, match="movies.csv: file missing.*ml-25m") as e:
        load_movielens_release("ml-25m", release.parent, download=False)
    assert "Fix" in str(e.value)


def test_missing_file_found_by_the_reader(release):
    (release / "ratings.csv").unlink()
    with pytest.raises(DatasetError, match="ratings.csv: file missing. Expected the ratings "
                                           "file.*Fix"):
        D.read_ratings_fast(release / "ratings.csv")


@pytest.mark.parametrize("header", ["user,movie,rating,timestamp",
                                    "userId,movieId,rating",
                                    "userId,movieId,timestamp,rating"])
def test_wrong_header(release, header):
    (release / "ratings.csv").write_text(RATINGS.replace(RATINGS.splitlines()[0], header, 1))
    with pytest.raises(DatasetError, match=r"ratings.csv: wrong columns. Expected \['userId', "
                                           r"'movieId', 'rating', 'timestamp'\].*Fix"):
        load_movielens_release("ml-25m", release.parent, download=False)


def test_wrong_movies_header(release):
    (release / "movies.csv").write_text(MOVIES.replace("movieId,title", "id,title", 1))
    with pytest.raises(DatasetError, match=r"movies.csv: wrong columns"):
        load_movielens_release("ml-25m", release.parent, download=False)


@pytest.mark.parametrize("rating", ["7.0", "0.0", "-1"])
def test_rating_out_of_range(release, rating):
    (release / "ratings.csv").write_text(RATINGS.replace("3,1,5.0,", f"3,1,{rating},", 1))
    with pytest.raises(DatasetError, match=r"ratings.csv: rating .* at data row 3 is outside "
                                           "0.5-5.0. Fix"):
        load_movielens_release("ml-25m", release.parent, download=False)


@pytest.mark.parametrize("row, message", [
    ("3,one,5.0,1147868828", r"column 'movieId' should hold int64 values, but data row 3 "
                             r"\(line 4\) holds 'one'"),
    ("3,1,good,1147868828", r"column 'rating' should hold float32 values, but data row 3 "
                            r"\(line 4\) holds 'good'"),
    ("3,1,5.0,1147868828.5", r"column 'timestamp' should hold int64 values.*'1147868828.5'"),
    ("3,1,,1147868828", r"truncated or malformed at data row 3 \(line 4\): missing values in "
                        r"\['rating'\]"),
    ("3,1", r"truncated or malformed at data row 3 \(line 4\): missing values in "
            r"\['rating', 'timestamp'\]"),
    ("3,1,5.0,1147868828,9", r"malformed file"),
])
def test_malformed_rows_are_named(release, row, message):
    (release / "ratings.csv").write_text(RATINGS.replace("3,1,5.0,1147868828", row, 1))
    with pytest.raises(DatasetError, match=message) as e:
        load_movielens_release("ml-25m", release.parent, download=False)
    assert "ratings.csv" in str(e.value) and "Fix" in str(e.value)


def test_empty_and_header_only_files(release):
    (release / "ratings.csv").write_text("")
    with pytest.raises(DatasetError, match="ratings.csv: file is empty"):
        load_movielens_release("ml-25m", release.parent, download=False)
    (release / "ratings.csv").write_text("userId,movieId,rating,timestamp\n")
    with pytest.raises(DatasetError, match="ratings.csv: no data rows after the header"):
        load_movielens_release("ml-25m", release.parent, download=False)


def test_ratings_of_unknown_movies(release):
    (release / "ratings.csv").write_text(RATINGS + "3,4,4.0,1147878821\n")
    with pytest.raises(DatasetError, match=r"1 ratings name movies missing from movies.csv "
                                           r"\(e.g. movieId 4\)"):
        load_movielens_release("ml-25m", release.parent, download=False)
    (release / "ratings.csv").write_text(RATINGS + "3,999999,4.0,1147878821\n")  # past the end
    with pytest.raises(DatasetError, match=r"movieId 999999"):
        load_movielens_release("ml-25m", release.parent, download=False)


def test_duplicate_movie(release):
    (release / "movies.csv").write_text(MOVIES + "2,Jumanji again (1995),Comedy\n")
    with pytest.raises(DatasetError, match="movies.csv: movieId 2 appears twice"):
        load_movielens_release("ml-25m", release.parent, download=False)


# ---------------------------------------------------------------------------------------------
# Never a download in the tests
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to download fails the test."""
    def refuse(*args, **kwargs):
        pytest.fail(f"a download was attempted: {args}")

    monkeypatch.setattr(download, "_fetch", refuse)
    monkeypatch.setattr(download, "download_dataset", refuse)


@pytest.mark.parametrize("name", ["ml-25m", "ml-32m"])
def test_a_local_folder_without_the_release_is_an_error_not_a_download(name, no_network,
                                                                       tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_DATA_DIR, str(tmp_path))
    with pytest.raises(DatasetError, match=rf"{name}: directory not found.*ratings.csv, "
                                           r"movies.csv.*Fix"):
        load_movielens_release(name)                # download=True, but COURSE_DATA_DIR rules


@pytest.mark.parametrize("name", ["ml-latest-small", "ml-25m", "ml-32m"])
def test_download_false_with_an_empty_cache(name, no_network, tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_DATA_DIR, raising=False)
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(DatasetError, match=rf"{name}: not downloaded yet and download=False. "
                                           "Fix"):
        load_movielens_release(name, download=False)
