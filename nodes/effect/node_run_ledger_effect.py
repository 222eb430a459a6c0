"""The run ledger: the pattern's lock for a whole run, and the run's ``loop_runs`` row from
open to close.

The lock is session-level and held for the whole run, so two runs of one pattern never
interleave (the second waits up to ``lock_timeout_s``, then reports BUSY). Writers of a
pattern's versions take the same key per transaction, so a rollback waits for a running loop.

Attempts: a correlation id whose latest attempt succeeded is replayed; one that failed or was
abandoned runs again as the next attempt. A run that is cancelled (SIGTERM / SIGINT in the CLI,
a timeout or a task cancel in a library caller) marks its own attempt abandoned before it lets
the lock go. A row still ``running`` when the lock is free again belongs to a session that died
(kill -9, lost connection): the next run (or ``db doctor --fix``) marks it abandoned.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import UUID

import asyncpg
import structlog

from contracts.enum_error_code import EnumErrorCode
from contracts.model_feedback_loop_input import ModelFeedbackLoopInput
from contracts.model_feedback_loop_output import ModelFeedbackLoopOutput
from contracts.model_onex_error import ModelOnexError
from contracts.model_run_ledger import ModelRunClose, ModelRunOpened
from nodes.storage import sql_loop_runs
from nodes.storage.locks import lock_pattern_for_session, unlock_pattern_for_session
from nodes.storage.pool import DRIVER_ERRORS

log = structlog.get_logger(__name__)


class NodeRunLedgerEffect:
    """``abandon_timeout_s`` bounds how long a cancelled run may spend marking its attempt
    abandoned: a cancellation must end promptly even when the database does not answer."""

    def __init__(self, *, lock_timeout_s: float = 30.0, abandon_timeout_s: float = 5.0) -> None:
        self._lock_timeout_ms = int(lock_timeout_s * 1000)
        self._abandon_timeout_s = abandon_timeout_s

    @asynccontextmanager
    async def hold_pattern(
        self, conn: asyncpg.Connection, pattern_id: str, correlation_id: UUID
    ) -> AsyncIterator[None]:
        """The pattern's lock on ``conn`` for as long as the context lasts; database errors
        inside come out as ``ModelOnexError`` (DATABASE_ERROR) naming the run, and a
        cancellation marks the run's attempt abandoned before the lock is released."""
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
        except asyncio.CancelledError:
            await self._abandon_cancelled(conn, pattern_id, correlation_id)
            raise
        finally:
            if not conn.is_closed():
                await unlock_pattern_for_session(conn, pattern_id)

    async def _abandon_cancelled(
        self, conn: asyncpg.Connection, pattern_id: str, correlation_id: UUID
    ) -> None:
        """The cancelled run's attempt, still ``running``, is dead: mark it abandoned now rather
        than leave it looking alive until the pattern's next run. Holding the lock, every
        ``running`` row of the pattern is dead, so the ledger's rule for dead sessions does it.

        The write is shielded: a further cancel while it runs does not interrupt it (it owns
        the connection, which the unwinding uses next to unlock), it is only bounded by
        ``abandon_timeout_s``. The cancellation goes on either way; a row the write did not
        reach is still abandoned by the next run or ``db doctor --fix``."""
        write = asyncio.ensure_future(
            asyncio.wait_for(
                sql_loop_runs.abandon_running(conn, pattern_id), self._abandon_timeout_s
            )
        )
        while not write.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait({write})
        failure = "cancelled" if write.cancelled() else write.exception()
        if failure is not None:
            log.warning(
                "loop_run_not_abandoned",
                pattern_id=pattern_id,
                correlation_id=str(correlation_id),
                error=repr(failure),
            )

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
