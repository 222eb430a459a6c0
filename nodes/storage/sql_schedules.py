"""All SQL on ``schedules``: one row per scheduled pattern."""

from __future__ import annotations

from datetime import datetime

import asyncpg

_COLUMNS = (
    "pattern_id, kind, cron, interval_s, timezone, paused, next_due_at, last_due_at, updated_at"
)


async def upsert(
    conn: asyncpg.Connection,
    pattern_id: str,
    *,
    kind: str,
    cron: str | None,
    interval_s: float | None,
    timezone: str,
    next_due_at: datetime,
) -> asyncpg.Record | None:
    """Create or replace the schedule (a replaced one keeps its paused flag); None when the
    pattern is not registered."""
    row: asyncpg.Record | None = await conn.fetchrow(
        f"""
        INSERT INTO schedules (pattern_id, kind, cron, interval_s, timezone, next_due_at)
        SELECT $1, $2, $3, $4, $5, $6
        WHERE EXISTS (SELECT 1 FROM pattern_versions WHERE pattern_id = $1)
        ON CONFLICT (pattern_id) DO UPDATE SET
            kind = EXCLUDED.kind, cron = EXCLUDED.cron, interval_s = EXCLUDED.interval_s,
            timezone = EXCLUDED.timezone, next_due_at = EXCLUDED.next_due_at, updated_at = now()
        RETURNING {_COLUMNS}
        """,
        pattern_id,
        kind,
        cron,
        interval_s,
        timezone,
        next_due_at,
    )
    return row


async def list_all(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {_COLUMNS} FROM schedules ORDER BY pattern_id"
    )
    return rows


async def remove(conn: asyncpg.Connection, pattern_id: str) -> bool:
    return bool(
        await conn.fetchval(
            "WITH gone AS (DELETE FROM schedules WHERE pattern_id = $1 RETURNING 1) "
            "SELECT count(*) FROM gone",
            pattern_id,
        )
    )


async def set_paused(
    conn: asyncpg.Connection, pattern_id: str, paused: bool
) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        f"UPDATE schedules SET paused = $2, updated_at = now() WHERE pattern_id = $1 "
        f"RETURNING {_COLUMNS}",
        pattern_id,
        paused,
    )
    return row


async def now(conn: asyncpg.Connection) -> datetime:
    """The database's clock: every worker judges due times by the same one."""
    at: datetime = await conn.fetchval("SELECT clock_timestamp()")
    return at


async def lock_due(conn: asyncpg.Connection, at: datetime, limit: int) -> list[asyncpg.Record]:
    """Due, unpaused schedules, locked for this transaction; rows another worker has locked
    are skipped (it is enqueueing them), so each due run is enqueued by one worker."""
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {_COLUMNS} FROM schedules WHERE NOT paused AND next_due_at <= $1 "
        "ORDER BY next_due_at LIMIT $2 FOR UPDATE SKIP LOCKED",
        at,
        limit,
    )
    return rows


async def advance(
    conn: asyncpg.Connection,
    pattern_ids: list[str],
    next_due: list[datetime],
    last_due: list[datetime],
) -> None:
    """Move each locked schedule past the run just enqueued (one statement for the pass)."""
    await conn.execute(
        """
        UPDATE schedules AS s SET next_due_at = v.next_due_at, last_due_at = v.last_due_at
        FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[])
            AS v (pattern_id, next_due_at, last_due_at)
        WHERE s.pattern_id = v.pattern_id
        """,
        pattern_ids,
        next_due,
        last_due,
    )
