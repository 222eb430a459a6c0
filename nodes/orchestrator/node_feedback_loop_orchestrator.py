"""The orchestrator: runs the six stages of a loop run as a pipeline and reports each; no SQL,
no business rules (those live in the compute nodes and the lifecycle reducer).

One run = hold the pattern (its lock, on one connection for the whole run) -> open the run's
ledger row (or replay a succeeded one) -> collect -> analyze -> generate -> validate -> apply
-> track -> close the ledger row. Whatever goes wrong, the caller gets a ``ModelResult``: an
exception of any kind becomes ``success=False`` with its code (``INTERNAL`` for the
unexpected) and the correlation id, and the ledger row is closed as failed. A cancelled run
(SIGTERM in the CLI, a caller's timeout) is not a result: the cancellation propagates, and the
ledger marks its row abandoned on the way out, so the same correlation id runs again.

Safe to share across ``asyncio.gather``: every run takes its own connection.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog

from contracts.enum_loop import EnumDecision, EnumWorkflowStage
from contracts.model_analysis import ModelAnalyzeInput, ModelAnalyzeOutput, ModelGenerateInput
from contracts.model_collect import ModelCollectInput, ModelCollectOutput
from contracts.model_feedback_loop_input import ModelFeedbackLoopInput
from contracts.model_feedback_loop_output import ModelFeedbackLoopOutput
from contracts.model_improvement_lifecycle import (
    EnumLifecycleEvent,
    ModelLifecycleEvent,
    ModelLifecycleRequest,
    ModelLifecycleResult,
)
from contracts.model_onex_error import ModelOnexError
from contracts.model_pattern_improvement import ModelPatternImprovement
from contracts.model_result import ModelResult
from contracts.model_run_ledger import ModelRunClose
from contracts.model_track import ModelTrackInput
from contracts.model_validation import ModelExperiment, ModelValidateInput, ModelValidateOutput
from lineage import ModelLineageGraph
from nodes.compute.generators.registry import GeneratorRegistry, ImprovementGenerator
from nodes.orchestrator.pipeline import PipelineFailed, Reports, Stage, run_pipeline
from nodes.reducer.node_improvement_lifecycle_reducer import events_for_decisions
from nodes.runtime.runtime import Connection, FeedbackLoopRuntime, Pool

log = structlog.get_logger(__name__)
_MONITOR = "monitor-only run (enable_ab_testing=False or auto_apply_threshold >= 1)"


@dataclass(frozen=True)
class RunState:
    """What a run knows so far; each stage returns a new one."""

    contract: ModelFeedbackLoopInput
    collected: ModelCollectOutput | None = None
    analysis: ModelAnalyzeOutput | None = None
    created: tuple[ModelPatternImprovement, ...] = ()
    validation: ModelValidateOutput = dataclasses.field(
        default_factory=lambda: ModelValidateOutput(results=[])
    )
    decided: ModelLifecycleResult | None = None

    @property
    def facts(self) -> ModelCollectOutput:
        assert self.collected is not None, "collect runs first"
        return self.collected


class NodeFeedbackLoopOrchestrator:
    """``await NodeFeedbackLoopOrchestrator().execute_orchestration(contract)``.

    Built on a ``FeedbackLoopRuntime`` (the composition root); given a pool, a DSN or nothing
    it builds its own (nothing: FEEDBACK_LOOP_DSN, else the embedded PostgreSQL) and
    ``close()`` releases it.

    ``keep_lineage_graph``: after each run, read the pattern's lineage back into
    ``lineage_graph`` (one more statement per run, and a graph that grows with every pattern
    run). The service reads lineage from PostgreSQL when asked, so its orchestrator, which
    workers run for thousands of patterns, does not keep one.
    """

    def __init__(
        self,
        runtime: FeedbackLoopRuntime | Pool | None = None,
        *,
        dsn: str | None = None,
        generators: GeneratorRegistry | None = None,
        lock_timeout_s: float = 30.0,
        pool_size: int = 10,
        keep_lineage_graph: bool = True,
    ) -> None:
        self._owns_runtime = not isinstance(runtime, FeedbackLoopRuntime)
        self._keep_lineage_graph = keep_lineage_graph
        self.runtime = (
            runtime
            if isinstance(runtime, FeedbackLoopRuntime)
            else FeedbackLoopRuntime(
                runtime,
                dsn=dsn,
                generators=generators,
                lock_timeout_s=lock_timeout_s,
                pool_size=pool_size,
            )
        )
        self.stages: tuple[Stage[RunState], ...] = (
            Stage(EnumWorkflowStage.COLLECT.value, self._collect),
            Stage(EnumWorkflowStage.ANALYZE.value, self._analyze),
            Stage(EnumWorkflowStage.GENERATE.value, self._generate, _skip_generate),
            Stage(EnumWorkflowStage.VALIDATE.value, self._validate, _skip_validate),
            Stage(EnumWorkflowStage.APPLY.value, self._apply, _skip_apply),
            Stage(EnumWorkflowStage.TRACK.value, self._track),
        )

    @property
    def lineage_graph(self) -> ModelLineageGraph:
        """Every pattern this orchestrator ran, as of its last run (the original API's name)."""
        if not self._keep_lineage_graph:
            raise RuntimeError(
                "this orchestrator keeps no lineage graph (keep_lineage_graph=False): read "
                "lineage from PostgreSQL (FeedbackLoopService.lineage)"
            )
        return self.runtime.lineage_graph

    def register_generator(self, name: str, generator: ImprovementGenerator) -> None:
        """Custom improvement logic: add a generator plug-in."""
        self.runtime.generator.registry.register(name, generator)

    async def close(self) -> None:
        if self._owns_runtime:
            await self.runtime.close()

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
        """Never raises for the run's own failures: they come back as ``success=False``."""
        bound = log.bind(
            pattern_id=contract.pattern_id, correlation_id=str(contract.correlation_id)
        )
        try:
            return await self._run(contract, bound)
        except _FailedRun as failed:
            error = failed.error
            bound.warning("loop_run_failed", code=error.code.value, error=error.message)
            return ModelResult(
                success=False,
                data=None,
                error={**error.to_dict(), "workflow_stages": failed.stages},
            )
        except ModelOnexError as exc:
            exc.correlation_id = exc.correlation_id or contract.correlation_id
            bound.warning("loop_run_failed", code=exc.code.value, error=exc.message)
            return ModelResult(success=False, data=None, error=exc.to_dict())
        except Exception as exc:
            bound.exception("loop_run_crashed")
            error = self.runtime.ledger.as_error(exc, contract.correlation_id, None)
            return ModelResult(success=False, data=None, error=error.to_dict())

    async def _run(
        self, contract: ModelFeedbackLoopInput, bound: structlog.typing.FilteringBoundLogger
    ) -> ModelResult:
        runtime = self.runtime
        async with (
            runtime.connection() as conn,
            runtime.ledger.hold_pattern(conn, contract.pattern_id, contract.correlation_id),
        ):
            opened = await runtime.ledger.open(conn, contract)
            if opened.abandoned:
                bound.warning("loop_runs_abandoned", count=opened.abandoned)
            if opened.replay is not None:
                bound.info("loop_run_replayed")
                return ModelResult(success=True, data=opened.replay)
            try:
                state, reports = await run_pipeline(self.stages, conn, RunState(contract))
            except PipelineFailed as failed:
                cause = failed.cause
                error = runtime.ledger.as_error(cause, contract.correlation_id, failed.stage)
                stages = _as_json(failed.reports)
                await runtime.ledger.close(
                    conn,
                    ModelRunClose(
                        correlation_id=contract.correlation_id,
                        attempt=opened.attempt,
                        succeeded=False,
                        stages=stages,
                        error=error.to_dict(),
                    ),
                )
                if not isinstance(cause, ModelOnexError):
                    bound.error("loop_run_crashed", stage=failed.stage, exc_info=cause)
                raise _FailedRun(error, stages) from cause
            output = _output(state, reports)
            await runtime.ledger.close(
                conn,
                ModelRunClose(
                    correlation_id=contract.correlation_id,
                    attempt=opened.attempt,
                    succeeded=True,
                    stages=_as_json(reports),
                    output=output.model_dump(mode="json"),
                ),
            )
            if self._keep_lineage_graph:
                component = await runtime.lineage_store.load_pattern(conn, contract.pattern_id)
                runtime.lineage_graph.replace_pattern(contract.pattern_id, component)
        bound.info(
            "loop_run_finished",
            applied=output.improvements_applied,
            validated=output.improvements_validated,
        )
        return ModelResult(success=True, data=output)

    # -------------------------------------------------------------------- stages
    async def _collect(self, conn: Connection, state: RunState) -> tuple[RunState, str]:
        c = state.contract
        collected = await self.runtime.collector.collect(
            conn,
            ModelCollectInput(
                pattern_id=c.pattern_id, time_window_days=c.time_window_days, as_of=c.as_of
            ),
        )
        note = f"{collected.feedback_collected} execution(s), {len(collected.experiments)} in test"
        return dataclasses.replace(state, collected=collected), note

    async def _analyze(self, conn: Connection, state: RunState) -> tuple[RunState, str]:
        analysis = self.runtime.analyzer.analyze(
            ModelAnalyzeInput(
                pattern_id=state.contract.pattern_id,
                stats=state.facts.window_stats,
                thresholds=self.runtime.thresholds,
                reward=state.facts.objective.reward,
            )
        )
        issues = sum(len(f.issues) for f in analysis.feedback)
        return dataclasses.replace(state, analysis=analysis), f"{issues} issue(s) flagged"

    async def _generate(self, conn: Connection, state: RunState) -> tuple[RunState, str]:
        c, facts = state.contract, state.facts
        assert state.analysis is not None
        feedback = state.analysis.for_version(facts.active.version_id)
        assert feedback is not None  # _skip_generate
        slots = max(c.max_candidates - len(facts.experiments), 0)
        proposals = self.runtime.generator.generate(
            ModelGenerateInput(
                pattern_id=c.pattern_id,
                base_version_id=facts.active.version_id,
                base_config=facts.active.config,
                feedback=feedback,
                feedback_type=c.feedback_type,
                slots=slots,
                known_configs=[v.config for v in facts.versions],
            )
        )
        created: tuple[ModelPatternImprovement, ...] = ()
        if proposals.proposals:
            started = await self.runtime.lifecycle.execute_effect(
                conn,
                ModelLifecycleRequest(
                    pattern_id=c.pattern_id,
                    events=(
                        ModelLifecycleEvent(
                            event=EnumLifecycleEvent.PROPOSE,
                            proposals=tuple(proposals.proposals),
                        ),
                    ),
                    actor=c.actor,
                    correlation_id=c.correlation_id,
                    candidate_traffic=c.candidate_traffic,
                    holdback=state.facts.objective.holdback,
                    watch_days=state.facts.objective.watch_days,
                ),
                versions=facts.versions,
                improvements=facts.improvements,
            )
            created = started.improvements
        note = (
            f"{len(created)} new candidate(s) from {proposals.considered} proposal(s), "
            f"{slots} slot(s)"
        )
        if proposals.set_aside:
            note += f"; set aside: {'; '.join(proposals.set_aside)}"
        if proposals.generator_errors:
            note += f"; generator errors: {proposals.generator_errors}"
        return dataclasses.replace(state, created=created), note

    async def _validate(self, conn: Connection, state: RunState) -> tuple[RunState, str]:
        c, facts = state.contract, state.facts
        validation = self.runtime.validator.validate(
            ModelValidateInput(
                experiments=[
                    ModelExperiment(
                        improvement_id=e.improvement.improvement_id,
                        improvement_type=e.improvement.improvement_type,
                        control=e.control,
                        candidate=e.candidate,
                        expected_traffic_share=_candidate_share(
                            e.version.traffic_weight, facts.active.traffic_weight
                        ),
                        age_days=_age_days(e.version.created_at, facts.window_end),
                        exposure=e.exposure,
                    )
                    for e in facts.experiments
                ]
                + [
                    ModelExperiment(
                        improvement_id=w.improvement.improvement_id,
                        improvement_type=w.improvement.improvement_type,
                        control=w.control,
                        candidate=w.candidate,
                        expected_traffic_share=1 - facts.objective.holdback,
                        watch_days_left=_days_left(w.improvement.watch_until, facts.window_end),
                    )
                    for w in facts.watches
                ],
                objective=facts.objective,
                significance_level=c.significance_level,
                auto_apply_threshold=c.auto_apply_threshold,
                min_sample_size=c.min_sample_size,
            )
        )
        decisions = ", ".join(r.decision.value for r in validation.results)
        return dataclasses.replace(state, validation=validation), f"decisions: {decisions}"

    async def _apply(self, conn: Connection, state: RunState) -> tuple[RunState, str]:
        c = state.contract
        decided = await self.runtime.lifecycle.execute_effect(
            conn,
            ModelLifecycleRequest(
                pattern_id=c.pattern_id,
                events=events_for_decisions(state.validation.results),
                actor=c.actor,
                correlation_id=c.correlation_id,
                candidate_traffic=c.candidate_traffic,
                holdback=state.facts.objective.holdback,
                watch_days=state.facts.objective.watch_days,
                as_of=state.facts.window_end,
            ),
            # What collect read is current unless generate just added to it.
            versions=None if state.created else state.facts.versions,
            improvements=None if state.created else state.facts.improvements,
        )
        return dataclasses.replace(state, decided=decided), f"{decided.intents_applied} change(s)"

    async def _track(self, conn: Connection, state: RunState) -> tuple[RunState, str]:
        facts = state.facts
        versions = state.decided.versions if state.decided else facts.versions
        tracked = await self.runtime.tracker.track(
            conn,
            ModelTrackInput(
                correlation_id=state.contract.correlation_id,
                stats=facts.window_stats,
                version_ids=[v.version_id for v in versions],
            ),
        )
        return state, f"{len(tracked.versions_updated)} metric snapshot(s)"


def _days_left(until: datetime | None, now: datetime) -> float:
    return 0.0 if until is None else (until - now).total_seconds() / 86_400


def _age_days(started: datetime | None, now: datetime) -> float:
    return 0.0 if started is None else max((now - started).total_seconds() / 86_400, 0.0)


def _skip_generate(state: RunState) -> str | None:
    if state.contract.monitor_only:
        return _MONITOR
    assert state.analysis is not None
    if state.analysis.for_version(state.facts.active.version_id) is None:
        return "no executions of the active version"
    return None


def _skip_validate(state: RunState) -> str | None:
    facts = state.facts
    return None if facts.experiments or facts.watches else "no candidate in testing or watched"


def _skip_apply(state: RunState) -> str | None:
    if state.contract.monitor_only:
        return _MONITOR
    return None if state.validation.results else "nothing to decide"


def _candidate_share(candidate_weight: float, active_weight: float) -> float:
    total = candidate_weight + active_weight
    return candidate_weight / total if total > 0 and 0 < candidate_weight < total else 0.5


def _output(state: RunState, reports: Reports) -> ModelFeedbackLoopOutput:
    c, facts, results = state.contract, state.facts, state.validation.results
    headline = state.validation.headline()
    created = [i.candidate_version_id for i in state.created if i.candidate_version_id]
    decided = {r.improvement_id: r for r in results}
    touched = list(created)
    for improvement in state.decided.improvements if state.decided else ():
        result = decided.get(improvement.improvement_id)
        if result is None or result.decision is EnumDecision.CONTINUE:
            continue
        if result.decision is EnumDecision.APPLY:
            touched.append(improvement.base_version_id)
        touched.append(result.candidate_version_id)
    active = state.decided.active() if state.decided else None
    applied = sum(r.decision is EnumDecision.APPLY for r in results) if state.decided else 0
    return ModelFeedbackLoopOutput(
        success=True,
        pattern_id=c.pattern_id,
        correlation_id=c.correlation_id,
        feedback_collected=facts.feedback_collected,
        improvements_identified=len(state.created),
        improvements_validated=sum(r.significant and r.performance_delta > 0 for r in results),
        improvements_applied=applied,
        performance_delta=headline.performance_delta if headline else 0.0,
        confidence_score=headline.confidence if headline else 0.0,
        p_value=headline.p_value if headline else None,
        statistically_significant=bool(headline and headline.significant),
        workflow_stages=dict(reports),
        active_version_id=(active or facts.active).version_id,
        versions_created=created,
        versions_touched=list(dict.fromkeys(touched)),
        improvements_touched=[i.improvement_id for i in state.created]
        + [r.improvement_id for r in results],
        monitor_only=c.monitor_only,
    )


def _as_json(reports: Reports) -> dict[str, object]:
    return {name: report.model_dump(mode="json") for name, report in reports.items()}


class _FailedRun(Exception):
    """A run whose pipeline failed, already recorded in the ledger."""

    def __init__(self, error: ModelOnexError, stages: dict[str, object]) -> None:
        super().__init__(error.message)
        self.error = error
        self.stages = stages
