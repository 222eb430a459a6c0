"""``feedback-loop demo``: the loop improving a simulated production system, checked
against the simulator's ground truth (nodes/simulation/demo.py)."""

from __future__ import annotations

import argparse
import re
from typing import Any

from nodes.adapters.cli.arg_types import at_least
from nodes.adapters.cli.context import CliContext
from nodes.simulation.demo import DemoTagTaken, run_demo


def register(commands: Any) -> None:
    demo = commands.add_parser(
        "demo",
        help="register simulated patterns and run scheduled loop cycles on their traffic "
        "(uses the embedded database unless --dsn)",
        description="Registers five simulated patterns (four with a real improvement to find, "
        "one trap whose proposal changes nothing), then runs CYCLES scheduled cycles: traffic "
        "routed by assign(), executions ingested by COPY, the loop run over all patterns. "
        "Prints each cycle, each pattern's lineage, and for every applied change whether it "
        "was truly better according to the simulator. Exit code 1 if any applied change was "
        "not truly better.",
    )
    demo.add_argument(
        "--cycles", type=at_least(1), default=10, help="scheduled cycles (default 10)"
    )
    demo.add_argument(
        "--requests",
        type=at_least(1),
        default=1000,
        help="requests per pattern per cycle (default 1000)",
    )
    demo.add_argument("--seed", type=int, default=7, help="simulator seed (default 7)")
    demo.add_argument(
        "--tag",
        type=_tag,
        help="suffix of the demo's pattern ids (default: 4 random hex digits). The traffic "
        "split hashes the pattern id, so a run is reproduced by the same --seed and --tag on a "
        "database that has no patterns with that tag yet",
    )
    demo.set_defaults(handler=_demo)


def _tag(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_]{1,32}", text):
        raise argparse.ArgumentTypeError(f"must be 1-32 letters, digits or underscores: {text!r}")
    return text


async def _demo(args: argparse.Namespace, ctx: CliContext) -> int:
    try:
        report = await run_demo(
            ctx.service(),
            cycles=args.cycles,
            requests_per_cycle=args.requests,
            seed=args.seed,
            tag=args.tag,
        )
    except DemoTagTaken as taken:
        raise SystemExit(f"error: {taken}") from None
    checks = [c for changes in report.values() for c in changes]
    wrong = [c for c in checks if not c["truly_better"]]
    print(
        f"\n{len(checks)} change(s) applied, {len(checks) - len(wrong)} truly better, "
        f"{len(wrong)} not"
    )
    return 1 if wrong else 0
