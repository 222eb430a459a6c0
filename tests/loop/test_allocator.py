"""assign() on Postgres: deterministic, cached, refreshed when the pattern's versions change."""

from __future__ import annotations

import uuid

import asyncpg

from contracts.enum_loop import EnumImprovementType
from contracts.model_pattern_improvement import ModelConfigChange, ModelProposal
from nodes.compute.allocation import Allocation
from nodes.effect.node_improvement_store_effect import NodeImprovementStoreEffect
from nodes.effect.node_lineage_store_effect import NodeLineageStoreEffect
from nodes.effect.node_pattern_registry_effect import NodePatternRegistryEffect
from nodes.effect.node_traffic_allocator_effect import NodeTrafficAllocatorEffect

UNITS = [f"user-{i}" for i in range(2000)]


async def _notifications_delivered(allocator: NodeTrafficAllocatorEffect) -> None:
    """A round trip on the listening connection: the server sends a committed NOTIFY to an
    idle listener before it answers the listener's next query."""
    assert allocator._listener is not None
    await allocator._listener.fetchval("SELECT 1")


async def test_assign_is_stable_and_follows_version_changes(pool: asyncpg.Pool) -> None:
    base = await NodePatternRegistryEffect(pool).register_pattern("checkout", {"timeout_ms": 100})
    allocator = NodeTrafficAllocatorEffect(pool, ttl_s=3600)
    try:
        assert {await allocator.assign("checkout", u) for u in UNITS} == {"checkout@1.0.0"}

        proposal = ModelProposal(
            generator="test",
            improvement_type=EnumImprovementType.PERFORMANCE,
            description="more headroom",
            config_diff={"timeout_ms": ModelConfigChange(old=100, new=150)},
            expected_delta=0.1,
        )
        store = NodeImprovementStoreEffect(NodeLineageStoreEffect())
        async with pool.acquire() as conn:
            await store.start_candidates(
                conn,
                base,
                [proposal],
                candidate_traffic=0.3,
                correlation_id=uuid.uuid4(),
                actor="test",
            )
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

    other = NodeTrafficAllocatorEffect(pool)  # another process, later: the same answers
    try:
        assert {u: await other.assign("checkout", u) for u in UNITS} == first
    finally:
        await other.close()
