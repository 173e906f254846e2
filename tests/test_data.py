"""The data layer: real MovieLens figures, HetRec join, and one clear error per kind of bad input."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from course_lib import data as D
from course_lib.data import load_movielens
from course_lib.download import ENV_DATA_DIR, DatasetError

ML_FILES = ("ratings.csv", "movies.csv", "links.csv")


# ---------------------------------------------------------------------------------------------
# The real figures
# ---------------------------------------------------------------------------------------------


def test_movielens_figures(ml):
    assert ml.num_users == 610
    assert ml.num_movies == 9742
    assert ml.ratings["movie"].nunique() == 9724
    assert len(ml.ratings) == 100_836
    assert ml.genres.shape == (9742, 20)
    assert list(ml.genres.columns[:3]) == ["(no genres listed)", "Action", "Adventure"]
    assert ml.genres.to_numpy().sum(axis=1).min() == 1  # every movie has at least one column set
    assert ml.ratings["rating"].min() == 0.5 and ml.ratings["rating"].max() == 5.0
    assert ml.ratings["rating"].mean() == pytest.approx(3.5016, abs=1e-4)
    assert list(ml.ratings.columns) == ["userId", "movieId", "rating", "timestamp", "user", "movie"]


def test_movies_table(ml):
    toy = ml.movies.iloc[ml.movie_index(1)]
    assert toy["title"] == "Toy Story (1995)"
    assert toy["year"] == 1995
    assert toy["genres"] == ["Adventure", "Animation", "Children", "Comedy", "Fantasy"]
    assert toy["imdbId"] == 114709
    assert ml.movies["year"].isna().sum() == 12  # titles such as "Babylon 5" carry no year
    assert ml.movies["movieId"].is_monotonic_increasing


def test_mappings_round_trip(ml):
    users = np.arange(ml.num_users)
    movies = np.arange(ml.num_movies)
    np.testing.assert_array_equal(ml.user_index(ml.user_id(users)), users)
    np.testing.assert_array_equal(ml.movie_index(ml.movie_id(movies)), movies)
    raw = ml.ratings["movieId"].to_numpy()
    np.testing.assert_array_equal(ml.movie_id(ml.movie_index(raw)), raw)
    np.testing.assert_array_equal(ml.movie_index(raw), ml.ratings["movie"].to_numpy())
    np.testing.assert_array_equal(ml.user_index(ml.ratings["userId"]), ml.ratings["user"])
    assert ml.movie_index(193609) == 9741 and ml.user_id(0) == 1
    assert isinstance(ml.movie_index(1), int)
    with pytest.raises(KeyError, match="unknown movieId"):
        ml.movie_index(999_999_999)


def test_hetrec_join_keeps_imdb_consistent_movies(ml):
    hetrec = D.load_hetrec()
    assert len(hetrec.movies) == 10_197
    assert hetrec.genres["genre"].nunique() == 20
    assert hetrec.directors["directorID"].nunique() == 4060
    side = D.join_side_information(ml, hetrec)
    assert len(side.consistent) == 6050
    assert len(side.mismatched) == 570
    assert ml.movie_index(7) in side.mismatched  # Sabrina (1995) linked to the 1954 film
    assert not np.isin(side.directors["movie"], side.mismatched).any()
    assert side.actors["ranking"].max() <= 10
    cov = D.side_information_coverage(ml, side)
    assert cov.loc["directors", "movies"] == 6044
    assert cov.loc["directors", "share of ratings"] == pytest.approx(0.827, abs=5e-4)
    assert cov.loc["actors", "movies"] == 3273
    assert cov.loc["actors", "share of ratings"] == pytest.approx(0.462, abs=5e-4)
    top3 = D.join_side_information(ml, hetrec, top_k_actors=3)
    assert top3.actors["ranking"].max() == 3 and len(top3.actors) < len(side.actors)


def test_the_actor_relation_is_the_same_with_the_complete_actor_file(ml):
    """The course's actors are the top 10 of the 4,999 movies of its subset. A complete
    movie_actors.dat (simulated: the subset plus lower-billed actors and a movie outside the
    subset) gives the same relation by default, and more with actor_movies='all'."""
    hetrec = D.load_hetrec()
    listed = D.course_actor_movies()
    assert len(listed) == 4999 and np.array_equal(np.unique(listed), listed)
    if len(hetrec.actors) == 47_728:           # the subset in ../shared/datasets
        assert np.array_equal(np.unique(hetrec.actors["movieID"]), listed)
    side = D.join_side_information(ml, hetrec)
    consistent_ids = ml.movies["movieId"].to_numpy()[side.consistent]
    outside = int(np.setdiff1d(consistent_ids, listed)[0])   # joined, but not in the subset
    extra = pd.DataFrame({"movieID": [int(listed[0]), outside],
                          "actorID": ["an_extra", "someone_else"],
                          "actorName": ["An Extra", "Someone Else"], "ranking": [11, 1]})
    complete = dataclasses.replace(hetrec, actors=pd.concat([hetrec.actors, extra],
                                                            ignore_index=True))
    same = D.join_side_information(ml, complete)
    pd.testing.assert_frame_equal(same.actors, side.actors)
    every = D.join_side_information(ml, complete, actor_movies="all")
    assert "someone_else" in set(every.actors["actorID"])
    assert "someone_else" not in set(same.actors["actorID"])
    assert "an_extra" not in set(every.actors["actorID"])          # billed 11th
    with pytest.raises(ValueError, match="actor_movies"):
        D.join_side_information(ml, hetrec, actor_movies="everything")


# ---------------------------------------------------------------------------------------------
# Bad input: one clear DatasetError each
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def ml_copy(tmp_path, ml):
    """A writable copy of ml-latest-small in tmp_path/ml-latest-small."""
    target = tmp_path / "ml-latest-small"
    target.mkdir()
    for f in ML_FILES:
        shutil.copy(ml.directory / f, target / f)
    return target


def test_missing_directory(tmp_path):
    with pytest.raises(DatasetError, match="directory not found") as e:
        load_movielens(tmp_path / "nowhere")
    assert "nowhere" in str(e.value) and "Fix" in str(e.value)


def test_env_var_directory_without_dataset(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_DATA_DIR, str(tmp_path))
    with pytest.raises(DatasetError, match="ml-latest-small: directory not found"):
        load_movielens()


def test_missing_file(ml_copy):
    (ml_copy / "links.csv").unlink()
    with pytest.raises(DatasetError, match="links.csv: file missing"):
        load_movielens(ml_copy.parent)


def test_checksum_mismatch(ml_copy):
    with open(ml_copy / "ratings.csv", "ab") as f:
        f.write(b"1,1,4.0,964982703\r\n")
    with pytest.raises(DatasetError, match="ratings.csv: checksum mismatch") as e:
        load_movielens(ml_copy.parent)
    assert "aa289ca8" in str(e.value)  # the expected sum is named


def test_checksum_fix_fits_where_the_data_came_from(ml_copy, tmp_path, monkeypatch):
    """A local folder is never to be deleted and re-downloaded: replace the file. A cache copy
    is: delete it and load again."""
    with open(ml_copy / "ratings.csv", "ab") as f:
        f.write(b"1,1,4.0,964982703\r\n")
    with pytest.raises(DatasetError) as local:
        load_movielens(ml_copy.parent)
    assert "replace it" in str(local.value) and "re-download" not in str(local.value)
    monkeypatch.delenv(ENV_DATA_DIR, raising=False)
    monkeypatch.setenv("COURSE_CACHE_DIR", str(ml_copy.parent))    # the same files, as a cache
    with pytest.raises(DatasetError) as cached:
        load_movielens()
    assert f"delete {ml_copy}" in str(cached.value) and "re-download" in str(cached.value)


def test_unreadable_file_or_folder_is_a_dataset_error_naming_it(ml_copy, monkeypatch):
    from course_lib import download

    real = download.sha256_of

    def denied(path, *args, **kwargs):
        if Path(path).name == "movies.csv":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(download, "sha256_of", denied)
    with pytest.raises(DatasetError, match=r"movies.csv: this file cannot be read.*chmod"):
        load_movielens(ml_copy.parent)
    read_csv = D.pd.read_csv

    def denied_read(path, *args, **kwargs):
        if Path(path).name == "movies.csv":
            raise PermissionError(13, "Permission denied", str(path))
        return read_csv(path, *args, **kwargs)

    monkeypatch.setattr(D.pd, "read_csv", denied_read)
    with pytest.raises(DatasetError, match=r"movies.csv: this file cannot be read"):
        load_movielens(ml_copy.parent, verify=False)      # pandas reads it: the same message
    monkeypatch.setattr(D.pd, "read_csv", read_csv)
    monkeypatch.setattr(download, "sha256_of", real)
    monkeypatch.setattr(download.os, "access", lambda path, mode: Path(path) != ml_copy)
    with pytest.raises(DatasetError, match=r"ml-latest-small: this folder cannot be read"):
        load_movielens(ml_copy.parent)


def test_dataset_folder_itself_is_accepted(ml_copy):
    assert load_movielens(ml_copy).num_users == 610


def _truncate(path: Path, keep_bytes: int) -> None:
    path.write_bytes(path.read_bytes()[:keep_bytes])


def test_truncated_csv(ml_copy):
    _truncate(ml_copy / "ratings.csv", 1000)  # cut inside a row
    with pytest.raises(DatasetError, match="ratings.csv: truncated or malformed at data row"):
        load_movielens(ml_copy.parent, verify=False)
    with pytest.raises(DatasetError, match="checksum mismatch"):  # verification catches it first
        load_movielens(ml_copy.parent)


def test_malformed_value(ml_copy):
    text = (ml_copy / "ratings.csv").read_text().replace("1,1,4.0,964982703", "1,one,4.0,964982703", 1)
    (ml_copy / "ratings.csv").write_text(text)
    with pytest.raises(DatasetError, match=r"column 'movieId' should hold int64 values.*'one'"):
        load_movielens(ml_copy.parent, verify=False)


def test_rating_out_of_range(ml_copy):
    text = (ml_copy / "ratings.csv").read_text().replace("1,1,4.0,", "1,1,7.0,", 1)
    (ml_copy / "ratings.csv").write_text(text)
    with pytest.raises(DatasetError, match="outside 0.5-5.0"):
        load_movielens(ml_copy.parent, verify=False)


def test_wrong_columns(ml_copy):
    text = (ml_copy / "movies.csv").read_text().replace("movieId,title,genres", "id,name,genres", 1)
    (ml_copy / "movies.csv").write_text(text)
    with pytest.raises(DatasetError, match=r"movies.csv: wrong columns. Expected \['movieId', 'title', 'genres'\]"):
        load_movielens(ml_copy.parent, verify=False)


def test_empty_file(ml_copy):
    (ml_copy / "ratings.csv").write_text("")
    with pytest.raises(DatasetError, match="ratings.csv: file is empty"):
        load_movielens(ml_copy.parent, verify=False)


def test_ratings_of_unknown_movies(ml_copy):
    lines = (ml_copy / "movies.csv").read_text().splitlines(keepends=True)
    (ml_copy / "movies.csv").write_text("".join(lines[:1] + lines[2:]))  # drop Toy Story
    with pytest.raises(DatasetError, match="name movies missing from movies.csv"):
        load_movielens(ml_copy.parent, verify=False)
