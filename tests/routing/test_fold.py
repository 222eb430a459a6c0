"""Folding appended arm deltas into the arms' rows: exact while flushes, readers and other
folds go on, and a reset never misses a row a running fold inserted.

A fold is held open by locking one arm row it must update (another session's FOR UPDATE), so
the interleavings below happen in a fixed order instead of by chance."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from contracts.model_routing import ModelLearningSettings
from nodes import LearningEngine
from tests.polling import until
from tests.routing.learning import learn, totals

MANUAL = {"flush_interval_s": 3600.0, "refresh_interval_s": 3600.0}  # flushed and folded here


@pytest.fixture
async def engine(pool: asyncpg.Pool) -> AsyncIterator[LearningEngine]:
    settings = ModelLearningSettings.model_validate(
        {"seed": 3, "enable_experiment_harness": False, "enable_rl_lints": False} | MANUAL
    )
    async with LearningEngine(pool=pool, settings=settings) as engine:
        yield engine


async def _unfolded(pool: asyncpg.Pool) -> int:
    count: int = await pool.fetchval("SELECT count(*) FROM routing_arm_deltas")
    return count


async def _until_waiting(pool: asyncpg.Pool, sessions: int) -> None:
    """Returns once ``sessions`` sessions wait for a lock (a poll with a deadline)."""

    async def waiting() -> bool:
        count = await pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return bool(count >= sessions)

    await until(waiting)


async def test_a_fold_moves_deltas_exactly_while_flushes_readers_and_folds_go_on(
    engine: LearningEngine, pool: asyncpg.Pool
) -> None:
    await learn(engine, "fold", {"small": 1.0, "medium": 0.5}, 3)
    await engine.flush()
    assert await engine.fold() == 2  # one delta row per arm and flush
    await learn(engine, "fold", {"small": 1.0, "large": 0.25}, 2)  # large is new
    await engine.flush()
    expected = {"small": (5, 5.0), "medium": (7, 5.5), "large": (2, 0.5)}
    async with pool.acquire() as holder, holder.transaction():
        await holder.execute(
            "SELECT 1 FROM routing_arms WHERE domain = 'fold' AND arm = 'small' FOR UPDATE"
        )
        fold = asyncio.create_task(engine.fold())
        await _until_waiting(pool, 1)
        assert await engine.fold() is None  # one fold at a time: the second skips
        await learn(engine, "fold", {"medium": 1.0}, 4)  # flushed while the fold is open
        await engine.flush()
        assert await totals(pool, "fold") == expected  # readers see every delta meanwhile
    assert await fold == 2  # small and large: the medium delta came after its snapshot
    assert await totals(pool, "fold") == expected
    assert await _unfolded(pool) == 1
    assert await engine.fold() == 1
    assert await _unfolded(pool) == 0
    assert await totals(pool, "fold") == expected
    folded = await pool.fetch("SELECT arm, pulls FROM routing_arms WHERE domain = 'fold'")
    assert {r["arm"]: r["pulls"] for r in folded} == {a: p for a, (p, _) in expected.items()}


async def test_a_reset_waits_for_a_running_fold_and_forgets_what_it_folded(
    engine: LearningEngine, pool: asyncpg.Pool
) -> None:
    await learn(engine, "forget", {"small": 1.0}, 2)
    await engine.flush()
    await engine.fold()
    await learn(engine, "forget", {"small": 1.0, "large": 1.0}, 2)  # large: a row to insert
    await engine.flush()
    async with pool.acquire() as holder:
        async with holder.transaction():
            await holder.execute(
                "SELECT 1 FROM routing_arms WHERE domain = 'forget' AND arm = 'small' FOR UPDATE"
            )
            fold = asyncio.create_task(engine.fold())
            await _until_waiting(pool, 1)
            reset = asyncio.create_task(engine.reset("forget"))
            await _until_waiting(pool, 2)  # the reset too
        assert await fold == 2
        await reset
    # Without the fold's lock the reset's DELETE would not see the row the fold inserted.
    assert await totals(pool, "forget") == {}
    assert await pool.fetchval("SELECT count(*) FROM routing_arms WHERE domain = 'forget'") == 0
