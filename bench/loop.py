"""Full loop runs on PostgreSQL: (a) one pattern, 1,000 executions over two arms, median ms;
(b) 1,000 patterns x 1,000 executions through ``run_many``, total seconds; (c) run (a) in two
databases side by side, one with --history rows (default 5 million) of the pattern's older
executions, interleaved: the ratio of the medians shows what history costs a run (target
<= 1.1). The history lies between 29 days and --history-after days (default 8) before the run:
older than the 7-day analysis window, in the retention horizon. With --history-after under 7
it falls inside the window, which the run then aggregates (from hour buckets).

Setup (registering, creating each pattern's candidate, ingesting by COPY) is not timed. The
arms are equal in truth, so every timed run does the same work: collect, analyze, generate
(no free slot), validate, record the look, track.
Run: python bench/loop.py [--patterns N] [--only a|b|c] [--history ROWS]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._db import bench_pool, bench_pools
from contracts.model_feedback_loop_input import ModelFeedbackLoopInput
from nodes.service import FeedbackLoopService
from nodes.simulation.simulator import PatternTruth, ProductionSimulator

TRUTH = PatternTruth(
    base_latency_ms=300.0,
    latency_sigma=0.5,
    transient_error_rate=0.01,
    permanent_failure_rate=0.0,
    cache_hit_rate=0.0,
    batch_latency_factor=0.0,
    base_quality=0.85,
    quality_temp_slope=0.0,
    cost_per_attempt_usd=0.001,
)
# Slow enough to be flagged, so the cache generator proposes a candidate; with a cache hit
# rate of 0 the candidate is truly equal to the control (an A/A experiment).
CONFIG = {"cache_enabled": False, "timeout_ms": 10_000}


async def _prepare(
    service: FeedbackLoopService,
    patterns: list[str],
    executions: int,
    as_of: datetime,
) -> None:
    simulator = ProductionSimulator({p: TRUTH for p in patterns}, seed=1)
    start = as_of - timedelta(hours=2)
    seed_rows = []
    for pattern in patterns:
        await service.register(pattern, CONFIG)
        seed_rows += simulator.simulate(pattern, f"{pattern}@1.0.0", CONFIG, 40, start=start)
    await service.ingest(seed_rows)
    first = await service.run_many(
        [
            ModelFeedbackLoopInput(pattern_id=p, as_of=start + timedelta(minutes=5))
            for p in patterns
        ],
        concurrency=8,
    )
    assert all(r.success and r.data and r.data.versions_created for r in first), first[0]
    rows = []
    for pattern in patterns:
        for version in (f"{pattern}@1.0.0", f"{pattern}@1.1.0"):
            rows += simulator.simulate(
                pattern,
                version,
                CONFIG,
                executions // 2,
                start=start + timedelta(minutes=10),
                spacing_s=0.5,
            )
    for chunk in range(0, len(rows), 200_000):
        await service.ingest(rows[chunk : chunk + 200_000])


async def single(repeats: int) -> str:
    async with bench_pool() as pool:
        service = FeedbackLoopService(pool=pool)
        as_of = datetime.now(UTC)
        await _prepare(service, ["bench_single"], 1000, as_of)
        timings = []
        for _ in range(repeats):
            started = time.perf_counter()
            result = await service.run(
                ModelFeedbackLoopInput(pattern_id="bench_single", as_of=as_of)
            )
            timings.append((time.perf_counter() - started) * 1000)
            assert result.success and result.data and result.data.feedback_collected == 1040
    return (
        f"loop (a) 1 pattern x 1,000 executions, full loop: median "
        f"{statistics.median(timings):.1f} ms over {repeats} runs "
        f"(min {min(timings):.1f}, max {max(timings):.1f})"
    )


# The pattern's older executions, made by the server (a client would spend minutes sending
# them): $2 rows spread over $6 days before $1, on the active version.
_HISTORY = """
INSERT INTO hook_executions (execution_id, pattern_id, version_id, started_at, duration_ms,
                             status, quality_results, cost_usd)
SELECT gen_random_uuid(), $3, $3 || '@1.0.0',
       $1::timestamptz - make_interval(secs => $6 * 86400 * (i + 0.5) / $2),
       exp(ln(300) + 0.5 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())),
       CASE WHEN random() < 0.01 THEN 'error' ELSE 'success' END,
       jsonb_build_object('score', 0.85), 0.001
FROM generate_series($4::bigint, $5::bigint - 1) AS i
"""
_HISTORY_BATCH = 500_000


HISTORY_DAYS = 29
"""The history ends this many days before the run (inside the 30-day retention)."""


async def history(rows: int, repeats: int, after_days: float) -> str:
    async with bench_pools(2) as (empty_pool, full_pool):
        as_of = datetime.now(UTC)
        services = [FeedbackLoopService(pool=p) for p in (empty_pool, full_pool)]
        for service in services:
            await _prepare(service, ["bench_single"], 1000, as_of)
        before = as_of - timedelta(days=after_days)
        span = HISTORY_DAYS - after_days
        for start in range(0, rows, _HISTORY_BATCH):
            end = min(start + _HISTORY_BATCH, rows)
            await full_pool.execute(_HISTORY, before, rows, "bench_single", start, end, span)
        await full_pool.execute("ANALYZE")
        await empty_pool.execute("ANALYZE")
        timings: list[list[float]] = [[], []]
        for _ in range(repeats):
            for service, series in zip(services, timings, strict=True):
                # A new correlation id each time: a run that succeeded would replay.
                contract = ModelFeedbackLoopInput(pattern_id="bench_single", as_of=as_of)
                started = time.perf_counter()
                result = await service.run(contract)
                series.append((time.perf_counter() - started) * 1000)
                assert result.success, result.error
        stored = await full_pool.fetchval("SELECT count(*) FROM hook_executions")
    empty, full = (statistics.median(t) for t in timings)
    return (
        f"loop (c) 1 pattern, {stored:,} rows stored ({rows:,} of them {after_days:g} to "
        f"{HISTORY_DAYS} days old) vs 2,040: median {full:.1f} ms vs "
        f"{empty:.1f} ms over {repeats} interleaved runs each, ratio {full / empty:.2f}"
    )


async def many(patterns: int, executions: int, concurrency: int) -> str:
    async with bench_pool(max_size=concurrency + 2) as pool:
        service = FeedbackLoopService(pool=pool)
        as_of = datetime.now(UTC)
        names = [f"bench_{i:05d}" for i in range(patterns)]
        await _prepare(service, names, executions, as_of)
        contracts = [ModelFeedbackLoopInput(pattern_id=p, as_of=as_of) for p in names]
        started = time.perf_counter()
        results = await service.run_many(contracts, concurrency=concurrency)
        elapsed = time.perf_counter() - started
        assert all(r.success for r in results), next(r for r in results if not r.success)
    return (
        f"loop (b) {patterns:,} patterns x {executions:,} executions via run_many "
        f"(concurrency {concurrency}): {elapsed:.2f} s total, "
        f"{elapsed / patterns * 1000:.1f} ms per pattern"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patterns", type=int, default=1000)
    parser.add_argument("--executions", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--history", type=int, default=5_000_000)
    parser.add_argument("--history-after", type=float, default=8.0, metavar="DAYS")
    parser.add_argument("--only", choices=("a", "b", "c"))
    args = parser.parse_args()
    if args.only in (None, "a"):
        print(asyncio.run(single(args.repeats)))
    if args.only in (None, "b"):
        print(asyncio.run(many(args.patterns, args.executions, args.concurrency)))
    if args.only in (None, "c"):
        print(asyncio.run(history(args.history, args.repeats, args.history_after)))
