"""NOTIFY channels: the SQL that tells other processes a pattern's versions changed."""

from __future__ import annotations

import asyncpg

VERSIONS_CHANGED_CHANNEL = "feedback_loop_versions"


async def notify_versions_changed(conn: asyncpg.Connection, pattern_id: str) -> None:
    """Sent inside the changing transaction, so listeners hear of it only once it committed."""
    await conn.execute("SELECT pg_notify($1, $2)", VERSIONS_CHANGED_CHANNEL, pattern_id)
