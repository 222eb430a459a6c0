"""Advisory locks: of a pattern (every writer of a pattern's versions takes one), and of the
retention pass."""

from __future__ import annotations

import hashlib

import asyncpg

_NAMESPACE = b"onex-feedback-loop:pattern:"


def pattern_lock_key(pattern_id: str) -> int:
    """A signed 64-bit key (what ``pg_advisory_lock(bigint)`` takes), stable across processes
    and releases, so the loop, the CLI and a rollback in other processes all serialise."""
    digest = hashlib.blake2b(_NAMESPACE + pattern_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def lock_pattern_for_transaction(conn: asyncpg.Connection, pattern_id: str) -> None:
    """Until the caller's transaction ends (re-entrant when the session already holds it);
    needs an open transaction, outside one the lock would be released at once."""
    if not conn.is_in_transaction():
        raise RuntimeError("a pattern's transaction lock needs an open transaction")
    await conn.execute("SELECT pg_advisory_xact_lock($1)", pattern_lock_key(pattern_id))


async def lock_pattern_for_session(
    conn: asyncpg.Connection, pattern_id: str, *, timeout_ms: int
) -> bool:
    """Hold the pattern for the session (a whole loop run); False when another session kept it
    longer than ``timeout_ms``. A free pattern (the usual case) costs one round trip; only a
    held one pays for setting and resetting the wait's timeout."""
    key = pattern_lock_key(pattern_id)
    if await conn.fetchval("SELECT pg_try_advisory_lock($1)", key):
        return True
    try:
        await conn.execute(f"SET lock_timeout = {int(timeout_ms)}")
        await conn.execute("SELECT pg_advisory_lock($1)", key)
    except asyncpg.LockNotAvailableError:
        return False
    finally:
        await conn.execute("RESET lock_timeout")
    return True


async def unlock_pattern_for_session(conn: asyncpg.Connection, pattern_id: str) -> None:
    await conn.execute("SELECT pg_advisory_unlock($1)", pattern_lock_key(pattern_id))


RETENTION_LOCK_KEY = pattern_lock_key("\x00retention")
"""One retention pass at a time, in every process (no pattern id can start with NUL)."""

ROUTING_FOLD_LOCK_KEY = pattern_lock_key("\x00routing-fold")
"""Folds of learned routing's appended deltas and domain resets, one at a time."""
