"""The README's Quick start, with its setup. Run it twice: the first run proposes a candidate,
the second applies it.

Setup first (not part of the README's snippet). The first run registers ``api_debug`` and routes
an hour of simulated requests to it, so there is something to analyze: the loop proposes a
candidate and starts its A/B test (``Improvements applied: 0``). Every later run first routes
the requests that arrived since the last version was made: the A/B split sends about half of
them to the candidate, and with those measured the loop applies it (``Improvements applied:
1``). With no DSN (``FEEDBACK_LOOP_DSN``) the orchestrator starts the embedded PostgreSQL.
Run: ``python -m examples.quick_start``
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from contracts import ModelFeedbackLoopInput
from nodes import FeedbackLoopService, NodeFeedbackLoopOrchestrator
from nodes.simulation.demo import route_traffic
from nodes.simulation.simulator import DEMO_PATTERNS, ProductionSimulator

PATTERN = "api_debug"
FIRST_RUN_REQUESTS = 300
LATER_RUN_REQUESTS = 2400


async def setup(orchestrator: NodeFeedbackLoopOrchestrator) -> None:
    truth, config = DEMO_PATTERNS[PATTERN]
    service = FeedbackLoopService(orchestrator.runtime)
    versions = await service.versions(PATTERN)
    now = datetime.now(UTC)
    if not versions:
        await service.register(PATTERN, config)
        since, requests = now - timedelta(hours=1), FIRST_RUN_REQUESTS
    else:
        # A candidate counts only executions after it was made: route traffic since then.
        since = max(v.created_at or now for v in versions)
        requests = LATER_RUN_REQUESTS
    rows = await route_traffic(
        ProductionSimulator({PATTERN: truth}, seed=len(versions) + 3),
        service,
        PATTERN,
        [f"run{len(versions)}-request{i}" for i in range(requests)],
        start=since,
        spacing_s=max((now - since).total_seconds(), 1.0) / (requests + 1),
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
