"""A worker in this process: a transient failure is retried as the next attempt, a permanent
one is final (its job removed, not retried), and finished jobs' log rows are purged."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import asyncpg

from contracts.model_schedule import ModelDueRun
from nodes.adapters.worker import LoopWorker, WorkerSettings, with_liveness_checks
from nodes.effect.node_job_queue_effect import RUN_DUE_ENTRYPOINT
from nodes.service import FeedbackLoopService
from nodes.storage import sql_job_queue
from nodes.storage.locks import lock_pattern_for_session, unlock_pattern_for_session
from tests.polling import until
from tests.worker.workers import scheduled_patterns

SETTINGS = WorkerSettings(concurrency=1, heartbeat_s=1, poll_s=0.05, retry_base_s=0.05)


@asynccontextmanager
async def running_worker(service: FeedbackLoopService) -> AsyncIterator[None]:
    worker = asyncio.ensure_future(LoopWorker(service, SETTINGS).run())
    try:
        yield
    finally:
        worker.cancel()
        await asyncio.wait({worker})
    assert worker.cancelled(), "a cancelled worker drains, then passes the cancel on"


async def test_a_transient_failure_is_retried_as_the_next_attempt(
    db_dsn: str, pool: asyncpg.Pool
) -> None:
    """The pattern's lock held elsewhere: the run reports BUSY (after 0.05 s), the job is
    retried with backoff until the lock is free, then succeeds once."""
    (pattern,) = await scheduled_patterns(pool, 1)
    async with (
        FeedbackLoopService(dsn=db_dsn, lock_timeout_s=0.05) as service,
        pool.acquire() as holder,
    ):
        assert await lock_pattern_for_session(holder, pattern, timeout_ms=1000)
        async with running_worker(service):
            retried = "SELECT count(*) > 0 FROM pgqueuer WHERE attempts >= 2"
            await until(lambda: pool.fetchval(retried), timeout_s=30)
            await unlock_pattern_for_session(holder, pattern)
            done = "SELECT count(*) = 1 FROM loop_runs WHERE status = 'succeeded'"
            await until(lambda: pool.fetchval(done), timeout_s=30)
            await until(lambda: pool.fetchval("SELECT count(*) = 0 FROM pgqueuer"), timeout_s=30)


async def test_a_permanent_failure_is_final(db_dsn: str, pool: asyncpg.Pool) -> None:
    """A due run of a pattern that does not exist fails the same way every time: one
    attempt, its job removed and logged as an exception."""
    ghost = ModelDueRun.of("ghost", datetime(2026, 1, 1, tzinfo=UTC))
    async with pool.acquire() as conn:
        await sql_job_queue.enqueue(
            conn, RUN_DUE_ENTRYPOINT, [ghost.model_dump_json().encode()], ["ghost"]
        )
    async with FeedbackLoopService(dsn=db_dsn) as service, running_worker(service):
        gone = "SELECT count(*) = 0 FROM pgqueuer"
        await until(lambda: pool.fetchval(gone), timeout_s=30)
    statuses = await pool.fetch("SELECT status::text FROM pgqueuer_log ORDER BY id")
    assert [r["status"] for r in statuses] == ["queued", "picked", "exception"]


async def test_finished_jobs_log_rows_are_purged(db_dsn: str, pool: asyncpg.Pool) -> None:
    await scheduled_patterns(pool, 2)
    async with FeedbackLoopService(dsn=db_dsn) as service:
        async with running_worker(service):
            done = "SELECT count(*) = 2 FROM loop_runs WHERE status = 'succeeded'"
            await until(lambda: pool.fetchval(done), timeout_s=30)
            await until(lambda: pool.fetchval("SELECT count(*) = 0 FROM pgqueuer"), timeout_s=30)
        await pool.execute("UPDATE pgqueuer_log SET aggregated = true")  # as pgqueuer's timer
        assert await service.purge_finished_jobs(timedelta(0)) == 6  # queued, picked, done x2
    assert await pool.fetchval("SELECT count(*) FROM pgqueuer_log") == 0


async def test_liveness_settings_reach_the_server_for_both_dsn_forms(db_dsn: str) -> None:
    """A dead worker's sessions end within a heartbeat only if the server checks them: the
    settings must arrive whether the DSN is a URL or libpq's key=value form."""
    url = urlsplit(db_dsn)
    socket_dir = dict(parse_qsl(url.query))["host"]
    keyword = f"host={socket_dir} user={url.username} dbname={url.path.lstrip('/')}"
    for dsn in (db_dsn, keyword):
        conn = await asyncpg.connect(with_liveness_checks(dsn, heartbeat_s=10))
        try:
            interval = await conn.fetchval("SHOW client_connection_check_interval")
        finally:
            await conn.close()
        assert interval == "5s", (dsn, interval)
