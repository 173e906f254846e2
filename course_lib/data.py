"""The course's one data layer: MovieLens ml-latest-small and HetRec 2011 side information.

Every chapter, in PyTorch Geometric and in JAX, starts from :func:`load_movielens`. It hands out
pandas tables plus the raw-id <-> index mappings; :mod:`course_lib.graph` turns them into the one
bipartite graph and the one seeded split that both frameworks use.

The files are found, or downloaded from GroupLens and verified, by :mod:`course_lib.download`
(``COURSE_DATA_DIR`` points at a local copy). A file in the wrong format raises
:class:`~course_lib.download.DatasetError`, naming the file, what was expected and the fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .download import DatasetError, DatasetSpec, unreadable_error, dataset_dir

# --------------------------------------------------------------------------------------------------
# The course's datasets
# --------------------------------------------------------------------------------------------------


MOVIELENS_CITATION = (
    "F. Maxwell Harper and Joseph A. Konstan. 2015. The MovieLens Datasets: History and Context. "
    "ACM Transactions on Interactive Intelligent Systems (TiiS) 5, 4: 19:1-19:19. "
    "https://doi.org/10.1145/2827872"
)
HETREC_CITATION = (
    "Iván Cantador, Peter Brusilovsky and Tsvi Kuflik. 2011. 2nd Workshop on Information "
    "Heterogeneity and Fusion in Recommender Systems (HetRec 2011). RecSys 2011. "
    "Data: GroupLens (MovieLens), IMDb (https://www.imdb.com) and Rotten Tomatoes "
    "(https://www.rottentomatoes.com)."
)

ML_LATEST_SMALL = DatasetSpec(
    name="ml-latest-small",
    url="https://files.grouplens.org/datasets/movielens/ml-latest-small.zip",
    files={
        "ratings.csv": "aa289ca83157595d0df6aea1be6a4ded676ddc4385472e8313a8ed9805352646",
        "movies.csv": "5a5f32dd9bb3797b8e728a1b98958789d2b13f294a69fdfbc5727f8a9611aa07",
        "links.csv": "97ad18e4e56a09363c65676b6cb3482ce3e2cea2372a24620c1599c843325f31",
    },
    citation=MOVIELENS_CITATION,
)

# The full releases, for the chapter that trains beyond one machine. GroupLens publishes an md5
# of each zip beside it (ml-25m.zip.md5, ml-32m.zip.md5) but no checksum of the files inside:
# a download is checked against the zip's md5 before it is unpacked
# (course_lib.download.verify_archive, also for a zip fetched by hand), and the unpacked
# files, in a folder given by hand, for their format.
MOVIELENS_ZIP_MD5 = {
    "ml-25m": "6b51fb2759a8657d3bfcbfc42b592ada",
    "ml-32m": "d472be332d4daa821edc399621853b57",
}
ML_25M = DatasetSpec(
    name="ml-25m",
    url="https://files.grouplens.org/datasets/movielens/ml-25m.zip",
    files={"ratings.csv": None, "movies.csv": None},
    citation=MOVIELENS_CITATION,
    archive_md5=MOVIELENS_ZIP_MD5["ml-25m"],
)
ML_32M = DatasetSpec(
    name="ml-32m",
    url="https://files.grouplens.org/datasets/movielens/ml-32m.zip",
    files={"ratings.csv": None, "movies.csv": None},
    citation=MOVIELENS_CITATION,
    archive_md5=MOVIELENS_ZIP_MD5["ml-32m"],
)
MOVIELENS_RELEASES = {"ml-latest-small": ML_LATEST_SMALL, "ml-25m": ML_25M, "ml-32m": ML_32M}

# The actors file differs between the complete official download and the top-10 subset in
# ../shared/datasets, so only its format is checked.
HETREC_2K = DatasetSpec(
    name="hetrec2011-movielens-2k",
    url="https://files.grouplens.org/datasets/hetrec2011/hetrec2011-movielens-2k-v2.zip",
    files={
        "movies.dat": "8c9a7ea36bfde2e426fa658ad9eff12930a91099ce43d2401d56bc0d784e230e",
        "movie_genres.dat": "c2eaa3088b1136135c0fac9c25c6a3c85b9ec8db71c6e503aafdf00f0d36c6fc",
        "movie_directors.dat": None,
        "movie_actors.dat": None,
    },
    citation=HETREC_CITATION,
)


# --------------------------------------------------------------------------------------------------
# Reading tables with clear errors
# --------------------------------------------------------------------------------------------------


def _read_table(path: Path, columns: list[str], *, sep: str = ",", encoding: str = "utf-8",
                dtypes: dict | None = None, required: list[str] | None = None) -> pd.DataFrame:
    """Read a delimited file, insisting on the given header and complete rows."""
    try:
        df = pd.read_csv(path, sep=sep, encoding=encoding, dtype=str, keep_default_na=False,
                         na_values=[""], quoting=3 if sep == "\t" else 0)
    except FileNotFoundError:
        raise DatasetError(f"{path}: file missing.") from None
    except PermissionError as e:
        raise unreadable_error(Path(path), e) from None
    except pd.errors.EmptyDataError:
        raise DatasetError(f"{path}: file is empty. Expected a header {columns} and data rows. "
                           "Fix: re-download the dataset.") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as e:
        raise DatasetError(f"{path}: malformed file ({e}). Fix: re-download the dataset.") from None
    df.columns = [c.strip() for c in df.columns]
    if list(df.columns) != columns:
        raise DatasetError(
            f"{path}: wrong columns. Expected {columns}, got {list(df.columns)}. Fix: use the "
            "unmodified dataset file."
        )
    if len(df) == 0:
        raise DatasetError(f"{path}: no data rows after the header. Fix: re-download the dataset.")
    must = required if required is not None else columns
    missing = df[must].isna().any(axis=1).to_numpy()
    if missing.any():
        row = int(np.flatnonzero(missing)[0])
        raise DatasetError(
            f"{path}: truncated or malformed at data row {row + 1} (line {row + 2}): missing "
            f"values in {df.columns[df.iloc[row].isna()].tolist()}. Fix: re-download the dataset."
        )
    for col, dtype in (dtypes or {}).items():
        try:
            df[col] = df[col].str.strip().astype(dtype) if dtype is not str else df[col]
        except (ValueError, TypeError):
            bad = pd.to_numeric(df[col], errors="coerce").isna() & df[col].notna()
            row = int(np.flatnonzero(bad.to_numpy())[0]) if bad.any() else 0
            raise DatasetError(
                f"{path}: column {col!r} should hold {np.dtype(dtype).name} values, but data row "
                f"{row + 1} (line {row + 2}) holds {df[col].iloc[row]!r}. Fix: re-download the "
                "dataset."
            ) from None
    return df


def _check_rating_range(df: pd.DataFrame, path: Path) -> None:
    bad = ~df["rating"].between(0.5, 5.0)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DatasetError(f"{path}: rating {df['rating'].iloc[row]} at data row {row + 1} is "
                           "outside 0.5-5.0. Fix: re-download the dataset.")


def read_ratings(path: Path) -> pd.DataFrame:
    df = _read_table(path, ["userId", "movieId", "rating", "timestamp"],
                     dtypes={"userId": np.int64, "movieId": np.int64, "rating": np.float32,
                             "timestamp": np.int64})
    _check_rating_range(df, path)
    return df


RATINGS_COLUMNS = ["userId", "movieId", "rating", "timestamp"]
RATINGS_DTYPES = {"userId": np.int64, "movieId": np.int64, "rating": np.float32,
                  "timestamp": np.int64}


def read_ratings_fast(path: Path) -> pd.DataFrame:
    """:func:`read_ratings` for files of any size: ML-32M's 32 M rows in seconds, not minutes.

    pandas parses the columns straight into their dtypes; only when that fails is the file read
    again, a million rows at a time as text, to name the first bad row, as :func:`read_ratings`
    does. The same :class:`DatasetError` follows a missing or empty file, a wrong header, a
    missing or malformed value, or a rating outside 0.5-5.0."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8", newline="") as f:
            header = f.readline()
    except FileNotFoundError:
        raise DatasetError(f"{path}: file missing. Expected the ratings file with the header "
                           f"{RATINGS_COLUMNS}. Fix: re-download the dataset.") from None
    except PermissionError as e:
        raise unreadable_error(path, e) from None
    except UnicodeDecodeError as e:
        raise DatasetError(f"{path}: malformed file ({e}). Fix: re-download the "
                           "dataset.") from None
    if not header:
        raise DatasetError(f"{path}: file is empty. Expected a header {RATINGS_COLUMNS} and "
                           "data rows. Fix: re-download the dataset.")
    columns = [c.strip() for c in header.strip().split(",")]
    if columns != RATINGS_COLUMNS:
        raise DatasetError(
            f"{path}: wrong columns. Expected {RATINGS_COLUMNS}, got {columns}. Fix: use the "
            "unmodified dataset file."
        )
    try:
        df = pd.read_csv(path, dtype=RATINGS_DTYPES, engine="c")
    except PermissionError as e:
        raise unreadable_error(path, e) from None
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as e:
        _diagnose_ratings(path, e)
    if len(df) == 0:
        raise DatasetError(f"{path}: no data rows after the header. Fix: re-download the "
                           "dataset.")
    if df["rating"].isna().any():
        _diagnose_ratings(path, ValueError("a rating is missing"))
    _check_rating_range(df, path)
    return df


_INTEGER = r"\s*[+-]?\d+\s*"


def _diagnose_ratings(path: Path, error: Exception):
    """Find the first bad row of a ratings file that pandas could not parse, and raise."""
    offset = 0
    try:
        for chunk in pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""],
                                 chunksize=1_000_000):
            missing = chunk.isna().any(axis=1).to_numpy()
            wrong = pd.to_numeric(chunk["rating"].str.strip(), errors="coerce").isna()
            for col in ("userId", "movieId", "timestamp"):
                wrong |= ~chunk[col].str.fullmatch(_INTEGER)
            wrong = wrong.fillna(False).to_numpy(bool) & ~missing
            if missing.any() or wrong.any():
                row = int(np.flatnonzero(missing | wrong)[0])
                line = offset + row
                values = chunk.iloc[row]
                if missing[row]:
                    raise DatasetError(
                        f"{path}: truncated or malformed at data row {line + 1} (line "
                        f"{line + 2}): missing values in "
                        f"{values[values.isna()].index.tolist()}. Fix: re-download the "
                        "dataset.")
                col = next(c for c in RATINGS_COLUMNS if not _parses(values[c], c))
                raise DatasetError(
                    f"{path}: column {col!r} should hold {np.dtype(RATINGS_DTYPES[col]).name} "
                    f"values, but data row {line + 1} (line {line + 2}) holds {values[col]!r}. "
                    "Fix: re-download the dataset.")
            offset += len(chunk)
    except (pd.errors.ParserError, UnicodeDecodeError) as e:
        error = e
    raise DatasetError(f"{path}: malformed file ({error}). Fix: re-download the "
                       "dataset.") from None


def _parses(value: str, column: str) -> bool:
    if column == "rating":
        return not np.isnan(pd.to_numeric(value.strip(), errors="coerce"))
    return re.fullmatch(_INTEGER, value) is not None


YEAR_RE = re.compile(r"\((\d{4})(?:[-–]\d{0,4})?\)\s*$")


def read_movies(path: Path) -> pd.DataFrame:
    df = _read_table(path, ["movieId", "title", "genres"], dtypes={"movieId": np.int64})
    df["title"] = df["title"].str.strip()
    years = df["title"].str.extract(YEAR_RE, expand=False)
    df["year"] = pd.to_numeric(years, errors="coerce").astype("Int64")
    return df


def read_links(path: Path) -> pd.DataFrame:
    df = _read_table(path, ["movieId", "imdbId", "tmdbId"], dtypes={"movieId": np.int64,
                     "imdbId": np.int64}, required=["movieId", "imdbId"])
    return df[["movieId", "imdbId"]]


# --------------------------------------------------------------------------------------------------
# MovieLens
# --------------------------------------------------------------------------------------------------


@dataclass
class MovieLens:
    """MovieLens ml-latest-small as tables plus raw-id <-> index mappings.

    * ``ratings``: one row per rating with ``userId, movieId, rating, timestamp`` (raw ids) and
      ``user, movie`` (0-based indices).
    * ``movies``: one row per movie, in index order: ``movieId, title, year, genres`` (list of str),
      ``imdbId``.
    * ``genres``: the 0/1 genre matrix from ``str.get_dummies('|')``, one row per movie (index order).
    * ``user_ids[i]`` / ``movie_ids[j]``: the raw id of user index ``i`` / movie index ``j``.

    Users are the 610 raters; movies are all 9,742 rows of ``movies.csv`` (18 were never rated
    and are isolated nodes). Indices follow ascending raw ids.
    """

    ratings: pd.DataFrame
    movies: pd.DataFrame
    genres: pd.DataFrame
    user_ids: np.ndarray
    movie_ids: np.ndarray
    directory: Path | None = None
    _user_index: pd.Index = field(init=False, repr=False)
    _movie_index: pd.Index = field(init=False, repr=False)

    def __post_init__(self):
        self._user_index = pd.Index(self.user_ids)
        self._movie_index = pd.Index(self.movie_ids)

    @property
    def num_users(self) -> int:
        return len(self.user_ids)

    @property
    def num_movies(self) -> int:
        return len(self.movie_ids)

    def user_index(self, raw_ids) -> np.ndarray:
        """Raw ``userId`` (scalar or array) -> 0-based user index. Unknown ids raise KeyError."""
        return _lookup(self._user_index, raw_ids, "userId")

    def movie_index(self, raw_ids) -> np.ndarray:
        """Raw ``movieId`` (scalar or array) -> 0-based movie index. Unknown ids raise KeyError."""
        return _lookup(self._movie_index, raw_ids, "movieId")

    def user_id(self, index):
        """0-based user index -> raw ``userId``."""
        return self.user_ids[index]

    def movie_id(self, index):
        """0-based movie index -> raw ``movieId``."""
        return self.movie_ids[index]

    def title(self, movie_index) -> str | list[str]:
        return self.movies["title"].to_numpy()[movie_index]

    def summary(self) -> pd.Series:
        """The headline statistics shown in the data chapter."""
        r = self.ratings
        return pd.Series({
            "users": self.num_users,
            "movies": self.num_movies,
            "rated movies": r["movie"].nunique(),
            "ratings": len(r),
            "genres": self.genres.shape[1],
            "density": len(r) / (self.num_users * self.num_movies),
            "mean rating": float(r["rating"].mean()),
        }, dtype=object)


def _lookup(index: pd.Index, raw_ids, what: str):
    scalar = np.ndim(raw_ids) == 0
    arr = np.atleast_1d(np.asarray(raw_ids))
    pos = index.get_indexer(arr)
    if (pos < 0).any():
        unknown = arr[pos < 0][:5].tolist()
        raise KeyError(f"unknown {what} {unknown}")
    return int(pos[0]) if scalar else pos


def load_movielens(data_dir: Path | str | None = None, *, download: bool = True,
                   verify: bool = True) -> MovieLens:
    """Load ml-latest-small (see the module docstring for where the files come from)."""
    directory = dataset_dir(ML_LATEST_SMALL, data_dir, download=download, verify=verify)
    ratings = read_ratings(directory / "ratings.csv")
    movies = read_movies(directory / "movies.csv")
    links = read_links(directory / "links.csv")

    movies = movies.sort_values("movieId", kind="stable").reset_index(drop=True)
    if movies["movieId"].duplicated().any():
        dup = movies.loc[movies["movieId"].duplicated(), "movieId"].iloc[0]
        raise DatasetError(f"{directory / 'movies.csv'}: movieId {dup} appears twice.")
    movie_ids = movies["movieId"].to_numpy()
    user_ids = np.sort(ratings["userId"].unique())

    unknown = ~ratings["movieId"].isin(movie_ids)
    if unknown.any():
        raise DatasetError(
            f"{directory / 'ratings.csv'}: {int(unknown.sum())} ratings name movies missing from "
            f"movies.csv (e.g. movieId {int(ratings.loc[unknown, 'movieId'].iloc[0])}). Fix: use "
            "files from the same download."
        )
    ratings = ratings.assign(
        user=pd.Index(user_ids).get_indexer(ratings["userId"]),
        movie=pd.Index(movie_ids).get_indexer(ratings["movieId"]),
    )

    genres = movies["genres"].str.get_dummies("|").astype(np.float32)
    movies = movies.assign(genres=movies["genres"].str.split("|"))
    movies = movies.merge(links, on="movieId", how="left")
    movies["imdbId"] = movies["imdbId"].astype("Int64")
    return MovieLens(ratings=ratings, movies=movies, genres=genres, user_ids=user_ids,
                     movie_ids=movie_ids, directory=directory)


def load_movielens_release(name: str, data_dir: Path | str | None = None, *,
                           download: bool = True, verify: bool = True):
    """The rating graph of a MovieLens release, ``'ml-latest-small'``, ``'ml-25m'`` or
    ``'ml-32m'`` (:data:`MOVIELENS_RELEASES`), as a :class:`~course_lib.graph.BipartiteGraph`.

    The files are found as for :func:`load_movielens` (``data_dir``, else ``COURSE_DATA_DIR``: a
    folder holding ``<name>/ratings.csv`` and ``<name>/movies.csv``, or that folder itself; else
    the download cache, else a download). Users are the raters, movies all rows of
    ``movies.csv``, both indexed by ascending raw id, and edges follow the file order, so
    that ``'ml-latest-small'`` gives the graph of ``build_graph(load_movielens())``.
    ``movie_x`` holds the genre indicators. ratings.csv is read with
    :func:`read_ratings_fast`, so ML-25M loads in well under a minute; ``verify`` checks the
    sha256 of ml-latest-small's files; the full releases' files have no published checksum,
    so a download of their zip is checked against the zip's published md5 and the files,
    downloaded or given, for their format.
    """
    from .graph import BipartiteGraph   # graph.py imports this module

    if name not in MOVIELENS_RELEASES:
        raise ValueError(f"unknown MovieLens release {name!r}; expected one of "
                         f"{list(MOVIELENS_RELEASES)}")
    spec = MOVIELENS_RELEASES[name]
    directory = dataset_dir(spec, data_dir, download=download, verify=verify)
    ratings = read_ratings_fast(directory / "ratings.csv")
    movies = read_movies(directory / "movies.csv")
    movies = movies.sort_values("movieId", kind="stable").reset_index(drop=True)
    if movies["movieId"].duplicated().any():
        dup = movies.loc[movies["movieId"].duplicated(), "movieId"].iloc[0]
        raise DatasetError(f"{directory / 'movies.csv'}: movieId {dup} appears twice. Fix: use "
                           "the unmodified dataset file.")
    movie_ids = movies["movieId"].to_numpy(np.int64)

    users, _ = pd.factorize(ratings["userId"].to_numpy(), sort=True)
    raw_movies = ratings["movieId"].to_numpy()
    movie_index = np.searchsorted(movie_ids, raw_movies)
    unknown = movie_ids[np.minimum(movie_index, len(movie_ids) - 1)] != raw_movies
    if unknown.any():
        raise DatasetError(
            f"{directory / 'ratings.csv'}: {int(unknown.sum())} ratings name movies missing "
            f"from movies.csv (e.g. movieId {int(raw_movies[unknown][0])}). Fix: use files "
            "from the same download."
        )
    genres = movies["genres"].str.get_dummies("|")
    return BipartiteGraph(
        num_users=int(users.max()) + 1,
        num_movies=len(movie_ids),
        edge_index=np.stack([users.astype(np.int64), movie_index.astype(np.int64)]),
        rating=ratings["rating"].to_numpy(np.float32),
        timestamp=ratings["timestamp"].to_numpy(np.int64),
        movie_x=genres.to_numpy(np.float32),
        feature_names=tuple(genres.columns),
    )


# --------------------------------------------------------------------------------------------------
# HetRec 2011 side information
# --------------------------------------------------------------------------------------------------


@dataclass
class HetRec:
    """HetRec 2011 MovieLens-2k tables (ids as in the files: MovieLens movie ids)."""

    movies: pd.DataFrame      # movieID, imdbID, title, year
    genres: pd.DataFrame      # movieID, genre
    directors: pd.DataFrame   # movieID, directorID, directorName
    actors: pd.DataFrame      # movieID, actorID, actorName, ranking
    directory: Path | None = None


def load_hetrec(data_dir: Path | str | None = None, *, download: bool = True,
                verify: bool = True) -> HetRec:
    """Load HetRec 2011 MovieLens-2k side information (tab-separated, Latin-1)."""
    d = dataset_dir(HETREC_2K, data_dir, download=download, verify=verify)
    enc = "latin-1"
    movies = pd.read_csv(d / "movies.dat", sep="\t", encoding=enc, dtype=str, quoting=3,
                         usecols=lambda c: c in {"id", "title", "imdbID", "year"})
    if list(movies.columns) != ["id", "title", "imdbID", "year"]:
        raise DatasetError(f"{d / 'movies.dat'}: wrong columns {list(movies.columns)}; expected "
                           "id, title, imdbID, year first. Fix: re-download HetRec 2011.")
    movies = movies.rename(columns={"id": "movieID"})
    movies = _typed(movies, d / "movies.dat", {"movieID": np.int64, "imdbID": np.int64})
    genres = _read_table(d / "movie_genres.dat", ["movieID", "genre"], sep="\t", encoding=enc,
                         dtypes={"movieID": np.int64})
    directors = _read_table(d / "movie_directors.dat", ["movieID", "directorID", "directorName"],
                            sep="\t", encoding=enc, dtypes={"movieID": np.int64})
    actors = _read_table(d / "movie_actors.dat", ["movieID", "actorID", "actorName", "ranking"],
                         sep="\t", encoding=enc, dtypes={"movieID": np.int64, "ranking": np.int64},
                         required=["movieID", "actorID", "ranking"])
    for df in (directors, actors):
        for col in df.columns:
            if df[col].dtype == object:
                df[col] = df[col].str.strip()
    return HetRec(movies=movies, genres=genres, directors=directors, actors=actors, directory=d)


def _typed(df: pd.DataFrame, path: Path, dtypes: dict) -> pd.DataFrame:
    for col, dtype in dtypes.items():
        values = pd.to_numeric(df[col], errors="coerce")
        if values.isna().any():
            row = int(np.flatnonzero(values.isna().to_numpy())[0])
            raise DatasetError(f"{path}: column {col!r} at data row {row + 1} holds "
                               f"{df[col].iloc[row]!r}, expected an integer. Fix: re-download.")
        df[col] = values.astype(dtype)
    return df


@dataclass
class SideInformation:
    """HetRec side information restricted to ml-latest-small movies whose IMDb ids agree.

    Every table carries ``movie`` (the ml-latest-small movie index) next to HetRec's columns.
    ``consistent`` lists the movie indices kept; ``mismatched`` the shared ids dropped because
    HetRec linked them to another IMDb film (e.g. movieId 7 *Sabrina (1995)* -> the 1954 film).
    """

    consistent: np.ndarray
    mismatched: np.ndarray
    genres: pd.DataFrame
    directors: pd.DataFrame
    actors: pd.DataFrame


ACTOR_MOVIES = ("course", "all")


def course_actor_movies() -> np.ndarray:
    """The HetRec movie ids whose actors the course uses (``records/actor_movies.json``): the
    4,999 movies of the top-10 actor subset in ``../shared/datasets``."""
    import json

    record = Path(__file__).with_name("records") / "actor_movies.json"
    return np.asarray(json.loads(record.read_text())["movie_ids"], dtype=np.int64)


def join_side_information(ml: MovieLens, hetrec: HetRec, top_k_actors: int = 10,
                          actor_movies: str = "course") -> SideInformation:
    """Join HetRec to ml-latest-small on the MovieLens movie id, keeping IMDb-consistent movies.

    Actors: the ``top_k_actors`` first billed (``ranking``) of each movie. ``actor_movies``:
    ``'course'`` (default) keeps them only for the 4,999 movies of the course's actor subset
    (:func:`course_actor_movies`), so the complete official ``movie_actors.dat`` (downloaded
    from GroupLens) and the subset in ``../shared/datasets`` give the same actor relation and
    the same results; ``'all'`` keeps the actors of every movie in the file.
    """
    if actor_movies not in ACTOR_MOVIES:
        raise ValueError(f"actor_movies must be one of {ACTOR_MOVIES}, got {actor_movies!r}")
    both = ml.movies[["movieId", "imdbId"]].merge(
        hetrec.movies[["movieID", "imdbID"]], left_on="movieId", right_on="movieID")
    agree = both["imdbId"].astype("int64").to_numpy() == both["imdbID"].to_numpy()
    keep_ids = both.loc[agree, "movieId"].to_numpy()
    drop_ids = both.loc[~agree, "movieId"].to_numpy()

    def restrict(df: pd.DataFrame) -> pd.DataFrame:
        out = df[df["movieID"].isin(keep_ids)].copy()
        out.insert(0, "movie", ml.movie_index(out["movieID"].to_numpy()))
        return out.reset_index(drop=True)

    actors = hetrec.actors[hetrec.actors["ranking"] <= top_k_actors]
    if actor_movies == "course":
        actors = actors[actors["movieID"].isin(course_actor_movies())]
    return SideInformation(
        consistent=np.sort(ml.movie_index(keep_ids)),
        mismatched=np.sort(ml.movie_index(drop_ids)),
        genres=restrict(hetrec.genres),
        directors=restrict(hetrec.directors),
        actors=restrict(actors),
    )


def side_information_coverage(ml: MovieLens, side: SideInformation) -> pd.DataFrame:
    """How many ml-latest-small movies, and what share of the ratings, each source covers."""
    rated = ml.ratings["movie"].to_numpy()
    rows = {}
    for name, table in [("IMDb-consistent movies", None), ("genres", side.genres),
                        ("directors", side.directors), ("actors", side.actors)]:
        movies = side.consistent if table is None else np.unique(table["movie"].to_numpy())
        rows[name] = {"movies": len(movies),
                      "share of ratings": float(np.isin(rated, movies).mean())}
    return pd.DataFrame.from_dict(rows, orient="index")
