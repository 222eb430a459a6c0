"""CPU-seconds per pattern run, client and server, and the round trips each run sends.

N patterns x M executions are prepared as ``bench/loop.py`` prepares them (its ``_prepare``:
an A/A candidate per pattern, so every timed run does the same work), then ``run_many`` runs
every pattern ``--rounds`` times; each round is measured on its own and the median round is
printed.

- client: ``time.process_time()`` of this process (every thread), per run;
- server: the CPU time (utime + stime in ``/proc/<pid>/stat``) of this database's backends,
  found through ``pg_stat_activity.pid``. That needs the server on this machine, which is how
  the benches run (their embedded server, or ``FEEDBACK_LOOP_DSN`` on this host). When a
  backend's ``/proc`` entry is not there or not readable (a remote server, another PID
  namespace), only the client figure is printed. The server's background processes
  (autovacuum, WAL writer, checkpointer) are not counted: they are not the run's work;
- round trips: the statements each run sends (``execute``, ``fetch*``, ``executemany``,
  ``copy*``, which include ``BEGIN`` / ``COMMIT``), counted by wrapping ``asyncpg.Connection``
  in this process only.

Run: python bench/run_cost.py [--patterns 300] [--executions 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg

from bench._db import bench_pool
from bench.loop import _prepare
from contracts.model_feedback_loop_input import ModelFeedbackLoopInput
from nodes.service import FeedbackLoopService

_STATEMENT_METHODS = (
    "execute",
    "executemany",
    "fetch",
    "fetchrow",
    "fetchval",
    "copy_records_to_table",
    "copy_to_table",
)
_TICK_S = 1 / os.sysconf("SC_CLK_TCK")


class StatementCounter:
    """Counts the statements every ``asyncpg.Connection`` of this process sends (the pool's
    proxies call through to these methods), while installed."""

    def __init__(self) -> None:
        self.count = 0
        self._saved: dict[str, Any] = {}

    def _counted(self, method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        @functools.wraps(method)
        async def counted(conn: asyncpg.Connection, *args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return await method(conn, *args, **kwargs)

        return counted

    def __enter__(self) -> StatementCounter:
        for name in _STATEMENT_METHODS:
            self._saved[name] = getattr(asyncpg.Connection, name)
            setattr(asyncpg.Connection, name, self._counted(self._saved[name]))
        return self

    def __exit__(self, *exc_info: object) -> None:
        for name, method in self._saved.items():
            setattr(asyncpg.Connection, name, method)


def _cpu_s(pid: int) -> float | None:
    """utime + stime of a local process, in seconds; None when its /proc entry is not ours
    to read (gone, another host or PID namespace)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
    return (int(fields[11]) + int(fields[12])) * _TICK_S  # fields 14 and 15 of stat(5)


async def _backends_cpu(pool: asyncpg.Pool) -> dict[int, float] | None:
    """Each backend of this database by pid, with its CPU-seconds so far; None if unreadable."""
    async with pool.acquire() as conn:
        pids = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend'"
        )
    found = {r["pid"]: _cpu_s(r["pid"]) for r in pids}
    readable = {pid: cpu for pid, cpu in found.items() if cpu is not None}
    return readable if len(readable) == len(found) else None


@dataclass(frozen=True)
class Round:
    wall_s: float
    client_s: float
    server_s: float | None
    statements: int


async def _round(
    service: FeedbackLoopService, pool: asyncpg.Pool, names: list[str], as_of: datetime
) -> Round:
    contracts = [ModelFeedbackLoopInput(pattern_id=p, as_of=as_of) for p in names]
    before = await _backends_cpu(pool)
    with StatementCounter() as counter:
        wall, client = time.perf_counter(), time.process_time()
        results = await service.run_many(contracts, concurrency=8)
        client = time.process_time() - client
        wall = time.perf_counter() - wall
        statements = counter.count
    after = await _backends_cpu(pool)
    assert all(r.success for r in results), next(r for r in results if not r.success)
    server = (
        None
        if before is None or after is None
        else sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())
    )
    return Round(wall, client, server, statements)


async def measure(patterns: int, executions: int, rounds: int) -> list[str]:
    """The figure lines: CPU per pattern run (median round), round trips per run, wall."""
    async with bench_pool(max_size=10) as pool:
        service = FeedbackLoopService(pool=pool)
        as_of = datetime.now(UTC)
        names = [f"cost_{i:05d}" for i in range(patterns)]
        await _prepare(service, names, executions, as_of)
        measured = [await _round(service, pool, names, as_of) for _ in range(rounds)]
    per_run_ms = 1000 / patterns
    client = statistics.median(r.client_s for r in measured) * per_run_ms
    servers = [r.server_s for r in measured if r.server_s is not None]
    if len(servers) == len(measured):
        server = statistics.median(servers) * per_run_ms
        totals = statistics.median((r.client_s + (r.server_s or 0.0)) for r in measured)
        cpu = (
            f"CPU per pattern run: client {client:.2f} ms, server {server:.2f} ms, "
            f"total {totals * per_run_ms:.2f} ms"
        )
    else:
        cpu = f"CPU per pattern run: client {client:.2f} ms (server's /proc not readable)"
    trips = statistics.median(r.statements for r in measured) / patterns
    wall = statistics.median(r.wall_s for r in measured)
    return [
        cpu,
        f"round trips per pattern run: {trips:.1f}",
        f"run_many over {patterns:,} patterns x {executions:,} executions (concurrency 8): "
        f"{wall:.2f} s wall, median of {rounds} round(s)",
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patterns", type=int, default=300)
    parser.add_argument("--executions", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for line in asyncio.run(measure(args.patterns, args.executions, args.rounds)):
        print(line)
