"""All SQL on ``loop_runs``: one row per attempt of a run, keyed by (correlation id, attempt)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

# The rule of a dead run, shared by the next run of its pattern and by ``db doctor``: only
# execute while holding the pattern's session lock. A live run holds that lock for its whole
# length, so a row still ``running`` once the lock is had belongs to a session that died.
_ABANDON_RUNNING = """
    UPDATE loop_runs SET status = 'abandoned', finished_at = now()
    WHERE pattern_id = $1 AND status = 'running'
"""


async def open_or_replay(
    conn: asyncpg.Connection, pattern_id: str, correlation_id: UUID, contract: dict[str, Any]
) -> asyncpg.Record:
    """One round trip at the start of a run. Only call while holding the pattern's session
    lock: a live run holds it too, so any of its rows still ``running`` belongs to a dead
    session and is marked abandoned. Then the correlation id's latest attempt is read and,
    unless it succeeded or belongs to another pattern, the next attempt is opened.

    Returns ``abandoned`` (rows marked), ``opened`` (the attempt opened, NULL if none) and the
    latest earlier attempt's ``attempt, pattern_id, status, output`` (NULLs if none). All parts
    see one snapshot, so a dead attempt of this very run reads as ``running`` and is retried.
    """
    row: asyncpg.Record = await conn.fetchrow(
        f"""
        WITH abandoned AS (
            {_ABANDON_RUNNING} RETURNING 1
        ), latest AS (
            SELECT attempt, pattern_id, status, output FROM loop_runs
            WHERE correlation_id = $2 ORDER BY attempt DESC LIMIT 1
        ), opened AS (
            INSERT INTO loop_runs (correlation_id, attempt, pattern_id, status, input)
            SELECT $2, coalesce((SELECT attempt FROM latest), 0) + 1, $1, 'running', $3
            WHERE NOT EXISTS (
                SELECT 1 FROM latest WHERE status = 'succeeded' OR pattern_id <> $1
            )
            ON CONFLICT DO NOTHING
            RETURNING attempt
        )
        SELECT (SELECT count(*) FROM abandoned) AS abandoned,
               (SELECT attempt FROM opened) AS opened,
               latest.attempt, latest.pattern_id, latest.status, latest.output
        FROM (SELECT) AS one LEFT JOIN latest ON true
        """,
        pattern_id,
        correlation_id,
        contract,
    )
    return row


async def owner(conn: asyncpg.Connection, correlation_id: UUID) -> str | None:
    """The pattern whose run holds this correlation id, if any."""
    pattern_id: str | None = await conn.fetchval(
        "SELECT pattern_id FROM loop_runs WHERE correlation_id = $1 LIMIT 1", correlation_id
    )
    return pattern_id


async def close_attempt(
    conn: asyncpg.Connection,
    correlation_id: UUID,
    attempt: int,
    *,
    succeeded: bool,
    stages: dict[str, Any],
    output: dict[str, Any] | None,
    error: dict[str, Any] | None,
) -> None:
    await conn.execute(
        "UPDATE loop_runs SET status = $3, stages = $4, output = $5, error = $6, "
        "finished_at = now() WHERE correlation_id = $1 AND attempt = $2",
        correlation_id,
        attempt,
        "succeeded" if succeeded else "failed",
        stages,
        output,
        error,
    )


async def patterns_with_running_attempts(conn: asyncpg.Connection) -> list[str]:
    """Patterns with a row still ``running``: a live run, or a dead one to abandon."""
    rows = await conn.fetch(
        "SELECT DISTINCT pattern_id FROM loop_runs WHERE status = 'running' ORDER BY 1"
    )
    return [row["pattern_id"] for row in rows]


async def running_attempts(conn: asyncpg.Connection, pattern_id: str) -> list[asyncpg.Record]:
    """The pattern's rows still ``running``: ``correlation_id, attempt, started_at``."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT correlation_id, attempt, started_at FROM loop_runs "
        "WHERE pattern_id = $1 AND status = 'running' ORDER BY started_at",
        pattern_id,
    )
    return rows


async def abandon_running(conn: asyncpg.Connection, pattern_id: str) -> list[asyncpg.Record]:
    """Mark the pattern's ``running`` rows abandoned (holding its session lock, see above);
    returns them as ``running_attempts`` does."""
    rows: list[asyncpg.Record] = await conn.fetch(
        f"{_ABANDON_RUNNING} RETURNING correlation_id, attempt, started_at", pattern_id
    )
    return sorted(rows, key=lambda row: row["started_at"])
