"""Processes recording into one domain: two at once add up exactly; one killed with -9 leaves
only whole batches behind (every stored pull has its logged decision, and back)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import asyncpg

from tests.polling import until

COUNT = 10_000


async def _spawn(dsn: str, count: int) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDBACK_LOOP_")}
    return await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "tests.routing.recorder", dsn, "shared", str(count)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )


async def _recorder(dsn: str) -> tuple[str, int]:
    process = await _spawn(dsn, COUNT)
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
    arms = await pool.fetch("SELECT arm, pulls, reward_sum FROM routing_arm_totals")
    decided = dict(await pool.fetch("SELECT arm, count(*) FROM routing_decisions GROUP BY arm"))
    assert sum(r["pulls"] for r in arms) == 2 * COUNT
    assert {r["arm"]: r["pulls"] for r in arms} == decided  # each decision rewarded once
    assert {r["arm"]: r["reward_sum"] for r in arms} == {
        r["arm"]: float(r["pulls"]) if r["arm"] == "large" else 0.0 for r in arms
    }


async def _pulls(pool: asyncpg.Pool) -> int:
    pulls: int = await pool.fetchval(
        "SELECT coalesce(sum(pulls), 0)::bigint FROM routing_arm_totals"
    )
    return pulls


async def test_a_process_killed_with_9_leaves_only_whole_batches(
    db_dsn: str, pool: asyncpg.Pool
) -> None:
    process = await _spawn(db_dsn, 10**9)
    try:

        async def flushed_a_few() -> bool:
            return await _pulls(pool) >= 3_000

        await until(flushed_a_few, timeout_s=30)
    finally:
        process.send_signal(signal.SIGKILL)
        await process.communicate()
    assert process.returncode == -signal.SIGKILL
    pulls = await _pulls(pool)
    per_arm = dict(await pool.fetch("SELECT arm, pulls FROM routing_arm_totals"))
    decided = dict(await pool.fetch("SELECT arm, count(*) FROM routing_decisions GROUP BY arm"))
    assert per_arm == decided and sum(decided.values()) == pulls
