"""The original usage document's snippets, run as written apart from their import line.

Each snippet's text is embedded below exactly as it was published (only the import of the old
package path is left out; the names it imported are handed in). The Quick Start runs with a
top-level ``await``, as in a notebook or ``python -m asyncio``. The four usage profiles are
checked twice: each builds the same contract as its preset, and each, run through the loop on
a pattern whose candidate is truly better, does what its use case promises.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contracts import ModelFeedbackLoopInput
from contracts.enum_loop import EnumImprovementStatus
from contracts.model_result import ModelResult
from nodes import FeedbackLoopService, NodeFeedbackLoopOrchestrator
from nodes.simulation.demo import route_traffic
from nodes.simulation.simulator import DEMO_PATTERNS, ProductionSimulator

QUICK_START = """
# Initialize orchestrator
orchestrator = NodeFeedbackLoopOrchestrator()

# Create input contract
contract = ModelFeedbackLoopInput(
    pattern_id="pattern_api_debug_v1",
    feedback_type="performance",
    time_window_days=7,
    auto_apply_threshold=0.95,
    min_sample_size=30,
    significance_level=0.05,
    enable_ab_testing=True,
)

# Execute feedback loop
result = await orchestrator.execute_orchestration(contract)

# Check results
if result.success:
    print(f"Improvements applied: {result.data['improvements_applied']}")
    print(f"Performance gain: {result.data['performance_delta']:.1%}")
else:
    print(f"Error: {result.error}")
"""

CONSERVATIVE = """
contract = ModelFeedbackLoopInput(
    pattern_id="critical_system_pattern",
    time_window_days=30,          # Long observation
    auto_apply_threshold=0.99,    # Effectively manual
    min_sample_size=100,          # Large sample
    significance_level=0.01,      # Strict significance
)
"""

AGGRESSIVE = """
contract = ModelFeedbackLoopInput(
    pattern_id="experimental_pattern",
    time_window_days=3,           # Short window
    auto_apply_threshold=0.85,    # Lower threshold
    min_sample_size=20,           # Smaller sample
    significance_level=0.10,      # Relaxed significance
)
"""

QUALITY = """
contract = ModelFeedbackLoopInput(
    pattern_id="code_quality_pattern",
    feedback_type="quality",      # Focus on quality
    time_window_days=14,
    auto_apply_threshold=0.90,
    min_sample_size=50,
)
"""

MONITORING = """
contract = ModelFeedbackLoopInput(
    pattern_id="stable_pattern",
    auto_apply_threshold=1.0,     # Never auto-apply
    enable_ab_testing=False,      # No testing
)
"""

PROFILES = {
    "conservative": (CONSERVATIVE, "api_debug"),
    "aggressive": (AGGRESSIVE, "api_debug"),
    "quality": (QUALITY, "summarize_ticket"),
    "monitor-only": (MONITORING, "api_debug"),
}
"""Preset -> (snippet, the simulated pattern whose truth it runs on)."""


async def run_snippet(text: str, names: dict[str, Any]) -> dict[str, Any]:
    """Executes ``text`` like a module body with top-level await; returns its namespace."""
    namespace = dict(names)
    code = compile(text, "<snippet>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    pending = eval(code, namespace)  # the embedded snippet, nothing else
    if pending is not None:
        await pending
    return namespace


def contract_of(text: str) -> ModelFeedbackLoopInput:
    namespace: dict[str, Any] = {"ModelFeedbackLoopInput": ModelFeedbackLoopInput}
    exec(compile(text, "<snippet>", "exec"), namespace)
    contract = namespace["contract"]
    assert isinstance(contract, ModelFeedbackLoopInput)
    return contract


class Traffic:
    """A registered pattern with the simulator's truth, and a day of its traffic."""

    def __init__(self, service: FeedbackLoopService, pattern_id: str, truth_of: str) -> None:
        truth, self.config = DEMO_PATTERNS[truth_of]
        self.service = service
        self.pattern_id = pattern_id
        self.simulator = ProductionSimulator({pattern_id: truth}, seed=3)
        self.batches = 0

    async def register(self) -> None:
        await self.service.register(self.pattern_id, self.config)
        await self.route(300, since=datetime.now(UTC) - timedelta(hours=1))

    async def route(self, requests: int, since: datetime) -> None:
        """``requests`` routed by ``assign``, executed between ``since`` and now, ingested.
        A candidate counts only executions after it started, so ``since`` is taken after the
        run that proposed it."""
        self.batches += 1
        rows = await route_traffic(
            self.simulator,
            self.service,
            self.pattern_id,
            [f"r{self.batches}-{i}" for i in range(requests)],
            start=since,
            spacing_s=(datetime.now(UTC) - since).total_seconds() / (requests + 1),
        )
        await self.service.ingest(rows)


@pytest.fixture
def use_dsn(db_dsn: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The snippets build ``NodeFeedbackLoopOrchestrator()`` with no arguments: the DSN comes
    from the environment, as it would for a user with a server."""
    monkeypatch.setenv("FEEDBACK_LOOP_DSN", db_dsn)
    return db_dsn


async def test_quick_start_runs_as_written(use_dsn: str) -> None:
    printed: list[str] = []
    capture: Callable[[str], None] = printed.append
    names = {
        "NodeFeedbackLoopOrchestrator": NodeFeedbackLoopOrchestrator,
        "ModelFeedbackLoopInput": ModelFeedbackLoopInput,
        "print": capture,
    }
    setup = NodeFeedbackLoopOrchestrator()
    traffic = Traffic(FeedbackLoopService(setup.runtime), "pattern_api_debug_v1", "api_debug")
    try:
        await traffic.register()

        first = await run_snippet(QUICK_START, names)
        await first["orchestrator"].close()
        proposed = datetime.now(UTC)
        assert first["result"].success, first["result"].error
        assert printed == ["Improvements applied: 0", "Performance gain: 0.0%"]

        await traffic.route(2400, since=proposed)  # the candidate gets half of it
        printed.clear()
        second = await run_snippet(QUICK_START, names)
        await second["orchestrator"].close()
        gain = second["result"].data["performance_delta"]
        assert printed == ["Improvements applied: 1", f"Performance gain: {gain:.1%}"]
        assert gain > 0.2  # the cache's true effect on p50 latency is large
    finally:
        await setup.close()


async def test_quick_start_reports_an_unknown_pattern_as_an_error(use_dsn: str) -> None:
    printed: list[str] = []
    names = {
        "NodeFeedbackLoopOrchestrator": NodeFeedbackLoopOrchestrator,
        "ModelFeedbackLoopInput": ModelFeedbackLoopInput,
        "print": printed.append,
    }
    namespace = await run_snippet(QUICK_START, names)
    await namespace["orchestrator"].close()
    assert len(printed) == 1 and printed[0].startswith("Error: ")
    assert "pattern_api_debug_v1" in printed[0]


@pytest.mark.parametrize("preset", list(PROFILES))
def test_each_usage_profile_is_its_preset(preset: str) -> None:
    written = contract_of(PROFILES[preset][0])
    made = ModelFeedbackLoopInput.preset(preset, written.pattern_id)
    assert written.model_dump(exclude={"correlation_id"}) == made.model_dump(
        exclude={"correlation_id"}
    )


async def _two_runs(preset: str) -> tuple[ModelResult, list[Any]]:
    """The profile's contract on a pattern with a truly better proposal: a first run proposes
    a candidate, traffic is routed to it, a second run decides. Returns the second result and
    the pattern's improvements."""
    snippet, truth_of = PROFILES[preset]
    contract = contract_of(snippet)
    orchestrator = NodeFeedbackLoopOrchestrator()
    try:
        traffic = Traffic(FeedbackLoopService(orchestrator.runtime), contract.pattern_id, truth_of)
        await traffic.register()
        first = await orchestrator.execute_orchestration(contract)
        assert first.success, first.error
        await traffic.route(2400, since=datetime.now(UTC))
        second = await orchestrator.execute_orchestration(contract_of(snippet))
        assert second.success, second.error
        return second, await traffic.service.improvements(contract.pattern_id)
    finally:
        await orchestrator.close()


async def test_conservative_sends_a_clear_win_to_review(use_dsn: str) -> None:
    result, improvements = await _two_runs("conservative")
    assert result.data is not None and result.data.p_value is not None
    assert result.data.p_value < 0.01  # significant at the profile's strict level ...
    assert result.data["improvements_applied"] == 0  # ... and still a person's decision
    assert [i.status for i in improvements] == [EnumImprovementStatus.VALIDATED]


@pytest.mark.parametrize("preset", ["aggressive", "quality"])
async def test_aggressive_and_quality_apply_a_clear_win(use_dsn: str, preset: str) -> None:
    result, improvements = await _two_runs(preset)
    assert result.data is not None and result.data["improvements_applied"] == 1
    applied = [i for i in improvements if i.status is EnumImprovementStatus.APPLIED]
    assert len(applied) == 1
    assert applied[0].metric.value == ("quality_score" if preset == "quality" else "duration_ms")


async def test_monitoring_changes_nothing(use_dsn: str) -> None:
    result, improvements = await _two_runs("monitor-only")
    assert result.data is not None
    assert result.data["improvements_applied"] == 0 and improvements == []
    assert result.data.workflow_stages["generate"] == "skipped"
    assert result.data.workflow_stages["apply"] == "skipped"
