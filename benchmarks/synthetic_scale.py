"""How long :func:`course_lib.scale.synthetic_graph` takes, and the shape of what it makes.

Usage (from the repository root, after ``make setup``)::

    python benchmarks/synthetic_scale.py            # 1 % and 10 % of ML-25M
    python benchmarks/synthetic_scale.py --full     # and all of it (25 M interactions)
    python benchmarks/synthetic_scale.py --shape ml-32m --fractions 0.05

Each graph is made twice with the same seed; the faster of the two times is printed (the
first run also pays for memory the process has not touched before), with the peak resident
memory of the process so far and :func:`course_lib.scale.degree_summary` of the graph. Nothing
is recorded: the chapter quotes the figures printed here.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_lib.scale import MOVIELENS_SHAPES, degree_summary, synthetic_graph  # noqa: E402


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024     # kB on Linux


def measure(shape: str, fraction: float, seed: int = 0, repeats: int = 2) -> None:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        graph = synthetic_graph(shape, fraction, seed=seed)
        times.append(time.perf_counter() - start)
    print(f"\n{shape} x {fraction:g}: {min(times):.2f} s (runs: "
          f"{', '.join(f'{t:.2f}' for t in times)}), peak RSS {_peak_mib():,.0f} MiB")
    for key, value in degree_summary(graph).items():
        shown = f"{value:,.4f}" if isinstance(value, float) and not value.is_integer() \
            else f"{value:,.0f}"
        print(f"  {key:<28} {shown:>14}")
    del graph


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", default="ml-25m", choices=sorted(MOVIELENS_SHAPES))
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.01, 0.1])
    parser.add_argument("--full", action="store_true", help="also fraction 1.0 (a few GB)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    fractions = list(args.fractions) + ([1.0] if args.full and 1.0 not in args.fractions
                                        else [])
    for fraction in fractions:
        measure(args.shape, fraction, seed=args.seed, repeats=args.repeats)


if __name__ == "__main__":
    main()
