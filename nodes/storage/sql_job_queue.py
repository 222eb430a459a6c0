"""SQL on pgqueuer's tables that must run inside our own transactions.

Enqueueing a due run and advancing its schedule commit together, so the statement is
pgqueuer's own enqueue (taken from its query builder, so it stays what the installed version
expects) executed on our connection rather than through pgqueuer's driver.
"""

from __future__ import annotations

from datetime import timedelta

import asyncpg
from pgqueuer.adapters.persistence.qb import QueryQueueBuilder
from pgqueuer.domain.settings import DBSettings

# Default names, as migration 0006 created them (PGQUEUER_* variables are not read).
QUEUE_SETTINGS = DBSettings()
_ENQUEUE_SKIPPING_DUPLICATES = QueryQueueBuilder(QUEUE_SETTINGS).build_enqueue_query("skip")


async def enqueue(
    conn: asyncpg.Connection, entrypoint: str, payloads: list[bytes], dedupe_keys: list[str]
) -> int:
    """One job per payload; a key already queued or running is skipped. Returns how many
    were enqueued."""
    count = len(payloads)
    rows = await conn.fetch(
        _ENQUEUE_SKIPPING_DUPLICATES,
        [0] * count,
        [entrypoint] * count,
        payloads,
        [timedelta(0)] * count,
        dedupe_keys,
        [None] * count,
    )
    return len(rows)


async def purge_log(conn: asyncpg.Connection, older_than: timedelta) -> int:
    """Finished jobs leave the queue table at once; their log rows, once aggregated into
    statistics, are deleted here after ``older_than``."""
    deleted: int = await conn.fetchval(
        f"WITH gone AS (DELETE FROM {QUEUE_SETTINGS.queue_table_log} "
        "WHERE aggregated AND created < now() - $1::interval RETURNING 1) "
        "SELECT count(*) FROM gone",
        older_than,
    )
    return deleted


async def jobs_by_status(conn: asyncpg.Connection) -> dict[str, int]:
    rows = await conn.fetch(
        f"SELECT status::text AS status, count(*) AS n FROM {QUEUE_SETTINGS.queue_table} GROUP BY 1"
    )
    return {row["status"]: row["n"] for row in rows}
