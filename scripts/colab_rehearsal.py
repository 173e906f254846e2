"""The Colab rehearsal: every chapter run in a fresh environment built the way Colab's is.

1. A new virtual environment with the newest torch, jax, flax and optax the package index offers
   (not the course's pins) and the other libraries Colab ships (``course_lib.colab.COLAB_SHIPS``),
   installed with the environment's own pip (so the machine's pip configuration decides where
   packages come from); a stand-in ``google.colab`` module that the kernel imports at start, as
   Colab's does; nothing of the course installed, and no ``PYTHONPATH`` pointing at the clone.
2. Each chapter, in order, executed from a temporary copy (never into ``book/``) in a kernel of
   that environment, starting with the chapter's own first cell, whose repository address is
   replaced by a copy of this clone's working tree: the cell installs the course from it
   (non-editable) and ``course_lib.colab.setup()`` installs the rest. Checkpoints start empty,
   as in a new Colab runtime; datasets come from ``$COURSE_DATA_DIR`` when it is set.
3. Per-chapter times and a summary; exit status 1 on any import error or crash.

PyG's wheel index must be reachable for chapter 3's PyG sampler (``pyg-lib``). When it is not,
or has no build for that torch, chapter 3 stops where the text says, at its sampler check: that
is reported as the missing-wheel path, not a failure. ``--pyg-wheels DIR`` puts a folder of
prebuilt wheels in the index's place (then chapter 3 must run through).

Usage::

    python scripts/colab_rehearsal.py                      # every chapter (make colab-rehearsal)
    python scripts/colab_rehearsal.py --chapters 01 07     # some of them
    python scripts/colab_rehearsal.py --torch-index https://download.pytorch.org/whl/cpu
    python scripts/colab_rehearsal.py --chapters 03 --torch torch==2.13.0+cpu \
        --pyg-wheels ../shared/wheels                     # chapter 3 with PyG's sampler
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
KERNEL = "colab-rehearsal"
NEWEST = ("torch", "jax", "flax", "optax")
# the one error chapter 3 raises when PyG has no neighbour sampler (course_lib.pyg.sage)
NO_SAMPLER = "PyG's neighbour sampler needs pyg-lib or torch-sparse"
# Colab's google.colab, as much of it as libraries touch when they see it (jax imports its
# ``output`` module on import): its presence in sys.modules says "this is Colab".
STAND_IN = {
    "__init__.py": '"""Stand-in for Colab\'s module (scripts/colab_rehearsal.py)."""\n'
                   "from . import output\n",
    "output.py": "def _absent(*args, **kwargs):\n"
                 "    raise NotImplementedError('not in the Colab rehearsal\\'s stand-in')\n\n\n"
                 "eval_js = register_callback = clear = _absent\n"
                 "enable_custom_widget_manager = disable_custom_widget_manager = _absent\n",
}


def repository_url() -> str:
    match = re.search(r"^repository:\n  url: (\S+)$", (ROOT / "_config.yml").read_text(), re.M)
    if not match:
        raise SystemExit("_config.yml has no repository.url")
    return match.group(1)


def colab_ships() -> tuple[str, ...]:
    """``course_lib.colab.COLAB_SHIPS``, read from the clone without importing the course."""
    text = (ROOT / "course_lib" / "colab.py").read_text()
    match = re.search(r"^COLAB_SHIPS = (\([^)]*\))", text, re.M)
    if not match:
        raise SystemExit("course_lib/colab.py has no COLAB_SHIPS")
    return tuple(eval(match.group(1)))  # noqa: S307 (a tuple of strings from the clone)


def local_first_cell(source: str, url: str, clone: Path) -> str:
    """A chapter's first cell with ``git+URL`` replaced by the path of the local clone."""
    target = f'"git+{url}"'
    if source.count(target) != 1:
        raise ValueError(f"the first cell does not install {target} exactly once:\n{source}")
    if 'if "google.colab" in sys.modules:' not in source:
        raise ValueError(f"the first cell is not the Colab setup cell:\n{source}")
    return source.replace(target, f'"{clone}"')


def chapter_notebooks(selected: list[str] | None = None) -> list[Path]:
    """The chapter notebooks (``book/0*.ipynb``), or those whose names start with ``selected``."""
    found = sorted(BOOK.glob("0*.ipynb"))
    if selected:
        found = [p for p in found if any(p.name.startswith(s) for s in selected)]
        if not found:
            raise SystemExit(f"no chapter matches {selected}")
    return found


@dataclass
class Result:
    chapter: str
    seconds: float
    setup_seconds: float | None
    outcome: str              # "passed", "no sampler" or "failed"
    detail: str = ""


def outcome_of(error: BaseException | None, sampler_expected: bool) -> tuple[str, str]:
    """``(outcome, detail)`` of a chapter from the error its run raised (None: it ran through).
    Chapter 3's own "no neighbour sampler" error is the missing-wheel path, unless a sampler
    was expected (``--pyg-wheels``)."""
    if error is None:
        return "passed", ""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))           # a traceback's colours
    if NO_SAMPLER in text and not sampler_expected:
        return "no sampler", "stopped at its sampler check, saying what to do"
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return "failed", lines[-1][:300] if lines else type(error).__name__


def summary(results: list[Result], versions: dict[str, str]) -> str:
    """The closing table: one line per chapter, then the environment's versions."""
    lines = [f"{'chapter':<32} {'outcome':<11} {'setup s':>8} {'total s':>8}"]
    for r in results:
        setup = f"{r.setup_seconds:.0f}" if r.setup_seconds is not None else "-"
        lines.append(f"{r.chapter:<32} {r.outcome:<11} {setup:>8} {r.seconds:>8.0f}")
        if r.detail:
            lines.append(f"    {r.detail}")
    total = sum(r.seconds for r in results)
    failed = sum(r.outcome == "failed" for r in results)
    lines.append(f"{len(results)} chapters in {total / 60:.1f} min: "
                 f"{len(results) - failed} ran, {failed} failed")
    lines.append("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    return "\n".join(lines)


# ------------------------------------------------------------------------- the environment


def run(command: list[str], **kwargs) -> None:
    print("$", " ".join(command), flush=True)
    subprocess.run(command, check=True, **kwargs)


def kernel_env(venv: Path, work: Path) -> dict[str, str]:
    """The kernel's environment: the new venv first on PATH, nothing of the clone's."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "COURSE_VENV", "COURSE_CACHE_DIR",
                        "JUPYTER_PATH", "IPYTHONDIR")}
    # the course's prebuilt extension wheels (make setup) are not Colab's: PyG's index is
    links = [link for link in env.pop("PIP_FIND_LINKS", "").split()
             if "shared/wheels" not in link]
    if links:
        env["PIP_FIND_LINKS"] = " ".join(links)
    env["PATH"] = f"{venv / 'bin'}:{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    env["COURSE_CACHE_DIR"] = str(work / "cache")           # no checkpoints: a new runtime
    env["IPYTHONDIR"] = str(work / "ipython")
    env["JUPYTER_PATH"] = str(work / "jupyter")
    env.setdefault("COURSE_NO_PROGRESS", "1")
    return env


def build_environment(work: Path, python: str, torch: str, torch_index: str | None,
                      env: dict[str, str]) -> Path:
    venv = work / "venv"
    run([python, "-m", "venv", str(venv)])
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    run([*pip, "--upgrade", "pip"], env=env)
    extra = ["--extra-index-url", torch_index] if torch_index else []
    run([*pip, *extra, *(torch if n == "torch" else n for n in colab_ships())], env=env)
    # Colab's kernel imports google.colab when it starts
    site = Path(subprocess.run([str(venv / "bin" / "python"), "-c",
                                "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "google" / "colab").mkdir(parents=True)
    for name, text in STAND_IN.items():
        (site / "google" / "colab" / name).write_text(text)
    startup = work / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-colab.py").write_text("import google.colab  # as Colab's kernel does\n")
    spec = work / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(venv / "bin" / "python"), "-m", "ipykernel_launcher", "-f",
                 "{connection_file}"],
        "display_name": "Colab rehearsal", "language": "python"}))
    return venv


def versions(venv: Path, env: dict[str, str]) -> dict[str, str]:
    code = ("import importlib.metadata as m, platform, json\n"
            "names = ['torch', 'jax', 'flax', 'optax', 'numpy', 'pandas', 'scipy',"
            " 'scikit-learn', 'matplotlib', 'torch-geometric', 'jraph', 'faiss-cpu',"
            " 'pyg-lib', 'torch-scatter', 'torch-sparse']\n"
            "out = {'python': platform.python_version()}\n"
            "for n in names:\n"
            "    try: out[n] = m.version(n)\n"
            "    except m.PackageNotFoundError: out[n] = 'absent'\n"
            "print(json.dumps(out))\n")
    done = subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True,
                          text=True, check=True, env=env, cwd="/")
    return json.loads(done.stdout)


def importable(venv: Path, module: str, env: dict[str, str]) -> str | None:
    """Where ``module`` is imported from in the venv (cwd /, no PYTHONPATH), or None."""
    done = subprocess.run([str(venv / "bin" / "python"), "-c",
                           f"import {module}; print({module}.__file__)"],
                          capture_output=True, text=True, env=env, cwd="/")
    return done.stdout.strip() if done.returncode == 0 else None


def copy_clone(work: Path) -> Path:
    """This clone's working tree (tracked and untracked, not ignored files), as Colab's pip
    would get it from the repository once the changes are pushed."""
    clone = work / "clone"
    names = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    for name in filter(None, names):
        source = ROOT / os.fsdecode(name)
        if source.is_file():
            target = clone / os.fsdecode(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return clone


# ------------------------------------------------------------------------- the chapters


def run_chapter(path: Path, work: Path, clone: Path, url: str, timeout: int
                ) -> tuple[float, float | None, BaseException | None]:
    import nbclient
    import nbformat

    nb = nbformat.read(path, as_version=4)
    first = next(c for c in nb.cells if c.cell_type == "code")
    first.source = local_first_cell(first.source, url, clone)
    copy = work / "chapters" / path.name
    copy.parent.mkdir(exist_ok=True)
    client = nbclient.NotebookClient(nb, kernel_name=KERNEL, timeout=timeout,
                                     record_timing=True,
                                     resources={"metadata": {"path": str(copy.parent)}})
    start, error = time.perf_counter(), None
    try:
        client.execute()
    except Exception as e:                                   # noqa: BLE001 (reported)
        error = e
    seconds = time.perf_counter() - start
    nbformat.write(nb, copy)
    return seconds, cell_seconds(first), error


def cell_seconds(cell) -> float | None:
    from datetime import datetime

    timing = cell.get("metadata", {}).get("execution", {})
    try:
        start = datetime.fromisoformat(timing["iopub.execute_input"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(timing["shell.execute_reply"].replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return None
    return (end - start).total_seconds()


def setup_output(path: Path) -> str:
    import nbformat

    nb = nbformat.read(path, as_version=4)
    first = next(c for c in nb.cells if c.cell_type == "code")
    return "".join(o.get("text", "") for o in first.get("outputs", [])
                   if o.get("name") == "stdout").strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chapters", nargs="*", help="name prefixes, e.g. 01 07 (default: all)")
    parser.add_argument("--python", default=sys.executable,
                        help="interpreter for the new environment (default: this one)")
    parser.add_argument("--torch", default="torch", help="torch's requirement (default: the "
                        "newest), e.g. torch==2.13.0+cpu to match --pyg-wheels")
    parser.add_argument("--torch-index", help="an extra index for torch, e.g. a CPU-only one")
    parser.add_argument("--pyg-wheels", type=Path,
                        help="a folder of prebuilt pyg-lib / torch-sparse wheels standing in "
                             "for PyG's wheel index (then chapter 3 must run through)")
    parser.add_argument("--work", type=Path, help="working folder (default: a new temporary "
                        "one, deleted afterwards unless --keep)")
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    args = parser.parse_args()

    chapters = chapter_notebooks(args.chapters)
    url = repository_url()
    work = args.work or Path(tempfile.mkdtemp(prefix="colab-rehearsal-"))
    if args.work:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
    print(f"Colab rehearsal in {work}", flush=True)
    try:
        env = kernel_env(work / "venv", work)
        if args.pyg_wheels:
            env["COURSE_PYG_WHEELS"] = str(args.pyg_wheels.resolve())
        started = time.perf_counter()
        venv = build_environment(work, args.python, args.torch, args.torch_index, env)
        clone = copy_clone(work)
        print(f"environment built in {time.perf_counter() - started:.0f} s", flush=True)
        if importable(venv, "course_lib", env) or importable(venv, "torch_geometric", env):
            raise SystemExit("the new environment already has the course or PyG")
        before = versions(venv, env)
        print("Colab-like environment:", before, flush=True)
        os.environ.clear()
        os.environ.update(env)                # the kernels inherit it
        results = []
        for path in chapters:
            print(f"--- {path.name}", flush=True)
            seconds, setup, error = run_chapter(path, work, clone, url, args.timeout)
            outcome, detail = outcome_of(error, sampler_expected=bool(args.pyg_wheels))
            said = setup_output(work / "chapters" / path.name)
            print(f"    first cell said: {said.splitlines()[-1] if said else '(nothing)'}")
            print(f"    {outcome} in {seconds:.0f} s {detail}", flush=True)
            results.append(Result(path.stem, seconds, setup, outcome, detail))
        installed = importable(venv, "course_lib", env) or ""
        if "site-packages" not in installed:
            results.append(Result("course installed", 0, None, "failed",
                                  f"course_lib is not in site-packages: {installed!r}"))
        after = versions(venv, env)
        replaced = {k: (before[k], after[k]) for k in NEWEST if before[k] != after[k]}
        if replaced:
            results.append(Result("Colab's libraries kept", 0, None, "failed",
                                  f"installing the course changed {replaced}"))
        print()
        print(summary(results, after))
        return 1 if any(r.outcome == "failed" for r in results) else 0
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
