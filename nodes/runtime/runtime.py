"""The composition root: one object owns the database pool, the one migration policy and every
long-lived component (node instances, the allocator's cache and its listening connection).

Everything that serves a user (the service facade, and through it the CLI) is wired here and
nowhere else. Nodes never open a pool: they work on the connection handed to them.

Migration policy, in one place: the embedded database is ours, so it is migrated
automatically; a database the user pointed us at (a DSN or a pool) is never changed behind
their back: an outdated schema is refused with "run `feedback-loop db upgrade`".
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, date, datetime

import structlog

from contracts.enum_error_code import EnumErrorCode
from contracts.model_analysis import ModelAnalysisThresholds
from contracts.model_exposure import ModelExposureFlush, ModelExposureFlushed
from contracts.model_onex_error import ModelOnexError
from lineage import ModelLineageGraph
from nodes.compute.generators.registry import GeneratorRegistry
from nodes.compute.node_feedback_analyzer_compute import NodeFeedbackAnalyzerCompute
from nodes.compute.node_improvement_generator_compute import NodeImprovementGeneratorCompute
from nodes.compute.node_improvement_validator_compute import NodeImprovementValidatorCompute
from nodes.compute.node_schedule_compute import NodeScheduleCompute
from nodes.compute.node_traffic_policy_compute import NodeTrafficPolicyCompute
from nodes.effect.node_execution_collector_effect import NodeExecutionCollectorEffect
from nodes.effect.node_execution_ingest_effect import NodeExecutionIngestEffect
from nodes.effect.node_execution_retention_effect import NodeExecutionRetentionEffect
from nodes.effect.node_exposure_recorder_effect import NodeExposureRecorderEffect
from nodes.effect.node_improvement_lifecycle_effect import NodeImprovementLifecycleEffect
from nodes.effect.node_job_queue_effect import NodeJobQueueEffect
from nodes.effect.node_lineage_store_effect import NodeLineageStoreEffect
from nodes.effect.node_objective_store_effect import NodeObjectiveStoreEffect
from nodes.effect.node_pattern_registry_effect import NodePatternRegistryEffect
from nodes.effect.node_run_ledger_effect import NodeRunLedgerEffect
from nodes.effect.node_schedule_store_effect import NodeScheduleStoreEffect
from nodes.effect.node_traffic_allocator_effect import NodeTrafficAllocatorEffect
from nodes.effect.node_version_rollback_effect import NodeVersionRollbackEffect
from nodes.effect.node_version_tracker_effect import NodeVersionTrackerEffect
from nodes.reducer.node_improvement_lifecycle_reducer import NodeImprovementLifecycleReducer
from nodes.storage import sql_partitions
from nodes.storage.dsn import resolve_dsn
from nodes.storage.migrate import status as migration_status
from nodes.storage.migrate import upgrade
from nodes.storage.pool import Connection, Pool, open_pool

__all__ = ["Connection", "FeedbackLoopRuntime", "Pool"]

log = structlog.get_logger(__name__)


class FeedbackLoopRuntime:
    """``FeedbackLoopRuntime(pool)``, ``(dsn=...)`` or ``()``: FEEDBACK_LOOP_DSN, else embedded."""

    def __init__(
        self,
        pool: Pool | None = None,
        *,
        dsn: str | None = None,
        pool_size: int = 10,
        lock_timeout_s: float = 30.0,
        generators: GeneratorRegistry | None = None,
        thresholds: ModelAnalysisThresholds | None = None,
        allocation_ttl_s: float = 60.0,
        exposure_flush_s: float = 1.0,
        read_buckets: bool = True,
    ) -> None:
        """``read_buckets=False``: statistics from raw rows only (to compare with buckets)."""
        self._pool = pool
        self._pool_given = pool is not None
        self._dsn = dsn
        self._pool_size = pool_size
        self._owned = AsyncExitStack()
        self._open_lock = asyncio.Lock()
        self._schema_checked = False
        self._partitions_prepared_on: date | None = None
        self._listener: Connection | None = None
        self._exposure_flush_s = exposure_flush_s
        self._flusher: asyncio.Task[None] | None = None
        self._urgent: asyncio.Task[None] | None = None
        # The nodes: long-lived, stateless apart from the allocator's cache and the graph.
        self.thresholds = thresholds or ModelAnalysisThresholds()
        self.lineage_store = NodeLineageStoreEffect()
        self.lineage_graph = ModelLineageGraph()
        self.objectives = NodeObjectiveStoreEffect()
        self.collector = NodeExecutionCollectorEffect(
            self.lineage_store, self.objectives, read_buckets=read_buckets
        )
        self.analyzer = NodeFeedbackAnalyzerCompute()
        self.generator = NodeImprovementGeneratorCompute(generators)
        self.validator = NodeImprovementValidatorCompute()
        self.traffic_policy = NodeTrafficPolicyCompute()
        self.lifecycle_reducer = NodeImprovementLifecycleReducer(self.traffic_policy)
        self.lifecycle = NodeImprovementLifecycleEffect(self.lineage_store, self.lifecycle_reducer)
        self.ledger = NodeRunLedgerEffect(lock_timeout_s=lock_timeout_s)
        self.tracker = NodeVersionTrackerEffect(self.lineage_store)
        self.registry = NodePatternRegistryEffect(self.lineage_store)
        self.allocator = NodeTrafficAllocatorEffect(self.lineage_store, ttl_s=allocation_ttl_s)
        self.ingest = NodeExecutionIngestEffect()
        self.retention = NodeExecutionRetentionEffect()
        self.rollback = NodeVersionRollbackEffect(self.lineage_store, self.lifecycle)
        self.exposures = NodeExposureRecorderEffect()
        self.schedule_compute = NodeScheduleCompute()
        self.schedules = NodeScheduleStoreEffect(self.schedule_compute)
        self.job_queue = NodeJobQueueEffect(self.schedule_compute)

    @property
    def embedded(self) -> bool:
        """Whether the database is the embedded one this runtime starts (and so ours)."""
        return not self._pool_given and resolve_dsn(self._dsn) is None

    async def raw_pool(self) -> Pool:
        """The pool without the schema check: for ``db upgrade`` / ``db status`` only."""
        async with self._open_lock:
            if self._pool is None:
                self._pool = await self._owned.enter_async_context(
                    open_pool(self._dsn, max_size=self._pool_size)
                )
        return self._pool

    async def pool(self) -> Pool:
        """The pool, on a schema the code can use (see the migration policy above)."""
        pool = await self.raw_pool()
        if not self._schema_checked:
            pending = [s for s in await migration_status(pool) if not s.applied]
            if pending and self.embedded:
                await upgrade(pool)
            elif pending:
                raise ModelOnexError(
                    EnumErrorCode.MIGRATION_ERROR,
                    f"the database schema is {len(pending)} migration(s) behind: "
                    "run `feedback-loop db upgrade` first",
                )
            self._schema_checked = True
        today = datetime.now(UTC).date()
        if self._partitions_prepared_on != today:
            # Days ahead for every writer, a user's hooks included; a long-lived process (a
            # worker) does it again each day.
            async with pool.acquire() as conn:
                await sql_partitions.prepare_partitions(conn)
            self._partitions_prepared_on = today
        return pool

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """One unit of work: a connection from the pool, returned afterwards."""
        pool = await self.pool()
        async with pool.acquire() as conn:
            yield conn

    async def listen_for_version_changes(self) -> None:
        """Keep one connection listening, so cached allocations drop as versions change."""
        async with self._open_lock:
            if self._listener is None:
                pool = self._pool
                assert pool is not None, "call pool() first"
                conn = await pool.acquire()
                await self.allocator.listen(conn)
                self._listener = conn

    def record_exposure(
        self,
        pattern_id: str,
        allocation: int,
        unit_key: str,
        version_id: str,
        at: datetime | None = None,
    ) -> None:
        """Buffer one assign() answer; a background task writes the buffer every
        ``exposure_flush_s`` seconds (and at once when it is full, and on close)."""
        self.exposures.record(pattern_id, allocation, unit_key, version_id, at)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_periodically())
        elif self.exposures.full and (self._urgent is None or self._urgent.done()):
            # One early flush at a time: until it has taken the buffer, every call still sees
            # it full, and must not start another.
            self._urgent = asyncio.get_running_loop().create_task(self._flush_logged("full"))

    async def flush_exposures(self, reason: str = "interval") -> ModelExposureFlushed:
        if self.exposures.pending == 0:
            return ModelExposureFlushed(units=0, buckets=0)
        async with self.connection() as conn:
            return await self.exposures.flush(conn, ModelExposureFlush(reason=reason))

    async def _flush_periodically(self) -> None:
        """Runs while exposures keep coming."""
        while self.exposures.pending:
            await asyncio.sleep(self._exposure_flush_s)
            await self._flush_logged("interval")

    async def _flush_logged(self, reason: str) -> None:
        """A background flush: a failed write is logged, its batch kept for the next one."""
        try:
            await self.flush_exposures(reason)
        except Exception as exc:  # the request path must not fail for its bookkeeping
            log.warning("exposure_flush_failed", error=str(exc))

    async def close(self) -> None:
        for task in (self._flusher, self._urgent):
            if task is not None:
                task.cancel()  # a flush cancelled mid-write puts its batch back
        self._flusher = self._urgent = None
        if self.exposures.pending and self._pool is not None:
            await self.flush_exposures("close")
        if self._listener is not None and self._pool is not None:
            await self.allocator.unlisten(self._listener)
            await self._pool.release(self._listener)
            self._listener = None
        await self._owned.aclose()
        if not self._pool_given:
            self._pool = None
        self._schema_checked = False
