"""Finding, downloading and verifying the course's datasets.

:mod:`course_lib.data` describes each dataset as a :class:`DatasetSpec` (its official URL and
the sha256 of each file the course reads) and calls :func:`dataset_dir` for the folder that
holds it. That folder is, in this order:

1. ``data_dir=`` if given, else the directory in the environment variable ``COURSE_DATA_DIR``
   (tests and CI point it at ``../shared/datasets``). Nothing is downloaded in this mode.
2. The cache directory ``COURSE_CACHE_DIR`` (default ``~/.cache/gnn-recsys-course/datasets``),
   filled by an earlier download.
3. A download of the official zip into the cache. The zip is checked against the md5 its
   publisher gives, where there is one, and each file against its known sha256 before the
   cache folder appears, and extraction is atomic: an interrupted download or
   a bad archive leaves no half-written cache behind.

Any problem with the files raises one :class:`DatasetError` that names the file, says what was
expected and how to fix it.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

ENV_DATA_DIR = "COURSE_DATA_DIR"
ENV_CACHE_DIR = "COURSE_CACHE_DIR"
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "gnn-recsys-course" / "datasets"


class DatasetError(RuntimeError):
    """A dataset file is missing, corrupt or not in the expected format.

    The message names the file, what was expected, and how to fix it.
    """


# --------------------------------------------------------------------------------------------------
# Dataset specifications
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetSpec:
    """Where a dataset comes from and which of its files the course reads.

    ``files`` maps each file name the course needs to its sha256, or to ``None`` where only the
    file's presence and format are checked (a file that exists in more than one official version).
    ``archive_md5`` is the md5 the publisher gives for the zip itself, where it gives one: a
    download is checked against it before it is unpacked.
    """

    name: str
    url: str
    files: dict[str, str | None]
    citation: str = ""
    archive_md5: str | None = None

    def checked_files(self) -> dict[str, str]:
        return {f: h for f, h in self.files.items() if h is not None}



# --------------------------------------------------------------------------------------------------
# Locating, downloading and verifying
# --------------------------------------------------------------------------------------------------


def sha256_of(path: Path | str, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def md5_of(path: Path | str, chunk: int = 1 << 20) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def verify_archive(path: Path | str, spec: DatasetSpec) -> None:
    """Check a zip against the md5 its publisher gives (``spec.archive_md5``), for a
    download or a zip fetched by hand; a spec without one checks nothing."""
    if spec.archive_md5 is None:
        return
    got = md5_of(path)
    if got != spec.archive_md5:
        raise DatasetError(
            f"{spec.url}: the zip's checksum does not match the published one (md5 expected "
            f"{spec.archive_md5}, got {got}). Fix: download it again; the file is damaged or "
            f"is not the official {spec.name} release.")


def unreadable_error(path: Path, error: OSError) -> DatasetError:
    what = "folder" if path.is_dir() else "file"
    return DatasetError(
        f"{path}: this {what} cannot be read ({error.strerror or error}). Fix: give your user "
        f"read access to it (for example `chmod -R u+rX {path}`), or point {ENV_DATA_DIR} at a "
        f"readable copy.")


def verify_files(directory: Path, spec: DatasetSpec, source: str = "cache") -> None:
    """Check that every file of ``spec`` is in ``directory`` and has its known sha256.

    ``source`` says where the folder came from, so that a failure names a fix that works:
    ``'cache'`` (the download cache: delete it and load again), ``'local'`` (a folder the user
    pointed at: replace the file) or ``'download'`` (a download being unpacked in a temporary
    folder that is removed: try again)."""
    if not os.access(directory, os.R_OK | os.X_OK):
        raise unreadable_error(directory, PermissionError(13, "permission denied"))
    for fname in spec.files:
        path = directory / fname
        if not path.is_file():
            raise DatasetError(
                f"{path}: file missing. Expected the {spec.name} file {fname!r} here. Fix: make "
                f"sure the folder holds the unpacked {spec.name} dataset ({spec.url})."
            )
    for fname, expected in spec.checked_files().items():
        try:
            got = sha256_of(directory / fname)
        except OSError as e:
            raise unreadable_error(directory / fname, e) from None
        if got != expected:
            fix = {
                "cache": f"delete {directory} and load again to re-download it, or point "
                         f"{ENV_DATA_DIR} at an unmodified copy.",
                "local": f"replace it with the file from the official {spec.name} archive "
                         f"({spec.url}), or unset {ENV_DATA_DIR} to download the dataset.",
                "download": "load again to retry; if it persists, the archive on the server is "
                            f"not the {spec.name} release the course expects.",
            }[source]
            where = (f"{spec.url}: {fname} in the downloaded archive" if source == "download"
                     else f"{directory / fname}")
            raise DatasetError(
                f"{where}: checksum mismatch (sha256 expected {expected}, got {got}). "
                f"The file is corrupt, truncated or a different version of {spec.name}. "
                f"Fix: {fix}"
            )


STALE_DOWNLOAD_SECONDS = 3600


def cache_dir() -> Path:
    return Path(os.environ.get(ENV_CACHE_DIR) or DEFAULT_CACHE_DIR).expanduser()


def _locate_members(root: Path, spec: DatasetSpec) -> Path:
    """The folder inside an unpacked archive that holds the spec's files (zips differ in nesting)."""
    first = next(iter(spec.files))
    hits = sorted(root.rglob(first), key=lambda p: len(p.parts))
    if not hits:
        raise DatasetError(
            f"{spec.url}: the archive has no {first!r}. Expected the official {spec.name} zip. "
            f"Fix: check the URL, or download it by hand and set {ENV_DATA_DIR}."
        )
    return hits[0].parent


def download_dataset(spec: DatasetSpec, cache: Path | None = None, *, progress: bool = True) -> Path:
    """Download ``spec.url`` into ``cache/spec.name``, verified and atomically.

    The zip is streamed to a temporary file, unpacked into a temporary folder, every file is
    verified, and only then is the folder renamed into place. On any failure the temporary files
    are removed and a :class:`DatasetError` says what went wrong.
    """
    cache = Path(cache) if cache is not None else cache_dir()
    target = cache / spec.name
    cache.mkdir(parents=True, exist_ok=True)
    # a download killed midway (its process gone, the temporary folder left) is cleared away;
    # one less than an hour old may still be running in another process
    for stale in cache.glob(f".{spec.name}-*"):
        if time.time() - stale.stat().st_mtime > STALE_DOWNLOAD_SECONDS:
            shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{spec.name}-", dir=cache))
    try:
        archive = tmp / "archive.zip"
        _fetch(spec.url, archive, progress=progress)
        verify_archive(archive, spec)
        try:
            with zipfile.ZipFile(archive) as zf:
                bad = zf.testzip()
                if bad is not None:
                    raise DatasetError(f"{spec.url}: member {bad!r} of the zip is corrupt.")
                zf.extractall(tmp / "unpacked")
        except zipfile.BadZipFile as e:
            raise DatasetError(
                f"{spec.url}: the download is not a valid zip ({e}). Expected the official "
                f"{spec.name} archive. Fix: try again; if it persists, download it by hand, unpack "
                f"it and set {ENV_DATA_DIR} to the folder that holds {spec.name}/."
            ) from None
        members = _locate_members(tmp / "unpacked", spec)
        verify_files(members, spec, source="download")
        if target.exists():  # another process finished first; keep its copy
            return target
        os.replace(members, target)
        return target
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _fetch(url: str, dest: Path, *, progress: bool) -> None:
    from tqdm.auto import tqdm

    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            total = response.length
            received = 0
            with open(dest, "wb") as out, tqdm(
                total=total, unit="B", unit_scale=True, desc=f"Downloading {url.rsplit('/', 1)[-1]}",
                disable=not progress,
            ) as bar:
                while block := response.read(1 << 16):
                    out.write(block)
                    received += len(block)
                    bar.update(len(block))
    except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
        raise DatasetError(
            f"{url}: download failed ({e}). Fix: check your internet connection, or download the zip "
            f"by hand, unpack it and set {ENV_DATA_DIR} to the folder that holds its contents."
        ) from None
    if total is not None and received != total:
        raise DatasetError(
            f"{url}: download interrupted ({received} of {total} bytes). Fix: load again to retry."
        )


def dataset_dir(spec: DatasetSpec, data_dir: Path | str | None = None, *, download: bool = True,
                verify: bool = True) -> Path:
    """The local folder holding ``spec``'s files: explicit folder, else cache, else download."""
    root = data_dir if data_dir is not None else os.environ.get(ENV_DATA_DIR)
    if root:
        root = Path(root).expanduser()
        if not root.is_dir():
            source = "data_dir" if data_dir is not None else f"${ENV_DATA_DIR}"
            raise DatasetError(
                f"{root}: directory not found ({source}). Expected a folder containing "
                f"{spec.name}/. Fix: point {source} at the folder that holds the unpacked datasets, "
                f"or unset {ENV_DATA_DIR} to download them."
            )
        # Accept both the parent folder (root/ml-latest-small/...) and the dataset folder itself.
        directory = root / spec.name if (root / spec.name).is_dir() else root
        if not (directory / next(iter(spec.files))).exists() and directory == root:
            raise DatasetError(
                f"{root / spec.name}: directory not found. Expected {spec.name}/ with "
                f"{', '.join(spec.files)} inside {root}. Fix: unpack {spec.url} there, or unset "
                f"{ENV_DATA_DIR} to download it."
            )
    else:
        directory = cache_dir() / spec.name
        if not directory.is_dir():
            if not download:
                raise DatasetError(
                    f"{directory}: not downloaded yet and download=False. Fix: call with "
                    f"download=True or set {ENV_DATA_DIR}."
                )
            directory = download_dataset(spec)
    source = "local" if root else "cache"
    if verify:
        verify_files(directory, spec, source)
    else:
        verify_files(directory, DatasetSpec(spec.name, spec.url, dict.fromkeys(spec.files)),
                     source)
    return directory
