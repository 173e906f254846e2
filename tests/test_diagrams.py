"""``scripts/diagrams.py``: the committed SVG diagrams in ``book/figures/`` are exactly what the
script draws, every one is listed, valid SVG, small, and readable in a phone's column."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import matplotlib
import matplotlib.text
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "diagrams.py"
FIGURES = ROOT / "book" / "figures"
NAMES = ["message_passing_step.svg", "message_vs_supervision_edges.svg", "sampled_subgraph.svg",
         "gcmc_rating_messages.svg", "ngcf_vs_lightgcn_layer.svg", "two_tower_retrieval.svg"]
REGENERATE = "run `python scripts/diagrams.py` and commit book/figures/"
PHONE_COLUMN_PX, MIN_PX = 360, 9.0


def _diagrams_module():
    spec = importlib.util.spec_from_file_location("diagrams", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    """The script's output, run as a reader would run it, into an empty folder."""
    out = tmp_path_factory.mktemp("diagrams")
    subprocess.run([sys.executable, str(SCRIPT), "--out", str(out)], check=True, cwd=ROOT,
                   capture_output=True, timeout=60)
    return out


def test_the_script_writes_exactly_the_listed_figures(drawn):
    assert sorted(p.name for p in drawn.iterdir()) == sorted(NAMES)
    assert sorted(_diagrams_module().DIAGRAMS) == sorted(NAMES)
    missing = [name for name in NAMES if not (FIGURES / name).is_file()]
    assert not missing, f"not committed: {missing}; {REGENERATE}"


@pytest.mark.parametrize("name", NAMES)
def test_committed_figure_is_what_the_script_draws(drawn, name):
    committed = FIGURES / name
    assert committed.is_file(), f"{committed.relative_to(ROOT)} is missing: {REGENERATE}"
    made_by = re.search(rb"Matplotlib v([\w.]+)", committed.read_bytes())
    if made_by and made_by.group(1).decode() != matplotlib.__version__:
        pytest.skip(f"{name} was drawn by matplotlib {made_by.group(1).decode()}, this is "
                    f"{matplotlib.__version__} (requirements.txt pins the version that draws it)")
    assert committed.read_bytes() == (drawn / name).read_bytes(), (
        f"book/figures/{name} differs from what scripts/diagrams.py draws: {REGENERATE}")


@pytest.mark.parametrize("name", NAMES)
def test_figure_is_a_small_valid_svg_that_fits_a_column(name):
    path = FIGURES / name
    root = ET.parse(path).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert float(root.get("width").removesuffix("pt")) <= 6.5 * 72       # at most 6.5 inches
    assert path.stat().st_size < 150_000
    assert b"<text" not in path.read_bytes(), "text must be drawn as paths (svg.fonttype)"


def test_every_text_is_readable_on_a_phone():
    """The smallest text of each figure, mathtext scripts at 0.7 of their size included, is at
    least 9 px high when the figure is shown 360 px wide."""
    module = _diagrams_module()
    with matplotlib.rc_context(module.STYLE):
        for name, draw in module.DIAGRAMS.items():
            fig = draw()
            px_per_pt = PHONE_COLUMN_PX / (fig.get_figwidth() * 72)
            for text in fig.findobj(matplotlib.text.Text):
                if not text.get_text():
                    continue
                scale = 0.7 if "$" in text.get_text() else 1.0
                px = text.get_fontsize() * scale * px_per_pt
                assert px >= MIN_PX, f"{name}: {text.get_text()!r} is {px:.1f} px on a phone"
