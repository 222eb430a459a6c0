"""The run ledger: one connection per run, the pattern's advisory lock, and ``loop_runs``.

The lock is session-level and held for the whole run, so two runs on one pattern never
interleave (the second waits up to ``lock_timeout_s``, then reports BUSY). The lineage store's
per-pattern transaction lock uses the same key, so a CLI rollback waits for a running loop too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

import asyncpg

from contracts.enum_error_code import EnumErrorCode
from contracts.model_onex_error import ModelOnexError
from nodes.storage import sql_loop_runs
from nodes.storage.locks import pattern_lock_key


class NodeRunLedgerEffect:
    def __init__(self, pool: asyncpg.Pool, *, lock_timeout_s: float = 30.0) -> None:
        self._pool = pool
        self._lock_timeout_ms = int(lock_timeout_s * 1000)

    @asynccontextmanager
    async def pattern_session(
        self, pattern_id: str, correlation_id: UUID
    ) -> AsyncIterator[asyncpg.Connection]:
        """A connection holding the pattern's lock for as long as the context lasts."""
        async with self._pool.acquire() as conn:
            key = pattern_lock_key(pattern_id)
            try:
                await conn.execute(f"SET lock_timeout = {self._lock_timeout_ms}")
                await conn.execute("SELECT pg_advisory_lock($1)", key)
            except asyncpg.LockNotAvailableError:
                raise ModelOnexError(
                    EnumErrorCode.BUSY,
                    f"pattern {pattern_id!r} is busy: another run holds its lock "
                    f"(waited {self._lock_timeout_ms / 1000:g} s)",
                    correlation_id=correlation_id,
                ) from None
            finally:
                await conn.execute("RESET lock_timeout")
            try:
                yield conn
            except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                raise ModelOnexError(
                    EnumErrorCode.DATABASE_ERROR,
                    f"database error: {exc}",
                    correlation_id=correlation_id,
                ) from exc
            finally:
                if not conn.is_closed():
                    await conn.execute("SELECT pg_advisory_unlock($1)", key)

    async def claim(
        self,
        conn: asyncpg.Connection,
        correlation_id: UUID,
        pattern_id: str,
        contract: dict[str, Any],
    ) -> asyncpg.Record | None:
        """None: this run is new (or a crashed one, taken over). Else: the recorded run."""
        recorded = await sql_loop_runs.claim_run(conn, correlation_id, pattern_id, contract)
        if recorded is None:
            return None
        if recorded["pattern_id"] != pattern_id:
            raise ModelOnexError(
                EnumErrorCode.CONFLICT,
                f"correlation_id {correlation_id} already belongs to a run of pattern "
                f"{recorded['pattern_id']!r}",
                correlation_id=correlation_id,
            )
        if recorded["status"] == "running":
            await sql_loop_runs.restart_run(conn, correlation_id)
            return None
        return recorded

    async def finish(
        self,
        conn: asyncpg.Connection,
        correlation_id: UUID,
        *,
        succeeded: bool,
        stages: dict[str, Any],
        output: dict[str, Any] | None,
        error: dict[str, Any] | None,
    ) -> None:
        await sql_loop_runs.finish_run(
            conn, correlation_id, succeeded=succeeded, stages=stages, output=output, error=error
        )
