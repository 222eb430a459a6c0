"""All SQL on ``loop_runs``: one row per attempt of a run, keyed by (correlation id, attempt)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg


async def abandon_running(conn: asyncpg.Connection, pattern_id: str) -> int:
    """Mark the pattern's ``running`` rows abandoned. Only call while holding the pattern's
    session lock: a live run holds it too, so any row still running belongs to a dead session."""
    status: str = await conn.execute(
        "UPDATE loop_runs SET status = 'abandoned', finished_at = now() "
        "WHERE pattern_id = $1 AND status = 'running'",
        pattern_id,
    )
    return int(status.split()[-1])


async def latest_attempt(conn: asyncpg.Connection, correlation_id: UUID) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT correlation_id, attempt, pattern_id, status, output, error, stages FROM loop_runs "
        "WHERE correlation_id = $1 ORDER BY attempt DESC LIMIT 1",
        correlation_id,
    )
    return row


async def open_attempt(
    conn: asyncpg.Connection,
    correlation_id: UUID,
    attempt: int,
    pattern_id: str,
    contract: dict[str, Any],
) -> bool:
    """False when another process opened this attempt first."""
    inserted = await conn.fetchval(
        "INSERT INTO loop_runs (correlation_id, attempt, pattern_id, status, input) "
        "VALUES ($1, $2, $3, 'running', $4) ON CONFLICT DO NOTHING RETURNING attempt",
        correlation_id,
        attempt,
        pattern_id,
        contract,
    )
    return inserted is not None


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
