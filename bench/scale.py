"""Workers at scale, one figure per line:

- queue CPU per no-op job: the worker process's CPU time to claim, heartbeat and finish a
  job whose handler does nothing, over ``--noop-jobs`` jobs (target <= 1 ms);
- ``--patterns`` patterns x ``--executions`` executions, all due at once, drained by 1, 2 and
  4 ``feedback-loop worker`` processes, one line each (targets: 2 workers <= 4 s, and within
  1.15x of half the CPU-seconds the 1-worker drain used);
- runs per second of the fastest drain;
- doubles: (pattern, due time) pairs with more than one succeeded run, or a proposal audited
  twice (0).

Setup (registering, a first run that creates each pattern's candidate, ingesting by COPY, and
a first look at every experiment) is not timed. The first look reads the control's part of the
experiment's first hour from raw rows and keeps it (``execution_bucket_splits``); every later
look reuses it, so without that look the 1-worker drain, timed first, did more work than the
others (on PostgreSQL 15 with pg_stat_statements, 100 patterns: 12.6 ms per experiment read in
the first drain, 0.9 ms in the second) and the CPU comparison was not like for like. Each
drain gives every schedule a new due time a few seconds ahead, with the workers already
running, and is timed from that moment until every run has succeeded and the queue is empty.
Run: python bench/scale.py [--patterns N] [--executions N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg
from pgqueuer.adapters.persistence.queries import Queries
from pgqueuer.domain.models import Job
from pgqueuer.domain.types import QueueExecutionMode

from bench._db import bench_database
from bench.loop import _prepare as prepare_patterns
from contracts.model_feedback_loop_input import ModelFeedbackLoopInput
from contracts.model_schedule import ModelScheduleSetInput, ModelScheduleSpec
from nodes.adapters.worker import CLAIM_BATCH, CappedQueueManager
from nodes.service import FeedbackLoopService
from nodes.storage.pool import create_pool

CLI = [sys.executable, "-m", "nodes.adapters.cli.main"]
LEAD_S = 3.0  # every schedule comes due this long after the drain is set up
POLL_S = 0.1
"""How often the bench counts finished runs: each count scans loop_runs, so polling every
10 ms made the bench itself a noticeable share of the server's load during a drain."""
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


async def noop_cpu(dsn: str, jobs: int, concurrency: int) -> str:
    pool = await create_pool(dsn, max_size=2)
    try:
        async with pool.acquire() as conn:
            queries = Queries.from_asyncpg_connection(conn)
            for start in range(0, jobs, 5_000):
                count = min(5_000, jobs - start)
                await queries.enqueue(["noop"] * count, [None] * count, [0] * count)
            manager = CappedQueueManager(queries)
            manager.cap = concurrency

            @manager.entrypoint("noop")
            async def noop(job: Job) -> None:
                return None

            cpu = time.process_time()
            wall = time.perf_counter()
            await manager.run(
                batch_size=CLAIM_BATCH,
                mode=QueueExecutionMode.drain,
                heartbeat_timeout=timedelta(seconds=10),
            )
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            await conn.close()
    finally:
        await pool.close()
    return (
        f"queue CPU per no-op job: {cpu / jobs * 1000:.2f} ms "
        f"({jobs:,} jobs, concurrency {concurrency}, {wall:.1f} s wall)"
    )


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of live processes so far (Linux /proc)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return float(total / CLOCK_TICKS)


async def _due_soon(service: FeedbackLoopService, patterns: list[str]) -> float:
    """Every schedule due LEAD_S from now (database clock); returns that moment, monotonic."""
    pool = await service.runtime.raw_pool()
    at = await pool.fetchval("SELECT now() + make_interval(secs => $1)", LEAD_S)
    for pattern in patterns:
        spec = ModelScheduleSpec(interval=timedelta(days=1))
        await service.set_schedule(ModelScheduleSetInput(pattern_id=pattern, spec=spec, start=at))
    remaining: float = (at - await pool.fetchval("SELECT now()")).total_seconds()
    return time.perf_counter() + remaining


async def _ready(pool: asyncpg.Pool, names: str) -> int:
    """Worker processes (by application name) with both their sessions open."""
    ready: int = await pool.fetchval(
        "SELECT count(*) FROM (SELECT 1 FROM pg_stat_activity WHERE application_name LIKE $1 "
        "GROUP BY application_name HAVING count(*) >= 2) AS ready",
        names,
    )
    return ready


async def drain(
    service: FeedbackLoopService, dsn: str, patterns: list[str], workers: int, concurrency: int
) -> tuple[float, float]:
    """Wall seconds and worker CPU seconds of one drain by ``workers`` processes."""
    pool = await service.runtime.raw_pool()
    before = await pool.fetchval("SELECT count(*) FROM loop_runs WHERE status = 'succeeded'")
    flags = ["worker", "--concurrency", str(concurrency), "--poll", "0.05", "--heartbeat", "10"]
    name = f"scale-bench-{workers}"
    processes = [
        subprocess.Popen(
            [*CLI, "--dsn", f"{dsn}&application_name={name}-{i}", *flags],
            stderr=subprocess.DEVNULL,
        )
        for i in range(workers)
    ]
    try:
        # Started before anything is due (imports, pool, the queue's connection and the
        # scheduler's: two sessions each), so neither figure counts the start.
        while await _ready(pool, f"{name}-%") < workers:
            await asyncio.sleep(0.05)
        due_at = await _due_soon(service, patterns)
        cpu = _cpu_seconds([p.pid for p in processes])
        target = before + len(patterns)
        while await pool.fetchval(
            "SELECT count(*) FROM loop_runs WHERE status = 'succeeded'"
        ) < target or await pool.fetchval("SELECT count(*) FROM pgqueuer"):
            await asyncio.sleep(POLL_S)
        wall = time.perf_counter() - due_at
        cpu = _cpu_seconds([p.pid for p in processes]) - cpu
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=60)
    return wall, cpu


async def doubles(pool: asyncpg.Pool) -> int:
    runs = await pool.fetchval(
        "SELECT count(*) FROM (SELECT correlation_id FROM loop_runs WHERE status = 'succeeded' "
        "GROUP BY 1 HAVING count(*) > 1) AS twice"
    )
    proposals = await pool.fetchval(
        "SELECT count(*) FROM (SELECT correlation_id FROM audit_log WHERE action = 'propose' "
        "GROUP BY 1 HAVING count(*) > 1) AS twice"
    )
    return int(runs) + int(proposals)


async def main(args: argparse.Namespace) -> None:
    async with bench_database() as dsn:
        print(await noop_cpu(dsn, args.noop_jobs, args.concurrency), flush=True)
        async with FeedbackLoopService(dsn=dsn) as service:
            names = [f"scale_{i:05d}" for i in range(args.patterns)]
            await prepare_patterns(service, names, args.executions, datetime.now(UTC))
            looked = await service.run_many([ModelFeedbackLoopInput(pattern_id=p) for p in names])
            assert all(r.success for r in looked), next(r for r in looked if not r.success)
            one_cpu = 0.0
            rates = []
            for workers in (1, 2, 4):
                wall, cpu = await drain(service, dsn, names, workers, args.concurrency)
                one_cpu = one_cpu or cpu
                rates.append(len(names) / wall)
                noun = "worker" if workers == 1 else "workers"
                print(
                    f"{workers} {noun}: {wall:.1f} s (worker CPU {cpu:.1f} s; "
                    f"1-worker CPU / {workers} x 1.15 = {one_cpu / workers * 1.15:.1f} s)",
                    flush=True,
                )
            print(f"runs per second: {max(rates):.0f}")
            print(f"doubles: {await doubles(await service.runtime.raw_pool())}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patterns", type=int, default=1000)
    parser.add_argument("--executions", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=4, help="per worker process")
    parser.add_argument("--noop-jobs", type=int, default=10_000)
    asyncio.run(main(parser.parse_args()))
