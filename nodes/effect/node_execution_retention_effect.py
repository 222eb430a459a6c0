"""Retention: drop the day partitions of ``hook_executions`` past the horizon, once their rows
are all in their buckets and no running experiment reads them.

Each day goes in one transaction: its hour buckets are rolled up into a day bucket, its ids
leave ``execution_ids``, its partition is dropped and ``kept_from`` moves past it. Days go
oldest first and stop at the first one not fully aggregated, so the kept rows always form one
span and ``kept_from`` is its start. One pass at a time (an advisory lock): workers on several
machines may all try, one does the work.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import asyncpg
import structlog

from contracts.enum_error_code import EnumErrorCode
from contracts.model_onex_error import ModelOnexError
from contracts.model_retention import (
    ModelDayPartition,
    ModelRetentionInput,
    ModelRetentionReport,
    ModelRetentionRequest,
)
from nodes.compute.node_retention_plan_compute import NodeRetentionPlanCompute
from nodes.storage import sql_partitions
from nodes.storage.locks import RETENTION_LOCK_KEY

log = structlog.get_logger(__name__)


def _day_partition(day: date) -> ModelDayPartition:
    return ModelDayPartition(
        day=day, ends_at=datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)
    )


class NodeExecutionRetentionEffect:
    def __init__(self, compute: NodeRetentionPlanCompute | None = None) -> None:
        self._compute = compute or NodeRetentionPlanCompute()

    async def apply(
        self, conn: asyncpg.Connection, request: ModelRetentionRequest
    ) -> ModelRetentionReport:
        """BUSY when another pass holds the lock."""
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", RETENTION_LOCK_KEY):
            raise ModelOnexError(
                EnumErrorCode.BUSY, "another retention pass is running; try again later"
            )
        try:
            return await self._apply(conn, request)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", RETENTION_LOCK_KEY)

    async def _apply(
        self, conn: asyncpg.Connection, request: ModelRetentionRequest
    ) -> ModelRetentionReport:
        if request.retention_days is not None and not request.dry_run:
            await sql_partitions.set_retention_days(conn, request.retention_days)
            # A longer retention moves the horizon back: its days need partitions at once.
            await sql_partitions.prepare_partitions(conn)
        settings = await sql_partitions.retention_settings(conn, request.retention_days)
        days = request.retention_days or settings["retention_days"]
        horizon = settings["horizon"]
        plan = self._compute.plan(
            ModelRetentionInput(
                partitions=tuple(map(_day_partition, await sql_partitions.day_partitions(conn))),
                horizon=horizon,
                experiments_need_from=await sql_partitions.experiments_need_from(conn),
            )
        )
        dropped: list[date] = []
        rows = 0
        not_aggregated: list[date] = []
        for day in plan.drop:
            async with conn.transaction():
                stored, counted = await sql_partitions.day_counts(conn, day)
                if stored != counted:
                    not_aggregated.append(day)
                    break
                if not request.dry_run:
                    await sql_partitions.drop_day(conn, day)
            dropped.append(day)
            rows += stored
            log.info("partition_dropped", day=day.isoformat(), rows=stored, dry_run=request.dry_run)
        return ModelRetentionReport(
            retention_days=days,
            horizon=horizon,
            dropped=tuple(dropped),
            rows_dropped=rows,
            kept_for_experiments=plan.kept_for_experiments,
            not_aggregated=tuple(not_aggregated),
            dry_run=request.dry_run,
        )
