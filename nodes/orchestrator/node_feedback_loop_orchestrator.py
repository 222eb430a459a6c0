"""The orchestrator: sequences the six stages and reports each; no SQL, no business rules.

Safe to share across ``asyncio.gather``: every run takes its own connection from the pool and
holds its pattern's lock on it for the whole run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from typing import Any, TypeVar

import structlog

from contracts.enum_loop import EnumStageStatus, EnumWorkflowStage
from contracts.model_analysis import ModelAnalysisThresholds, ModelAnalyzeInput, ModelGenerateInput
from contracts.model_apply import ModelApplyInput, ModelApplyOutput
from contracts.model_collect import ModelCollectInput, ModelCollectOutput
from contracts.model_feedback_loop_input import ModelFeedbackLoopInput
from contracts.model_feedback_loop_output import ModelFeedbackLoopOutput
from contracts.model_onex_error import ModelOnexError
from contracts.model_result import ModelResult
from contracts.model_stage_report import ModelStageReport
from contracts.model_validation import ModelExperiment, ModelValidateInput, ModelValidateOutput
from lineage import ModelLineageGraph
from nodes.compute.generators.registry import GeneratorRegistry, ImprovementGenerator
from nodes.compute.node_feedback_analyzer_compute import NodeFeedbackAnalyzerCompute
from nodes.compute.node_improvement_generator_compute import NodeImprovementGeneratorCompute
from nodes.compute.node_improvement_validator_compute import NodeImprovementValidatorCompute
from nodes.effect.node_execution_collector_effect import NodeExecutionCollectorEffect
from nodes.effect.node_improvement_applier_effect import NodeImprovementApplierEffect
from nodes.effect.node_improvement_store_effect import NodeImprovementStoreEffect
from nodes.effect.node_lineage_store_effect import NodeLineageStoreEffect
from nodes.effect.node_run_ledger_effect import NodeRunLedgerEffect
from nodes.effect.node_version_tracker_effect import NodeVersionTrackerEffect
from nodes.storage.migrate import status as migration_status
from nodes.storage.migrate import upgrade
from nodes.storage.pool import Connection, Pool, open_pool

log = structlog.get_logger(__name__)
T = TypeVar("T")


class _StageLog:
    """Times each stage and records completed / skipped / failed with the reason."""

    def __init__(self) -> None:
        self.reports: dict[str, ModelStageReport] = {}

    async def run(self, stage: EnumWorkflowStage, step: Callable[[], Awaitable[T]]) -> T:
        started = time.perf_counter()
        try:
            result = await step()
        except Exception as exc:
            self.reports[stage.value] = ModelStageReport(
                status=EnumStageStatus.FAILED,
                reason=str(exc) or type(exc).__name__,
                duration_ms=(time.perf_counter() - started) * 1000,
            )
            raise
        self.reports[stage.value] = ModelStageReport(
            status=EnumStageStatus.COMPLETED, duration_ms=(time.perf_counter() - started) * 1000
        )
        return result

    def complete(self, stage: EnumWorkflowStage, reason: str) -> None:
        previous = self.reports[stage.value]
        self.reports[stage.value] = previous.model_copy(update={"reason": reason})

    def skip(self, stage: EnumWorkflowStage, reason: str) -> None:
        self.reports[stage.value] = ModelStageReport(status=EnumStageStatus.SKIPPED, reason=reason)

    def skip_rest(self, reason: str) -> None:
        for stage in EnumWorkflowStage:
            self.reports.setdefault(
                stage.value, ModelStageReport(status=EnumStageStatus.SKIPPED, reason=reason)
            )

    def as_json(self) -> dict[str, Any]:
        return {k: v.model_dump(mode="json") for k, v in self.reports.items()}


class NodeFeedbackLoopOrchestrator:
    """``await NodeFeedbackLoopOrchestrator().execute_orchestration(contract)``.

    With no pool, one is opened on first use from ``dsn`` / FEEDBACK_LOOP_DSN, or on the
    embedded PostgreSQL (migrated automatically); ``close()`` releases it.
    """

    def __init__(
        self,
        pool: Pool | None = None,
        *,
        dsn: str | None = None,
        generators: GeneratorRegistry | None = None,
        thresholds: ModelAnalysisThresholds | None = None,
        lock_timeout_s: float = 30.0,
        pool_size: int = 10,
    ) -> None:
        self._pool = pool
        self._dsn = dsn
        self._pool_size = pool_size
        self._owned = AsyncExitStack()
        self._pool_lock = asyncio.Lock()
        self._lock_timeout_s = lock_timeout_s
        self.thresholds = thresholds or ModelAnalysisThresholds()
        self.lineage_store = NodeLineageStoreEffect()
        self.lineage_graph = ModelLineageGraph()
        self.analyzer = NodeFeedbackAnalyzerCompute()
        self.generator = NodeImprovementGeneratorCompute(generators)
        self.validator = NodeImprovementValidatorCompute()
        self.collector = NodeExecutionCollectorEffect(self.lineage_store)
        self.improvements = NodeImprovementStoreEffect(self.lineage_store)
        self.applier = NodeImprovementApplierEffect(self.improvements)
        self.tracker = NodeVersionTrackerEffect(self.lineage_store)

    def register_generator(self, name: str, generator: ImprovementGenerator) -> None:
        """The seed's "custom improvement logic": add a generator plug-in."""
        self.generator.registry.register(name, generator)

    async def pool(self) -> Pool:
        async with self._pool_lock:
            if self._pool is None:
                pool = await self._owned.enter_async_context(
                    open_pool(self._dsn, max_size=self._pool_size)
                )
                if any(not s.applied for s in await migration_status(pool)):
                    await upgrade(pool)
                self._pool = pool
        return self._pool

    async def close(self) -> None:
        await self._owned.aclose()
        self._pool = None

    async def __aenter__(self) -> NodeFeedbackLoopOrchestrator:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def run_many(
        self, contracts: Sequence[ModelFeedbackLoopInput], *, concurrency: int = 8
    ) -> list[ModelResult]:
        """Many patterns at once; one pattern's failure never stops the others."""
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        gate = asyncio.Semaphore(concurrency)

        async def one(contract: ModelFeedbackLoopInput) -> ModelResult:
            async with gate:
                return await self.execute_orchestration(contract)

        return list(await asyncio.gather(*(one(c) for c in contracts)))

    async def execute_orchestration(self, contract: ModelFeedbackLoopInput) -> ModelResult:
        bound = log.bind(
            pattern_id=contract.pattern_id, correlation_id=str(contract.correlation_id)
        )
        stages = _StageLog()
        try:
            ledger = NodeRunLedgerEffect(await self.pool(), lock_timeout_s=self._lock_timeout_s)
            async with ledger.pattern_session(contract.pattern_id, contract.correlation_id) as conn:
                recorded = await ledger.claim(
                    conn,
                    contract.correlation_id,
                    contract.pattern_id,
                    contract.model_dump(mode="json"),
                )
                if recorded is not None:
                    bound.info("loop_run_replayed")
                    return _replay(recorded, contract)
                result = await self._stages(conn, ledger, contract, stages)
                await self._refresh_lineage(conn, contract.pattern_id)
        except ModelOnexError as exc:
            exc.correlation_id = exc.correlation_id or contract.correlation_id
            bound.warning("loop_run_failed", code=exc.code.value, error=exc.message)
            stages.skip_rest("an earlier stage failed")
            return ModelResult(
                success=False,
                data=None,
                error={**exc.to_dict(), "workflow_stages": stages.as_json()},
            )
        bound.info(
            "loop_run_finished",
            applied=result.improvements_applied,
            validated=result.improvements_validated,
        )
        return ModelResult(success=True, data=result)

    async def _stages(
        self,
        conn: Connection,
        ledger: NodeRunLedgerEffect,
        contract: ModelFeedbackLoopInput,
        stages: _StageLog,
    ) -> ModelFeedbackLoopOutput:
        try:
            return await self._run_stages(conn, ledger, contract, stages)
        except ModelOnexError as exc:
            stages.skip_rest("an earlier stage failed")
            exc.correlation_id = contract.correlation_id
            await ledger.finish(
                conn,
                contract.correlation_id,
                succeeded=False,
                stages=stages.as_json(),
                output=None,
                error=exc.to_dict(),
            )
            raise

    async def _run_stages(
        self,
        conn: Connection,
        ledger: NodeRunLedgerEffect,
        contract: ModelFeedbackLoopInput,
        stages: _StageLog,
    ) -> ModelFeedbackLoopOutput:
        monitor = "monitor-only run (enable_ab_testing=False or auto_apply_threshold >= 1)"
        collected: ModelCollectOutput = await stages.run(
            EnumWorkflowStage.COLLECT,
            lambda: self.collector.collect(
                conn,
                ModelCollectInput(
                    pattern_id=contract.pattern_id,
                    time_window_days=contract.time_window_days,
                    as_of=contract.as_of,
                ),
            ),
        )

        async def analyze() -> Any:
            return self.analyzer.analyze(
                ModelAnalyzeInput(
                    pattern_id=contract.pattern_id,
                    stats=collected.window_stats,
                    thresholds=self.thresholds,
                )
            )

        analysis = await stages.run(EnumWorkflowStage.ANALYZE, analyze)
        active_feedback = analysis.for_version(collected.active.version_id)

        created: list[Any] = []
        if contract.monitor_only:
            stages.skip(EnumWorkflowStage.GENERATE, monitor)
        elif active_feedback is None:
            stages.skip(EnumWorkflowStage.GENERATE, "no executions of the active version")
        else:
            slots = contract.max_candidates - len(collected.experiments)

            async def generate() -> Any:
                proposals = self.generator.generate(
                    ModelGenerateInput(
                        pattern_id=contract.pattern_id,
                        base_version_id=collected.active.version_id,
                        base_config=collected.active.config,
                        feedback=active_feedback,
                        feedback_type=contract.feedback_type,
                        slots=max(slots, 0),
                        known_configs=[v.config for v in collected.versions],
                    )
                )
                started = await self.improvements.start_candidates(
                    conn,
                    collected.active,
                    proposals.proposals,
                    candidate_traffic=contract.candidate_traffic,
                    correlation_id=contract.correlation_id,
                    actor=contract.actor,
                )
                return proposals, started

            proposals, created = await stages.run(EnumWorkflowStage.GENERATE, generate)
            stages.complete(
                EnumWorkflowStage.GENERATE,
                f"{len(created)} new candidate(s) from {proposals.considered} "
                f"proposal(s), {max(slots, 0)} slot(s)"
                + (
                    f"; generator errors: {proposals.generator_errors}"
                    if proposals.generator_errors
                    else ""
                ),
            )

        validation = ModelValidateOutput(results=[])
        if not collected.experiments:
            stages.skip(EnumWorkflowStage.VALIDATE, "no candidate in testing")
        else:

            async def validate() -> ModelValidateOutput:
                return self.validator.validate(
                    ModelValidateInput(
                        experiments=[
                            ModelExperiment(
                                improvement_id=e.improvement.improvement_id,
                                improvement_type=e.improvement.improvement_type,
                                control=e.control,
                                candidate=e.candidate,
                                expected_traffic_share=_candidate_share(
                                    e.version.traffic_weight, collected.active.traffic_weight
                                ),
                                previous_p_value=e.improvement.p_value,
                            )
                            for e in collected.experiments
                        ],
                        feedback_type=contract.feedback_type,
                        significance_level=contract.significance_level,
                        auto_apply_threshold=contract.auto_apply_threshold,
                        min_sample_size=contract.min_sample_size,
                    )
                )

            validation = await stages.run(EnumWorkflowStage.VALIDATE, validate)

        applied = ModelApplyOutput()
        if contract.monitor_only:
            stages.skip(EnumWorkflowStage.APPLY, monitor)
        elif not validation.results:
            stages.skip(EnumWorkflowStage.APPLY, "nothing to decide")
        else:
            applied = await stages.run(
                EnumWorkflowStage.APPLY,
                lambda: self.applier.apply(
                    conn,
                    ModelApplyInput(
                        pattern_id=contract.pattern_id,
                        correlation_id=contract.correlation_id,
                        actor=contract.actor,
                        candidate_traffic=contract.candidate_traffic,
                        results=validation.results,
                    ),
                ),
            )

        headline = validation.headline()
        output = ModelFeedbackLoopOutput(
            success=True,
            pattern_id=contract.pattern_id,
            correlation_id=contract.correlation_id,
            feedback_collected=collected.feedback_collected,
            improvements_identified=len(created),
            improvements_validated=sum(
                r.significant and r.performance_delta > 0 for r in validation.results
            ),
            improvements_applied=len(applied.applied),
            performance_delta=headline.performance_delta if headline else 0.0,
            confidence_score=headline.confidence if headline else 0.0,
            p_value=headline.p_value if headline else None,
            statistically_significant=bool(headline and headline.significant),
            workflow_stages={},
            active_version_id=applied.active_version_id or collected.active.version_id,
            versions_created=[i.candidate_version_id for i in created if i.candidate_version_id],
            versions_touched=list(
                dict.fromkeys(
                    [i.candidate_version_id for i in created if i.candidate_version_id]
                    + applied.versions_touched
                )
            ),
            improvements_touched=[i.improvement_id for i in created]
            + [r.improvement_id for r in validation.results],
            monitor_only=contract.monitor_only,
        )

        async def track() -> ModelFeedbackLoopOutput:
            final = output.model_copy(
                update={
                    "workflow_stages": {
                        **stages.reports,
                        EnumWorkflowStage.TRACK.value: ModelStageReport(
                            status=EnumStageStatus.COMPLETED
                        ),
                    }
                }
            )
            await self.tracker.track(conn, collected.window_stats, final)
            return final

        final = await stages.run(EnumWorkflowStage.TRACK, track)
        return final.model_copy(update={"workflow_stages": dict(stages.reports)})

    async def _refresh_lineage(self, conn: Connection, pattern_id: str) -> None:
        """The in-memory graph is re-read after the run's transactions committed."""
        component = await self.lineage_store.load_pattern(conn, pattern_id)
        self.lineage_graph.replace_pattern(pattern_id, component)


def _candidate_share(candidate_weight: float, active_weight: float) -> float:
    total = candidate_weight + active_weight
    return candidate_weight / total if total > 0 and 0 < candidate_weight < total else 0.5


def _replay(recorded: Mapping[str, Any], contract: ModelFeedbackLoopInput) -> ModelResult:
    if recorded["status"] == "succeeded":
        data = ModelFeedbackLoopOutput.model_validate({**recorded["output"], "replayed": True})
        return ModelResult(success=True, data=data)
    error = dict(recorded["error"] or {})
    error.setdefault("correlation_id", str(contract.correlation_id))
    error["replayed"] = True
    return ModelResult(success=False, data=None, error=error)
