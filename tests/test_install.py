"""``course_lib`` installed as Colab installs it: built into a wheel, installed non-editable,
imported from outside the clone. A file missing from the package (a record, say) or a path that
assumes the clone's layout fails here, not in a learner's Colab session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent("""
    import sys
    from pathlib import Path

    import course_lib
    here = Path(course_lib.__file__).resolve()
    assert here.is_relative_to(Path(sys.argv[1]).resolve()), here    # the installed copy
    from course_lib import records
    from course_lib.data import course_actor_movies, load_movielens
    from course_lib.exercises import ExerciseFailed, all_exercises, check

    ml = load_movielens(sys.argv[2], download=False)
    assert len(ml.ratings) == 100_836
    assert len(course_actor_movies()) == 4999
    assert records.load("leaderboard")["rows"]
    reference = all_exercises()["node_degrees"].reference
    assert check("node_degrees", reference) is not None              # passes, prints a tick

    def wrong(edge_index, num_users, num_movies):                   # every degree off by one
        users, movies = reference(edge_index, num_users, num_movies)
        return users + 1, movies

    try:
        check("node_degrees", wrong)
    except ExerciseFailed as failure:
        assert "wrong" in str(failure), failure
        print("INSTALLED-OK")
""")


def test_the_library_works_installed_from_a_wheel_outside_the_clone(tmp_path):
    wheels, target, source = tmp_path / "wheels", tmp_path / "site", tmp_path / "source"
    # build from a copy of what the repository ships: the build leaves nothing in the clone
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "course_lib", source / "course_lib",
                    ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(wheels), str(source)], check=True, cwd=tmp_path)
    wheel = next(wheels.glob("course_lib-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                    str(target), str(wheel)], check=True, cwd=tmp_path)
    assert not (target / "course_lib" / "records" / "leaderboard.json").is_symlink()
    data = os.environ.get("COURSE_DATA_DIR", str(ROOT.parent / "shared" / "datasets"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "COURSE_DATA_DIR")}
    env["PYTHONPATH"] = str(target)                 # the installed copy, never the clone
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(target), data], cwd=tmp_path,
                         env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "INSTALLED-OK" in out.stdout
