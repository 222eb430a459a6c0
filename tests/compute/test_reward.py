"""The composite reward: its configuration contract, the formula's promises (range, linear
latency penalty, success boost, monotonicity, failure ceiling), the scalar and vectorised paths
agreeing, and the thresholds' classification at their boundaries."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from contracts import (
    DEFAULT_REWARD_CONFIG,
    EnumExecutionStatus,
    EnumRewardAssessment,
    ModelRewardConfig,
    ModelRewardExecution,
    ModelRewardParts,
)
from contracts.model_execution_record import EXECUTION_RECORDS
from nodes.compute.node_reward_compute import NodeRewardCompute

NODE = NodeRewardCompute()
CFG = DEFAULT_REWARD_CONFIG
FAILED = (EnumExecutionStatus.FAILURE, EnumExecutionStatus.TIMEOUT, EnumExecutionStatus.ERROR)


def _score(
    status: EnumExecutionStatus = EnumExecutionStatus.SUCCESS,
    duration_ms: float | None = 0.0,
    cost_usd: float | None = 0.0,
    config: ModelRewardConfig = CFG,
) -> ModelRewardParts:
    execution = ModelRewardExecution(status=status, duration_ms=duration_ms, cost_usd=cost_usd)
    return NODE.score(config, execution)


def _field_errors(exc: pytest.ExceptionInfo[ValidationError]) -> set[tuple[Any, ...]]:
    return {tuple(e["loc"]) for e in exc.value.errors()}


# --- configuration contract ---------------------------------------------------------------


def test_default_config_has_the_documented_numbers() -> None:
    w, b, t = CFG.weights, CFG.bounds, CFG.thresholds
    assert (w.latency, w.cost, w.success, w.error) == (0.25, 0.2, 0.6, 0.6)
    assert (b.max_latency_ms, b.max_cost_usd) == (4000.0, 0.10)
    assert (t.minimum_acceptable, t.retrain) == (0.55, 0.40)
    assert CFG.version == 1


def test_config_is_frozen_and_closed() -> None:
    with pytest.raises(ValidationError):
        CFG.version = 2  # type: ignore[misc]
    with pytest.raises(ValidationError) as exc:
        ModelRewardConfig(version=1, alpha=0.3)  # type: ignore[call-arg]
    assert ("alpha",) in _field_errors(exc)


@pytest.mark.parametrize(
    ("kwargs", "loc"),
    [
        ({"version": 0}, ("version",)),
        ({"version": True}, ("version",)),  # strict: a bool is not a version
        ({"version": "1"}, ("version",)),  # strict: no string coercion
        ({"version": 1, "weights": {"latency": -0.01}}, ("weights", "latency")),
        ({"version": 1, "weights": {"cost": -1.0}}, ("weights", "cost")),
        ({"version": 1, "weights": {"error": -0.5}}, ("weights", "error")),
        ({"version": 1, "weights": {"success": -0.1}}, ("weights", "success")),
        ({"version": 1, "weights": {"success": 1.01}}, ("weights", "success")),
        ({"version": 1, "weights": {"latency": float("nan")}}, ("weights", "latency")),
        ({"version": 1, "weights": {"cost": "0.2"}}, ("weights", "cost")),
        ({"version": 1, "bounds": {"max_latency_ms": 0.0}}, ("bounds", "max_latency_ms")),
        ({"version": 1, "bounds": {"max_cost_usd": -0.1}}, ("bounds", "max_cost_usd")),
        ({"version": 1, "bounds": {"max_cost_usd": float("inf")}}, ("bounds", "max_cost_usd")),
        (
            {"version": 1, "thresholds": {"minimum_acceptable": 1.2}},
            ("thresholds", "minimum_acceptable"),
        ),
        ({"version": 1, "thresholds": {"retrain": -0.1}}, ("thresholds", "retrain")),
    ],
)
def test_config_rejects_bad_values_naming_the_field(
    kwargs: dict[str, Any], loc: tuple[str, ...]
) -> None:
    with pytest.raises(ValidationError) as exc:
        ModelRewardConfig(**kwargs)
    assert loc in _field_errors(exc)


@pytest.mark.parametrize(("minimum", "retrain"), [(0.5, 0.5), (0.4, 0.55)])
def test_retrain_threshold_must_be_below_minimum_acceptable(minimum: float, retrain: float) -> None:
    with pytest.raises(ValidationError, match=r"thresholds\.retrain .* must be <"):
        ModelRewardConfig(version=1, thresholds={"minimum_acceptable": minimum, "retrain": retrain})


def test_config_accepts_edge_values() -> None:
    cfg = ModelRewardConfig(
        version=7,
        weights={"latency": 0, "cost": 0.0, "success": 1.0, "error": 0.0},
        thresholds={"minimum_acceptable": 1.0, "retrain": 0.0},
    )
    assert cfg.weights.latency == 0.0 and cfg.weights.success == 1.0
    assert _score(config=cfg).config_version == 7


# --- execution contract -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"duration_ms": -1.0}, "duration_ms"),
        ({"cost_usd": -0.01}, "cost_usd"),
        ({"duration_ms": float("inf")}, "duration_ms"),
        ({"cost_usd": float("nan")}, "cost_usd"),
        ({"duration_ms": "12"}, "duration_ms"),
        ({"status": "crashed"}, "status"),
    ],
)
def test_impossible_execution_inputs_are_rejected_naming_the_field(
    kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as exc:
        ModelRewardExecution(**{"status": "success", **kwargs})
    assert (field,) in _field_errors(exc)
    assert field in str(exc.value)


def test_execution_reads_a_validated_execution_row() -> None:
    [row] = EXECUTION_RECORDS.validate_python(
        [
            {
                "execution_id": uuid.uuid4(),
                "pattern_id": "p",
                "started_at": datetime.now(UTC),
                "duration_ms": 1000,
                "status": "timeout",
                "cost_usd": 0.05,
            }
        ]
    )
    execution = ModelRewardExecution.from_record(row)
    assert execution == ModelRewardExecution(
        status=EnumExecutionStatus.TIMEOUT, duration_ms=1000.0, cost_usd=0.05
    )
    no_cost = ModelRewardExecution.from_record({"status": "success", "duration_ms": 5.0})
    assert no_cost.cost_usd is None


# --- the formula --------------------------------------------------------------------------


def test_perfect_fast_free_success_scores_exactly_one() -> None:
    parts = _score()
    assert parts.score == 1.0
    assert parts.success_boost == 0.6 and parts.base == pytest.approx(0.4)
    assert parts.latency_penalty == parts.cost_penalty == parts.error_penalty == 0.0
    assert parts.config_version == 1


def test_slowest_costliest_success_scores_one_minus_both_caps() -> None:
    parts = _score(duration_ms=4000.0, cost_usd=0.10)
    assert parts.latency_penalty == pytest.approx(0.25)
    assert parts.cost_penalty == pytest.approx(0.2)
    assert parts.score == pytest.approx(0.55)


def test_success_boost_is_the_success_weight_and_only_for_a_success() -> None:
    cfg = ModelRewardConfig(version=2, weights={"success": 0.3, "error": 0.1})
    success = _score(duration_ms=1000.0, cost_usd=0.02, config=cfg)
    assert success.success_boost == 0.3 and success.error_penalty == 0.0
    for status in FAILED:
        failed = _score(status, duration_ms=1000.0, cost_usd=0.02, config=cfg)
        assert failed.success_boost == 0.0 and failed.error_penalty == 0.1
        # Same latency and cost: the gap is exactly the boost plus the error penalty.
        assert success.score - failed.score == pytest.approx(0.3 + 0.1)


@pytest.mark.parametrize("status", FAILED)
def test_any_failure_scores_at_most_the_documented_floor(status: EnumExecutionStatus) -> None:
    # Defaults: 1 - 0.6 - 0.6 < 0, so every failure is 0, however fast and cheap.
    best = _score(status, duration_ms=0.0, cost_usd=0.0)
    assert best.score == 0.0
    assert best.raw_score == pytest.approx(-0.2)
    # In general at most max(0, 1 - success - error), reached by a fast, free failure.
    cfg = ModelRewardConfig(version=3, weights={"success": 0.5, "error": 0.2})
    assert _score(status, 0.0, 0.0, cfg).score == pytest.approx(0.3)
    assert _score(status, 500.0, 0.01, cfg).score < 0.3


def test_parts_add_up_to_the_score_before_clipping() -> None:
    for status in (EnumExecutionStatus.SUCCESS, *FAILED):
        p = _score(status, duration_ms=1234.0, cost_usd=0.031)
        raw = p.base + p.success_boost - p.latency_penalty - p.cost_penalty - p.error_penalty
        assert p.raw_score == pytest.approx(raw, abs=1e-12)
        assert p.score == pytest.approx(min(max(raw, 0.0), 1.0), abs=1e-12)


def test_latency_penalty_grows_linearly_to_its_cap_at_max_latency() -> None:
    fractions = np.linspace(0.0, 1.0, 11)
    penalties = [_score(duration_ms=4000.0 * f).latency_penalty for f in fractions]
    np.testing.assert_allclose(penalties, 0.25 * fractions, rtol=0, atol=1e-12)
    # Equal steps in duration -> equal steps in penalty, up to the cap, then flat.
    assert np.allclose(np.diff(penalties), 0.025)
    for beyond in (4000.0001, 8000.0, 1e9):
        assert _score(duration_ms=beyond).latency_penalty == 0.25


def test_cost_penalty_grows_linearly_to_its_cap_at_max_cost() -> None:
    assert _score(cost_usd=0.05).cost_penalty == pytest.approx(0.1)
    assert _score(cost_usd=0.025).cost_penalty == pytest.approx(0.05)
    assert _score(cost_usd=0.10).cost_penalty == pytest.approx(0.2)
    assert _score(cost_usd=5.0).cost_penalty == 0.2


@pytest.mark.parametrize("status", [EnumExecutionStatus.SUCCESS, *FAILED])
def test_extreme_inputs_stay_in_the_unit_interval(status: EnumExecutionStatus) -> None:
    heavy = ModelRewardConfig(
        version=1, weights={"latency": 50.0, "cost": 80.0, "success": 1.0, "error": 100.0}
    )
    for cfg in (CFG, heavy):
        for duration in (0.0, 1e-9, 4000.0, 1e12, 1e300):
            for cost in (None, 0.0, 1e6, 1e300):
                parts = _score(status, duration, cost, cfg)
                assert 0.0 <= parts.score <= 1.0
    # Heavy penalties clip a slow success to 0, never below.
    assert _score(EnumExecutionStatus.SUCCESS, 1e12, 1e6, heavy).score == 0.0


def test_missing_cost_is_no_penalty_and_missing_duration_is_the_full_one() -> None:
    assert _score(cost_usd=None).cost_penalty == 0.0
    assert _score(cost_usd=None).score == 1.0
    missing = _score(duration_ms=None)
    assert missing.latency_penalty == 0.25
    assert missing.score == _score(duration_ms=4000.0).score
    # Not reporting a duration never beats any measured one.
    assert all(missing.score <= _score(duration_ms=d).score for d in (0.0, 3999.0, 1e9))


def test_score_is_monotone_in_duration_and_cost() -> None:
    """Property sweep: along every grid line, slower or costlier never scores higher."""
    durations = np.concatenate([np.linspace(0, 6000, 61), [1e7]])
    costs = np.concatenate([np.linspace(0, 0.15, 31), [10.0]])
    configs = [
        CFG,
        ModelRewardConfig(version=2, weights={"latency": 0.9, "cost": 0.7, "error": 0.1}),
        ModelRewardConfig(version=3, weights={"success": 0.2, "error": 0.0}),
    ]
    for cfg in configs:
        for status in (EnumExecutionStatus.SUCCESS, EnumExecutionStatus.FAILURE):
            grid = np.array(
                [[_score(status, float(d), float(c), cfg).score for c in costs] for d in durations]
            )
            assert (np.diff(grid, axis=0) <= 0).all(), "slower scored higher"
            assert (np.diff(grid, axis=1) <= 0).all(), "costlier scored higher"
            assert grid[0, 0] >= grid[-1, -1]
        # A success never scores below a failure of the same duration and cost.
        for d in durations[::7]:
            for c in costs[::5]:
                ok = _score(EnumExecutionStatus.SUCCESS, float(d), float(c), cfg).score
                bad = _score(EnumExecutionStatus.ERROR, float(d), float(c), cfg).score
                assert ok >= bad


# --- vectorised path ----------------------------------------------------------------------


def test_score_many_agrees_with_score_on_random_inputs() -> None:
    rng = np.random.default_rng(20240611)
    n = 5000
    durations = rng.lognormal(7.8, 1.2, n)  # straddles max_latency_ms
    costs = rng.exponential(0.06, n)  # straddles max_cost_usd
    durations[rng.random(n) < 0.05] = np.nan
    costs[rng.random(n) < 0.2] = np.nan
    statuses = rng.choice(list(EnumExecutionStatus), n, p=[0.7, 0.1, 0.1, 0.1])
    successes = statuses == EnumExecutionStatus.SUCCESS
    cfg = ModelRewardConfig(version=4, weights={"latency": 0.4, "cost": 0.35, "error": 0.3})
    for config in (CFG, cfg):
        arrays = NODE.score_many(config, durations, costs, successes)
        expected = [
            NODE.score(
                config,
                ModelRewardExecution(
                    status=s,
                    duration_ms=None if np.isnan(d) else float(d),
                    cost_usd=None if np.isnan(c) else float(c),
                ),
            )
            for d, c, s in zip(durations, costs, statuses, strict=True)
        ]
        for name in ("score", "success_boost", "latency_penalty", "cost_penalty", "error_penalty"):
            np.testing.assert_allclose(
                getattr(arrays, name),
                [getattr(p, name) for p in expected],
                rtol=0,
                atol=1e-12,
                err_msg=name,
            )
        assert ((arrays.score >= 0) & (arrays.score <= 1)).all()
    # Enough of every regime was exercised for the agreement to mean something.
    assert 0.2 < np.mean(durations > 4000) < 0.8
    assert 0.1 < np.mean(costs > 0.10) < 0.5
    assert (~successes).sum() > 1000 and np.isnan(durations).sum() > 100


def test_score_many_without_costs_and_empty() -> None:
    arrays = NODE.score_many(CFG, [0.0, 2000.0], None, [True, False])
    np.testing.assert_allclose(arrays.score, [1.0, 0.0])
    np.testing.assert_allclose(arrays.latency_penalty, [0.0, 0.125])
    assert (arrays.cost_penalty == 0).all()
    empty = NODE.score_many(CFG, [], [], [])
    assert empty.score.shape == (0,)


@pytest.mark.parametrize(
    ("durations", "costs", "successes", "message"),
    [
        ([1.0, -2.0], [0.0, 0.0], [True, True], r"durations: must be >= 0, got -2\.0 at index 1"),
        ([1.0, 2.0], [0.0, -0.5], [True, True], r"costs: must be >= 0"),
        ([1.0, np.inf], None, [True, True], r"durations: must be finite"),
        ([1.0, 2.0], None, [1, 0], r"successes: must be booleans"),
        ([1.0, 2.0], [0.0], [True, True], r"lengths differ"),
        ([[1.0]], None, [[True]], r"durations: must be one-dimensional"),
    ],
)
def test_score_many_rejects_impossible_inputs(
    durations: Any, costs: Any, successes: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        NODE.score_many(CFG, durations, costs, successes)


# --- thresholds ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mean", "expected"),
    [
        (1.0, EnumRewardAssessment.OK),
        (0.55, EnumRewardAssessment.OK),  # on minimum_acceptable: meets it
        (np.nextafter(0.55, 0.0), EnumRewardAssessment.BELOW_MINIMUM),
        (0.47, EnumRewardAssessment.BELOW_MINIMUM),
        (0.40, EnumRewardAssessment.BELOW_MINIMUM),  # on retrain: not yet a retrain
        (np.nextafter(0.40, 0.0), EnumRewardAssessment.RETRAIN),
        (0.0, EnumRewardAssessment.RETRAIN),
    ],
)
def test_assess_at_the_threshold_boundaries(mean: float, expected: EnumRewardAssessment) -> None:
    assert NODE.assess(CFG, mean) is expected


def test_assess_uses_the_configured_thresholds() -> None:
    cfg = ModelRewardConfig(version=5, thresholds={"minimum_acceptable": 0.9, "retrain": 0.7})
    assert NODE.assess(cfg, 0.8) is EnumRewardAssessment.BELOW_MINIMUM
    assert NODE.assess(cfg, 0.69) is EnumRewardAssessment.RETRAIN
    assert NODE.assess(CFG, 0.8) is EnumRewardAssessment.OK


@pytest.mark.parametrize("mean", [float("nan"), -0.01, 1.01, float("inf")])
def test_assess_rejects_a_mean_outside_the_unit_interval(mean: float) -> None:
    with pytest.raises(ValueError, match="mean_reward"):
        NODE.assess(CFG, mean)


def test_mean_reward_of_an_arm_classifies_end_to_end() -> None:
    """score_many -> mean -> assess, the way an arm is judged."""
    rng = np.random.default_rng(7)
    durations = rng.uniform(0, 2000, 1000)
    good = NODE.score_many(CFG, durations, None, rng.random(1000) < 0.95).score.mean()
    bad = NODE.score_many(CFG, durations, None, rng.random(1000) < 0.30).score.mean()
    assert NODE.assess(CFG, float(good)) is EnumRewardAssessment.OK
    assert NODE.assess(CFG, float(bad)) is EnumRewardAssessment.RETRAIN
