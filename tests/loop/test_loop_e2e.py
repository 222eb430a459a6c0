"""The whole loop on a real PostgreSQL, against the simulator's ground truth."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from uuid import uuid4

import asyncpg
import pytest

from contracts.enum_error_code import EnumErrorCode
from contracts.enum_lineage_relation import EnumLineageRelation
from contracts.enum_loop import EnumFeedbackType, EnumImprovementStatus, EnumStageStatus
from contracts.enum_version_status import EnumVersionStatus
from contracts.model_feedback_loop_output import ModelFeedbackLoopOutput
from contracts.model_result import ModelResult
from nodes.orchestrator.node_feedback_loop_orchestrator import NodeFeedbackLoopOrchestrator
from nodes.service import FeedbackLoopService
from tests import lifecycle
from tests.loop.scenario import Scenario

TABLES = ("pattern_versions", "lineage_edges", "improvements", "audit_log", "loop_runs")


@pytest.fixture
async def orchestrator(pool: asyncpg.Pool) -> AsyncIterator[NodeFeedbackLoopOrchestrator]:
    async with NodeFeedbackLoopOrchestrator(pool) as orch:
        yield orch


async def _scenario(pool: asyncpg.Pool, name: str) -> AsyncIterator[Scenario]:
    scenario = Scenario(pool, name)
    await scenario.register()
    try:
        yield scenario
    finally:
        await scenario.close()


@pytest.fixture
async def cache_pattern(pool: asyncpg.Pool) -> AsyncIterator[Scenario]:
    """api_debug: slow, and enabling the cache truly halves its latency."""
    async for s in _scenario(pool, "api_debug"):
        yield s


@pytest.fixture
async def trap_pattern(pool: asyncpg.Pool) -> AsyncIterator[Scenario]:
    """batch_embed: slow, but the proposed smaller batches change nothing (an A/A test)."""
    async for s in _scenario(pool, "batch_embed"):
        yield s


def _ok(result: ModelResult) -> ModelFeedbackLoopOutput:
    assert result.success, result.error
    assert isinstance(result.data, ModelFeedbackLoopOutput)
    return result.data


async def _counts(pool: asyncpg.Pool) -> dict[str, int]:
    return {t: await pool.fetchval(f"SELECT count(*) FROM {t}") for t in TABLES}


async def _propose(s: Scenario, orch: NodeFeedbackLoopOrchestrator, **kw: object) -> str:
    await s.traffic(200)
    out = _ok(await orch.execute_orchestration(s.contract(**kw)))
    assert out.improvements_identified == 1 and len(out.versions_created) == 1
    return out.versions_created[0]


async def test_truly_better_candidate_is_applied(
    pool: asyncpg.Pool, orchestrator: NodeFeedbackLoopOrchestrator, cache_pattern: Scenario
) -> None:
    s = cache_pattern
    candidate = await _propose(s, orchestrator)
    assert candidate == "api_debug@1.1.0"
    split = await s.traffic(300)
    assert set(split) == {"api_debug@1.0.0", candidate} and min(split.values()) > 100
    out = _ok(await orchestrator.execute_orchestration(s.contract()))
    assert out.improvements_applied == 1 and out.active_version_id == candidate
    assert out.statistically_significant and out.p_value is not None and out.p_value < 0.05
    assert out.confidence_score >= 0.95
    assert 0.3 < out.performance_delta < 0.8  # truth: mean latency 206 ms -> 95 ms (-54 %)
    assert list(out.workflow_stages.items()) == [
        (stage, "completed")
        for stage in ("collect", "analyze", "generate", "validate", "apply", "track")
    ]
    assert out.stage_details.keys() == out.workflow_stages.keys()
    assert "0 slot(s)" in out.stage_details["generate"].reason  # the candidate held the slot

    async with pool.acquire() as conn:
        versions = {
            v.version_id: v
            for v in await orchestrator.runtime.lineage_store.list_versions(conn, "api_debug")
        }
        audit = await conn.fetch("SELECT action, version_id FROM audit_log ORDER BY audit_id")
    assert versions[candidate].status is EnumVersionStatus.ACTIVE
    assert versions["api_debug@1.0.0"].status is EnumVersionStatus.ARCHIVED
    assert versions[candidate].metrics["n"] > 0  # track stored the snapshot
    assert [(a["action"], a["version_id"]) for a in audit][-2:] == [
        ("apply", candidate),
        ("archive", "api_debug@1.0.0"),
    ]
    graph = orchestrator.lineage_graph
    assert graph.relations("api_debug@1.0.0", candidate).keys() == {
        EnumLineageRelation.DERIVED_FROM,
        EnumLineageRelation.IMPROVED_VERSION,
    }
    assert graph.get_lineage_path(candidate) == ["api_debug@1.0.0", candidate]
    assert s.simulator.is_truly_better(
        "api_debug", versions["api_debug@1.0.0"].config, versions[candidate].config, "duration_ms"
    )
    # New traffic goes to the new active version, apart from the 10 % holdback the previous
    # version keeps while the change is watched.
    split = await s.traffic(1000)
    assert set(split) == {candidate, "api_debug@1.0.0"}
    assert 60 < split["api_debug@1.0.0"] < 140
    (applied,) = await s.service.improvements("api_debug", [EnumImprovementStatus.APPLIED])
    assert applied.watching and applied.watch_until is not None


async def test_aa_experiment_applies_nothing(
    pool: asyncpg.Pool, orchestrator: NodeFeedbackLoopOrchestrator, trap_pattern: Scenario
) -> None:
    s = trap_pattern
    candidate = await _propose(s, orchestrator)
    decisions = []
    for _ in range(12):
        await s.traffic(300)
        out = _ok(await orchestrator.execute_orchestration(s.contract()))
        assert out.improvements_applied == 0
        decisions.append(out)
    async with pool.acquire() as conn:
        active = [
            v.version_id
            for v in await orchestrator.runtime.lineage_store.list_versions(conn, "batch_embed")
            if v.status is EnumVersionStatus.ACTIVE
        ]
        applied = await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'apply'")
    assert active == ["batch_embed@1.0.0"] and applied == 0
    assert candidate not in active


async def test_review_path_then_approve(
    pool: asyncpg.Pool, orchestrator: NodeFeedbackLoopOrchestrator, cache_pattern: Scenario
) -> None:
    s = cache_pattern
    candidate = await _propose(s, orchestrator, auto_apply_threshold=0.999)
    await s.traffic(300)
    out = _ok(await orchestrator.execute_orchestration(s.contract(auto_apply_threshold=0.999)))
    assert out.improvements_applied == 0 and out.improvements_validated == 1
    async with pool.acquire() as conn:
        (waiting,) = await lifecycle.improvements(
            conn, "api_debug", [EnumImprovementStatus.VALIDATED]
        )
        assert waiting.candidate_version_id == candidate
        assert "approve or reject" in (waiting.decision_reason or "")
        approved = await FeedbackLoopService(orchestrator.runtime).review(
            waiting.improvement_id, approve=True, actor="alice", reason="looks right"
        )
        versions = await orchestrator.runtime.lineage_store.list_versions(conn, "api_debug")
        audit = await conn.fetch(
            "SELECT action, actor FROM audit_log WHERE action IN ('validate', 'approve')"
        )
    assert approved.improvement_id == waiting.improvement_id
    assert [v.version_id for v in versions if v.status is EnumVersionStatus.ACTIVE] == [candidate]
    assert sorted((a["action"], a["actor"]) for a in audit) == [
        ("approve", "alice"),
        ("validate", "feedback-loop"),
    ]


async def test_reject_by_a_human(
    pool: asyncpg.Pool, orchestrator: NodeFeedbackLoopOrchestrator, cache_pattern: Scenario
) -> None:
    s = cache_pattern
    candidate = await _propose(s, orchestrator)
    async with pool.acquire() as conn:
        (testing,) = await lifecycle.improvements(conn, "api_debug")
        await FeedbackLoopService(orchestrator.runtime).review(
            testing.improvement_id, approve=False, actor="bob", reason="not now"
        )
        rejected = await orchestrator.runtime.lineage_store.require_version(conn, candidate)
        with pytest.raises(Exception, match="is rejected"):
            await FeedbackLoopService(orchestrator.runtime).review(
                testing.improvement_id, approve=True, actor="bob", reason="changed my mind"
            )
    assert rejected.status is EnumVersionStatus.REJECTED and rejected.traffic_weight == 0
    assert set(await s.traffic(40)) == {"api_debug@1.0.0"}


@pytest.mark.parametrize(
    "monitor", [{"enable_ab_testing": False}, {"auto_apply_threshold": 1.0}], ids=["no_ab", "t1"]
)
async def test_monitor_only_changes_nothing(
    pool: asyncpg.Pool,
    orchestrator: NodeFeedbackLoopOrchestrator,
    cache_pattern: Scenario,
    monitor: dict[str, object],
) -> None:
    s = cache_pattern
    await s.traffic(200)
    before = await _counts(pool)
    out = _ok(await orchestrator.execute_orchestration(s.contract(**monitor)))
    after = await _counts(pool)
    assert out.monitor_only and out.feedback_collected == 200
    assert out.improvements_identified == 0 and out.versions_created == []
    assert out.workflow_stages["generate"] == "skipped"
    assert out.stage_details["generate"].status is EnumStageStatus.SKIPPED
    assert "monitor-only" in out.stage_details["generate"].reason
    assert {k: after[k] - before[k] for k in TABLES} == {
        "pattern_versions": 0,
        "lineage_edges": 0,
        "improvements": 0,
        "audit_log": 0,
        "loop_runs": 1,  # the run itself is recorded
    }


async def test_concurrent_runs_on_one_pattern_apply_once(
    pool: asyncpg.Pool, orchestrator: NodeFeedbackLoopOrchestrator, cache_pattern: Scenario
) -> None:
    s = cache_pattern
    await _propose(s, orchestrator)
    await s.traffic(300)
    other = NodeFeedbackLoopOrchestrator(pool)  # as if a second process
    results = await asyncio.gather(
        orchestrator.execute_orchestration(s.contract()),
        other.execute_orchestration(s.contract()),
        orchestrator.execute_orchestration(s.contract()),
    )
    applied = sum(r.data.improvements_applied for r in results if r.success and r.data)
    assert applied == 1
    for r in results:
        assert r.success or (r.error or {}).get("code") == EnumErrorCode.BUSY.value
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'apply'") == 1
        actives = await conn.fetchval(
            "SELECT count(*) FROM pattern_versions WHERE status = 'active'"
        )
    assert actives == 1


async def test_rerun_with_same_correlation_id_is_idempotent(
    pool: asyncpg.Pool, orchestrator: NodeFeedbackLoopOrchestrator, cache_pattern: Scenario
) -> None:
    s = cache_pattern
    await _propose(s, orchestrator)
    await s.traffic(300)
    contract = s.contract(correlation_id=uuid4())
    first = _ok(await orchestrator.execute_orchestration(contract))
    assert first.improvements_applied == 1
    before = await _counts(pool)
    second = _ok(await orchestrator.execute_orchestration(contract))
    assert second.replayed and not first.replayed
    # The recorded result, except that the track stage's own duration is measured after it
    # wrote the record.
    skip = {"replayed", "stage_details"}
    assert second.model_dump(exclude=skip) == first.model_dump(exclude=skip)
    assert {k: (v.status, v.reason) for k, v in second.stage_details.items()} == {
        k: (v.status, v.reason) for k, v in first.stage_details.items()
    }
    assert await _counts(pool) == before


async def test_batch_isolates_failures(
    pool: asyncpg.Pool, orchestrator: NodeFeedbackLoopOrchestrator, cache_pattern: Scenario
) -> None:
    await cache_pattern.traffic(100)
    good = cache_pattern.contract(feedback_type=EnumFeedbackType.ALL)
    missing = good.model_copy(update={"pattern_id": "never_registered", "correlation_id": uuid4()})
    results = await orchestrator.run_many([missing, good], concurrency=2)
    assert not results[0].success and results[1].success
    error = results[0].error or {}
    assert error["code"] == EnumErrorCode.NOT_FOUND.value
    assert "never_registered" in error["message"]
    assert error["workflow_stages"]["collect"]["status"] == "failed"


async def test_only_an_orchestrator_of_its_own_keeps_a_lineage_graph(
    pool: asyncpg.Pool, orchestrator: NodeFeedbackLoopOrchestrator, cache_pattern: Scenario
) -> None:
    """The orchestrator's original API keeps every pattern it ran in ``lineage_graph``; the
    service's (what workers run, pattern after pattern) reads lineage from PostgreSQL when
    asked, so it neither reads it back after each run nor grows a graph."""
    s = cache_pattern
    await s.traffic(200)
    _ok(await orchestrator.execute_orchestration(s.contract()))
    assert "api_debug@1.0.0" in orchestrator.lineage_graph.version_ids("api_debug")
    async with FeedbackLoopService(pool=pool) as service:
        _ok(await service.run(s.contract()))
        assert len(service.runtime.lineage_graph) == 0
        with pytest.raises(RuntimeError, match="keep_lineage_graph=False"):
            service.orchestrator.lineage_graph  # noqa: B018 - the read is what is tested
        assert (await service.lineage("api_debug")).version_ids("api_debug")
