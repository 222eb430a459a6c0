"""assign() on Postgres: deterministic, cached, refreshed when the pattern's versions change."""

from __future__ import annotations

import asyncpg

from contracts.enum_loop import EnumImprovementType
from contracts.model_pattern_improvement import ModelConfigChange, ModelProposal
from contracts.model_traffic_allocation import ModelTrafficAllocation as Allocation
from nodes.service import FeedbackLoopService
from tests.lifecycle import propose

UNITS = [f"user-{i}" for i in range(2000)]


async def _notifications_delivered(service: FeedbackLoopService) -> None:
    """A round trip on the listening connection: the server sends a committed NOTIFY to an
    idle listener before it answers the listener's next query."""
    listener = service.runtime._listener
    assert listener is not None
    await listener.fetchval("SELECT 1")


async def test_assign_is_stable_and_follows_version_changes(pool: asyncpg.Pool) -> None:
    allocator = FeedbackLoopService(pool=pool, allocation_ttl_s=3600)
    await allocator.register("checkout", {"timeout_ms": 100})
    try:
        assert {await allocator.assign("checkout", u) for u in UNITS} == {"checkout@1.0.0"}

        proposal = ModelProposal(
            generator="test",
            improvement_type=EnumImprovementType.PERFORMANCE,
            description="more headroom",
            config_diff={"timeout_ms": ModelConfigChange(old=100, new=150)},
            expected_delta=0.1,
        )
        async with pool.acquire() as conn:
            await propose(conn, "checkout", [proposal], candidate_traffic=0.3)
        await _notifications_delivered(allocator)

        first = {u: await allocator.assign("checkout", u) for u in UNITS}
        share = sum(v == "checkout@1.1.0" for v in first.values()) / len(UNITS)
        assert abs(share - 0.3) < 0.04  # 2,000 units: 4 standard errors
        expected = Allocation.from_weights(
            "checkout", {"checkout@1.0.0": 0.7, "checkout@1.1.0": 0.3}
        )
        assert all(first[u] == expected.choose(u) for u in UNITS)
    finally:
        await allocator.close()

    other = FeedbackLoopService(pool=pool)  # another process, later: the same answers
    try:
        assert {u: await other.assign("checkout", u) for u in UNITS} == first
    finally:
        await other.close()
