"""Ingest 200,000 executions by COPY (the ingestion node) and by executemany; one line out.

Both paths validate every row with the same pydantic contract first, so the ratio is the
write path alone plus equal validation cost. Run: python bench/ingest.py [--rows N]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._db import bench_pool
from nodes.effect.node_execution_ingest_effect import (
    NodeExecutionIngestEffect,
    as_copy_tuple,
    validate_execution_rows,
)
from nodes.storage.sql_executions import EXECUTION_COLUMNS
from tests.factories import execution_rows

_INSERT = (
    f"INSERT INTO hook_executions ({', '.join(EXECUTION_COLUMNS)}) VALUES "
    f"({', '.join(f'${i}' for i in range(1, len(EXECUTION_COLUMNS) + 1))})"
)


async def main(n: int) -> None:
    copy_rows = execution_rows(n, seed=1)
    many_rows = execution_rows(n, seed=2)
    async with bench_pool() as pool:
        started = time.perf_counter()
        await NodeExecutionIngestEffect(pool).ingest_executions(copy_rows)
        copy_s = time.perf_counter() - started

        started = time.perf_counter()
        records = validate_execution_rows(many_rows)
        async with pool.acquire() as conn, conn.transaction():
            await conn.executemany(_INSERT, [as_copy_tuple(r) for r in records])
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
