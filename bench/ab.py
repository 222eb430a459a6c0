"""Compare one benchmark between two checkouts, interleaved (A B A B ...), as ratios B/A.

A shared machine drifts: a figure measured now and one measured an hour ago are not
comparable, and two runs next to each other are. So each pair runs the same benchmark command
in checkout A and then in checkout B, against the same database server (``FEEDBACK_LOOP_DSN``,
passed through), and the ratio is taken per pair. Prints every pair, then the median ratio
with its min and max.

Run: python bench/ab.py --a ../old --b . --pairs 7 --figure 'median ([0-9.]+) ms' -- \\
         bench/loop.py --only a
Each checkout runs with its own ``.venv/bin/python`` when it has one.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
from pathlib import Path


def interpreter(checkout: Path) -> str:
    venv = checkout / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def figure(checkout: Path, command: list[str], pattern: re.Pattern[str]) -> float:
    """The benchmark's figure (the pattern's first group) from one run in ``checkout``."""
    done = subprocess.run(
        [interpreter(checkout), *command],
        cwd=checkout,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"error: in {checkout}: {' '.join(command)} failed:\n{done.stderr}")
    found = pattern.search(done.stdout)
    if found is None:
        raise SystemExit(f"error: in {checkout}: no match for {pattern.pattern!r} in output")
    return float(found.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--a", type=Path, required=True, help="baseline checkout")
    parser.add_argument("--b", type=Path, required=True, help="checkout compared with it")
    parser.add_argument("--pairs", type=int, default=5, help="A B pairs (default 5)")
    parser.add_argument(
        "--figure",
        default=r"median ([0-9.]+)",
        help="regex whose first group is the figure to compare (default: the first median)",
    )
    parser.add_argument("command", nargs="+", help="benchmark script and its arguments")
    args = parser.parse_args()
    if args.pairs < 1:
        raise SystemExit("error: --pairs must be >= 1")
    pattern = re.compile(args.figure)
    a_figures: list[float] = []
    b_figures: list[float] = []
    ratios: list[float] = []
    for pair in range(1, args.pairs + 1):
        a = figure(args.a, args.command, pattern)
        b = figure(args.b, args.command, pattern)
        a_figures.append(a)
        b_figures.append(b)
        ratios.append(b / a)
        print(f"pair {pair}: A {a:g} B {b:g} ratio {b / a:.3f}", flush=True)
    print(f"median A {statistics.median(a_figures):g}, median B {statistics.median(b_figures):g}")
    print(
        f"ratio B/A: median {statistics.median(ratios):.3f} "
        f"(min {min(ratios):.3f}, max {max(ratios):.3f}) over {args.pairs} pairs"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
