"""A separate process recording into one routing domain: ``python -m tests.routing.recorder
DSN DOMAIN N``. Decides and rewards N times (reward 1 for "large", else 0), with pauses in
which its background task flushes (every 10 ms), so its batches interleave with another
process's; then closes (the last flush) and prints its writer id and number of batches."""

from __future__ import annotations

import asyncio
import sys

from contracts.model_routing import ModelLearningSettings
from nodes import LearningEngine

ARMS = ["small", "medium", "large"]


async def record(dsn: str, domain: str, count: int) -> None:
    settings = ModelLearningSettings(
        flush_interval_s=0.01,
        refresh_interval_s=0.01,
        enable_experiment_harness=False,
        enable_rl_lints=False,
    )
    async with LearningEngine(dsn=dsn, settings=settings) as engine:
        for i in range(count):
            arm = await engine.select_model(domain, ARMS)
            await engine.record_outcome(domain, arm, 1.0 if arm == "large" else 0.0)
            if i % 1000 == 0:
                await asyncio.sleep(0.02)  # a pause in traffic: the background flushes
    print(engine.writer_id, engine.batches)


if __name__ == "__main__":
    asyncio.run(record(sys.argv[1], sys.argv[2], int(sys.argv[3])))
