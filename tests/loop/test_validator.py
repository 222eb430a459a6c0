"""The validate compute node's decision rules, on arms built from simulated samples exactly as
the collector's SQL would summarise them (``nodes.simulation.arms``)."""

from __future__ import annotations

import math
import uuid
from typing import Any

import numpy as np
import pytest

from contracts.enum_loop import EnumDecision, EnumGuardrailVerdict, EnumImprovementType
from contracts.model_exposure import ModelArmExposure, ModelExposureWindow
from contracts.model_objective import EnumGuardedMetric, ModelGuardrail, ModelObjective
from contracts.model_pattern_feedback import ModelArmStats
from contracts.model_validation import ModelExperiment, ModelValidateInput, ModelValidationResult
from nodes.compute.node_improvement_validator_compute import (
    _NEEDED_GRID,
    NodeImprovementValidatorCompute,
    _plan,
)
from nodes.simulation.arms import arm_stats
from nodes.stats import always_valid_p_value, contrast_confidence_sequence

G = EnumGuardedMetric
V = EnumGuardrailVerdict


def sample(
    vid: str,
    n: int,
    *,
    median: float = 200.0,
    sigma: float = 0.8,
    failure: float = 0.05,
    quality: float = 0.80,
    cost: float | None = 0.01,
    seed: int = 1,
) -> ModelArmStats:
    """Lognormal durations, Bernoulli failures, quality N(q, 0.1) on successes, cost with CV
    0.5 (or none logged)."""
    rng = np.random.default_rng(seed)
    durations = median * np.exp(sigma * rng.standard_normal(n))
    ok = rng.random(n) >= failure
    q = np.where(ok, rng.normal(quality, 0.10, n), np.nan)
    costs = None if cost is None else cost * rng.lognormal(-0.5 * 0.47**2, 0.47, n)
    return arm_stats(vid, durations, ok, quality=q, costs=costs)


def validate(
    control: ModelArmStats,
    candidate: ModelArmStats,
    *,
    kind: EnumImprovementType = EnumImprovementType.PERFORMANCE,
    objective: ModelObjective | None = None,
    threshold: float = 0.95,
    share: float = 0.5,
    min_n: int = 30,
    age_days: float = 1.0,
    others: int = 0,
    exposure: ModelExposureWindow | None = None,
) -> ModelValidationResult:
    experiment = ModelExperiment(
        improvement_id=uuid.uuid4(),
        improvement_type=kind,
        control=control,
        candidate=candidate,
        expected_traffic_share=share,
        age_days=age_days,
        exposure=exposure,
    )
    contract = ModelValidateInput(
        experiments=[experiment] * (1 + others),
        objective=objective or ModelObjective(pattern_id="p"),
        significance_level=0.05,
        auto_apply_threshold=threshold,
        min_sample_size=min_n,
    )
    return NodeImprovementValidatorCompute().validate(contract).results[0]


def verdicts(result: ModelValidationResult) -> dict[EnumGuardedMetric, EnumGuardrailVerdict]:
    return {g.metric: g.verdict for g in result.guardrails}


def test_too_few_executions_keeps_collecting() -> None:
    r = validate(sample("p@1", 29), sample("p@2", 400, median=100, seed=2))
    assert r.decision is EnumDecision.CONTINUE and "30 needed" in r.reason


def test_clearly_faster_candidate_is_applied_with_the_numbers_that_decided() -> None:
    control, candidate = sample("p@1", 4000), sample("p@2", 4000, median=120, seed=2)
    r = validate(control, candidate)
    assert r.decision is EnumDecision.APPLY and r.significant
    assert verdicts(r)[G.USER_RATING] is V.NOT_MEASURED  # no ratings logged: does not block
    assert all(v is V.NON_INFERIOR for m, v in verdicts(r).items() if m is not G.USER_RATING)
    assert r.statistic.startswith("mean duration_ms")
    relative = 1 - candidate.duration_mean / control.duration_mean
    assert r.performance_delta == pytest.approx(relative, rel=1e-12)
    p = always_valid_p_value(
        control.n, control.duration_mean, control.duration_var,
        candidate.n, candidate.duration_mean, candidate.duration_var,
    )  # fmt: skip
    assert r.p_value == pytest.approx(float(p), rel=1e-12)
    assert r.confidence == pytest.approx(min(1 - float(p), 0.99))
    cs = contrast_confidence_sequence(
        control.n, control.duration_mean, control.duration_var,
        candidate.n, candidate.duration_mean, candidate.duration_var, alpha=0.05,
    )  # fmt: skip
    # The CI shown is the always-valid sequence that decided, as a relative change (+ faster).
    assert r.delta_ci_low == pytest.approx(-float(cs.high) / control.duration_mean)
    assert r.delta_ci_high == pytest.approx(-float(cs.low) / control.duration_mean)
    assert r.delta_ci_low is not None and r.delta_ci_low < r.performance_delta


def test_auto_apply_needs_confidence_strictly_above_the_threshold() -> None:
    control, candidate = sample("p@1", 4000), sample("p@2", 4000, median=120, seed=2)
    assert validate(control, candidate, threshold=0.98).decision is EnumDecision.APPLY
    capped = validate(control, candidate, threshold=0.99)  # confidence is capped at 0.99
    assert capped.decision is EnumDecision.REVIEW and capped.confidence == 0.99
    assert "approve or reject" in capped.reason


def test_significantly_slower_candidate_is_rejected() -> None:
    r = validate(sample("p@1", 3000), sample("p@2", 3000, median=300, seed=2))
    assert r.decision is EnumDecision.REJECT and r.reason.startswith("significantly worse")


def test_a_faster_median_with_a_heavier_tail_is_not_applied() -> None:
    """Median 10 % faster, sigma 0.8 -> 1.3: the mean users wait is +52 %, the p95 far worse."""
    r = validate(sample("p@1", 5000), sample("p@2", 5000, median=180, sigma=1.3, seed=2))
    assert r.decision is EnumDecision.REJECT
    assert r.performance_delta < 0  # reported on the statistic that decided: the mean
    assert verdicts(r)[G.DURATION_P95] is V.INFERIOR


def test_faster_but_flakier_is_rejected_on_the_success_rate_guardrail() -> None:
    control = sample("p@1", 6000)
    candidate = sample("p@2", 6000, median=160, failure=0.09, seed=2)
    r = validate(control, candidate)
    assert r.decision is EnumDecision.REJECT and "success_rate" in r.reason
    assert verdicts(r)[G.SUCCESS_RATE] is V.INFERIOR


def test_more_reliable_but_much_slower_is_rejected_on_the_duration_guardrail() -> None:
    control = sample("p@1", 6000, failure=0.05)
    candidate = sample("p@2", 6000, median=260, failure=0.03, seed=2)
    r = validate(control, candidate, kind=EnumImprovementType.RELIABILITY)
    assert r.decision is EnumDecision.REJECT
    assert verdicts(r)[G.DURATION_MEAN] is V.INFERIOR


def test_an_unmeasured_guardrail_blocks_only_when_required() -> None:
    control = sample("p@1", 4000, cost=None)
    candidate = sample("p@2", 4000, median=120, cost=None, seed=2)
    r = validate(control, candidate)
    assert r.decision is EnumDecision.APPLY and verdicts(r)[G.COST_USD] is V.NOT_MEASURED
    strict = ModelObjective(
        pattern_id="p",
        guardrails=(ModelGuardrail(metric=G.COST_USD, margin=0.1, required=True),),
    )
    held = validate(control, candidate, objective=strict)
    assert held.decision is EnumDecision.CONTINUE and "cost_usd" in held.reason


def test_an_unresolved_guardrail_says_how_much_traffic_it_needs() -> None:
    """At 300 per arm a 2-point margin on a 5 % failure rate cannot be shown yet; the sample
    it reports is enough: with the same rates at that n the guardrail resolves."""
    control = sample("p@1", 300)
    candidate = sample("p@2", 300, median=100, seed=2)
    r = validate(control, candidate)
    check = next(g for g in r.guardrails if g.metric is G.SUCCESS_RATE)
    assert r.decision is EnumDecision.CONTINUE and check.verdict is V.UNRESOLVED
    assert check.needed_per_arm is not None and 300 < check.needed_per_arm < 20_000
    n = check.needed_per_arm
    scaled = {
        "control": control.model_copy(
            update={"n": n, "successes": round(control.success_rate * n)}
        ),
        "candidate": candidate.model_copy(
            update={"n": n, "successes": round(candidate.success_rate * n)}
        ),
    }
    again = validate(scaled["control"], scaled["candidate"])
    assert verdicts(again)[G.SUCCESS_RATE] is not V.UNRESOLVED


@pytest.mark.parametrize(
    ("metric", "count"), [(G.DURATION_MEAN, "n"), (G.QUALITY_SCORE, "quality_n")]
)
def test_an_unresolved_mean_guardrail_needs_the_first_size_at_which_it_resolves(
    metric: EnumGuardedMetric, count: str
) -> None:
    """Relative (duration) and absolute (quality) margins: with both arms' means and variances
    kept, the guardrail resolves at the size it reports and not at the grid's size before."""
    control = sample("p@1", 300)
    candidate = sample("p@2", 300, median=215, quality=0.785, seed=2)
    check = next(g for g in validate(control, candidate).guardrails if g.metric is metric)
    assert check.verdict is V.UNRESOLVED and check.needed_per_arm is not None
    step = int(np.searchsorted(_NEEDED_GRID, check.needed_per_arm))

    def verdict_at(n: int) -> EnumGuardrailVerdict:
        arms = [arm.model_copy(update={"n": n, count: n}) for arm in (control, candidate)]
        return next(g.verdict for g in validate(*arms).guardrails if g.metric is metric)

    assert verdict_at(int(_NEEDED_GRID[step])) is not V.UNRESOLVED
    assert verdict_at(int(_NEEDED_GRID[step - 1])) is V.UNRESOLVED


def test_equal_arms_with_much_data_are_futile() -> None:
    """Futile once even the optimistic end of the always-valid CI is below the effect worth
    keeping; before that the test goes on."""
    control, candidate = sample("p@1", 9000), sample("p@2", 9000, seed=2)
    r = validate(control, candidate)
    assert r.decision is EnumDecision.CONTINUE and r.delta_ci_high is not None
    assert 0.02 < r.delta_ci_high < 0.05
    wants_five = ModelObjective(pattern_id="p", min_relative_effect=0.05)
    futile = validate(control, candidate, objective=wants_five)
    assert futile.decision is EnumDecision.REJECT and futile.reason.startswith("futile")


def test_the_horizon_ends_an_undecided_experiment() -> None:
    control, candidate = sample("p@1", 500), sample("p@2", 500, median=196, seed=2)
    assert validate(control, candidate).decision is EnumDecision.CONTINUE
    short = ModelObjective(pattern_id="p", horizon_per_arm=400)
    ended = validate(control, candidate, objective=short)
    assert ended.decision is EnumDecision.INCONCLUSIVE and ended.horizon_per_arm == 400
    old = validate(control, candidate, age_days=29)
    assert old.decision is EnumDecision.INCONCLUSIVE and "28 days" in old.reason


def test_the_planned_horizon_is_capped_and_grows_with_tighter_margins() -> None:
    control, candidate = sample("p@1", 500), sample("p@2", 500, median=196, seed=2)
    assert validate(control, candidate).horizon_per_arm == 10_000  # 2 % on latency: far more

    def horizon(**objective: Any) -> int:
        r = validate(control, candidate, objective=ModelObjective(pattern_id="p", **objective))
        assert r.horizon_per_arm is not None
        return r.horizon_per_arm

    alone = horizon(min_relative_effect=0.5, guardrails=())
    assert 10 < alone < 500  # a 50 % effect shows quickly
    loose, tight = (
        horizon(
            min_relative_effect=0.5,
            guardrails=(ModelGuardrail(metric=G.SUCCESS_RATE, margin=margin),),
        )
        for margin in (0.05, 0.02)
    )
    assert alone <= loose < tight <= 10_000  # a tighter margin needs more traffic


@pytest.mark.parametrize(
    ("var", "distance", "ratio"), [(4.0, 0.3, 1.0), (2500.0, 12.0, 1.1), (0.04, 0.002, 1.2)]
)
def test_a_plan_is_the_first_grid_size_where_its_bound_clears_the_distance(
    var: float, distance: float, ratio: float
) -> None:
    """A plan is read off one curve per level, scaled by the variance and the ratio: checked
    against its definition computed at the sizes themselves, half-width + z_0.8 se <= the
    distance at the planned size and not at the grid size before it."""
    level = 0.0952

    def clears(size: int) -> bool:
        cs = contrast_confidence_sequence(size, 0.0, var, size, 0.0, var, ratio=ratio, alpha=level)
        se = math.sqrt((ratio * ratio + 1) * var / size)
        return float(cs.high - cs.low) / 2 + 0.8416212335729143 * se <= distance

    n = _plan(var, distance, level, ratio)
    assert n is not None and clears(n)
    assert not clears(int(_NEEDED_GRID[np.searchsorted(_NEEDED_GRID, n) - 1]))


def test_sample_ratio_mismatch_on_logged_counts_blocks_and_says_so() -> None:
    r = validate(sample("p@1", 4000), sample("p@2", 3000, median=100, seed=2))
    assert r.decision is EnumDecision.BLOCK and "sample ratio mismatch" in r.reason
    assert "no exposures recorded" in r.reason


def exposure(units: tuple[int, int], calls: tuple[int, int], logged: tuple[int, int]) -> Any:
    return ModelExposureWindow(
        control=ModelArmExposure(
            version_id="p@1", units=units[0], calls=calls[0], executions=logged[0]
        ),
        candidate=ModelArmExposure(
            version_id="p@2", units=units[1], calls=calls[1], executions=logged[1]
        ),
    )


def validate_exposed(window: ModelExposureWindow, share: float = 0.5) -> ModelValidationResult:
    """A clear 40 % win: a block can only come from the comparability checks."""
    n_c, n_t = window.control.executions, window.candidate.executions
    return validate(
        sample("p@1", max(n_c, 2)),
        sample("p@2", max(n_t, 2), median=120, seed=2),
        share=share,
        exposure=window,
        min_n=2,
    )


def test_the_slowest_fifth_never_logged_blocks_at_the_first_look() -> None:
    """500 assign calls per arm; the candidate's slowest 20 % crash before they are logged, so
    its logged sample looks fast. Units match the split, the logging rate does not."""
    r = validate_exposed(exposure(units=(500, 500), calls=(500, 500), logged=(500, 400)))
    assert r.decision is EnumDecision.BLOCK and r.reason.startswith("logging incomplete")
    assert "1.000 control vs 0.800 candidate" in r.reason


def test_loss_alike_in_both_arms_and_repeated_units_do_not_block() -> None:
    both_lossy = validate_exposed(exposure(units=(500, 500), calls=(500, 500), logged=(400, 400)))
    assert both_lossy.decision is not EnumDecision.BLOCK
    # A unit calls assign() many times: it counts once, so units follow the split even when
    # a few heavy users put many more calls (and executions) in one arm.
    repeated = validate_exposed(
        exposure(units=(1000, 1000), calls=(5200, 4800), logged=(5200, 4800))
    )
    assert repeated.decision is not EnumDecision.BLOCK


def test_distinct_units_off_the_split_block() -> None:
    r = validate_exposed(exposure(units=(5400, 4600), calls=(5400, 4600), logged=(5400, 4600)))
    assert r.decision is EnumDecision.BLOCK and "distinct units" in r.reason
    skewed_split = validate_exposed(
        exposure(units=(9000, 1000), calls=(9000, 1000), logged=(9000, 1000)), share=0.1
    )
    assert skewed_split.decision is not EnumDecision.BLOCK  # 90/10 as planned: no flag


def test_several_candidates_share_alpha() -> None:
    """A win significant at 0.05 but not at 0.05 / 3 is not applied while three candidates
    are tested at once."""
    control = sample("p@1", 1500, sigma=0.6)
    for median in np.linspace(190, 150, 41):
        candidate = sample("p@2", 1500, median=float(median), sigma=0.6, seed=2)
        alone = validate(control, candidate, threshold=0.5)
        if alone.p_value is not None and 0.05 / 3 < alone.p_value < 0.05:
            break
    else:
        pytest.fail("no candidate with 0.05/3 < p < 0.05 on the grid")
    assert alone.significant or alone.decision is EnumDecision.CONTINUE
    crowded = validate(control, candidate, threshold=0.5, others=2)
    assert not crowded.significant and crowded.decision is not EnumDecision.APPLY


def test_a_declared_primary_metric_is_what_every_proposal_must_win_on() -> None:
    control = sample("p@1", 4000, quality=0.80)
    candidate = sample("p@2", 4000, median=120, quality=0.80, seed=2)
    objective = ModelObjective.model_validate(
        {"pattern_id": "p", "primary_metric": "quality_score"}
    )
    r = validate(control, candidate, objective=objective)
    assert r.metric.value == "quality_score" and r.decision is not EnumDecision.APPLY


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ({"sigma": 0.8}, V.NON_INFERIOR),
        ({"sigma": 1.2}, V.INFERIOR),
    ],
)
def test_p95_guardrail_reads_order_statistic_bounds(case: dict[str, Any], expected: V) -> None:
    r = validate(sample("p@1", 8000), sample("p@2", 8000, median=200, seed=2, **case))
    assert verdicts(r)[G.DURATION_P95] is expected


def test_the_composite_reward_can_be_the_metric_every_proposal_wins_on() -> None:
    """Faster and as reliable: the reward rises (less latency penalty) and wins; a candidate
    that fails more loses on it even while faster."""
    objective = ModelObjective.model_validate({"pattern_id": "p", "primary_metric": "reward"})
    control = sample("p@1", 4000, median=1200)
    faster = sample("p@2", 4000, median=600, seed=2)
    won = validate(control, faster, objective=objective)
    assert won.metric.value == "reward" and won.statistic.startswith("mean composite reward")
    assert won.performance_delta > 0 and won.decision is EnumDecision.APPLY
    flaky = sample("p@2", 4000, median=600, failure=0.25, seed=2)
    lost = validate(control, flaky, objective=objective)
    assert lost.performance_delta < 0 and lost.decision is EnumDecision.REJECT
