"""A pattern on the simulated production system, driven cycle by cycle like a scheduler would."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from contracts.model_feedback_loop_input import ModelFeedbackLoopInput
from contracts.model_objective import EnumGuardedMetric, ModelGuardrail, ModelObjective
from contracts.model_objective_store import ModelObjectiveSetInput
from nodes.service import FeedbackLoopService
from nodes.simulation.demo import route_traffic
from nodes.simulation.simulator import DEMO_PATTERNS, ProductionSimulator

# Recent, so that runs without ``as_of`` (the CLI's) see the traffic in their 7-day window.
T0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=2)
CYCLE = timedelta(hours=1)

WIDE_MARGINS = tuple(
    ModelGuardrail(metric=metric, margin=margin)
    for metric, margin in (
        (EnumGuardedMetric.SUCCESS_RATE, 0.20),
        (EnumGuardedMetric.DURATION_MEAN, 1.0),
        (EnumGuardedMetric.QUALITY_SCORE, 0.30),
        (EnumGuardedMetric.USER_RATING, 2.0),
        (EnumGuardedMetric.COST_USD, 1.0),
    )
)
"""Guardrails loose enough to resolve on the few hundred executions per arm these mechanics
tests route (no p95: its order-statistic bound needs a few hundred per arm alone). The decision
rules themselves are tested in test_validator.py and measured by bench/decisions.py."""


class Scenario:
    def __init__(self, pool: asyncpg.Pool, demo_pattern: str, *, seed: int = 3) -> None:
        self.pool = pool
        self.pattern_id = demo_pattern
        truth, self.config = DEMO_PATTERNS[demo_pattern]
        self.simulator = ProductionSimulator({demo_pattern: truth}, seed=seed)
        self.service = FeedbackLoopService(pool=pool, allocation_ttl_s=0.0)
        self.cycle = 0

    async def register(self, guardrails: tuple[ModelGuardrail, ...] = WIDE_MARGINS) -> None:
        await self.service.register(self.pattern_id, self.config)
        await self.service.set_objective(
            ModelObjectiveSetInput(
                objective=ModelObjective(pattern_id=self.pattern_id, guardrails=guardrails),
                actor="test",
            )
        )

    @property
    def as_of(self) -> datetime:
        return T0 + self.cycle * CYCLE

    async def traffic(
        self,
        requests: int,
        *,
        logged: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None = None,
    ) -> dict[str, int]:
        """One cycle of requests routed by assign() (exposures flushed); returns executions per
        version. ``logged`` picks the rows that reach the log (default: all)."""
        rows = await route_traffic(
            self.simulator,
            self.service,
            self.pattern_id,
            [f"{self.cycle}-{i}" for i in range(requests)],
            start=self.as_of,
            spacing_s=CYCLE.total_seconds() / (requests + 1),
        )
        if logged is not None:
            rows = logged(rows)
        await self.service.ingest(rows)
        self.cycle += 1
        return dict(Counter(row["version_id"] for row in rows))

    def contract(self, **overrides: Any) -> ModelFeedbackLoopInput:
        return ModelFeedbackLoopInput(
            **{"pattern_id": self.pattern_id, "as_of": self.as_of, **overrides}
        )

    async def close(self) -> None:
        await self.service.close()
