"""Worker processes sharing one database: every due (pattern, due time) runs exactly once, a
worker killed with -9 has its run re-run by another (no double apply, no stuck row), SIGTERM
drains, and a schedule change reaches running workers."""

from __future__ import annotations

import signal
from datetime import timedelta

import asyncpg

from contracts.model_schedule import ModelDueRun, ModelScheduleSetInput, ModelScheduleSpec
from nodes.service import FeedbackLoopService
from tests.polling import until
from tests.worker.workers import (
    HEARTBEAT_S,
    assert_stopped_by_sigterm,
    backends,
    exited,
    scheduled_patterns,
    stop,
    workers,
)


async def _count(pool: asyncpg.Pool, sql: str, *args: object) -> int:
    value: int = await pool.fetchval(sql, *args)
    return value


async def _expected_runs(pool: asyncpg.Pool) -> dict[str, ModelDueRun]:
    """Each schedule's last due run, by pattern: what must have run, once."""
    rows = await pool.fetch("SELECT pattern_id, last_due_at FROM schedules")
    return {r["pattern_id"]: ModelDueRun.of(r["pattern_id"], r["last_due_at"]) for r in rows}


async def _assert_each_ran_once(pool: asyncpg.Pool, patterns: list[str]) -> None:
    expected = await _expected_runs(pool)
    runs = await pool.fetch("SELECT correlation_id, pattern_id, attempt, status FROM loop_runs")
    succeeded = {(r["pattern_id"], r["correlation_id"]) for r in runs if r["status"] == "succeeded"}
    assert succeeded == {(p, expected[p].correlation_id) for p in patterns}
    assert len([r for r in runs if r["status"] == "succeeded"]) == len(patterns)
    proposals = await pool.fetch(
        "SELECT correlation_id, count(*) AS n FROM audit_log WHERE action = 'propose' "
        "GROUP BY correlation_id"
    )
    assert {r["correlation_id"] for r in proposals} == {
        expected[p].correlation_id for p in patterns
    }
    assert {r["n"] for r in proposals} == {1}
    assert await _count(pool, "SELECT count(*) FROM pgqueuer") == 0, "no stuck job"
    assert await _count(pool, "SELECT count(*) FROM loop_runs WHERE status = 'running'") == 0


async def test_three_workers_run_300_due_patterns_exactly_once(
    db_dsn: str, pool: asyncpg.Pool
) -> None:
    patterns = await scheduled_patterns(pool, 300)
    with workers(db_dsn, 3, "--concurrency", "4") as started:

        async def all_ran() -> bool:
            done = "SELECT count(*) FROM loop_runs WHERE status = 'succeeded'"
            return (
                await _count(pool, done) == 300
                and await _count(pool, "SELECT count(*) FROM pgqueuer") == 0
            )

        await until(all_ran, timeout_s=120, interval_s=0.1)
        for process in started:
            assert_stopped_by_sigterm(process, stop(process))
    await _assert_each_ran_once(pool, patterns)
    assert await _count(pool, "SELECT count(*) FROM loop_runs") == 300


async def _blocked_run(pool: asyncpg.Pool, worker: str) -> bool:
    """``worker``'s run is in its collect stage, waiting on the table lock the test holds."""
    return bool(
        await pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 "
            "AND wait_event_type = 'Lock' AND query ILIKE '%execution%'",
            worker,
        )
    )


async def test_a_killed_workers_run_is_rerun_by_another_once(
    db_dsn: str, pool: asyncpg.Pool
) -> None:
    (pattern,) = await scheduled_patterns(pool, 1)
    with workers(db_dsn, 1) as (first,):
        async with pool.acquire() as blocker, blocker.transaction():
            await blocker.execute("LOCK TABLE hook_executions IN ACCESS EXCLUSIVE MODE")
            await until(lambda: _blocked_run(pool, "w0"), timeout_s=60)
            stop(first, signal.SIGKILL)
            # Its sessions (and the pattern's lock) end within a heartbeat, though the run's
            # query is still waiting on our lock: the server checks the client socket.
            await until(lambda: _gone(pool, "w0"), timeout_s=2 * HEARTBEAT_S + 1)
        with workers(db_dsn, 1) as (second,):

            async def rerun() -> bool:
                done = "SELECT count(*) FROM loop_runs WHERE status = 'succeeded'"
                return await _count(pool, done) == 1

            await until(rerun, timeout_s=60, interval_s=0.05)
            assert_stopped_by_sigterm(second, stop(second))
    attempts = await pool.fetch("SELECT attempt, status FROM loop_runs ORDER BY attempt")
    assert [(r["attempt"], r["status"]) for r in attempts] == [(1, "abandoned"), (2, "succeeded")]
    await _assert_each_ran_once(pool, [pattern])


async def _gone(pool: asyncpg.Pool, worker: str) -> bool:
    return await backends(pool, worker) == 0


async def test_sigterm_lets_a_running_run_finish_within_the_grace(
    db_dsn: str, pool: asyncpg.Pool
) -> None:
    (pattern,) = await scheduled_patterns(pool, 1)
    with workers(db_dsn, 1, "--grace", "30") as (worker,):
        async with pool.acquire() as blocker, blocker.transaction():
            await blocker.execute("LOCK TABLE hook_executions IN ACCESS EXCLUSIVE MODE")
            await until(lambda: _blocked_run(pool, "w0"), timeout_s=60)
            worker.send_signal(signal.SIGTERM)
        # The lock is gone: the run finishes, then the worker exits.
        assert_stopped_by_sigterm(worker, exited(worker))
    await _assert_each_ran_once(pool, [pattern])


async def test_sigterm_past_the_grace_rolls_back_and_requeues(
    db_dsn: str, pool: asyncpg.Pool
) -> None:
    (pattern,) = await scheduled_patterns(pool, 1)
    with workers(db_dsn, 1, "--grace", "0.2") as (worker,):
        async with pool.acquire() as blocker, blocker.transaction():
            await blocker.execute("LOCK TABLE hook_executions IN ACCESS EXCLUSIVE MODE")
            await until(lambda: _blocked_run(pool, "w0"), timeout_s=60)
            assert_stopped_by_sigterm(worker, stop(worker))
            # Exited while the run still waited: its attempt is abandoned, its job queued.
            status = await pool.fetch("SELECT status FROM loop_runs")
            assert [r["status"] for r in status] == ["abandoned"]
            queued = "SELECT count(*) FROM pgqueuer WHERE status = 'queued'"
            assert await _count(pool, queued) == 1
    with workers(db_dsn, 1) as (second,):

        async def rerun() -> bool:
            done = "SELECT count(*) FROM loop_runs WHERE status = 'succeeded'"
            return await _count(pool, done) == 1

        await until(rerun, timeout_s=60, interval_s=0.05)
        stop(second)
    await _assert_each_ran_once(pool, [pattern])


async def test_a_schedule_change_reaches_running_workers(db_dsn: str, pool: asyncpg.Pool) -> None:
    (pattern,) = await scheduled_patterns(pool, 1, every=timedelta(days=1))
    with workers(db_dsn, 2) as started:
        ran = "SELECT count(*) FROM loop_runs WHERE status = 'succeeded'"
        await until(lambda: _at_least(pool, ran, 1), timeout_s=60, interval_s=0.05)
        async with FeedbackLoopService(pool=pool) as service:
            await service.set_schedule(
                ModelScheduleSetInput(
                    pattern_id=pattern, spec=ModelScheduleSpec(interval=timedelta(seconds=1))
                )
            )
        # Due at once again, then every second: the running workers follow the new schedule.
        await until(lambda: _at_least(pool, ran, 3), timeout_s=60, interval_s=0.05)
        for process in started:
            stop(process)
    runs = await pool.fetch("SELECT correlation_id FROM loop_runs WHERE status = 'succeeded'")
    assert len({r["correlation_id"] for r in runs}) == len(runs), "each due time once"


async def _at_least(pool: asyncpg.Pool, sql: str, n: int) -> bool:
    return await _count(pool, sql) >= n
