"""Ingest 200,000 executions by COPY (the ingestion node) and by executemany; one line out.

Both paths validate every row with the same pydantic contract first, so the ratio is the
write path alone plus equal validation cost. Run: python bench/ingest.py [--rows N]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from bench._db import bench_pool
from nodes.effect.node_execution_ingest_effect import (
    NodeExecutionIngestEffect,
    validate_execution_rows,
)
from nodes.service import FeedbackLoopService
from nodes.storage.sql_executions import EXECUTION_COLUMNS

_INSERT = (
    f"INSERT INTO hook_executions ({', '.join(EXECUTION_COLUMNS)}) VALUES "
    f"({', '.join(f'${i}' for i in range(1, len(EXECUTION_COLUMNS) + 1))})"
)


def execution_rows(n: int, *, seed: int) -> list[dict[str, Any]]:
    """``n`` valid rows of one pattern over three days, oldest first, as a hook export."""
    rng = np.random.default_rng(seed)
    start = datetime.now(UTC)
    durations = rng.lognormal(5.0, 0.4, n)
    scores = rng.uniform(0, 1, n)
    offsets = np.sort(rng.uniform(0, 3 * 24 * 3600, n))[::-1]
    return [
        {
            "execution_id": uuid.UUID(bytes=rng.bytes(16), version=4),
            "pattern_id": "api_debug",
            "version_id": None,
            "started_at": start - timedelta(seconds=float(offsets[i])),
            "duration_ms": float(durations[i]),
            "status": "success" if i % 10 else "failure",
            "quality_results": {"score": float(scores[i])},
            "user_rating": (i % 5) + 1,
            "metadata": {"i": i},
        }
        for i in range(n)
    ]


async def main(n: int) -> None:
    copy_rows = execution_rows(n, seed=1)
    many_rows = execution_rows(n, seed=2)
    async with bench_pool() as pool:
        # Ingestion refuses rows of unregistered patterns: register the one the rows use.
        await FeedbackLoopService(pool=pool).register("api_debug", {"timeout_ms": 100})
        started = time.perf_counter()
        async with pool.acquire() as conn:
            await NodeExecutionIngestEffect().ingest_executions(conn, copy_rows)
        copy_s = time.perf_counter() - started

        started = time.perf_counter()
        tuples = validate_execution_rows(many_rows)
        async with pool.acquire() as conn, conn.transaction():
            await conn.executemany(_INSERT, tuples)
        many_s = time.perf_counter() - started
        stored = await pool.fetchval("SELECT count(*) FROM hook_executions")
    assert stored == 2 * n, stored
    print(
        f"ingest {n:,} rows (validated): COPY {n / copy_s:,.0f} rows/s ({copy_s:.2f} s), "
        f"executemany {n / many_s:,.0f} rows/s ({many_s:.2f} s), ratio {many_s / copy_s:.1f}x"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    asyncio.run(main(parser.parse_args().rows))
