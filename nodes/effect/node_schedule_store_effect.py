"""The schedule store: set, list, pause, resume and remove a pattern's schedule.

A changed schedule takes effect at the workers' next scheduler pass (they read the table, they
do not cache it), so no worker needs a restart. Setting a schedule recomputes its next due
time from now (or from ``start``); pausing keeps it, so a resumed schedule that missed
windows runs once, coalesced, then goes on.
"""

from __future__ import annotations

from datetime import timedelta

import asyncpg

from contracts.enum_error_code import EnumErrorCode
from contracts.model_onex_error import ModelOnexError
from contracts.model_schedule import ModelSchedule, ModelScheduleSetInput, ModelScheduleSpec
from nodes.compute.node_schedule_compute import NodeScheduleCompute
from nodes.storage import sql_schedules


def spec_of(row: asyncpg.Record) -> ModelScheduleSpec:
    interval = row["interval_s"]
    return ModelScheduleSpec(
        cron=row["cron"],
        interval=None if interval is None else timedelta(seconds=interval),
        timezone=row["timezone"],
    )


def schedule_of(row: asyncpg.Record) -> ModelSchedule:
    return ModelSchedule(
        pattern_id=row["pattern_id"],
        spec=spec_of(row),
        paused=row["paused"],
        next_due_at=row["next_due_at"],
        last_due_at=row["last_due_at"],
        updated_at=row["updated_at"],
    )


class NodeScheduleStoreEffect:
    def __init__(self, compute: NodeScheduleCompute) -> None:
        self._compute = compute

    async def set(self, conn: asyncpg.Connection, request: ModelScheduleSetInput) -> ModelSchedule:
        """Create or replace; NOT_FOUND for a pattern that is not registered."""
        spec = request.spec
        start = request.start or await sql_schedules.now(conn)
        row = await sql_schedules.upsert(
            conn,
            request.pattern_id,
            kind=spec.kind.value,
            cron=spec.cron,
            interval_s=None if spec.interval is None else spec.interval.total_seconds(),
            timezone=spec.timezone,
            next_due_at=self._compute.first_due(spec, start),
        )
        if row is None:
            raise ModelOnexError(
                EnumErrorCode.NOT_FOUND,
                f"pattern {request.pattern_id!r} is not registered (feedback-loop register)",
            )
        return schedule_of(row)

    async def list(self, conn: asyncpg.Connection) -> list[ModelSchedule]:
        return [schedule_of(row) for row in await sql_schedules.list_all(conn)]

    async def remove(self, conn: asyncpg.Connection, pattern_id: str) -> None:
        if not await sql_schedules.remove(conn, pattern_id):
            raise _not_scheduled(pattern_id)

    async def set_paused(
        self, conn: asyncpg.Connection, pattern_id: str, *, paused: bool
    ) -> ModelSchedule:
        row = await sql_schedules.set_paused(conn, pattern_id, paused)
        if row is None:
            raise _not_scheduled(pattern_id)
        return schedule_of(row)


def _not_scheduled(pattern_id: str) -> ModelOnexError:
    return ModelOnexError(EnumErrorCode.NOT_FOUND, f"pattern {pattern_id!r} has no schedule")
