"""The collect stage: per-version aggregates computed in SQL equal numpy's on the same rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import numpy as np
import pytest

from contracts.enum_error_code import EnumErrorCode
from contracts.model_collect import ModelCollectInput
from contracts.model_onex_error import ModelOnexError
from contracts.model_pattern_feedback import TAIL_FRACTIONS
from nodes.effect.node_execution_collector_effect import NodeExecutionCollectorEffect
from nodes.effect.node_lineage_store_effect import NodeLineageStoreEffect
from nodes.service import FeedbackLoopService
from nodes.simulation.arms import arm_stats
from tests.factories import execution_rows, proposal
from tests.lifecycle import propose

# Mid-hour, a day ago: the window reads whole hours from buckets and the partial ones raw; its
# rows (and 8 days before it) stay within the retention horizon.
NOW = datetime.now(UTC).replace(minute=30, second=0, microsecond=0) - timedelta(days=1)
BIN_WIDTH = 0.001
"""Durations' order statistics read from buckets are within their 0.1 % bin."""


@pytest.mark.parametrize("read_buckets", [True, False], ids=["buckets", "raw"])
async def test_window_aggregates_match_numpy(pool: asyncpg.Pool, read_buckets: bool) -> None:
    """The same numbers from buckets as from raw rows, but for percentiles (within a bin)."""
    await FeedbackLoopService(pool=pool).register("api_debug", {"timeout_ms": 100})
    versioned = execution_rows(500, version_id="api_debug@1.0.0", seed=1, now=NOW)
    unversioned = execution_rows(300, seed=2, now=NOW)  # hooks that log no version: the active
    too_old = execution_rows(50, seed=3, now=NOW - timedelta(days=8))
    # The window is [the hour of as_of - 7 days, as_of], to the microsecond, on both paths.
    tick = timedelta(microseconds=1)
    edges = execution_rows(4, version_id="api_debug@1.0.0", seed=4, now=NOW)
    start = (NOW - timedelta(days=7)).replace(minute=0)
    for row, at in zip(edges, (start - tick, start, NOW, NOW + tick), strict=True):
        row["started_at"] = at
    for row in unversioned[:40]:
        row["error_message"] = "503 upstream unavailable"
        row["status"] = "error"
    for i, row in enumerate(versioned):
        if i % 3:  # many hooks log no cost: only the rows that have one count
            row["cost_usd"] = 0.001 * (1 + i % 7)
    await FeedbackLoopService(pool=pool).ingest(versioned + unversioned + too_old + edges)

    window = [r for r in versioned + unversioned + edges if start <= r["started_at"] <= NOW]
    assert edges[1] in window and edges[2] in window and len(window) == 802
    durations = np.array([r["duration_ms"] for r in window])
    scores = np.array([r["quality_results"]["score"] for r in window])
    ratings = np.array([r["user_rating"] for r in window], dtype=float)
    async with pool.acquire() as conn:
        out = await NodeExecutionCollectorEffect(
            NodeLineageStoreEffect(), read_buckets=read_buckets
        ).collect(conn, ModelCollectInput(pattern_id="api_debug", time_window_days=7, as_of=NOW))
    assert out.feedback_collected == len(window) and out.active.version_id == "api_debug@1.0.0"
    (stats,) = out.window_stats
    assert stats.version_id == "api_debug@1.0.0" and stats.n == len(window)
    assert stats.successes == sum(r["status"] == "success" for r in window)
    assert stats.duration_mean == pytest.approx(durations.mean(), rel=1e-12)
    assert stats.duration_var == pytest.approx(durations.var(ddof=1), rel=1e-9)
    assert stats.log_duration_mean == pytest.approx(np.log1p(durations).mean(), rel=1e-12)
    assert stats.log_duration_var == pytest.approx(np.log1p(durations).var(ddof=1), rel=1e-9)
    p50, p95, p99 = np.percentile(durations, [50, 95, 99])
    assert (stats.duration_p50, stats.duration_p95, stats.duration_p99) == pytest.approx(
        (p50, p95, p99), rel=BIN_WIDTH if read_buckets else 1e-12
    )
    assert stats.quality_mean == pytest.approx(scores.mean(), rel=1e-12)
    assert stats.rating_var == pytest.approx(ratings.var(ddof=1), rel=1e-9)
    costs = np.array([r["cost_usd"] for r in window if r.get("cost_usd") is not None])
    assert stats.cost_n == len(costs) and 0 < len(costs) < len(window)
    assert (stats.cost_mean, stats.cost_var) == pytest.approx(
        (costs.mean(), costs.var(ddof=1)), rel=1e-9
    )
    assert stats.top_errors[0].message == "503 upstream unavailable"
    assert stats.top_errors[0].count == sum(
        r.get("error_message") == "503 upstream unavailable" for r in window
    )
    assert out.experiments == []


async def test_unknown_pattern_is_a_clear_error(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        with pytest.raises(ModelOnexError) as exc:
            await NodeExecutionCollectorEffect(NodeLineageStoreEffect()).collect(
                conn, ModelCollectInput(pattern_id="nope", time_window_days=7)
            )
    assert exc.value.code is EnumErrorCode.NOT_FOUND and "register it first" in exc.value.message
    assert "feedback-loop register PATTERN --config JSON" in exc.value.message  # it exists


async def test_without_as_of_the_window_ends_at_the_databases_clock(pool: asyncpg.Pool) -> None:
    """A scheduled run passes no ``as_of``: its window ends when the database read the
    pattern's versions (its clock comes with them, in the same statement)."""
    await FeedbackLoopService(pool=pool).register("api_debug", {"timeout_ms": 100})
    async with pool.acquire() as conn:
        before = await conn.fetchval("SELECT now()")
        out = await NodeExecutionCollectorEffect(NodeLineageStoreEffect()).collect(
            conn, ModelCollectInput(pattern_id="api_debug", time_window_days=7)
        )
        after = await conn.fetchval("SELECT now()")
    assert before <= out.window_end <= after


@pytest.mark.parametrize("read_buckets", [True, False], ids=["buckets", "raw"])
async def test_experiment_arms_carry_duration_order_statistics(
    pool: asyncpg.Pool, read_buckets: bool
) -> None:
    """``duration_tail[i]`` is X_(ceil(f_i n)) of the arm's sorted durations (percentile_disc),
    what the p95 guardrail reads its order-statistic bounds from; from buckets it is a value at
    or below it and ``duration_tail_upper[i]`` one at or above it, a bin (1 %) apart."""
    service = FeedbackLoopService(pool=pool)
    await service.register("api_debug", {"timeout_ms": 100})
    async with pool.acquire() as conn:
        (improvement,) = await propose(conn, "api_debug", [proposal()])
    candidate = improvement.candidate_version_id
    assert candidate is not None
    rows = execution_rows(700, version_id="api_debug@1.0.0", seed=4, now=NOW) + execution_rows(
        333, version_id=candidate, seed=5, now=NOW
    )
    await service.ingest(rows)
    async with pool.acquire() as conn:
        out = await NodeExecutionCollectorEffect(
            NodeLineageStoreEffect(), read_buckets=read_buckets
        ).collect(conn, ModelCollectInput(pattern_id="api_debug", time_window_days=7, as_of=NOW))
    (experiment,) = out.experiments
    first = min(r["started_at"] for r in rows if r["version_id"] == candidate)
    arms = ((experiment.control, "api_debug@1.0.0"), (experiment.candidate, candidate))
    for arm, version_id in arms:
        # Both arms count from the candidate's first execution.
        ordered = np.sort(
            [r["duration_ms"] for r in rows
             if r["version_id"] == version_id and r["started_at"] >= first]
        )  # fmt: skip
        assert arm.n == len(ordered) and len(arm.duration_tail) == len(TAIL_FRACTIONS)
        ranks = np.ceil(np.asarray(TAIL_FRACTIONS) * len(ordered) - 1e-9).astype(int)
        exact = ordered[ranks - 1]
        if read_buckets:
            low, high = np.asarray(arm.duration_tail), np.asarray(arm.duration_tail_upper)
            assert np.all(low <= exact) and np.all(exact <= high)
            assert np.all(high <= low * (1 + BIN_WIDTH) * (1 + 1e-8))
        else:
            assert arm.duration_tail == pytest.approx(tuple(exact), rel=1e-12)
            assert arm.duration_tail_upper == ()
        # The in-process twin the decision bench uses gives the same statistics.
        mine = [r for r in rows if r["version_id"] == version_id and r["started_at"] >= first]
        twin = arm_stats(
            version_id,
            [r["duration_ms"] for r in mine],
            [r["status"] == "success" for r in mine],
            quality=[r["quality_results"]["score"] for r in mine],
            ratings=[r["user_rating"] for r in mine],
            costs=[r.get("cost_usd", np.nan) for r in mine],
        )
        skip = {"top_errors", "timeouts", "version_id", "duration_tail_upper"}
        if read_buckets:  # order statistics: checked above
            skip |= {"duration_tail", "duration_p50", "duration_p95", "duration_p99"}
        collected = arm.model_dump(exclude=skip)
        for field, value in twin.model_dump(exclude=skip).items():
            assert collected[field] == pytest.approx(value, rel=1e-9, abs=1e-12), field
