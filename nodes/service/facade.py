"""The service facade: every job the project offers, in one place, for every adapter.

The CLI (and later the REST API, the MCP server and the queue worker) are thin adapters on
this class: they parse and print, it does the work through the runtime's nodes, one unit of
work (connection) per call. ``async with FeedbackLoopService(dsn=...) as service: ...``
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from contracts.enum_error_code import EnumErrorCode
from contracts.enum_lineage_relation import EnumLineageRelation
from contracts.enum_loop import EnumImprovementStatus
from contracts.model_feedback_loop_input import ModelFeedbackLoopInput
from contracts.model_improvement_lifecycle import (
    EnumLifecycleEvent,
    ModelDecisionEvidence,
    ModelLifecycleEvent,
    ModelLifecycleRequest,
)
from contracts.model_ingest import DuplicatePolicy, ModelIngestResult
from contracts.model_objective import ModelObjective
from contracts.model_objective_store import ModelObjectiveSetInput, ModelObjectiveSetOutput
from contracts.model_onex_error import ModelOnexError
from contracts.model_pattern_improvement import ModelPatternImprovement
from contracts.model_pattern_version import ModelPatternVersion
from contracts.model_register import ModelRegisterInput
from contracts.model_result import ModelResult
from contracts.model_retention import ModelRetentionReport, ModelRetentionRequest
from contracts.model_rollback import ModelRollbackInput, ModelRollbackOutput
from contracts.model_schedule import (
    ModelDueRun,
    ModelEnqueued,
    ModelEnqueueDue,
    ModelSchedule,
    ModelScheduleSetInput,
)
from contracts.model_traffic_allocation import ModelAllocationRequest
from contracts.model_trend import ModelTrend, ModelTrendInput
from contracts.model_validation import ModelImprovementLook, ModelValidationResult
from lineage import ModelLineageGraph
from nodes.effect.execution_file_reader import (
    ExecutionFile,
    OnePassUnavailable,
    read_execution_file,
)
from nodes.effect.ingest_problems import RowLocator
from nodes.orchestrator.node_feedback_loop_orchestrator import NodeFeedbackLoopOrchestrator
from nodes.runtime.runtime import Connection, FeedbackLoopRuntime
from nodes.service.doctor import DoctorReport, diagnose
from nodes.service.runtime_client import RuntimeClient
from nodes.storage import sql_improvements
from nodes.storage.migrate import Migration, MigrationStatus
from nodes.storage.migrate import status as migration_status
from nodes.storage.migrate import upgrade as migrate_upgrade

Relations = Sequence[EnumLineageRelation] | None


class FeedbackLoopService(RuntimeClient):
    def __init__(self, runtime: FeedbackLoopRuntime | None = None, **runtime_options: Any) -> None:
        """``runtime_options`` go to ``FeedbackLoopRuntime`` (pool, dsn, pool_size, ...)."""
        super().__init__(runtime, **runtime_options)
        self.orchestrator = NodeFeedbackLoopOrchestrator(self.runtime, keep_lineage_graph=False)

    # ----------------------------------------------------------------- database
    async def db_upgrade(self) -> list[Migration]:
        """Apply pending migrations (safe to run twice or concurrently)."""
        return await migrate_upgrade(await self.runtime.raw_pool())

    async def db_status(self) -> list[MigrationStatus]:
        return await migration_status(await self.runtime.raw_pool())

    async def db_doctor(self, *, fix: bool = False) -> DoctorReport:
        """Stale embedded server, abandoned runs, schema drift; ``fix``: repair what is safe."""
        return await diagnose(self.runtime, fix=fix)

    async def apply_retention(
        self, request: ModelRetentionRequest | None = None
    ) -> ModelRetentionReport:
        """Drop the day partitions of executions past the retention horizon (default 30 days)
        whose rows are all in their buckets and that no running experiment reads; workers do
        this once an hour. ``retention_days`` in the request changes the setting."""
        async with self.runtime.connection() as conn:
            return await self.runtime.retention.apply(conn, request or ModelRetentionRequest())

    async def trend(self, request: ModelTrendInput) -> ModelTrend:
        """A pattern's statistics per hour or day and version, read from the buckets."""
        async with self.runtime.connection() as conn:
            return await self.runtime.collector.trend(conn, request)

    # --------------------------------------------------------------------- runs
    async def run(self, contract: ModelFeedbackLoopInput) -> ModelResult:
        await self.runtime.pool()
        return await self.orchestrator.execute_orchestration(contract)

    async def run_many(
        self, contracts: Sequence[ModelFeedbackLoopInput], *, concurrency: int = 8
    ) -> list[ModelResult]:
        await self.runtime.pool()
        return await self.orchestrator.run_many(contracts, concurrency=concurrency)

    # ---------------------------------------------------------------- schedules
    async def set_schedule(self, request: ModelScheduleSetInput) -> ModelSchedule:
        """Create or replace a pattern's schedule; running workers pick it up at their next
        scheduler pass."""
        async with self.runtime.connection() as conn:
            return await self.runtime.schedules.set(conn, request)

    async def schedules(self) -> list[ModelSchedule]:
        async with self.runtime.connection() as conn:
            return await self.runtime.schedules.list(conn)

    async def remove_schedule(self, pattern_id: str) -> None:
        async with self.runtime.connection() as conn:
            await self.runtime.schedules.remove(conn, pattern_id)

    async def pause_schedule(self, pattern_id: str, *, paused: bool) -> ModelSchedule:
        """Paused: no run comes due; resumed: windows missed meanwhile run once, coalesced."""
        async with self.runtime.connection() as conn:
            return await self.runtime.schedules.set_paused(conn, pattern_id, paused=paused)

    # ------------------------------------------------------------------ workers
    async def enqueue_due_runs(self, limit: int = 500) -> ModelEnqueued:
        """One scheduler pass: due schedules become one queue job each (see the worker)."""
        async with self.runtime.connection() as conn:
            return await self.runtime.job_queue.enqueue_due(conn, ModelEnqueueDue(limit=limit))

    async def run_due(self, due: ModelDueRun, *, actor: str) -> ModelResult:
        """The loop run of one (pattern, due time), under the correlation id derived from
        both: a second delivery of a run that succeeded replays it, one that failed runs as
        the next attempt."""
        contract = ModelFeedbackLoopInput(
            pattern_id=due.pattern_id, correlation_id=due.correlation_id, actor=actor
        )
        return await self.run(contract)

    async def purge_finished_jobs(self, older_than: timedelta) -> int:
        async with self.runtime.connection() as conn:
            return await self.runtime.job_queue.purge_finished(conn, older_than)

    @asynccontextmanager
    async def queue_connection(self) -> AsyncIterator[Connection]:
        """A connection the job queue keeps for the worker's life. It LISTENs on it, so the
        connection is closed afterwards rather than returned to the pool with listeners."""
        async with self.runtime.connection() as conn:
            try:
                yield conn
            finally:
                await conn.close()

    # ------------------------------------------------------------------ patterns
    async def register(
        self, pattern_id: str, config: dict[str, Any], *, actor: str = "feedback-loop"
    ) -> ModelPatternVersion:
        contract = ModelRegisterInput(pattern_id=pattern_id, config=config, actor=actor)
        async with self.runtime.connection() as conn:
            return await self.runtime.registry.register_pattern(conn, contract)

    async def patterns(self) -> list[str]:
        async with self.runtime.connection() as conn:
            return await self.runtime.lineage_store.list_patterns(conn)

    async def versions(self, pattern_id: str) -> list[ModelPatternVersion]:
        """In semver order; empty for an unknown pattern."""
        async with self.runtime.connection() as conn:
            return await self.runtime.lineage_store.list_versions(conn, pattern_id)

    async def assign(self, pattern_id: str, unit_key: str, *, at: datetime | None = None) -> str:
        """The version this unit (user, request, tenant ...) runs: a stable hash over the
        versions' traffic weights, cached; refreshed when versions change. The exposure is
        recorded (batched, no round trip) for the sample-ratio and completeness checks; ``at``
        dates it when replaying or simulating traffic (default: now)."""
        allocator = self.runtime.allocator
        allocation = allocator.cached(pattern_id)
        if allocation is None:
            await self.runtime.pool()
            await self.runtime.listen_for_version_changes()
            async with self.runtime.connection() as conn:
                allocation = await allocator.load(
                    conn, ModelAllocationRequest(pattern_id=pattern_id)
                )
        version_id = allocation.choose(unit_key)
        self.runtime.record_exposure(pattern_id, allocation.fingerprint, unit_key, version_id, at)
        return version_id

    async def flush_exposures(self) -> int:
        """Write buffered exposures now (they are also written every second and on close)."""
        return (await self.runtime.flush_exposures("requested")).units

    def forget_allocation(self, pattern_id: str | None = None) -> None:
        """Drop cached allocations now (they also drop on NOTIFY and after their TTL)."""
        self.runtime.allocator.invalidate(pattern_id)

    # ------------------------------------------------------------------- ingest
    async def ingest(
        self,
        rows: Iterable[Mapping[str, Any]],
        *,
        on_duplicate: DuplicatePolicy = "error",
        allow_unregistered: bool = False,
        locator: RowLocator | None = None,
    ) -> ModelIngestResult:
        """All rows or none. By default every row's pattern (and version, when given) must be
        registered: rows the loop can never read are refused, not stored."""
        async with self.runtime.connection() as conn:
            return await self.runtime.ingest.ingest_executions(
                conn,
                rows,
                on_duplicate=on_duplicate,
                allow_unregistered=allow_unregistered,
                locator=locator,
            )

    async def ingest_file(
        self,
        path: Path,
        *,
        on_duplicate: DuplicatePolicy = "error",
        allow_unregistered: bool = False,
        allow_empty: bool = False,
    ) -> ModelIngestResult:
        """A file with no rows is an error unless ``allow_empty``: a truncated export must not
        look like a quiet day to the cron job that loads it. Problems the reader found and
        problems of the rows are reported together, in file order."""
        try:
            return await self._ingest_file(
                read_execution_file(path, lazy=True), on_duplicate, allow_unregistered, allow_empty
            )
        except OnePassUnavailable:  # rolled back; the line-by-line reader names the problems
            return await self._ingest_file(
                read_execution_file(path), on_duplicate, allow_unregistered, allow_empty
            )

    async def _ingest_file(
        self,
        source: ExecutionFile,
        on_duplicate: DuplicatePolicy,
        allow_unregistered: bool,
        allow_empty: bool,
    ) -> ModelIngestResult:
        if not source.rows and not source.problems and not allow_empty:
            raise ModelOnexError(
                EnumErrorCode.INVALID_INPUT,
                f"{source.name}: no executions in the file "
                "(pass --allow-empty if that is expected)",
            )
        async with self.runtime.connection() as conn:
            return await self.runtime.ingest.ingest_executions(
                conn,
                source.rows,
                on_duplicate=on_duplicate,
                allow_unregistered=allow_unregistered,
                locator=source.locator(),
                problems=source.problems,
                validated=source.validated,
            )

    # ------------------------------------------------------------------- review
    async def improvements(
        self,
        pattern_id: str | None = None,
        statuses: Sequence[EnumImprovementStatus] | None = None,
    ) -> list[ModelPatternImprovement]:
        """``pattern_id=None``: every pattern's (the review queue)."""
        async with self.runtime.connection() as conn:
            return await sql_improvements.list_improvements(conn, pattern_id, statuses)

    async def improvement(
        self, improvement_id: UUID
    ) -> tuple[ModelPatternImprovement, list[ModelImprovementLook]]:
        """One improvement and the evidence of each of its looks, oldest first."""
        async with self.runtime.connection() as conn:
            found = await sql_improvements.get_improvement(conn, improvement_id)
            if found is None:
                raise ModelOnexError(EnumErrorCode.NOT_FOUND, f"no improvement {improvement_id}")
            rows = await sql_improvements.list_looks(conn, improvement_id)
        looks = [
            ModelImprovementLook(
                look=r["look"],
                at=r["at"],
                correlation_id=r["correlation_id"],
                result=ModelValidationResult.model_validate(
                    {**r["evidence"], "improvement_id": improvement_id}
                ),
            )
            for r in rows
        ]
        return found, looks

    async def review(
        self, improvement_id: UUID, *, approve: bool, actor: str, reason: str
    ) -> ModelPatternImprovement:
        """A human's approve/reject, serialised with loop runs by the pattern's lock."""
        event = EnumLifecycleEvent.APPROVE if approve else EnumLifecycleEvent.REJECT
        return await self._human(improvement_id, event, actor=actor, reason=reason)

    async def resume(
        self, improvement_id: UUID, *, ack_srm: bool, actor: str, reason: str
    ) -> ModelPatternImprovement:
        """Lift a block after looking into it: the candidate gets traffic again and the
        sample-ratio and completeness checks start over from now (audit-logged)."""
        if not ack_srm:
            raise ModelOnexError(
                EnumErrorCode.INVALID_INPUT,
                "resuming a blocked experiment needs ack_srm: confirm the cause of the sample "
                "ratio or logging flag was found (or reject the improvement instead)",
            )
        return await self._human(
            improvement_id, EnumLifecycleEvent.RESUME, actor=actor, reason=reason
        )

    async def _human(
        self, improvement_id: UUID, event: EnumLifecycleEvent, *, actor: str, reason: str
    ) -> ModelPatternImprovement:
        async with self.runtime.connection() as conn:
            found = await sql_improvements.get_improvement(conn, improvement_id)
            if found is None:
                raise ModelOnexError(EnumErrorCode.NOT_FOUND, f"no improvement {improvement_id}")
            objective = await self.runtime.objectives.get(conn, found.pattern_id)
            done = await self.runtime.lifecycle.execute_effect(
                conn,
                ModelLifecycleRequest(
                    pattern_id=found.pattern_id,
                    events=(
                        ModelLifecycleEvent(
                            event=event,
                            improvement_id=improvement_id,
                            evidence=ModelDecisionEvidence(reason=reason),
                        ),
                    ),
                    actor=actor,
                    holdback=objective.holdback,
                    watch_days=objective.watch_days,
                ),
            )
            if event is not EnumLifecycleEvent.RESUME:
                return next(i for i in done.improvements if i.improvement_id == improvement_id)
            stored = await sql_improvements.get_improvement(conn, improvement_id)
        assert stored is not None  # it was there a moment ago, under the pattern's lock
        return stored  # with the check epoch the database stamped

    async def objective(self, pattern_id: str) -> ModelObjective:
        """The pattern's objective: its newest stored version, else the defaults."""
        async with self.runtime.connection() as conn:
            return await self.runtime.objectives.get(conn, pattern_id)

    async def objective_history(self, pattern_id: str) -> list[ModelObjective]:
        async with self.runtime.connection() as conn:
            return await self.runtime.objectives.history(conn, pattern_id)

    async def set_objective(self, request: ModelObjectiveSetInput) -> ModelObjectiveSetOutput:
        """Stores a new version of the objective (audit-logged); a no-op when unchanged."""
        async with self.runtime.connection() as conn:
            return await self.runtime.objectives.set(conn, request)

    async def rollback(self, request: ModelRollbackInput) -> ModelRollbackOutput:
        async with self.runtime.connection() as conn:
            return await self.runtime.rollback.execute_effect(conn, request)

    # ------------------------------------------------------------------ lineage
    async def lineage(self, pattern_id: str) -> ModelLineageGraph:
        """One pattern's versions and edges (the unit of loading); NOT_FOUND when it has none."""
        async with self.runtime.connection() as conn:
            graph = await self.runtime.lineage_store.load_pattern(conn, pattern_id)
        if len(graph) == 0:
            raise ModelOnexError(EnumErrorCode.NOT_FOUND, f"no pattern {pattern_id!r}")
        return graph

    async def ancestors_in_sql(
        self, version_id: str, *, relation: Relations = None, max_depth: int | None = None
    ) -> set[str]:
        """Answered by a recursive query, without loading the graph."""
        async with self.runtime.connection() as conn:
            return await self.runtime.lineage_store.ancestors(
                conn, version_id, relation=relation, max_depth=max_depth
            )

    async def descendants_in_sql(
        self, version_id: str, *, relation: Relations = None, max_depth: int | None = None
    ) -> set[str]:
        async with self.runtime.connection() as conn:
            return await self.runtime.lineage_store.descendants(
                conn, version_id, relation=relation, max_depth=max_depth
            )
