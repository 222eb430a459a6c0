"""The scheduler's pass: due schedules become queue jobs, one per (pattern, due time).

Every worker runs this pass on its poll interval. Due rows are locked ``FOR UPDATE SKIP
LOCKED`` and advanced past now in the same transaction that enqueues their jobs, so however
many workers pass at once, each due run is enqueued once; the job's dedupe key (the run's
correlation id) would refuse a second copy while the first is queued or running, and the run
ledger replays a correlation id that already succeeded. Missed windows are coalesced by the
compute node: one job for the latest.
"""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import structlog

from contracts.model_schedule import ModelEnqueued, ModelEnqueueDue, ModelScheduleTick
from nodes.compute.node_schedule_compute import NodeScheduleCompute
from nodes.effect.node_schedule_store_effect import spec_of
from nodes.storage import sql_job_queue, sql_schedules

RUN_DUE_ENTRYPOINT = "feedback_loop.run_due"

log = structlog.get_logger(__name__)


class NodeJobQueueEffect:
    def __init__(self, compute: NodeScheduleCompute) -> None:
        self._compute = compute

    async def enqueue_due(
        self, conn: asyncpg.Connection, request: ModelEnqueueDue
    ) -> ModelEnqueued:
        async with conn.transaction():
            now = await sql_schedules.now(conn)
            rows = await sql_schedules.lock_due(conn, now, request.limit)
            advances = [
                self._compute.advance(
                    ModelScheduleTick(
                        pattern_id=row["pattern_id"],
                        spec=spec_of(row),
                        next_due_at=row["next_due_at"],
                        now=now,
                    )
                )
                for row in rows
            ]
            runs = tuple(a.due for a in advances if a.due is not None)
            if runs:
                await sql_job_queue.enqueue(
                    conn,
                    RUN_DUE_ENTRYPOINT,
                    [run.model_dump_json().encode() for run in runs],
                    [str(run.correlation_id) for run in runs],
                )
                await sql_schedules.advance(
                    conn,
                    [run.pattern_id for run in runs],
                    [a.next_due_at for a in advances if a.due is not None],
                    [run.due_at for run in runs],
                )
        missed = sum(a.missed for a in advances)
        if runs:
            log.info("due_runs_enqueued", runs=len(runs), missed=missed)
        return ModelEnqueued(runs=runs, missed=missed)

    async def purge_finished(self, conn: asyncpg.Connection, older_than: timedelta) -> int:
        """Delete the aggregated log rows of finished jobs older than ``older_than``."""
        return await sql_job_queue.purge_log(conn, older_than)
