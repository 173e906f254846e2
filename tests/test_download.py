"""course_lib.download: finding, downloading (from a server on loopback) and verifying datasets;
every failure leaves no half-written cache."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import io
import threading
import zipfile

import pytest

from course_lib import data as D
from course_lib import download
from course_lib.data import load_movielens
from course_lib.download import DatasetError, DatasetSpec

ML_FILES = ("ratings.csv", "movies.csv", "links.csv")


# ---------------------------------------------------------------------------------------------
# Download, against a server on loopback
# ---------------------------------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, bytes, int | None]] = {}

    def do_GET(self):  # noqa: N802
        status, body, claimed = self.routes.get(self.path, (404, b"not found", None))
        self.send_response(status)
        self.send_header("Content-Length", str(claimed if claimed is not None else len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _Handler.routes = {}
    yield f"http://127.0.0.1:{httpd.server_address[1]}", _Handler.routes
    httpd.shutdown()
    httpd.server_close()


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return buf.getvalue()


TINY = {"a.csv": b"x,y\n1,2\n", "b.csv": b"z\n3\n"}
TINY_SPEC = DatasetSpec("tiny", "", {n: hashlib.sha256(c).hexdigest() for n, c in TINY.items()})


def _spec(url: str) -> DatasetSpec:
    return dataclasses.replace(TINY_SPEC, url=url)


def test_download_verifies_and_unpacks(server, tmp_path):
    base, routes = server
    routes["/tiny.zip"] = (200, _zip({f"tiny/{n}": c for n, c in TINY.items()}), None)
    path = download.download_dataset(_spec(base + "/tiny.zip"), tmp_path, progress=False)
    assert path == tmp_path / "tiny"
    assert (path / "a.csv").read_bytes() == TINY["a.csv"]
    assert [p.name for p in tmp_path.iterdir()] == ["tiny"]  # no temporary files left


def test_download_of_real_movielens_zip_fills_the_cache(server, tmp_path, monkeypatch, ml):
    base, routes = server
    routes["/ml-latest-small.zip"] = (200, _zip(
        {f"ml-latest-small/{f}": (ml.directory / f).read_bytes() for f in ML_FILES}), None)
    monkeypatch.delenv(download.ENV_DATA_DIR, raising=False)
    monkeypatch.setenv(download.ENV_CACHE_DIR, str(tmp_path / "cache"))
    monkeypatch.setattr(D, "ML_LATEST_SMALL",
                        dataclasses.replace(D.ML_LATEST_SMALL, url=base + "/ml-latest-small.zip"))
    first = load_movielens()
    assert first.directory == tmp_path / "cache" / "ml-latest-small"
    assert len(first.ratings) == 100_836
    routes.clear()  # the second load must come from the cache, not the server
    assert len(load_movielens().ratings) == 100_836


@pytest.mark.parametrize("route,body,claimed,message", [
    ("/bad.zip", b"this is not a zip file", None, "not a valid zip"),
    ("/cut.zip", b"PK\x03\x04 only the first bytes", 10_000, "download failed|interrupted"),
    ("/missing.zip", None, None, "download failed.*404"),
])
def test_failed_download_leaves_no_cache(server, tmp_path, route, body, claimed, message):
    base, routes = server
    if body is not None:
        routes[route] = (200, body, claimed)
    with pytest.raises(DatasetError, match=message):
        download.download_dataset(_spec(base + route), tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_download_with_wrong_checksum_leaves_no_cache(server, tmp_path):
    base, routes = server
    routes["/tiny.zip"] = (200, _zip({"a.csv": b"x,y\n1,999\n", "b.csv": TINY["b.csv"]}), None)
    with pytest.raises(DatasetError, match="a.csv in the downloaded archive: checksum mismatch"):
        download.download_dataset(_spec(base + "/tiny.zip"), tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_archive_without_the_files(server, tmp_path):
    base, routes = server
    routes["/other.zip"] = (200, _zip({"README": b"hello"}), None)
    with pytest.raises(DatasetError, match="the archive has no 'a.csv'"):
        download.download_dataset(_spec(base + "/other.zip"), tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_a_download_killed_midway_is_cleared_by_the_next_one(server, tmp_path):
    """A killed process leaves its temporary folder (and half an archive) behind; the next
    download removes it once it is stale, and leaves a recent one (maybe still running) alone."""
    import os
    import time

    base, routes = server
    routes["/tiny.zip"] = (200, _zip({f"tiny/{n}": c for n, c in TINY.items()}), None)
    killed, running = tmp_path / ".tiny-killed", tmp_path / ".tiny-running"
    for folder in (killed, running):
        folder.mkdir()
        (folder / "archive.zip").write_bytes(b"PK\x03\x04 half")
    old = time.time() - download.STALE_DOWNLOAD_SECONDS - 60
    os.utime(killed, (old, old))
    download.download_dataset(_spec(base + "/tiny.zip"), tmp_path, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".tiny-running", "tiny"]


def test_checksum_failure_of_a_download_names_no_temporary_folder(server, tmp_path):
    base, routes = server
    routes["/tiny.zip"] = (200, _zip({"a.csv": b"x,y\n1,999\n", "b.csv": TINY["b.csv"]}), None)
    with pytest.raises(DatasetError) as error:
        download.download_dataset(_spec(base + "/tiny.zip"), tmp_path, progress=False)
    message = str(error.value)
    assert "downloaded archive" in message and "load again to retry" in message
    assert str(tmp_path) not in message and "delete" not in message


def test_download_checks_the_published_md5_of_the_zip(server, tmp_path):
    """A spec with the publisher's md5 of the zip (the full MovieLens releases) refuses a
    zip that differs from it before unpacking, and accepts the right one."""
    base, routes = server
    body = _zip({f"tiny/{n}": c for n, c in TINY.items()})
    routes["/tiny.zip"] = (200, body, None)
    wrong = dataclasses.replace(_spec(base + "/tiny.zip"), archive_md5="0" * 32)
    with pytest.raises(DatasetError, match="zip's checksum does not match.*md5 expected 0{32}"):
        download.download_dataset(wrong, tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []
    right = dataclasses.replace(wrong, archive_md5=hashlib.md5(body).hexdigest())
    assert (download.download_dataset(right, tmp_path, progress=False) / "a.csv").exists()


def test_full_releases_carry_their_published_md5():
    assert D.ML_25M.archive_md5 == D.MOVIELENS_ZIP_MD5["ml-25m"]
    assert D.ML_32M.archive_md5 == D.MOVIELENS_ZIP_MD5["ml-32m"]
    assert D.ML_LATEST_SMALL.archive_md5 is None     # its files' sha256 are checked instead
    assert all(len(h) == 32 and int(h, 16) >= 0 for h in D.MOVIELENS_ZIP_MD5.values())
