"""The README's Quick start, with its setup.

Setup first (not part of the README's snippet): register ``api_debug`` and give it a day of
simulated traffic, so there is something to analyze. With no DSN (``FEEDBACK_LOOP_DSN``) the
orchestrator starts the embedded PostgreSQL. Run: ``python -m examples.quick_start``
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from contracts import ModelFeedbackLoopInput
from nodes import FeedbackLoopService, NodeFeedbackLoopOrchestrator
from nodes.simulation.simulator import DEMO_PATTERNS, ProductionSimulator


async def setup(orchestrator: NodeFeedbackLoopOrchestrator) -> None:
    truth, config = DEMO_PATTERNS["api_debug"]
    service = FeedbackLoopService(orchestrator.runtime)
    await service.register("api_debug", config)
    rows = ProductionSimulator({"api_debug": truth}).simulate(
        "api_debug", "api_debug@1.0.0", config, 200, start=datetime.now(UTC) - timedelta(days=1)
    )
    await service.ingest(rows)


async def main() -> None:
    orchestrator = NodeFeedbackLoopOrchestrator()
    await setup(orchestrator)

    # --- the README's Quick start ---
    contract = ModelFeedbackLoopInput(
        pattern_id="api_debug",
        feedback_type="performance",
        time_window_days=7,
        auto_apply_threshold=0.95,
        min_sample_size=30,
        significance_level=0.05,
        enable_ab_testing=True,
    )
    result = await orchestrator.execute_orchestration(contract)
    if result.success:
        print(f"Improvements applied: {result.data['improvements_applied']}")
        print(f"Performance gain: {result.data['performance_delta']:.1%}")
    else:
        print(f"Error: {result.error}")
    # --- end ---

    if result.data is not None:
        print(f"Workflow stages: {result.data.workflow_stages}")
    await orchestrator.close()


if __name__ == "__main__":
    asyncio.run(main())
