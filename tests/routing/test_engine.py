"""LearningEngine on the real database: cold start, arms coming and going, reset, freeze, the
decision log with propensities, refresh between processes, and batches written exactly once
even when a COMMIT's outcome is lost."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from contracts.enum_error_code import EnumErrorCode
from contracts.enum_routing import EnumRoutingPolicy
from contracts.model_onex_error import ModelOnexError
from contracts.model_routing import (
    ModelLearningSettings,
    ModelRoutingContext,
    ModelRoutingFlush,
    ModelRoutingFlushed,
)
from nodes import LearningEngine
from nodes.effect.node_routing_store_effect import NodeRoutingStoreEffect
from tests.polling import until
from tests.routing.learning import learn, totals

ARMS = ["small", "medium", "large"]


def _settings(**changes: object) -> ModelLearningSettings:
    """Fast intervals, fixed seed, flags off unless asked (never from the environment)."""
    base: dict[str, object] = {
        "seed": 7,
        "flush_interval_s": 0.05,
        "refresh_interval_s": 0.05,
        "enable_experiment_harness": False,
        "enable_rl_lints": False,
    }
    return ModelLearningSettings.model_validate(base | changes)


@pytest.fixture
async def engine(pool: asyncpg.Pool) -> AsyncIterator[LearningEngine]:
    async with LearningEngine(pool=pool, settings=_settings()) as engine:
        yield engine


async def test_cold_start_tries_every_arm_then_remembers_across_restarts(
    pool: asyncpg.Pool,
) -> None:
    settings = _settings(default_policy=EnumRoutingPolicy.UCB1)
    async with LearningEngine(pool=pool, settings=settings) as first:
        served = []
        for _ in ARMS:  # UCB1 tries each cold arm once first
            served.append(await first.select_model("route", ARMS))
            await first.record_outcome("route", served[-1], 1.0 if served[-1] == "large" else 0.0)
        assert sorted(served) == sorted(ARMS)
    assert await totals(pool, "route") == {"small": (1, 0.0), "medium": (1, 0.0), "large": (1, 1.0)}
    async with LearningEngine(pool=pool, settings=settings) as second:
        # Restarted: what was learned is read back, so UCB1 does not start over.
        assert await second.select_model("route", ARMS) == "large"


async def test_every_decision_is_logged_with_its_propensity(
    engine: LearningEngine, pool: asyncpg.Pool
) -> None:
    for arm, reward in (("small", 0.2), ("medium", 0.9), ("large", 0.4)):
        await engine.record_outcome("log", arm, reward)
    decisions = [await engine.decide("log", ARMS) for _ in range(200)]
    await engine.flush()
    rows = await pool.fetch(
        "SELECT decision_id, arm, policy, propensity, policy_share FROM routing_decisions "
        "WHERE domain = 'log'"
    )
    assert {r["decision_id"] for r in rows} == {d.decision_id for d in decisions}
    # epsilon-greedy, 0.1: the best mean (medium) has 0.9 + 0.1 / 3, the others 0.1 / 3.
    expected = {"medium": 0.9 + 0.1 / 3, "small": 0.1 / 3, "large": 0.1 / 3}
    for r in rows:
        assert r["propensity"] == pytest.approx(expected[r["arm"]])
        assert (r["policy"], r["policy_share"]) == ("epsilon_greedy", 1.0)


async def test_arms_added_and_removed_keep_their_statistics(
    engine: LearningEngine, pool: asyncpg.Pool
) -> None:
    await learn(engine, "arms", {"small": 1.0, "medium": 0.0}, 5)
    # "large" is new: it starts cold; "small" left out for a while is never served meanwhile.
    served = {await engine.select_model("arms", ["medium", "large"]) for _ in range(100)}
    assert served == {"medium", "large"}
    await engine.record_outcome("arms", "large", 0.5)
    await engine.flush()
    assert await totals(pool, "arms") == {
        "small": (5, 5.0),
        "medium": (5, 0.0),
        "large": (1, 0.5),
    }
    # Back among the candidates, "small" is still the best mean: greedy picks it.
    picks = [await engine.select_model("arms", ARMS) for _ in range(300)]
    assert picks.count("small") > 240  # expected 0.9 + 0.1 / 3 of 300 = 280


async def test_reset_forgets_in_every_process_and_drops_older_deltas(pool: asyncpg.Pool) -> None:
    async with (
        LearningEngine(pool=pool, settings=_settings()) as one,
        LearningEngine(pool=pool, settings=_settings()) as other,
    ):
        await one.record_outcome("reset", "small", 1.0)
        await other.record_outcome("reset", "medium", 1.0)
        await one.flush()
        await other.record_outcome("reset", "medium", 1.0)  # buffered before the reset
        await one.reset("reset")
        assert await totals(pool, "reset") == {}
        await other.flush()  # learned under the old epoch: dropped, not resurrected
        assert await totals(pool, "reset") == {}
        stats = await one.stats("reset")
        assert stats.epoch == 1 and stats.variants == []
        assert stats.decisions == 0
        await other.refresh()
        await other.record_outcome("reset", "large", 0.5)
        await other.flush()
        assert await totals(pool, "reset") == {"large": (1, 0.5)}


async def test_other_processes_see_new_state_within_the_refresh_interval(
    pool: asyncpg.Pool,
) -> None:
    settings = _settings(default_policy=EnumRoutingPolicy.UCB1)
    async with (
        LearningEngine(pool=pool, settings=settings) as writer,
        LearningEngine(pool=pool, settings=settings) as reader,
    ):
        await reader.select_model("seen", ARMS)  # opened cold, before anything was learned
        await learn(writer, "seen", {"small": 0.0, "medium": 1.0, "large": 0.0}, 20)
        await writer.select_model("seen", ARMS)  # starts the writer's background flusher

        async def reader_learned() -> bool:
            return await reader.select_model("seen", ARMS) == "medium"

        await until(reader_learned, timeout_s=5)


async def test_freeze_serves_the_best_arm_and_stops_learning(
    engine: LearningEngine, pool: asyncpg.Pool
) -> None:
    await learn(engine, "kill", {"small": 0.1, "large": 0.9}, 10)
    assert await engine.freeze("kill") == "large"
    assert {await engine.select_model("kill", ARMS) for _ in range(100)} == {"large"}
    await engine.record_outcome("kill", "small", 1.0)  # ignored while frozen
    stats = await engine.stats("kill")
    assert stats.frozen and stats.frozen_arm == "large"
    assert {v.arm: v.pulls for v in stats.variants} == {"small": 10, "large": 10}
    frozen = await pool.fetch("SELECT DISTINCT policy, propensity FROM routing_decisions")
    assert [(r["policy"], r["propensity"]) for r in frozen] == [("frozen", 1.0)]
    await engine.unfreeze("kill")
    assert not (await engine.stats("kill")).frozen


async def test_a_batch_whose_commit_outcome_was_lost_is_not_counted_twice(
    pool: asyncpg.Pool,
) -> None:
    class CommitThenLoseConnection(NodeRoutingStoreEffect):
        """Commits the batch, then fails as if the connection dropped during COMMIT."""

        async def flush(
            self, conn: asyncpg.Connection, request: ModelRoutingFlush
        ) -> ModelRoutingFlushed:
            await super().flush(conn, request)
            raise ConnectionResetError("connection lost while committing")

    async with LearningEngine(pool=pool, settings=_settings()) as engine:
        for _ in range(3):
            await engine.record_outcome("lost", "small", 1.0)
            await engine.select_model("lost", ARMS)
        engine._store = CommitThenLoseConnection()
        with pytest.raises(ConnectionResetError):
            await engine.flush()
        engine._store = NodeRoutingStoreEffect()
        retried = await engine.flush()  # the same batch, same (writer, seq)
        assert retried is not None and retried.committed is False
        assert await totals(pool, "lost") == {"small": (3, 3.0)}
        assert await pool.fetchval("SELECT count(*) FROM routing_decisions") == 3
        await engine.record_outcome("lost", "small", 1.0)
        assert (await engine.flush()) is not None
        assert await totals(pool, "lost") == {"small": (4, 4.0)}
        # The writer's older batch keys are pruned: only the newest remains.
        keys = await pool.fetch("SELECT seq FROM routing_flushes")
        assert [r["seq"] for r in keys] == [1]


async def test_lints_is_one_clear_error_when_disabled_and_works_when_enabled(
    pool: asyncpg.Pool,
) -> None:
    with pytest.raises(ModelOnexError) as refused:
        LearningEngine(pool=pool, settings=_settings(default_policy=EnumRoutingPolicy.LINTS))
    assert refused.value.code is EnumErrorCode.INVALID_INPUT
    assert str(refused.value) == (
        "LinTS is disabled: set ENABLE_RL_LINTS=1 or ModelLearningSettings(enable_rl_lints=True)"
    )
    settings = _settings(policies={"ctx": EnumRoutingPolicy.LINTS}, enable_rl_lints=True)
    async with LearningEngine(pool=pool, settings=settings) as engine:
        context = ModelRoutingContext(features=(1.0, 0.5))
        decision = await engine.decide("ctx", ARMS, context)
        assert 0.0 < decision.propensity <= 1.0
        await engine.record_outcome("ctx", decision.arm, 1.0)  # credited with its context
        await engine.flush()
    rows = await pool.fetch(
        "SELECT feature, a_sum, b_sum FROM routing_lints WHERE arm = $1 ORDER BY feature",
        decision.arm,
    )
    assert [tuple(r) for r in rows] == [(0, 1.0, 1.0), (1, 0.25, 0.5)]
    context_logged = await pool.fetchval("SELECT context FROM routing_decisions")
    assert context_logged == [1.0, 0.5]


async def test_the_harness_runs_every_policy_and_credits_the_deciding_one(
    pool: asyncpg.Pool,
) -> None:
    settings = _settings(enable_experiment_harness=True)
    async with LearningEngine(pool=pool, settings=settings) as engine:
        for _ in range(300):
            arm = await engine.select_model("ab", ARMS)
            await engine.record_outcome("ab", arm, 1.0 if arm == "large" else 0.0)
        stats = await engine.stats("ab")
    decided = await pool.fetch(
        "SELECT policy, count(*) AS n, min(policy_share) AS share FROM routing_decisions "
        "GROUP BY policy ORDER BY policy"
    )
    # LinTS is off: three policies, each asked with probability 1/3.
    assert [r["policy"] for r in decided] == ["epsilon_greedy", "thompson", "ucb1"]
    assert [r["share"] for r in decided] == pytest.approx([1 / 3] * 3)
    pulls = {p: 0 for p in ("epsilon_greedy", "thompson", "ucb1")}
    for v in stats.variants:
        pulls[v.policy] += v.pulls
    assert pulls == {r["policy"]: r["n"] for r in decided}


def test_flags_come_from_the_environment_unless_the_settings_set_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ENABLE_RL_LINTS", "yes")
    monkeypatch.setenv("ENABLE_EXPERIMENT_HARNESS", "0")
    lints = ModelLearningSettings(default_policy=EnumRoutingPolicy.LINTS)
    engine = LearningEngine(dsn="postgresql://nobody@localhost/unused", settings=lints)
    assert (engine.lints_enabled, engine.harness) == (True, False)  # nothing connects yet
    monkeypatch.setenv("ENABLE_EXPERIMENT_HARNESS", "on")
    overridden = lints.model_copy(update={"enable_experiment_harness": False})
    engine = LearningEngine(dsn="postgresql://nobody@localhost/unused", settings=overridden)
    assert (engine.lints_enabled, engine.harness) == (True, False)
    monkeypatch.delenv("ENABLE_RL_LINTS")
    with pytest.raises(ModelOnexError, match="LinTS is disabled"):
        LearningEngine(dsn="postgresql://nobody@localhost/unused", settings=lints)
