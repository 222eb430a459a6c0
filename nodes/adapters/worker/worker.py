"""``feedback-loop worker``: runs due loop runs from a PostgreSQL job queue (pgqueuer).

Any number of workers on any number of machines share one database. Each worker runs two
loops: a scheduler pass (every ``poll_s``) that turns due schedules into queue jobs, one per
(pattern, due time), and pgqueuer's consumer, which claims jobs ``FOR UPDATE SKIP LOCKED``, at
most ``concurrency`` at a time, and heartbeats them while they run.

Exactly once: a job's run carries the correlation id derived from (pattern, due time). A job
whose worker died (its heartbeat older than ``heartbeat_s``) is claimed again by another
worker; the run ledger then marks the dead attempt abandoned and runs the next one, or replays
the recorded result if the dead worker's run had succeeded, so nothing is applied twice.

Failures: a transient one (the pattern busy, the database unreachable or failing) is retried
as a new attempt after a backoff of ``retry_base_s * 2 ** attempts`` (at most
``retry_max_s``), ``max_attempts`` in all; any other failure is final and logged.

SIGTERM: the CLI cancels the command; the worker then stops claiming and scheduling, gives
its running jobs ``grace_s`` to finish, cancels the rest (each run rolls back and marks its
attempt abandoned) and puts their jobs back in the queue for another worker, then exits.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncGenerator
from datetime import timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import structlog
from pgqueuer.adapters.persistence.queries import Queries
from pgqueuer.core.qm import QueueManager
from pgqueuer.domain.errors import RetryRequested
from pgqueuer.domain.models import Job

from contracts.enum_error_code import EnumErrorCode
from contracts.model_onex_error import ModelOnexError
from contracts.model_result import ModelResult
from contracts.model_schedule import ModelDueRun
from nodes.effect.node_job_queue_effect import RUN_DUE_ENTRYPOINT
from nodes.service import DRIVER_ERRORS, FeedbackLoopService, normalize_dsn

log = structlog.get_logger(__name__)

ACTOR = "feedback-loop worker"
# Worth another attempt: the same run may well succeed later.
TRANSIENT = frozenset(
    {EnumErrorCode.BUSY, EnumErrorCode.DATABASE_UNAVAILABLE, EnumErrorCode.DATABASE_ERROR}
)


# What a scheduler pass may meet when the database fails: logged, the pass tried again.
_PASS_ERRORS: tuple[type[Exception], ...] = (ModelOnexError, *DRIVER_ERRORS)

# pgqueuer's statements on the queue's own connection (closed with the worker, never back in
# the pool) keep one plan each. PostgreSQL planned its claim query for every call, as custom
# plans for its parameters did not look worse: 0.76 ms of the server's CPU per claim, more
# than running it. Its tables are the queue's small ones, which one plan serves.
_GENERIC_PLANS = "SET plan_cache_mode = force_generic_plan"

# Jobs claimed per query. pgqueuer marks a finished job done when its status buffer (as large
# as a batch) is full or 0.1 s have passed, and a job not yet marked still counts against
# the cap; claiming one at a time frees each slot as its job ends, instead of in waves.
CLAIM_BATCH = 1


@dataclasses.dataclass(frozen=True)
class WorkerSettings:
    """Every interval is a setting, so tests run the same code with 0.05 s."""

    concurrency: int = 4
    heartbeat_s: float = 10.0
    poll_s: float = 1.0
    grace_s: float = 25.0
    retry_base_s: float = 1.0
    retry_max_s: float = 300.0
    max_attempts: int = 5
    schedule_batch: int = 500
    keep_log_s: float = 3600.0
    retention_every_s: float = 3600.0

    def backoff(self, attempts: int) -> timedelta:
        return timedelta(seconds=min(self.retry_base_s * 2**attempts, self.retry_max_s))


def with_liveness_checks(dsn: str, heartbeat_s: float) -> str:
    """``dsn`` (a URL) with server settings that end a dead worker's sessions, and so release
    its pattern locks, within about one heartbeat: the server checks the client socket while a
    query runs (``client_connection_check_interval``) and probes idle TCP peers (keepalives:
    a machine that vanished sends no FIN). A ``key=value`` DSN is rewritten as the URL the
    driver would be given anyway; anything else is returned for the driver to judge."""
    dsn = normalize_dsn(dsn)
    if "://" not in dsn:
        return dsn
    half = max(heartbeat_s / 2, 0.001)
    settings = {
        "client_connection_check_interval": str(max(int(half * 1000), 1)),
        "tcp_keepalives_idle": str(max(int(half), 1)),
        "tcp_keepalives_interval": str(max(int(heartbeat_s / 6), 1)),
        "tcp_keepalives_count": "3",
    }
    parts = urlsplit(dsn)
    query = dict(parse_qsl(parts.query)) | {k: v for k, v in settings.items()}
    return urlunsplit(parts._replace(query=urlencode(query)))


@dataclasses.dataclass
class CappedQueueManager(QueueManager):
    """pgqueuer's consumer, claiming at most ``cap`` jobs at a time. pgqueuer's own cap must
    be twice its batch size (it prefetches); a worker that prefetches holds jobs idle that
    another worker could run, so the cap is passed to its claim query directly."""

    cap: int = 1

    async def fetch_jobs(
        self,
        batch_size: int,
        global_concurrency_limit: int | None,
        heartbeat_timeout: timedelta,
    ) -> AsyncGenerator[Job, None]:
        """Claims while this worker runs fewer than ``cap`` jobs. At the cap the claim query
        would find nothing (its budget counts this worker's picked jobs), yet the consumer
        asks again on every change to the queue anywhere: 2.25 claim queries per job in a
        drain by 2 workers, each about as costly as a loop run's heaviest read."""
        if self._running() >= self.cap:
            return
        async for job in super().fetch_jobs(batch_size, self.cap, heartbeat_timeout):
            yield job  # the consumer registers the job before asking for the next one
            if self._running() >= self.cap:
                return

    async def _effective_dequeue_timeout(self, dequeue_timeout: timedelta) -> timedelta:
        """At the cap, the full poll interval without asking the queue: pgqueuer's own rule
        counts the queued jobs (a query) to poll again soon when any wait, on every wake-up
        (3.3 counts per job in a drain by 2 workers), while no slot is free to take them. A
        job of ours that ends changes the queue, whose notice wakes the consumer at once."""
        if self._running() >= self.cap:
            return dequeue_timeout
        return await super()._effective_dequeue_timeout(dequeue_timeout)

    def _running(self) -> int:
        return len(self.job_context)


class LoopWorker:
    """``await LoopWorker(service, settings).run()`` works until cancelled, then drains."""

    def __init__(self, service: FeedbackLoopService, settings: WorkerSettings) -> None:
        self._service = service
        self._settings = settings
        self._running: set[asyncio.Task[ModelResult]] = set()
        self._draining = False

    async def run(self) -> None:
        settings = self._settings
        async with self._service.queue_connection() as conn:
            await conn.execute(_GENERIC_PLANS)
            manager = CappedQueueManager(Queries.from_asyncpg_connection(conn))
            manager.cap = settings.concurrency
            manager.min_dequeue_poll_interval = timedelta(seconds=min(settings.poll_s, 0.1))
            manager.entrypoint(RUN_DUE_ENTRYPOINT)(self._run_job)
            consumer = asyncio.ensure_future(
                manager.run(
                    dequeue_timeout=timedelta(seconds=settings.poll_s),
                    batch_size=CLAIM_BATCH,
                    heartbeat_timeout=timedelta(seconds=settings.heartbeat_s),
                    log_aggregation_interval=timedelta(seconds=max(settings.poll_s * 10, 1)),
                )
            )
            scheduler = asyncio.ensure_future(self._schedule())
            try:
                done, _ = await asyncio.wait(
                    {consumer, scheduler}, return_when=asyncio.FIRST_COMPLETED
                )
                done.pop().result()  # neither ends by itself: this raises what stopped it
            except asyncio.CancelledError:
                await self._drain(manager, consumer)
                raise
            finally:
                for task in (scheduler, consumer):
                    task.cancel()
                await asyncio.wait({scheduler, consumer})

    async def _schedule(self) -> None:
        """The scheduler pass on every poll (at once again while due rows remain), about
        once a minute the finished jobs' log purge, and at start and about once an hour the
        executions' retention (one worker does it, the others find it busy and go on). A pass
        the database failed is logged and tried again next poll: a blip must not stop every
        worker at once."""
        settings = self._settings
        passes_per_purge = max(int(60 / settings.poll_s), 1)
        passes_per_retention = max(int(settings.retention_every_s / settings.poll_s), 1)
        passes = 0
        while True:
            passes += 1
            try:
                enqueued = len((await self._service.enqueue_due_runs(settings.schedule_batch)).runs)
                if passes % passes_per_purge == 0:
                    await self._service.purge_finished_jobs(timedelta(seconds=settings.keep_log_s))
                if (passes - 1) % passes_per_retention == 0:  # at start, then every period
                    await self._retention()
            except _PASS_ERRORS as exc:
                log.warning("scheduler_pass_failed", error=str(exc))
                enqueued = 0
            if enqueued < settings.schedule_batch:
                await asyncio.sleep(settings.poll_s)

    async def _retention(self) -> None:
        try:
            report = await self._service.apply_retention()
        except ModelOnexError as exc:
            if exc.code is not EnumErrorCode.BUSY:
                raise
            return
        if report.dropped or report.not_aggregated:
            log.info(
                "retention",
                dropped=[d.isoformat() for d in report.dropped],
                rows=report.rows_dropped,
                not_aggregated=[d.isoformat() for d in report.not_aggregated],
            )

    async def _drain(self, manager: QueueManager, consumer: asyncio.Future[None]) -> None:
        """Stop claiming; let running jobs finish within the grace period; cancel the rest,
        whose jobs go back to the queue (see ``_run_job``)."""
        self._draining = True
        manager.shutdown.set()
        log.info("worker_draining", running=len(self._running), grace_s=self._settings.grace_s)
        await asyncio.wait({consumer}, timeout=self._settings.grace_s)
        if not consumer.done():
            log.warning("worker_grace_expired", cancelled=len(self._running))
            for run in list(self._running):
                run.cancel()
            await asyncio.wait({consumer})

    async def _run_job(self, job: Job) -> None:
        """One due run; raising ``RetryRequested`` puts the job back in the queue."""
        assert job.payload is not None
        due = ModelDueRun.model_validate_json(job.payload)
        run = asyncio.ensure_future(self._service.run_due(due, actor=ACTOR))
        self._running.add(run)
        try:
            result = await run
        except asyncio.CancelledError:
            if self._draining and run.cancelled():
                raise RetryRequested(reason="the worker stopped before the run finished") from None
            raise
        except ModelOnexError as exc:  # the run could not even start (no database)
            result = ModelResult(success=False, error=exc.to_dict())
        finally:
            self._running.discard(run)
        self._judge(job, due, result)

    def _judge(self, job: Job, due: ModelDueRun, result: ModelResult) -> None:
        if result.success:
            return
        error = result.error or {}
        code, message = error.get("code"), error.get("message", "failed")
        context = {
            "pattern_id": due.pattern_id,
            "correlation_id": str(due.correlation_id),
            "attempt": job.attempts + 1,
            "error": message,
        }
        if code in TRANSIENT and job.attempts + 1 < self._settings.max_attempts:
            delay = self._settings.backoff(job.attempts)
            log.warning("due_run_retrying", delay_s=delay.total_seconds(), **context)
            raise RetryRequested(delay=delay, reason=message)
        log.error("due_run_failed", **context)
        raise DueRunFailedError(f"{due.pattern_id} @ {due.due_at.isoformat()}: {message}")


class DueRunFailedError(Exception):
    """A due run that failed for good: pgqueuer logs it and removes its job."""
