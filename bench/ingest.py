"""Ingest against the physical limit: our validated file ingestion vs the server's own COPY.

Each repeat times, side by side in one run on one server:
  ours:      ``FeedbackLoopService.ingest_file`` of a JSONL export of N rows (read, parse,
             validate every row, the registry check, COPY in one transaction);
  reference: a binary COPY of the same rows as prepared tuples (no parsing, no validation)
             into ``hook_executions`` of a second fresh database on the same server, migrated
             like the first: identical DDL (the day partitions, constraints, indexes, and
             the trigger that fills ``execution_ids`` and the hour buckets), in one
             transaction.
Both windows end when the transaction has committed, so the rows are also in their buckets.
Both databases are emptied before each repeat; the two are interleaved (ours, reference, ours,
...) so a drift of the shared machine hits both. One figure per line, medians of --repeats:

    ours: 120,000 rows/s (JSONL file, validated; median of 5)
    reference: 150,000 rows/s (binary COPY of prepared tuples, same DDL; median of 5)
    ratio ours / reference: 0.80

Run: python bench/ingest.py [--rows N] [--repeats 5]  (FEEDBACK_LOOP_DSN, else embedded)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from bench._db import bench_pools
from nodes.effect.node_execution_ingest_effect import validate_execution_rows
from nodes.service import FeedbackLoopService
from nodes.storage.sql_executions import EXECUTION_COLUMNS

PATTERN = "api_debug"
_EMPTY = "TRUNCATE hook_executions, execution_ids, execution_buckets, execution_bucket_splits"


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
            "pattern_id": PATTERN,
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


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("\n".join(json.dumps(r, default=str) for r in rows) + "\n")


async def main(n: int, repeats: int) -> None:
    rows = execution_rows(n, seed=1)
    path = Path(tempfile.mkdtemp(prefix="feedback-loop-ingest-")) / "runs.jsonl"
    write_jsonl(path, rows)
    prepared = validate_execution_rows(rows)
    async with bench_pools(2) as (pool, reference_pool):
        service = FeedbackLoopService(pool=pool)
        await service.register(PATTERN, {"timeout_ms": 100})
        ours, reference = [], []
        for _ in range(repeats):
            await pool.execute(_EMPTY)
            await reference_pool.execute(_EMPTY)
            started = time.perf_counter()
            result = await service.ingest_file(path)
            ours.append(time.perf_counter() - started)
            assert result.inserted == n, result

            async with reference_pool.acquire() as conn:
                started = time.perf_counter()
                async with conn.transaction():
                    await conn.copy_records_to_table(
                        "hook_executions", records=prepared, columns=EXECUTION_COLUMNS
                    )
                reference.append(time.perf_counter() - started)
        counts = (
            "SELECT (SELECT count(*) FROM hook_executions), (SELECT sum(n) FROM execution_buckets)"
        )
        stored = tuple(await pool.fetchrow(counts))
        copied = tuple(await reference_pool.fetchrow(counts))
    assert stored == copied == (n, n), (stored, copied)
    ours_rate = n / statistics.median(ours)
    reference_rate = n / statistics.median(reference)
    print(f"ours: {ours_rate:,.0f} rows/s (JSONL file, validated; median of {repeats})")
    print(
        f"reference: {reference_rate:,.0f} rows/s (binary COPY of prepared tuples, same DDL; "
        f"median of {repeats})"
    )
    print(f"ratio ours / reference: {ours_rate / reference_rate:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=5)
    cli = parser.parse_args()
    asyncio.run(main(cli.rows, cli.repeats))
