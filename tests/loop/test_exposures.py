"""Exposures recorded by assign() and the checks built on them, end to end on PostgreSQL."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import uuid
from datetime import datetime
from typing import Any

import asyncpg
import pytest

from contracts.enum_loop import EnumImprovementStatus
from contracts.model_onex_error import ModelOnexError
from contracts.model_traffic_allocation import unit_hash
from nodes.orchestrator.node_feedback_loop_orchestrator import NodeFeedbackLoopOrchestrator
from tests.loop.scenario import Scenario
from tests.polling import until


@pytest.fixture
async def scenario(pool: asyncpg.Pool) -> Any:
    s = Scenario(pool, "api_debug")
    await s.register()
    try:
        yield s
    finally:
        await s.close()


async def _counts(pool: asyncpg.Pool) -> tuple[int, int]:
    units = await pool.fetchval("SELECT count(*) FROM exposure_units")
    calls = await pool.fetchval("SELECT coalesce(sum(calls), 0) FROM exposure_calls")
    return units, calls


async def test_assign_buffers_exposures_and_a_flush_writes_each_unit_once(
    pool: asyncpg.Pool, scenario: Scenario
) -> None:
    service = scenario.service
    versions = {await service.assign("api_debug", f"user-{i % 40}") for i in range(400)}
    assert versions == {"api_debug@1.0.0"}
    assert await _counts(pool) == (0, 0)  # nothing written per call
    assert await service.flush_exposures() == 40
    assert await _counts(pool) == (40, 400)  # 40 distinct units, 400 calls
    for i in range(100):  # the same units again, and 10 new ones
        await service.assign("api_debug", f"user-{i % 50}")
    await service.flush_exposures()
    assert await _counts(pool) == (50, 500)
    stored = await pool.fetchval(
        "SELECT count(*) FROM exposure_units WHERE unit_hash = $1",
        unit_hash("api_debug", "user-7"),
    )
    assert stored == 1  # units are kept as hashes, once per split


async def test_outcome_biased_logging_blocks_until_a_person_resumes(
    pool: asyncpg.Pool, scenario: Scenario
) -> None:
    """The candidate's slowest fifth is never logged (its worker crashes on them): its logged
    sample looks faster than it is. The first look blocks the experiment, the candidate gets
    no traffic, and only an acknowledged resume brings it back with fresh checks."""
    s = scenario
    orchestrator = NodeFeedbackLoopOrchestrator(pool)
    await s.traffic(300)
    first = await orchestrator.execute_orchestration(s.contract())
    assert first.success and first.data is not None
    (candidate,) = first.data.versions_created

    def lose_slowest_candidate_fifth(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        mine = sorted(
            (r for r in rows if r["version_id"] == candidate), key=lambda r: r["duration_ms"]
        )
        lost = {id(r) for r in mine[int(len(mine) * 0.8) :]}
        return [r for r in rows if id(r) not in lost]

    await s.traffic(1000, logged=lose_slowest_candidate_fifth)
    looked = await orchestrator.execute_orchestration(s.contract())
    assert looked.success
    (blocked,) = await s.service.improvements("api_debug", [EnumImprovementStatus.BLOCKED])
    assert blocked.decision_reason is not None
    assert blocked.decision_reason.startswith("logging incomplete")
    assert set(await s.traffic(200)) == {"api_debug@1.0.0"}  # no traffic while blocked
    later = await orchestrator.execute_orchestration(s.contract())
    assert later.success  # sticky: a blocked experiment is not looked at again
    (still,) = await s.service.improvements("api_debug", [EnumImprovementStatus.BLOCKED])
    assert still.improvement_id == blocked.improvement_id

    resumed = await s.service.resume(
        blocked.improvement_id, ack_srm=True, actor="alice", reason="hook fixed"
    )
    assert resumed.status is EnumImprovementStatus.TESTING
    assert resumed.srm_epoch_at is not None
    audit = await pool.fetch(
        "SELECT action FROM audit_log WHERE improvement_id = $1 ORDER BY audit_id",
        blocked.improvement_id,
    )
    assert [a["action"] for a in audit][-2:] == ["block", "resume"]
    assert candidate in await s.traffic(400)  # traffic again
    await orchestrator.close()


async def test_resume_needs_the_acknowledgement(scenario: Scenario) -> None:
    with pytest.raises(ModelOnexError, match="ack_srm"):
        await scenario.service.resume(uuid.uuid4(), ack_srm=False, actor="a", reason="r")


_KILLED_ROUTER = """
import asyncio, json, os, signal, sys
from datetime import datetime, timedelta
from nodes.service import FeedbackLoopService

async def main():
    # Flushes would come only after an hour: the buffer dies with the process.
    service = FeedbackLoopService(dsn=sys.argv[1], exposure_flush_s=3600)
    start = datetime.fromisoformat(sys.argv[2])
    for i in range(int(sys.argv[3])):
        unit, at = f"killed-{i}", start + timedelta(seconds=3 * i)
        version = await service.assign("api_debug", unit, at=at)
        print(json.dumps([unit, version, at.isoformat()]), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(main())
"""


async def test_a_buffer_lost_with_its_process_does_not_block(
    pool: asyncpg.Pool, db_dsn: str, scenario: Scenario
) -> None:
    """A router killed with -9 loses its unflushed exposures, while the hooks still log the
    executions it routed: both arms miss their calls alike, so nothing is flagged."""
    s = scenario
    orchestrator = NodeFeedbackLoopOrchestrator(pool)
    await s.traffic(300)
    assert (await orchestrator.execute_orchestration(s.contract())).success
    await s.traffic(600)
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED_ROUTER, db_dsn, s.as_of.isoformat(), "1000"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    routed = [json.loads(line) for line in killed.stdout.splitlines() if line.startswith("[")]
    assert len(routed) == 1000
    configs = {v.version_id: v.config for v in await s.service.versions("api_debug")}
    rows = []
    for unit, version, at in routed:
        (row,) = s.simulator.simulate(
            "api_debug", version, configs[version], 1, start=datetime.fromisoformat(at),
            spacing_s=0.0, unit_keys=[unit],
        )  # fmt: skip
        rows.append(row)
    await s.service.ingest(rows)
    assert (
        await pool.fetchval("SELECT count(*) FROM exposure_units u WHERE u.first_at >= $1", s.as_of)
        == 0
    )  # the killed router's exposures are gone
    s.cycle += 1
    await s.traffic(600)
    looked = await orchestrator.execute_orchestration(s.contract())
    assert looked.success
    assert await s.service.improvements("api_debug", [EnumImprovementStatus.BLOCKED]) == []
    await orchestrator.close()


async def test_a_full_buffer_is_flushed_early_without_losing_or_doubling(
    pool: asyncpg.Pool, scenario: Scenario
) -> None:
    service = scenario.service
    service.runtime.exposures.max_buffered = 5
    for i in range(200):
        await service.assign("api_debug", f"burst-{i}")
    await service.flush_exposures()

    async def all_written() -> bool:
        return await _counts(pool) == (200, 200)

    await until(all_written)
    assert service.runtime.exposures.pending == 0
