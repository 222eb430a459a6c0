"""Two processes recording into one domain at once: the shared counts add up exactly."""

from __future__ import annotations

import asyncio
import os
import sys

import asyncpg

COUNT = 10_000


async def _recorder(dsn: str) -> tuple[str, int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDBACK_LOOP_")}
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "tests.routing.recorder", dsn, "shared", str(COUNT)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, err.decode()
    writer, batches = out.decode().splitlines()[-1].split()
    return writer, int(batches)


async def test_two_processes_recording_into_one_domain_add_up_exactly(
    db_dsn: str, pool: asyncpg.Pool
) -> None:
    results = await asyncio.gather(_recorder(db_dsn), _recorder(db_dsn))
    assert len({writer for writer, _ in results}) == 2
    assert all(batches > 3 for _, batches in results)  # their flushes interleaved
    arms = await pool.fetch("SELECT arm, pulls, reward_sum FROM routing_arms")
    decided = dict(
        await pool.fetch("SELECT arm, count(*) FROM routing_decisions GROUP BY arm")  # type: ignore[arg-type]
    )
    assert sum(r["pulls"] for r in arms) == 2 * COUNT
    assert {r["arm"]: r["pulls"] for r in arms} == decided  # each decision rewarded once
    assert {r["arm"]: r["reward_sum"] for r in arms} == {
        r["arm"]: float(r["pulls"]) if r["arm"] == "large" else 0.0 for r in arms
    }
