"""A cancelled loop run closes its own ledger attempt: the row is ``abandoned`` as soon as the
cancellation has unwound (not ``running`` until the pattern's next run), the cancellation still
propagates, and the same correlation id runs again as the next attempt.

The run is caught mid-collect: the test holds an ACCESS EXCLUSIVE lock on ``hook_executions``,
so the run's collect query waits on it, which ``pg_stat_activity`` shows; then its task is
cancelled. To hold the abandon write itself, the test locks the run's ``loop_runs`` row.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest

from contracts.model_result import ModelResult
from nodes.effect.node_run_ledger_effect import NodeRunLedgerEffect
from nodes.orchestrator.node_feedback_loop_orchestrator import NodeFeedbackLoopOrchestrator
from tests.loop.scenario import Scenario
from tests.polling import until


@pytest.fixture
async def scenario(pool: asyncpg.Pool) -> AsyncIterator[Scenario]:
    s = Scenario(pool, "api_debug")
    await s.register()
    await s.traffic(200)
    try:
        yield s
    finally:
        await s.close()


_ABANDON_WRITE = "UPDATE loop_runs SET status = 'abandoned'"


async def _statuses(pool: asyncpg.Pool, correlation_id: uuid.UUID) -> list[tuple[int, str]]:
    rows = await pool.fetch(
        "SELECT attempt, status FROM loop_runs WHERE correlation_id = $1 ORDER BY attempt",
        correlation_id,
    )
    return [(r["attempt"], r["status"]) for r in rows]


def _waiting_on_a_lock(pool: asyncpg.Pool, part: str) -> Callable[[], Awaitable[bool]]:
    """A check: another session's statement containing ``part`` waits for a lock."""

    async def check() -> bool:
        waiting = await pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock' AND query ILIKE $1",
            f"%{part}%",
        )
        return bool(waiting)

    return check


async def _run_stuck_in_collect(
    pool: asyncpg.Pool, orchestrator: NodeFeedbackLoopOrchestrator, scenario: Scenario
) -> tuple[asyncio.Task[ModelResult], uuid.UUID, asyncpg.Connection]:
    """A run whose attempt is open and whose collect query waits on a lock the test holds on
    ``blocker`` (returned, in its transaction: roll it back to let go)."""
    correlation_id = uuid.uuid4()
    blocker = await pool.acquire()
    await blocker.execute("BEGIN; LOCK TABLE hook_executions IN ACCESS EXCLUSIVE MODE")
    run = asyncio.create_task(
        orchestrator.execute_orchestration(scenario.contract(correlation_id=correlation_id))
    )
    await until(_waiting_on_a_lock(pool, "execution"), timeout_s=30)
    assert await _statuses(pool, correlation_id) == [(1, "running")]
    return run, correlation_id, blocker


async def _cancelled(run: asyncio.Task[ModelResult]) -> None:
    """The run's task ends cancelled within a deadline (it never swallows the cancel)."""
    done, _ = await asyncio.wait({run}, timeout=15)
    assert done, "the cancelled run did not end"
    with pytest.raises(asyncio.CancelledError):
        await run


async def test_a_cancelled_run_abandons_its_attempt_and_reruns_as_the_next(
    pool: asyncpg.Pool, scenario: Scenario
) -> None:
    orchestrator = NodeFeedbackLoopOrchestrator(pool)
    run, correlation_id, blocker = await _run_stuck_in_collect(pool, orchestrator, scenario)
    try:
        run.cancel()
        await _cancelled(run)
        assert await _statuses(pool, correlation_id) == [(1, "abandoned")]
        finished = await pool.fetchval(
            "SELECT finished_at IS NOT NULL FROM loop_runs WHERE correlation_id = $1",
            correlation_id,
        )
        assert finished
    finally:
        await blocker.execute("ROLLBACK")
        await pool.release(blocker)

    again = await orchestrator.execute_orchestration(
        scenario.contract(correlation_id=correlation_id)
    )  # the lock was released too: this would wait 30 s and report BUSY otherwise
    assert again.success and again.data is not None and not again.data.replayed
    assert await _statuses(pool, correlation_id) == [(1, "abandoned"), (2, "succeeded")]


async def test_a_second_cancel_does_not_interrupt_the_abandon_write(
    pool: asyncpg.Pool, scenario: Scenario
) -> None:
    """The write is shielded: cancelled again while it waits, it still completes, and only then
    does the cancellation go on (the write owns the connection until it ends)."""
    orchestrator = NodeFeedbackLoopOrchestrator(pool)
    run, correlation_id, blocker = await _run_stuck_in_collect(pool, orchestrator, scenario)
    row_lock = await pool.acquire()
    try:
        await row_lock.execute("BEGIN")
        await row_lock.execute(
            "SELECT 1 FROM loop_runs WHERE correlation_id = $1 FOR UPDATE", correlation_id
        )
        run.cancel()
        await until(_waiting_on_a_lock(pool, _ABANDON_WRITE))
        run.cancel()
        # A non-event, so a bounded look rather than a poll: an interrupted write would end the
        # run within milliseconds (the server cancels the UPDATE, the lock is released).
        ended, _ = await asyncio.wait({run}, timeout=1)
        assert not ended and await _waiting_on_a_lock(pool, _ABANDON_WRITE)()
        await row_lock.execute("ROLLBACK")
        await _cancelled(run)
        assert await _statuses(pool, correlation_id) == [(1, "abandoned")]
    finally:
        if row_lock.is_in_transaction():
            await row_lock.execute("ROLLBACK")
        await pool.release(row_lock)
        await blocker.execute("ROLLBACK")
        await pool.release(blocker)


async def test_an_abandon_write_that_cannot_finish_does_not_hold_up_the_cancel(
    pool: asyncpg.Pool, scenario: Scenario
) -> None:
    """The write is bounded: when it cannot complete in time the run still ends cancelled,
    its row left ``running`` for the next run to abandon, which then runs attempt 2."""
    orchestrator = NodeFeedbackLoopOrchestrator(pool)
    orchestrator.runtime.ledger = NodeRunLedgerEffect(abandon_timeout_s=0.2)
    run, correlation_id, blocker = await _run_stuck_in_collect(pool, orchestrator, scenario)
    row_lock = await pool.acquire()
    try:
        await row_lock.execute("BEGIN")
        await row_lock.execute(
            "SELECT 1 FROM loop_runs WHERE correlation_id = $1 FOR UPDATE", correlation_id
        )
        run.cancel()
        await _cancelled(run)
        await row_lock.execute("ROLLBACK")
        assert await _statuses(pool, correlation_id) == [(1, "running")]
    finally:
        if row_lock.is_in_transaction():
            await row_lock.execute("ROLLBACK")
        await pool.release(row_lock)
        await blocker.execute("ROLLBACK")
        await pool.release(blocker)

    again = await orchestrator.execute_orchestration(
        scenario.contract(correlation_id=correlation_id)
    )
    assert again.success
    assert await _statuses(pool, correlation_id) == [(1, "abandoned"), (2, "succeeded")]
