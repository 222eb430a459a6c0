"""``feedback-loop trends PATTERN``: statistics per hour or day and version, from buckets."""

from __future__ import annotations

import argparse
from typing import Any, get_args

from contracts.model_trend import ModelTrendInput, ModelTrendPoint, TrendWidth
from nodes.adapters.cli.arg_types import PATTERN_ID, contract_value
from nodes.adapters.cli.context import CliContext


def register(commands: Any) -> None:
    cmd = commands.add_parser(
        "trends",
        help="a pattern's executions per hour or day and version: count, success, latency, reward",
        description="Read from the hourly buckets the database keeps as executions arrive "
        "(and the day buckets retention leaves), so long spans are as cheap as short ones and "
        "days whose raw rows were dropped still show. Latency percentiles are within 0.1 % "
        "(their histogram bin). Versionless executions show as '-'.",
    )
    cmd.add_argument("pattern_id", type=PATTERN_ID, metavar="PATTERN")
    cmd.add_argument(
        "--by", choices=get_args(TrendWidth), default="day", help="period (default day)"
    )
    cmd.add_argument(
        "--days",
        type=contract_value(ModelTrendInput, "days"),
        default=7,
        metavar="N",
        help="how many periods back from now (default 7)",
    )
    cmd.add_argument("--json", action="store_true", help="one JSON object per line")
    cmd.set_defaults(handler=_trends)


def _line(point: ModelTrendPoint) -> str:
    reward = "-" if point.reward_mean is None else f"{point.reward_mean:.3f}"
    return (
        f"{point.start.isoformat(timespec='minutes'):<26} {point.version_id or '-':<28} "
        f"{point.n:>8} {point.success_rate:>8.1%} {point.duration_mean:>10.1f} "
        f"{point.duration_p50:>9.1f} {point.duration_p95:>9.1f} {point.duration_p99:>9.1f} "
        f"{reward:>7}"
    )


async def _trends(args: argparse.Namespace, ctx: CliContext) -> int:
    request = ModelTrendInput(pattern_id=args.pattern_id, by=args.by, days=args.days)
    trend = await ctx.service().trend(request)
    if args.json:
        for point in trend.points:
            print(point.model_dump_json())
        return 0
    print(
        f"{'start (UTC)':<26} {'version':<28} {'n':>8} {'success':>8} {'mean ms':>10} "
        f"{'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9} {'reward':>7}"
    )
    for point in trend.points:
        print(_line(point))
    return 0
