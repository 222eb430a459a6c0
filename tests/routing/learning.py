"""What the engine tests share: teaching an engine fixed rewards and reading the totals."""

from __future__ import annotations

import asyncpg

from nodes import LearningEngine


async def learn(engine: LearningEngine, domain: str, rewards: dict[str, float], times: int) -> None:
    """Record each arm's reward ``times`` times, arm by arm."""
    for _ in range(times):
        for arm, reward in rewards.items():
            await engine.record_outcome(domain, arm, reward)


async def totals(pool: asyncpg.Pool, domain: str) -> dict[str, tuple[int, float]]:
    """Each arm's (pulls, reward_sum) as every reader sees them: folded plus appended."""
    rows = await pool.fetch(
        "SELECT arm, pulls, reward_sum FROM routing_arm_totals WHERE domain = $1", domain
    )
    return {r["arm"]: (r["pulls"], r["reward_sum"]) for r in rows}
