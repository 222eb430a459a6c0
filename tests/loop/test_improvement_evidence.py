"""One evidence record per look at an experiment: stored by the loop's runs, read back typed by
the facade, printed by ``feedback-loop improvements --show ID``; a replayed run adds none."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from uuid import UUID, uuid4

import asyncpg
import pytest

from contracts.enum_loop import (
    EnumDecision,
    EnumGuardrailVerdict,
    EnumImprovementStatus,
    EnumMetric,
)
from contracts.model_feedback_loop_output import ModelFeedbackLoopOutput
from contracts.model_objective import EnumGuardedMetric, ModelObjective
from contracts.model_objective_store import ModelObjectiveSetInput
from contracts.model_pattern_improvement import ModelPatternImprovement
from contracts.model_result import ModelResult
from contracts.model_validation import ModelImprovementLook
from nodes.adapters.cli.main import main
from nodes.orchestrator.node_feedback_loop_orchestrator import NodeFeedbackLoopOrchestrator
from tests.loop.scenario import WIDE_MARGINS, Scenario

G = EnumGuardedMetric
PATTERN = "api_debug"
CANDIDATE = "api_debug@1.1.0"
STRICT_QUALITY = tuple(
    g.model_copy(update={"margin": 0.001}) if g.metric is G.QUALITY_SCORE else g
    for g in WIDE_MARGINS
)
"""Quality may drop by at most 0.001: unresolved on a few hundred executions per arm, so the
(truly better) cache candidate stays in testing and every run is one more look."""
LOOKS_IN_TESTING = 3


def _ok(result: ModelResult) -> ModelFeedbackLoopOutput:
    assert result.success, result.error
    assert isinstance(result.data, ModelFeedbackLoopOutput)
    return result.data


@pytest.fixture
async def scenario(pool: asyncpg.Pool) -> AsyncIterator[Scenario]:
    s = Scenario(pool, PATTERN)
    await s.register(STRICT_QUALITY)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def orchestrator(pool: asyncpg.Pool) -> AsyncIterator[NodeFeedbackLoopOrchestrator]:
    async with NodeFeedbackLoopOrchestrator(pool) as orch:
        yield orch


async def _propose(s: Scenario, orch: NodeFeedbackLoopOrchestrator) -> ModelPatternImprovement:
    await s.traffic(200)
    out = _ok(await orch.execute_orchestration(s.contract()))
    assert out.versions_created == [CANDIDATE]
    (improvement,) = await s.service.improvements(PATTERN)
    assert improvement.status is EnumImprovementStatus.TESTING
    return improvement


async def _look_rows(pool: asyncpg.Pool, improvement_id: UUID) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await pool.fetch(
        "SELECT look, correlation_id, decision, evidence FROM improvement_looks "
        "WHERE improvement_id = $1 ORDER BY look",
        improvement_id,
    )
    return rows


async def _cli(dsn: str, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = await asyncio.to_thread(main, ["--dsn", dsn, *args])
    out, err = capsys.readouterr()
    return code, out, err


async def test_one_look_per_run_stored_typed_and_shown(
    pool: asyncpg.Pool,
    db_dsn: str,
    capsys: pytest.CaptureFixture[str],
    orchestrator: NodeFeedbackLoopOrchestrator,
    scenario: Scenario,
) -> None:
    s = scenario
    improvement = await _propose(s, orchestrator)
    iid = improvement.improvement_id
    assert await _look_rows(pool, iid) == []  # proposing is not a look
    code, out, _ = await _cli(db_dsn, capsys, "improvements", "--show", str(iid))
    assert code == 0 and out.rstrip().endswith("no looks yet")

    runs: list[UUID] = []
    for _ in range(LOOKS_IN_TESTING):
        await s.traffic(150)
        contract = s.contract(correlation_id=uuid4())
        ran = _ok(await orchestrator.execute_orchestration(contract))
        assert ran.improvements_applied == 0 and ran.improvements_touched == [iid]
        runs.append(contract.correlation_id)
    # The objective is loosened: the next look applies the candidate.
    await s.service.set_objective(
        ModelObjectiveSetInput(
            objective=ModelObjective(pattern_id=PATTERN, guardrails=WIDE_MARGINS), actor="test"
        )
    )
    await s.traffic(150)
    contract = s.contract(correlation_id=uuid4())
    applied = _ok(await orchestrator.execute_orchestration(contract))
    assert applied.improvements_applied == 1 and applied.active_version_id == CANDIDATE
    runs.append(contract.correlation_id)
    decisions = ["continue"] * LOOKS_IN_TESTING + ["apply"]

    # --- stored: one row per look, numbered 1..k, with the decision and every verdict
    rows = await _look_rows(pool, iid)
    assert [r["look"] for r in rows] == list(range(1, len(runs) + 1))
    assert [r["correlation_id"] for r in rows] == runs
    assert [r["decision"] for r in rows] == decisions
    assert await pool.fetchval("SELECT count(*) FROM improvement_looks") == len(runs)
    margins = [{g["metric"]: g["margin"] for g in r["evidence"]["guardrails"]} for r in rows]
    assert margins == [{g.metric.value: g.margin for g in STRICT_QUALITY}] * LOOKS_IN_TESTING + [
        {g.metric.value: g.margin for g in WIDE_MARGINS}
    ]
    for r in rows:
        verdicts = {g["metric"]: g["verdict"] for g in r["evidence"]["guardrails"]}
        assert set(verdicts.values()) <= {v.value for v in EnumGuardrailVerdict}
        assert r["evidence"]["decision"] == r["decision"]
        assert r["evidence"]["candidate_version_id"] == CANDIDATE
    strict_verdicts = {g["metric"]: g["verdict"] for g in rows[0]["evidence"]["guardrails"]}
    assert strict_verdicts["quality_score"] == "unresolved"
    final = {g["metric"]: g["verdict"] for g in rows[-1]["evidence"]["guardrails"]}
    assert set(final.values()) == {"non_inferior"}

    # --- the facade: the improvement and its looks, typed
    found, looks = await s.service.improvement(iid)
    assert found.improvement_id == iid and found.status is EnumImprovementStatus.APPLIED
    assert all(isinstance(look, ModelImprovementLook) for look in looks)
    assert [look.look for look in looks] == [1, 2, 3, 4]
    assert [look.correlation_id for look in looks] == runs
    assert [look.result.decision for look in looks] == [EnumDecision(d) for d in decisions]
    ats = [look.at for look in looks]
    assert ats == sorted(ats) and all(at.tzinfo is not None for at in ats)
    for look, row in zip(looks, rows, strict=True):
        r = look.result
        assert r.improvement_id == iid and r.metric is EnumMetric.DURATION_MS
        assert r.statistic and r.p_value is not None and r.delta_ci_low is not None
        assert r.delta_ci_high is not None and r.delta_ci_low <= r.performance_delta
        assert r.performance_delta <= r.delta_ci_high
        assert min(r.n_control, r.n_candidate) >= 30
        assert [g.metric for g in r.guardrails] == [
            G(g["metric"]) for g in row["evidence"]["guardrails"]
        ]
        assert all(isinstance(g.verdict, EnumGuardrailVerdict) for g in r.guardrails)
    sizes = [look.result.n_control + look.result.n_candidate for look in looks]
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes)  # each look sees more
    quality = [next(g for g in lk.result.guardrails if g.metric is G.QUALITY_SCORE) for lk in looks]
    assert [q.verdict for q in quality[:-1]] == [EnumGuardrailVerdict.UNRESOLVED] * 3
    assert quality[-1].verdict is EnumGuardrailVerdict.NON_INFERIOR
    assert found.p_value == looks[-1].result.p_value  # the improvement keeps the last look's

    # --- the CLI, text: per look its decision, the winning metric line, one row per guardrail
    code, out, err = await _cli(db_dsn, capsys, "improvements", "--show", str(iid))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(f"{iid}  applied") and CANDIDATE in lines[0]
    heads = [line for line in lines if line.startswith("look ")]
    assert len(heads) == len(looks)
    for head, look in zip(heads, looks, strict=True):
        r = look.result
        assert head.startswith(f"look {look.look} at {look.at:%Y-%m-%d %H:%M:%S} UTC: ")
        assert f"UTC: {r.decision.value} ({r.n_control} control / {r.n_candidate} candidate" in (
            head
        )
    blocks = re.split(r"^(?=look \d+ at )", out, flags=re.MULTILINE)[1:]
    assert len(blocks) == len(looks)
    for block, look in zip(blocks, looks, strict=True):
        r = look.result
        assert r.delta_ci_low is not None and r.delta_ci_high is not None
        assert r.p_value is not None
        wins = (
            f"  wins on {r.statistic}: {r.performance_delta:+.1%} (always-valid CI "
            f"{r.delta_ci_low:+.1%} to {r.delta_ci_high:+.1%}), p={r.p_value:.3g}"
        )
        assert wins in block.splitlines(), block
        assert f"  {r.reason}" in block.splitlines()
        rows_shown = [
            line.split()
            for line in block.splitlines()
            if line.strip().split(" ")[0] in {m.value for m in G}
        ]
        assert [(cells[0]) for cells in rows_shown] == [g.metric.value for g in r.guardrails]
        for cells, g in zip(rows_shown, r.guardrails, strict=True):
            assert g.verdict.value in cells, cells
    assert "wins on mean duration_ms" in out

    # --- the CLI, JSON: the improvement, then one object per look
    code, out, err = await _cli(db_dsn, capsys, "improvements", "--show", str(iid), "--json")
    assert code == 0, err
    first, *rest = out.splitlines()
    assert ModelPatternImprovement.model_validate_json(first) == found
    assert [ModelImprovementLook.model_validate_json(line) for line in rest] == looks
    assert [json.loads(line)["result"]["decision"] for line in rest] == decisions

    # --- an unknown id: one line, exit 1; not a UUID: a usage error
    ghost = uuid4()
    code, out, err = await _cli(db_dsn, capsys, "improvements", "--show", str(ghost))
    assert (code, out, err) == (1, "", f"error: no improvement {ghost}\n")
    with pytest.raises(SystemExit) as exited:
        await _cli(db_dsn, capsys, "improvements", "--show", "not-a-uuid")
    assert exited.value.code == 2
    assert "not an improvement id" in capsys.readouterr().err


async def test_replayed_run_adds_no_look(
    pool: asyncpg.Pool, orchestrator: NodeFeedbackLoopOrchestrator, scenario: Scenario
) -> None:
    s = scenario
    improvement = await _propose(s, orchestrator)
    iid = improvement.improvement_id
    await s.traffic(150)
    contract = s.contract(correlation_id=uuid4())
    first = _ok(await orchestrator.execute_orchestration(contract))
    assert not first.replayed and first.improvements_touched == [iid]
    rows = await _look_rows(pool, iid)
    assert [(r["look"], r["correlation_id"]) for r in rows] == [(1, contract.correlation_id)]

    again = _ok(await orchestrator.execute_orchestration(contract))
    other = NodeFeedbackLoopOrchestrator(pool)  # as if another process replays it
    replays = await asyncio.gather(
        other.execute_orchestration(contract), orchestrator.execute_orchestration(contract)
    )
    assert again.replayed and all(_ok(r).replayed for r in replays)
    assert await _look_rows(pool, iid) == rows
    _, looks = await s.service.improvement(iid)
    assert len(looks) == 1

    # A new run (new correlation id) on the same data is a new look.
    fresh = s.contract(correlation_id=uuid4())
    _ok(await orchestrator.execute_orchestration(fresh))
    rows = await _look_rows(pool, iid)
    assert [(r["look"], r["correlation_id"]) for r in rows] == [
        (1, contract.correlation_id),
        (2, fresh.correlation_id),
    ]
