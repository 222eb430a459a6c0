"""``feedback-loop demo``: a self-contained run on generated traffic."""

from __future__ import annotations

import argparse
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from nodes.cli.context import CliContext
from nodes.node_execution_ingest_effect import NodeExecutionIngestEffect


def register(commands: Any) -> None:
    demo = commands.add_parser(
        "demo",
        help="run a demo on generated traffic (uses the embedded database unless --dsn)",
    )
    demo.add_argument("--executions", type=int, default=2000, help="executions to generate")
    demo.add_argument("--seed", type=int, default=7, help="random seed")
    demo.set_defaults(handler=_demo)


def _sample(rng: random.Random, n: int, now: datetime) -> list[dict[str, Any]]:
    patterns = {"api_debug": 180.0, "summarize_ticket": 900.0, "route_request": 40.0}
    rows = []
    for i in range(n):
        pattern, median = list(patterns.items())[i % len(patterns)]
        failed = rng.random() < 0.05
        rows.append(
            {
                "execution_id": uuid.UUID(int=rng.getrandbits(128)),
                "pattern_id": pattern,
                "started_at": now - timedelta(minutes=rng.uniform(0, 6 * 24 * 60)),
                "duration_ms": rng.lognormvariate(0, 0.5) * median,
                "status": "failure" if failed else "success",
                "quality_results": {"score": min(1.0, max(0.0, rng.gauss(0.8, 0.1)))},
            }
        )
    return rows


async def _demo(args: argparse.Namespace, ctx: CliContext) -> int:
    pool = await ctx.migrated_pool()
    rows = _sample(random.Random(args.seed), args.executions, datetime.now(UTC))
    result = await NodeExecutionIngestEffect(pool).ingest_executions(rows, on_duplicate="skip")
    print(f"ingested {result.inserted} executions ({result.skipped_duplicates} already there)")
    summary = await pool.fetch(
        "SELECT pattern_id, count(*) AS n, avg((status = 'success')::int) AS success_rate, "
        "percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms) AS p50 "
        "FROM hook_executions GROUP BY pattern_id ORDER BY pattern_id"
    )
    print(f"{'pattern':<20} {'n':>7} {'success':>8} {'p50 ms':>9}")
    for row in summary:
        print(
            f"{row['pattern_id']:<20} {row['n']:>7} {row['success_rate']:>8.3f} {row['p50']:>9.1f}"
        )
    return 0
