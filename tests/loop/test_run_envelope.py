"""The run's error envelope and its ledger row: any exception in any stage is a failed result
with a code and the correlation id, the ``loop_runs`` row is closed, and the next attempt of
the same correlation id runs again; a row left ``running`` by a dead session is abandoned."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from contracts.enum_error_code import EnumErrorCode
from contracts.enum_loop import EnumWorkflowStage
from contracts.model_onex_error import ModelOnexError
from nodes.orchestrator.node_feedback_loop_orchestrator import (
    NodeFeedbackLoopOrchestrator,
    RunState,
)
from nodes.runtime.runtime import Connection
from tests.loop.scenario import Scenario
from tests.polling import blocked_on_a_lock, until


@pytest.fixture
async def scenario(pool: asyncpg.Pool) -> AsyncIterator[Scenario]:
    s = Scenario(pool, "api_debug")
    await s.register()
    await s.traffic(200)
    try:
        yield s
    finally:
        await s.close()


async def _boom(conn: Connection, state: RunState) -> tuple[RunState, str]:
    raise ZeroDivisionError("injected")


@pytest.mark.parametrize("stage", [s.value for s in EnumWorkflowStage])
async def test_an_unexpected_exception_in_any_stage_closes_the_run(
    pool: asyncpg.Pool, scenario: Scenario, stage: str
) -> None:
    orchestrator = NodeFeedbackLoopOrchestrator(pool)
    orchestrator.stages = tuple(
        dataclasses.replace(s, run=_boom, skip=lambda _state: None) if s.name == stage else s
        for s in orchestrator.stages
    )
    contract = scenario.contract()
    result = await orchestrator.execute_orchestration(contract)
    assert not result.success and result.error is not None
    assert result.error["code"] == "INTERNAL"
    assert result.error["correlation_id"] == str(contract.correlation_id)
    assert "ZeroDivisionError: injected" in result.error["message"]
    assert result.error["workflow_stages"][stage]["status"] == "failed"
    rows = await pool.fetch(
        "SELECT attempt, status, stages, error FROM loop_runs WHERE correlation_id = $1",
        contract.correlation_id,
    )
    assert [(r["attempt"], r["status"]) for r in rows] == [(1, "failed")]
    assert rows[0]["stages"][stage]["status"] == "failed"

    # The same correlation id again, with healthy stages: the next attempt runs and succeeds.
    healthy = NodeFeedbackLoopOrchestrator(pool)
    again = await healthy.execute_orchestration(contract)
    assert again.success and again.data is not None and not again.data.replayed
    statuses = await pool.fetch(
        "SELECT attempt, status FROM loop_runs WHERE correlation_id = $1 ORDER BY attempt",
        contract.correlation_id,
    )
    assert [(r["attempt"], r["status"]) for r in statuses] == [(1, "failed"), (2, "succeeded")]
    replay = await healthy.execute_orchestration(contract)
    assert replay.success and replay.data is not None and replay.data.replayed


async def test_run_many_never_raises_for_one_pattern(
    pool: asyncpg.Pool, scenario: Scenario
) -> None:
    orchestrator = NodeFeedbackLoopOrchestrator(pool)
    orchestrator.stages = tuple(
        dataclasses.replace(s, run=_boom) if s.name == "analyze" else s for s in orchestrator.stages
    )
    results = await orchestrator.run_many(
        [scenario.contract(), scenario.contract().model_copy(update={"pattern_id": "nope"})]
    )
    assert [r.success for r in results] == [False, False]
    assert [r.error["code"] for r in results if r.error] == ["INTERNAL", "NOT_FOUND"]


async def test_a_dead_sessions_running_row_is_abandoned_by_the_next_run(
    pool: asyncpg.Pool, scenario: Scenario
) -> None:
    dead, same = uuid.uuid4(), uuid.uuid4()
    for correlation_id in (dead, same):  # as a killed process would leave them
        await pool.execute(
            "INSERT INTO loop_runs (correlation_id, attempt, pattern_id, status, input) "
            "VALUES ($1, 1, 'api_debug', 'running', $2)",
            correlation_id,
            json.loads("{}"),
        )
    result = await NodeFeedbackLoopOrchestrator(pool).execute_orchestration(
        scenario.contract(correlation_id=same)
    )
    assert result.success
    rows = await pool.fetch(
        "SELECT correlation_id, attempt, status FROM loop_runs ORDER BY correlation_id, attempt"
    )
    by_run = {(r["correlation_id"], r["attempt"]): r["status"] for r in rows}
    assert by_run == {(dead, 1): "abandoned", (same, 1): "abandoned", (same, 2): "succeeded"}


async def test_a_correlation_id_belongs_to_one_pattern(
    pool: asyncpg.Pool, scenario: Scenario
) -> None:
    taken = uuid.uuid4()
    orchestrator = NodeFeedbackLoopOrchestrator(pool)
    assert (
        await orchestrator.execute_orchestration(scenario.contract(correlation_id=taken))
    ).success
    other = await orchestrator.execute_orchestration(
        scenario.contract(correlation_id=taken).model_copy(update={"pattern_id": "ghost"})
    )
    assert not other.success and other.error is not None
    assert other.error["code"] == "CONFLICT" and "'api_debug'" in other.error["message"]
    assert await pool.fetchval("SELECT count(*) FROM loop_runs WHERE pattern_id = 'ghost'") == 0


async def test_a_correlation_id_opened_meanwhile_for_another_pattern_is_a_conflict(
    pool: asyncpg.Pool, scenario: Scenario
) -> None:
    """The run's opening statement sees no attempt yet, but its insert meets one committed by
    another pattern's run in between: the result names that pattern, nothing is opened."""
    raced = uuid.uuid4()
    async with pool.acquire() as first, pool.acquire() as second:
        transaction = first.transaction()
        await transaction.start()
        await first.execute(
            "INSERT INTO loop_runs (correlation_id, attempt, pattern_id, status, input) "
            "VALUES ($1, 1, 'other', 'running', '{}')",
            raced,
        )
        ledger = NodeFeedbackLoopOrchestrator(pool).runtime.ledger
        opening = asyncio.create_task(ledger.open(second, scenario.contract(correlation_id=raced)))
        await until(blocked_on_a_lock(second.get_server_pid(), pool.fetchval))
        await transaction.commit()
        with pytest.raises(ModelOnexError) as caught:
            await opening
    assert caught.value.code is EnumErrorCode.CONFLICT and "'other'" in caught.value.message
    rows = await pool.fetch("SELECT pattern_id FROM loop_runs WHERE correlation_id = $1", raced)
    assert [r["pattern_id"] for r in rows] == ["other"]
