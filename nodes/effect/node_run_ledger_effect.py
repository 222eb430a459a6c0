"""The run ledger: the pattern's lock for a whole run, and the run's ``loop_runs`` row from
open to close.

The lock is session-level and held for the whole run, so two runs of one pattern never
interleave (the second waits up to ``lock_timeout_s``, then reports BUSY). Writers of a
pattern's versions take the same key per transaction, so a rollback waits for a running loop.

Attempts: a correlation id whose latest attempt succeeded is replayed; one that failed or was
abandoned runs again as the next attempt. A row still ``running`` when the lock is free again
belongs to a session that died (kill -9, lost connection): the next run marks it abandoned.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import UUID

import asyncpg

from contracts.enum_error_code import EnumErrorCode
from contracts.model_feedback_loop_input import ModelFeedbackLoopInput
from contracts.model_feedback_loop_output import ModelFeedbackLoopOutput
from contracts.model_onex_error import ModelOnexError
from contracts.model_run_ledger import ModelRunClose, ModelRunOpened
from nodes.storage import sql_loop_runs
from nodes.storage.locks import lock_pattern_for_session, unlock_pattern_for_session
from nodes.storage.pool import DRIVER_ERRORS


class NodeRunLedgerEffect:
    def __init__(self, *, lock_timeout_s: float = 30.0) -> None:
        self._lock_timeout_ms = int(lock_timeout_s * 1000)

    @asynccontextmanager
    async def hold_pattern(
        self, conn: asyncpg.Connection, pattern_id: str, correlation_id: UUID
    ) -> AsyncIterator[None]:
        """The pattern's lock on ``conn`` for as long as the context lasts; database errors
        inside come out as ``ModelOnexError`` (DATABASE_ERROR) naming the run."""
        if not await lock_pattern_for_session(conn, pattern_id, timeout_ms=self._lock_timeout_ms):
            raise ModelOnexError(
                EnumErrorCode.BUSY,
                f"pattern {pattern_id!r} is busy: another run holds its lock "
                f"(waited {self._lock_timeout_ms / 1000:g} s)",
                correlation_id=correlation_id,
            )
        try:
            yield
        except DRIVER_ERRORS as exc:
            raise ModelOnexError(
                EnumErrorCode.DATABASE_ERROR,
                f"database error: {exc}",
                correlation_id=correlation_id,
            ) from exc
        finally:
            if not conn.is_closed():
                await unlock_pattern_for_session(conn, pattern_id)

    async def open(
        self, conn: asyncpg.Connection, contract: ModelFeedbackLoopInput
    ) -> ModelRunOpened:
        """Call while holding the pattern: marks dead runs abandoned, then replays or opens."""
        correlation_id, pattern_id = contract.correlation_id, contract.pattern_id
        row = await sql_loop_runs.open_or_replay(
            conn, pattern_id, correlation_id, contract.model_dump(mode="json")
        )
        if row["pattern_id"] is not None and row["pattern_id"] != pattern_id:
            raise _foreign(correlation_id, row["pattern_id"])
        if row["status"] == "succeeded":
            output = ModelFeedbackLoopOutput.model_validate({**row["output"], "replayed": True})
            return ModelRunOpened(
                correlation_id=correlation_id,
                attempt=row["attempt"],
                replay=output,
                abandoned=row["abandoned"],
            )
        if row["opened"] is None:  # the same correlation id, opened meanwhile for another pattern
            raise _foreign(correlation_id, await sql_loop_runs.owner(conn, correlation_id) or "?")
        return ModelRunOpened(
            correlation_id=correlation_id, attempt=row["opened"], abandoned=row["abandoned"]
        )

    @staticmethod
    def as_error(exc: BaseException, correlation_id: UUID, stage: str | None) -> ModelOnexError:
        """Any exception of a run as the error the caller gets: its own code when it is a
        ``ModelOnexError``, DATABASE_ERROR for the driver's errors, else INTERNAL."""
        if isinstance(exc, ModelOnexError):
            exc.correlation_id = correlation_id
            return exc
        where = f" in stage {stage}" if stage else ""
        database = isinstance(exc, DRIVER_ERRORS)
        return ModelOnexError(
            EnumErrorCode.DATABASE_ERROR if database else EnumErrorCode.INTERNAL,
            f"{'database' if database else 'internal'} error{where}: {type(exc).__name__}: {exc}",
            correlation_id=correlation_id,
            details={"stage": stage, "exception": type(exc).__name__},
        )

    async def close(self, conn: asyncpg.Connection, closing: ModelRunClose) -> None:
        await sql_loop_runs.close_attempt(
            conn,
            closing.correlation_id,
            closing.attempt,
            succeeded=closing.succeeded,
            stages=closing.stages,
            output=closing.output,
            error=closing.error,
        )


def _foreign(correlation_id: UUID, pattern_id: str) -> ModelOnexError:
    return ModelOnexError(
        EnumErrorCode.CONFLICT,
        f"correlation_id {correlation_id} already belongs to a run of pattern {pattern_id!r}",
        correlation_id=correlation_id,
    )
