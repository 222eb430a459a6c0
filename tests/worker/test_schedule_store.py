"""The schedule store and the scheduler pass, in process: a missed window coalesces into one
run, a paused schedule enqueues nothing, concurrent passes enqueue each due run once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import asyncpg
import pytest

from contracts.enum_error_code import EnumErrorCode
from contracts.model_onex_error import ModelOnexError
from contracts.model_schedule import ModelDueRun, ModelScheduleSetInput, ModelScheduleSpec
from nodes.service import FeedbackLoopService
from tests.worker.workers import CONFIG, scheduled_patterns

HOURLY = ModelScheduleSpec(interval=timedelta(hours=1))


@pytest.fixture
async def service(pool: asyncpg.Pool) -> AsyncIterator[FeedbackLoopService]:
    async with FeedbackLoopService(pool=pool) as service:
        await service.register("p", CONFIG)
        yield service


async def _now(pool: asyncpg.Pool) -> datetime:
    at: datetime = await pool.fetchval("SELECT now()")
    return at


async def test_a_missed_window_coalesces_into_one_run(
    service: FeedbackLoopService, pool: asyncpg.Pool
) -> None:
    start = await _now(pool) - timedelta(hours=10, minutes=30)
    await service.set_schedule(ModelScheduleSetInput(pattern_id="p", spec=HOURLY, start=start))
    enqueued = await service.enqueue_due_runs()
    assert enqueued.runs == (ModelDueRun.of("p", start + timedelta(hours=10)),)
    assert enqueued.missed == 10
    assert (await service.enqueue_due_runs()).runs == ()
    (schedule,) = await service.schedules()
    assert schedule.next_due_at == start + timedelta(hours=11)
    assert await pool.fetchval("SELECT count(*) FROM pgqueuer") == 1


async def test_paused_schedules_enqueue_nothing_until_resumed(
    service: FeedbackLoopService,
) -> None:
    await service.set_schedule(ModelScheduleSetInput(pattern_id="p", spec=HOURLY))
    assert (await service.pause_schedule("p", paused=True)).paused
    assert (await service.enqueue_due_runs()).runs == ()
    replaced = await service.set_schedule(ModelScheduleSetInput(pattern_id="p", spec=HOURLY))
    assert replaced.paused, "replacing a schedule keeps it paused"
    assert not (await service.pause_schedule("p", paused=False)).paused
    assert len((await service.enqueue_due_runs()).runs) == 1


async def test_unknown_patterns_and_schedules_are_not_found(
    service: FeedbackLoopService,
) -> None:
    with pytest.raises(ModelOnexError) as unknown:
        await service.set_schedule(ModelScheduleSetInput(pattern_id="nope", spec=HOURLY))
    assert unknown.value.code is EnumErrorCode.NOT_FOUND
    for call in (service.remove_schedule("p"), service.pause_schedule("p", paused=True)):
        with pytest.raises(ModelOnexError, match="has no schedule"):
            await call
    await service.set_schedule(ModelScheduleSetInput(pattern_id="p", spec=HOURLY))
    await service.remove_schedule("p")
    assert await service.schedules() == []


async def test_concurrent_passes_enqueue_each_due_run_once(db_dsn: str, pool: asyncpg.Pool) -> None:
    patterns = await scheduled_patterns(pool, 200)
    services = [FeedbackLoopService(dsn=db_dsn, pool_size=2) for _ in range(8)]
    try:
        passes = await asyncio.gather(*(s.enqueue_due_runs(limit=40) for s in services * 3))
    finally:
        await asyncio.gather(*(s.close() for s in services))
    runs = [run for enqueued in passes for run in enqueued.runs]
    assert sorted(run.pattern_id for run in runs) == patterns
    keys = await pool.fetch("SELECT dedupe_key FROM pgqueuer")
    assert sorted(r["dedupe_key"] for r in keys) == sorted(str(r.correlation_id) for r in runs)
