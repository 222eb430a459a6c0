"""A pattern's objective: defaults, versions, the audit trail, bad input, concurrency, and that
the objective actually steers the loop's decisions.

CLI calls run ``main()`` in-process (it runs its own event loop, so in a worker thread) on the
test's fresh database, as tests/lineage/test_cli.py does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from contracts.enum_error_code import EnumErrorCode
from contracts.enum_loop import EnumDecision, EnumGuardrailVerdict, EnumImprovementStatus
from contracts.model_feedback_loop_output import ModelFeedbackLoopOutput
from contracts.model_objective import (
    DEFAULT_GUARDRAILS,
    EnumGuardedMetric,
    ModelGuardrail,
    ModelObjective,
)
from contracts.model_objective_store import ModelObjectiveSetInput
from contracts.model_onex_error import ModelOnexError
from contracts.model_result import ModelResult
from nodes.adapters.cli.main import main
from nodes.effect import node_objective_store_effect
from nodes.orchestrator.node_feedback_loop_orchestrator import NodeFeedbackLoopOrchestrator
from nodes.service import FeedbackLoopService
from tests.loop.scenario import WIDE_MARGINS, Scenario

G = EnumGuardedMetric
PATTERN = "api_debug"
CONFIG = {"cache_enabled": False, "timeout_ms": 5000, "max_retries": 1}


class Cli:
    def __init__(self, dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
        self.dsn, self.capsys = dsn, capsys

    async def run(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = await asyncio.to_thread(main, ["--dsn", self.dsn, *args])
        out, err = self.capsys.readouterr()
        return code, out, err

    async def __call__(self, *args: str) -> str:
        code, out, err = await self.run(*args)
        assert code == 0, (out, err)
        return out


@pytest.fixture
def cli(db_dsn: str, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(db_dsn, capsys)


@pytest.fixture
async def service(pool: asyncpg.Pool) -> AsyncIterator[FeedbackLoopService]:
    async with FeedbackLoopService(pool=pool) as s:
        yield s


@pytest.fixture
async def registered(service: FeedbackLoopService) -> str:
    """A registered pattern with no stored objective."""
    await service.register(PATTERN, CONFIG)
    return PATTERN


async def _counts(pool: asyncpg.Pool) -> tuple[int, int]:
    return (
        await pool.fetchval("SELECT count(*) FROM objectives"),
        await pool.fetchval("SELECT count(*) FROM audit_log"),
    )


def _set(objective: ModelObjective, actor: str = "test") -> ModelObjectiveSetInput:
    return ModelObjectiveSetInput(objective=objective, actor=actor)


def _guardrails(objective: ModelObjective) -> dict[G, tuple[float, bool]]:
    return {g.metric: (g.margin, g.required) for g in objective.guardrails}


# ------------------------------------------------------------------------------ defaults


async def test_no_stored_objective_reads_the_defaults(
    service: FeedbackLoopService, registered: str, cli: Cli, pool: asyncpg.Pool
) -> None:
    objective = await service.objective(registered)
    assert objective == ModelObjective(pattern_id=registered)
    assert objective.version == 1 and objective.guardrails == DEFAULT_GUARDRAILS
    assert objective.primary_metric is None and objective.horizon_per_arm is None
    assert await service.objective_history(registered) == []

    text = await cli("objective", registered)
    assert text.splitlines()[0] == f"objective of {registered} (version 1)"
    assert "each proposal's own metric" in text
    rows = {
        line.split()[0]: line.split()[1]
        for line in text.splitlines()
        if line.startswith("    ") and line.split()[0] in {m.value for m in G}
    }
    assert rows == {
        "success_rate": "-0.02",
        "duration_mean": "+10%",
        "duration_p95": "+20%",
        "quality_score": "-0.03",
        "user_rating": "-0.25",
        "cost_usd": "+10%",
    }
    shown = ModelObjective.model_validate_json(await cli("objective", registered, "--json"))
    assert shown == objective
    history = await cli("objective", registered, "--history")
    assert "has no stored objective: the defaults apply" in history
    assert await cli("objective", registered, "--history", "--json") == ""
    assert await _counts(pool) == (0, 1)  # reading stores nothing (1 = the register row)


# ------------------------------------------------------------------------------- changes


async def test_change_stores_a_new_version_with_one_audit_row(
    pool: asyncpg.Pool, cli: Cli, service: FeedbackLoopService, registered: str
) -> None:
    v1 = await service.objective(registered)
    assert v1 == ModelObjective(pattern_id=registered)  # the defaults, version 1, not stored
    before = await _counts(pool)
    # Setting the defaults explicitly changes nothing either.
    done = await service.set_objective(_set(v1))
    assert done.changed is False and done.objective == v1
    assert await _counts(pool) == before

    out = await cli(
        "objective",
        registered,
        "--margin",
        "duration_p95=0.5",
        "--required",
        "cost_usd",
        "--reason",
        "tail matters",
        "--actor",
        "alice",
    )
    assert out.splitlines()[0] == f"objective of {registered} (version 2)"
    assert "    duration_p95    +50%" in out.splitlines()
    assert "    cost_usd        +10% (required)" in out.splitlines()
    v2 = await service.objective(registered)
    assert v2.version == 2
    expected = {
        **_guardrails(v1),
        G.DURATION_P95: (0.5, False),
        G.COST_USD: (0.10, True),
    }
    assert _guardrails(v2) == expected
    assert [g.metric for g in v2.guardrails] == [g.metric for g in v1.guardrails]
    # exactly those changes: everything else is as it was
    assert v2.model_dump(exclude={"version", "guardrails"}) == v1.model_dump(
        exclude={"version", "guardrails"}
    )
    assert await _counts(pool) == (before[0] + 1, before[1] + 1)

    async with pool.acquire() as conn:
        audits = await conn.fetch(
            "SELECT xmin::text AS tx, at, actor, pattern_id, reason, details FROM audit_log "
            "WHERE action = 'objective'"
        )
        rows = await conn.fetch(
            "SELECT xmin::text AS tx, created_at, version, actor, body FROM objectives "
            "WHERE pattern_id = $1",
            registered,
        )
    (audit,), (row,) = audits, rows
    assert row["version"] == 2
    assert audit["tx"] == row["tx"] and audit["at"] == row["created_at"]  # one transaction
    assert (audit["actor"], row["actor"], audit["reason"]) == ("alice", "alice", "tail matters")
    assert audit["pattern_id"] == registered
    assert audit["details"] == {"version": 2, **row["body"]}

    # The same objective again: nothing stored, nothing audited.
    before = await _counts(pool)
    again = await cli(
        "objective", registered, "--margin", "duration_p95=0.5", "--required", "cost_usd"
    )
    assert "(version 2)" in again and "(unchanged: it already was this objective)" in again
    done = await service.set_objective(_set(v2))
    assert done.changed is False and done.objective == v2
    done = await service.set_objective(_set(v2.model_copy(update={"version": 7})))
    assert done.changed is False and done.objective.version == 2  # the version is the store's
    assert await _counts(pool) == before

    # A third version through the facade, then --history lists them in order.
    v3 = await service.set_objective(
        _set(v2.model_copy(update={"min_relative_effect": 0.05, "holdback": 0.2}))
    )
    assert v3.changed and v3.objective.version == 3
    assert v3.objective == await service.objective(registered)
    history = await service.objective_history(registered)
    assert [o.version for o in history] == [2, 3]  # the stored versions
    assert history == [v2, v3.objective]
    lines = (await cli("objective", registered, "--history", "--json")).splitlines()
    assert [ModelObjective.model_validate_json(line) for line in lines] == history
    text = await cli("objective", registered, "--history")
    headers = [line for line in text.splitlines() if line.startswith("objective of")]
    assert headers == [f"objective of {registered} (version {v})" for v in (2, 3)]


async def test_every_flag_round_trips(
    cli: Cli, service: FeedbackLoopService, registered: str
) -> None:
    out = await cli(
        "objective",
        registered,
        "--drop",
        "user_rating",
        "--optional",
        "cost_usd",
        "--primary",
        "success_rate",
        "--min-effect",
        "0.05",
        "--horizon",
        "500",
        "--horizon-days",
        "10",
        "--holdback",
        "0.2",
        "--watch-days",
        "3",
        "--json",
    )
    got = ModelObjective.model_validate_json(out)
    assert got == await service.objective(registered)
    assert got.version == 2 and got.guardrail(G.USER_RATING) is None
    assert got.primary_metric is not None and got.primary_metric.value == "success_rate"
    assert (got.min_relative_effect, got.horizon_per_arm, got.horizon_days) == (0.05, 500, 10)
    assert (got.holdback, got.watch_days) == (0.2, 3)
    back = ModelObjective.model_validate_json(
        await cli("objective", registered, "--primary", "target", "--horizon", "auto", "--json")
    )
    assert back.version == 3 and back.primary_metric is None and back.horizon_per_arm is None
    assert back.model_dump(exclude={"version", "primary_metric", "horizon_per_arm"}) == (
        got.model_dump(exclude={"version", "primary_metric", "horizon_per_arm"})
    )


async def test_change_and_audit_land_together(
    pool: asyncpg.Pool, service: FeedbackLoopService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the audit row cannot be written, the new version is not stored either."""
    await service.register(PATTERN, CONFIG)

    async def broken_audit(*args: object, **kwargs: object) -> int:
        raise RuntimeError("audit down")

    monkeypatch.setattr(node_objective_store_effect, "write_audit", broken_audit)
    before = await _counts(pool)
    strict = ModelObjective(pattern_id=PATTERN, min_relative_effect=0.1)
    with pytest.raises(RuntimeError, match="audit down"):
        await service.set_objective(_set(strict))
    assert await _counts(pool) == before
    assert await service.objective(PATTERN) == ModelObjective(pattern_id=PATTERN)


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--margin", "latency=0.1"], "--margin: unknown metric 'latency' in 'latency=0.1'"),
        (["--margin", "cost_usd"], "--margin: must be METRIC=VALUE, got 'cost_usd'"),
        (["--margin", "cost_usd=lots"], "margin of cost_usd must be a number > 0 and <= 10"),
        (["--margin", "success_rate=-0.01"], "must be a number > 0 and <= 10, got '-0.01'"),
        (["--margin", "success_rate=0"], "must be a number > 0 and <= 10, got '0'"),
        (["--margin", "success_rate=nan"], "must be a number > 0 and <= 10, got 'nan'"),
        (["--horizon", "soon"], "--horizon: must be 'auto' or a whole number >= 2 and <= 10000"),
        (["--horizon", "1"], "--horizon: must be 'auto' or a whole number >= 2 and <= 10000"),
        (["--holdback", "0.5"], "--holdback: must be a number >= 0 and < 0.5, got '0.5'"),
        (["--min-effect", "2"], "--min-effect: must be a number >= 0 and <= 1, got '2'"),
        (["--actor", ""], "--actor: must be text of at least 1 character, got ''"),
        (["--drop", "cost_usd", "--required", "cost_usd"], "cost_usd: --drop removes"),
        (["--margin", "cost_usd=0.5", "--drop", "cost_usd"], "cost_usd: --drop removes"),
        (["--drop", "latency"], "--drop: invalid choice: 'latency'"),
        (["--required", "nope"], "--required: invalid choice: 'nope'"),
        (["--primary", "speed"], "--primary: invalid choice: 'speed'"),
    ],
    ids=lambda v: "_".join(v) if isinstance(v, list) else None,
)
async def test_a_bad_flag_is_a_usage_error_and_changes_nothing(
    pool: asyncpg.Pool,
    cli: Cli,
    service: FeedbackLoopService,
    capsys: pytest.CaptureFixture[str],
    flags: list[str],
    says: str,
) -> None:
    """Each flag's value is checked against the objective's contract (and the flags against
    each other) before anything runs: exit 2, one line, nothing stored."""
    s = Scenario(pool, PATTERN)
    await s.register()
    await s.close()
    before = await _counts(pool)
    with pytest.raises(SystemExit) as exited:
        await cli.run("objective", PATTERN, *flags)
    assert exited.value.code == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: ") and err.count("\n") == 1
    assert err.endswith(" (see `feedback-loop objective --help`)\n")
    assert says in err, err
    assert await _counts(pool) == before
    assert (await service.objective(PATTERN)).guardrails == WIDE_MARGINS


async def test_required_without_a_guardrail_is_one_line_and_changes_nothing(
    pool: asyncpg.Pool, cli: Cli, service: FeedbackLoopService
) -> None:
    """Well-formed flags the stored objective rejects: a failure (exit 1), not a usage error."""
    s = Scenario(pool, PATTERN)
    await s.register()  # version 1 has no duration_p95 guardrail (as if dropped)
    await s.close()
    before = await _counts(pool)
    code, out, err = await cli.run("objective", PATTERN, "--required", "duration_p95")
    assert (code, out) == (1, "")
    assert err == (
        "error: duration_p95 has no guardrail: give it a margin with --margin duration_p95=VALUE\n"
    )
    assert await _counts(pool) == before
    assert (await service.objective(PATTERN)).guardrails == WIDE_MARGINS


async def test_required_on_a_guardrail_dropped_before(
    pool: asyncpg.Pool, cli: Cli, service: FeedbackLoopService
) -> None:
    await service.register(PATTERN, CONFIG)
    await cli("objective", PATTERN, "--drop", "cost_usd")
    dropped = await service.objective(PATTERN)
    assert dropped.guardrail(G.COST_USD) is None
    before = await _counts(pool)
    code, _, err = await cli.run("objective", PATTERN, "--required", "cost_usd")
    assert code == 1 and err.count("\n") == 1
    assert err.startswith("error: cost_usd has no guardrail: give it a margin with --margin")
    assert await _counts(pool) == before and await service.objective(PATTERN) == dropped
    # a margin brings it back, required in the same command
    back = ModelObjective.model_validate_json(
        await cli(
            "objective", PATTERN, "--margin", "cost_usd=0.3", "--required", "cost_usd", "--json"
        )
    )
    assert back.guardrail(G.COST_USD) == ModelGuardrail(
        metric=G.COST_USD, margin=0.3, required=True
    )


async def test_unknown_pattern_is_not_found(
    pool: asyncpg.Pool, cli: Cli, service: FeedbackLoopService
) -> None:
    await service.register(PATTERN, CONFIG)
    before = await _counts(pool)
    code, out, err = await cli.run("objective", "ghost", "--margin", "cost_usd=0.5")
    assert code == 1 and out == ""
    assert err == "error: no pattern 'ghost': register it first\n"
    assert await _counts(pool) == before
    with pytest.raises(ModelOnexError) as raised:
        await service.set_objective(_set(ModelObjective(pattern_id="ghost")))
    assert raised.value.code is EnumErrorCode.NOT_FOUND
    assert await _counts(pool) == before


# ----------------------------------------------------------------------------- concurrency


async def test_concurrent_changes_get_consecutive_versions(
    pool: asyncpg.Pool, service: FeedbackLoopService, registered: str
) -> None:
    """Five different changes at once, each on its own connection (its own service, as if
    five processes), to a pattern on the defaults (version 1): versions 2..6, no gap, no
    duplicate, one audit row each."""
    changes = [
        ModelObjective(pattern_id=registered, min_relative_effect=e)
        for e in (0.01, 0.03, 0.04, 0.05, 0.06)
    ]
    services = [FeedbackLoopService(pool=pool) for _ in changes]  # as if five processes
    try:
        done = await asyncio.gather(
            *(
                svc.set_objective(_set(o, actor=f"w{i}"))
                for i, (svc, o) in enumerate(zip(services, changes, strict=True))
            )
        )
    finally:
        for svc in services:
            await svc.close()
    assert all(d.changed for d in done)
    assert sorted(d.objective.version for d in done) == [2, 3, 4, 5, 6]
    history = await service.objective_history(registered)
    assert [o.version for o in history] == [2, 3, 4, 5, 6]
    by_version = {d.objective.version: d.objective.min_relative_effect for d in done}
    assert {o.version: o.min_relative_effect for o in history} == by_version
    assert sorted(by_version.values()) == [0.01, 0.03, 0.04, 0.05, 0.06]
    async with pool.acquire() as conn:
        audited = await conn.fetch(
            "SELECT (details->>'version')::int AS v, details->>'min_relative_effect' AS e "
            "FROM audit_log WHERE action = 'objective' ORDER BY v"
        )
    assert [a["v"] for a in audited] == [2, 3, 4, 5, 6]
    assert {a["v"]: float(a["e"]) for a in audited} == by_version
    latest = await service.objective(registered)
    assert latest.version == 6 and latest == history[-1]


# ------------------------------------------------------------------- steering decisions


def _ok(result: ModelResult) -> ModelFeedbackLoopOutput:
    assert result.success, result.error
    assert isinstance(result.data, ModelFeedbackLoopOutput)
    return result.data


STRICT_QUALITY = tuple(
    g.model_copy(update={"margin": 0.001}) if g.metric is G.QUALITY_SCORE else g
    for g in WIDE_MARGINS
)
"""The wide margins, but quality may drop by at most 0.001: a few hundred executions per arm
cannot show that (quality sd 0.08), although the cache does not change quality in truth."""


@pytest.mark.parametrize("strict", [False, True], ids=["wide", "strict_quality"])
async def test_objective_steers_the_decision(pool: asyncpg.Pool, strict: bool) -> None:
    """api_debug's cache truly halves latency: applied under the wide margins, kept in testing
    (its quality guardrail unresolved) when quality may drop by at most 0.001."""
    s = Scenario(pool, PATTERN)
    await s.register(STRICT_QUALITY if strict else WIDE_MARGINS)
    try:
        async with NodeFeedbackLoopOrchestrator(pool) as orch:
            await s.traffic(200)
            proposed = _ok(await orch.execute_orchestration(s.contract()))
            assert proposed.versions_created == ["api_debug@1.1.0"]
            await s.traffic(300)
            out = _ok(await orch.execute_orchestration(s.contract()))
    finally:
        await s.close()
    service = FeedbackLoopService(pool=pool)
    (improvement,) = await service.improvements(PATTERN, list(EnumImprovementStatus))
    _, looks = await service.improvement(improvement.improvement_id)
    look = looks[-1].result
    quality = next(g for g in look.guardrails if g.metric is G.QUALITY_SCORE)
    # the same evidence on the winning metric either way: clearly better
    assert out.p_value is not None and out.p_value < 0.01 and out.performance_delta > 0.3
    if strict:
        assert out.improvements_applied == 0 and out.active_version_id == "api_debug@1.0.0"
        assert improvement.status is EnumImprovementStatus.TESTING
        assert look.decision is EnumDecision.CONTINUE
        assert quality.verdict is EnumGuardrailVerdict.UNRESOLVED and quality.margin == 0.001
        assert "guardrails unresolved (quality_score worse by" in look.reason
        assert not out.statistically_significant
    else:
        assert out.improvements_applied == 1 and out.active_version_id == "api_debug@1.1.0"
        assert improvement.status is EnumImprovementStatus.APPLIED
        assert look.decision is EnumDecision.APPLY
        assert quality.verdict is EnumGuardrailVerdict.NON_INFERIOR and quality.margin == 0.30
