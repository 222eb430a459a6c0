"""The validate compute node's decision rules, on summary statistics of known samples."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from contracts.enum_loop import EnumDecision, EnumFeedbackType, EnumImprovementType, EnumMetric
from contracts.model_pattern_feedback import ModelArmStats
from contracts.model_validation import ModelExperiment, ModelValidateInput, ModelValidationResult
from nodes.compute.node_improvement_validator_compute import NodeImprovementValidatorCompute
from nodes.stats import always_valid_p_value, holm

RNG_SEED = 5


def arm(
    vid: str,
    durations: np.ndarray,
    *,
    success_rate: float = 0.99,
    quality: np.ndarray | None = None,
) -> ModelArmStats:
    n = len(durations)
    logs = np.log1p(durations)
    q = quality if quality is not None else np.full(n, 0.8) + np.linspace(-0.05, 0.05, n)
    return ModelArmStats(
        version_id=vid,
        n=n,
        successes=round(success_rate * n),
        duration_mean=float(durations.mean()),
        duration_var=float(durations.var(ddof=1)),
        log_duration_mean=float(logs.mean()),
        log_duration_var=float(logs.var(ddof=1)),
        duration_p50=float(np.median(durations)),
        quality_n=len(q),
        quality_mean=float(q.mean()),
        quality_var=float(q.var(ddof=1)),
    )


def durations(n: int, median: float, seed: int = RNG_SEED) -> np.ndarray:
    return median * np.exp(0.5 * np.random.default_rng(seed).standard_normal(n))


def validate(
    control: ModelArmStats,
    candidate: ModelArmStats,
    *,
    kind: EnumImprovementType = EnumImprovementType.PERFORMANCE,
    feedback_type: EnumFeedbackType = EnumFeedbackType.PERFORMANCE,
    threshold: float = 0.95,
    share: float = 0.5,
    previous: float | None = None,
    min_n: int = 30,
) -> ModelValidationResult:
    contract = ModelValidateInput(
        experiments=[
            ModelExperiment(
                improvement_id=uuid.uuid4(),
                improvement_type=kind,
                control=control,
                candidate=candidate,
                expected_traffic_share=share,
                previous_p_value=previous,
            )
        ],
        feedback_type=feedback_type,
        significance_level=0.05,
        auto_apply_threshold=threshold,
        min_sample_size=min_n,
    )
    (result,) = NodeImprovementValidatorCompute().validate(contract).results
    return result


def test_too_few_executions_keeps_collecting() -> None:
    r = validate(arm("p@1", durations(29, 100)), arm("p@2", durations(400, 50, 6)))
    assert r.decision is EnumDecision.CONTINUE and "30 needed" in r.reason
    assert r.p_value is None and not r.tests


def test_clearly_faster_candidate_is_applied_with_the_right_numbers() -> None:
    control, candidate = durations(400, 100), durations(400, 80, 6)
    c, t = arm("p@1.0.0", control), arm("p@1.1.0", candidate)
    r = validate(c, t)
    assert r.decision is EnumDecision.APPLY and r.significant and r.metric is EnumMetric.DURATION_MS
    expected_p = always_valid_p_value(
        c.n, c.log_duration_mean, c.log_duration_var, t.n, t.log_duration_mean, t.log_duration_var
    )
    assert r.p_value == pytest.approx(float(expected_p), rel=1e-12)
    assert r.confidence == pytest.approx(min(1 - float(expected_p), 0.99))
    delta = (control.mean() - candidate.mean()) / control.mean()
    assert r.performance_delta == pytest.approx(delta, rel=1e-9)
    (main,) = [x for x in r.tests if x.metric is EnumMetric.DURATION_MS]
    assert main.better and not main.worse and main.delta_ci_low < delta < main.delta_ci_high
    assert 0 < main.power <= 1


def test_below_auto_apply_threshold_waits_for_review() -> None:
    r = validate(
        arm("p@1", durations(400, 100)), arm("p@2", durations(400, 80, 6)), threshold=0.999
    )
    assert r.decision is EnumDecision.REVIEW and r.significant
    assert "approve or reject" in r.reason


def test_auto_apply_needs_confidence_strictly_above_the_threshold() -> None:
    """Confidence is capped at 0.99, so a threshold of 0.99 sends every win to review."""
    control, candidate = arm("p@1", durations(400, 100)), arm("p@2", durations(400, 50, 6))
    capped = validate(control, candidate, threshold=0.98)
    assert capped.decision is EnumDecision.APPLY and capped.confidence == 0.99
    r = validate(control, candidate, threshold=0.99)
    assert r.decision is EnumDecision.REVIEW and r.significant and r.confidence == 0.99
    assert "confidence 0.990 <= auto-apply threshold 0.99" in r.reason


def test_significantly_slower_candidate_is_rejected() -> None:
    r = validate(arm("p@1", durations(400, 80)), arm("p@2", durations(400, 100, 6)))
    assert r.decision is EnumDecision.REJECT and "significantly worse" in r.reason
    assert r.performance_delta < 0


def test_guardrail_regression_blocks_a_faster_candidate() -> None:
    control = arm("p@1", durations(1000, 100))
    candidate = arm("p@2", durations(1000, 80, 6), success_rate=0.90)
    r = validate(control, candidate)
    assert r.decision is EnumDecision.REJECT and "guardrail regressed" in r.reason
    assert "success_rate" in r.reason


def test_reliability_proposal_is_judged_on_success_rate_not_latency() -> None:
    control = arm("p@1", durations(1000, 80), success_rate=0.90)
    candidate = arm("p@2", durations(1000, 100, 6), success_rate=0.99)
    r = validate(control, candidate, kind=EnumImprovementType.RELIABILITY)
    assert r.metric is EnumMetric.SUCCESS_RATE
    assert r.decision is EnumDecision.APPLY
    assert r.performance_delta == pytest.approx(0.99 / 0.90 - 1)


def test_equal_arms_with_much_data_are_futile() -> None:
    r = validate(arm("p@1", durations(20_000, 100)), arm("p@2", durations(20_000, 100, 6)))
    assert r.decision is EnumDecision.REJECT and r.reason.startswith("futile")
    assert not r.significant


def test_equal_arms_with_little_data_keep_testing() -> None:
    # Identical samples: the CI is wide on both sides of 0, so improvement is still possible.
    r = validate(arm("p@1", durations(100, 100)), arm("p@2", durations(100, 100)))
    assert r.decision is EnumDecision.CONTINUE and "not significant yet" in r.reason


def test_sample_ratio_mismatch_decides_nothing() -> None:
    r = validate(arm("p@1", durations(800, 100)), arm("p@2", durations(200, 50, 6)))
    assert r.decision is EnumDecision.CONTINUE and "sample ratio mismatch" in r.reason
    ok = validate(arm("p@1", durations(800, 100)), arm("p@2", durations(200, 50, 6)), share=0.2)
    assert ok.decision is EnumDecision.APPLY


def test_previous_look_p_value_is_a_running_minimum() -> None:
    c, t = arm("p@1", durations(100, 100)), arm("p@2", durations(100, 97, 6))
    fresh = validate(c, t)
    carried = validate(c, t, previous=0.2)
    assert fresh.p_value is not None and fresh.p_value > 0.2
    assert carried.p_value == 0.2


def test_feedback_type_all_holm_corrects_every_metric() -> None:
    c = arm("p@1", durations(400, 100))
    t = arm("p@2", durations(400, 80, 6))
    r = validate(c, t, feedback_type=EnumFeedbackType.ALL)
    metrics = [x.metric for x in r.tests]
    assert EnumMetric.DURATION_MS in metrics and EnumMetric.SUCCESS_RATE in metrics
    raw = [x.p_value for x in r.tests]
    assert [x.adjusted_p_value for x in r.tests] == pytest.approx(list(holm(raw)))
    assert r.p_value == next(x.adjusted_p_value for x in r.tests if x.metric is r.metric)
