"""All SQL on ``loop_runs``: one row per orchestration, keyed by correlation id."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg


async def claim_run(
    conn: asyncpg.Connection, correlation_id: UUID, pattern_id: str, contract: dict[str, Any]
) -> asyncpg.Record | None:
    """Insert the run as running; on a rerun return the recorded row instead (no insert)."""
    inserted = await conn.fetchval(
        "INSERT INTO loop_runs (correlation_id, pattern_id, status, input) "
        "VALUES ($1, $2, 'running', $3) ON CONFLICT (correlation_id) DO NOTHING "
        "RETURNING correlation_id",
        correlation_id,
        pattern_id,
        contract,
    )
    if inserted is not None:
        return None
    row: asyncpg.Record = await conn.fetchrow(
        "SELECT correlation_id, pattern_id, status, output, error, stages FROM loop_runs "
        "WHERE correlation_id = $1",
        correlation_id,
    )
    return row


async def restart_run(conn: asyncpg.Connection, correlation_id: UUID) -> None:
    """A run left 'running' by a crashed process is taken over (we hold the pattern lock)."""
    await conn.execute(
        "UPDATE loop_runs SET started_at = now(), stages = '[]'::jsonb WHERE correlation_id = $1",
        correlation_id,
    )


async def finish_run(
    conn: asyncpg.Connection,
    correlation_id: UUID,
    *,
    succeeded: bool,
    stages: dict[str, Any],
    output: dict[str, Any] | None,
    error: dict[str, Any] | None,
) -> None:
    await conn.execute(
        "UPDATE loop_runs SET status = $2, stages = $3, output = $4, error = $5, "
        "finished_at = now() WHERE correlation_id = $1",
        correlation_id,
        "succeeded" if succeeded else "failed",
        stages,
        output,
        error,
    )
