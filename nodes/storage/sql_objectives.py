"""All SQL on ``objectives``: one row per version of a pattern's objective, never updated."""

from __future__ import annotations

from typing import Any

import asyncpg


async def latest(conn: asyncpg.Connection, pattern_id: str) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT version, body, actor, created_at FROM objectives WHERE pattern_id = $1 "
        "ORDER BY version DESC LIMIT 1",
        pattern_id,
    )
    return row


async def history(conn: asyncpg.Connection, pattern_id: str) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT version, body, actor, created_at FROM objectives WHERE pattern_id = $1 "
        "ORDER BY version",
        pattern_id,
    )
    return rows


async def insert_next(
    conn: asyncpg.Connection, pattern_id: str, body: dict[str, Any], actor: str
) -> int:
    """The next version number, written; call under the pattern's lock (one writer). The
    defaults a pattern starts with are version 1, so the first stored change is version 2."""
    version: int = await conn.fetchval(
        "INSERT INTO objectives (pattern_id, version, body, actor) "
        "SELECT $1, coalesce(max(version), 1) + 1, $2, $3 FROM objectives WHERE pattern_id = $1 "
        "RETURNING version",
        pattern_id,
        body,
        actor,
    )
    return version
