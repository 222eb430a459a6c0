"""Validate: is each candidate measurably better than the active version on its own metric?

Measured executions only (no invented treatment numbers), tested in the better direction, each
proposal judged on its own metric (a reliability proposal on success rate, not on latency).

Decisions are safe under repeated looks: scheduled runs re-test one experiment as data
accumulates, so significance uses the mixture-SPRT always-valid p-value, carried from look to
look as a running minimum (``previous_p_value``). Stopping at whichever look first crosses
``significance_level`` keeps the false-positive rate at or below it (tests/stats). The
fixed-horizon Welch / z / Fisher results are reported beside it for effect size, CI and power.

Durations are heavy-tailed, so duration is tested on the log(1 + ms) scale (its mean and
variance come from SQL); ``performance_delta`` is still the relative change of the mean
duration (0.60 = 60 % faster), the number a person expects.

Per candidate, in order:
1. fewer than ``min_sample_size`` executions in either arm -> continue;
2. sample-ratio mismatch against the traffic split -> continue (the arms are not comparable,
   so nothing is decided until the allocation is fixed);
3. primary metric significantly worse -> reject; a guardrail (success rate, quality)
   significantly worse -> reject;
4. significantly better: ``confidence = min(1 - p, 0.99)`` > ``auto_apply_threshold`` (strictly:
   a threshold of 0.99 or more sends every win to review) -> apply, else review;
5. futile (even the optimistic end of the 95 % CI improves less than ``min_relative_effect``)
   -> reject; otherwise continue.
With ``feedback_type=all`` every measurable metric is tested and the p-values Holm-corrected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.stats import norm

from contracts.enum_loop import (
    LOWER_IS_BETTER,
    METRIC_OF_TYPE,
    EnumDecision,
    EnumFeedbackType,
    EnumMetric,
)
from contracts.model_pattern_feedback import ModelArmStats
from contracts.model_validation import (
    ModelExperiment,
    ModelMetricTest,
    ModelValidateInput,
    ModelValidateOutput,
    ModelValidationResult,
)
from nodes.stats import (
    StatsInputError,
    always_valid_p_value,
    always_valid_p_value_proportions,
    compare_means_from_stats,
    compare_proportions,
    holm,
    sample_ratio_mismatch,
)
from nodes.stats._checks import FloatOrArray

GUARDRAILS = (EnumMetric.SUCCESS_RATE, EnumMetric.QUALITY_SCORE)
MAX_CONFIDENCE = 0.99
SRM_THRESHOLD = 0.001


@dataclass(frozen=True)
class _Arm:
    n: int
    mean: float
    var: float
    raw_mean: float


def _arm(stats: ModelArmStats, metric: EnumMetric) -> _Arm:
    if metric is EnumMetric.DURATION_MS:
        return _Arm(stats.n, stats.log_duration_mean, stats.log_duration_var, stats.duration_mean)
    if metric is EnumMetric.QUALITY_SCORE:
        return _Arm(stats.quality_n, stats.quality_mean, stats.quality_var, stats.quality_mean)
    if metric is EnumMetric.USER_RATING:
        return _Arm(stats.rating_n, stats.rating_mean, stats.rating_var, stats.rating_mean)
    rate = stats.success_rate
    return _Arm(stats.n, rate, rate * (1 - rate), rate)


def _relative_improvement(metric: EnumMetric, control: float, candidate: float) -> float:
    if control == 0:
        return 0.0
    change = (candidate - control) / abs(control)
    return -change if metric in LOWER_IS_BETTER else change


def _test_metric(
    metric: EnumMetric,
    experiment: ModelExperiment,
    *,
    previous_p_value: float | None,
    alpha: float,
) -> ModelMetricTest:
    """Raises StatsInputError when the metric cannot be tested on these arms."""
    ctrl, cand = _arm(experiment.control, metric), _arm(experiment.candidate, metric)
    lower = metric in LOWER_IS_BETTER
    sign = -1.0 if lower else 1.0
    if metric is EnumMetric.SUCCESS_RATE:
        c, t = experiment.control, experiment.candidate
        p = float(
            always_valid_p_value_proportions(
                c.successes, c.n, t.successes, t.n, previous_p_value=previous_p_value
            )
        )
        fixed = compare_proportions(c.successes, c.n, t.successes, t.n, alpha=alpha)
        effect, power = float(fixed.cohens_h), _proportion_power(fixed.p_value_better, alpha)
        base = ctrl.raw_mean or 1.0
        ci = (float(fixed.difference_ci_low) / base, float(fixed.difference_ci_high) / base)
    else:
        p = float(
            always_valid_p_value(
                ctrl.n,
                ctrl.mean,
                ctrl.var,
                cand.n,
                cand.mean,
                cand.var,
                previous_p_value=previous_p_value,
            )
        )
        welch = compare_means_from_stats(
            ctrl.n, ctrl.mean, ctrl.var, cand.n, cand.mean, cand.var,
            lower_is_better=lower, alpha=alpha,
        )  # fmt: skip
        effect, power = float(welch.cohens_d), float(welch.power)
        if lower:
            # log scale: exp(difference) - 1 is the relative change of the typical duration.
            ci = (_expm1(welch.difference_ci_low), _expm1(welch.difference_ci_high))
        else:
            ci = (float(welch.relative_lift_ci_low), float(welch.relative_lift_ci_high))
    low, high = sorted((sign * ci[0], sign * ci[1]))
    delta = _relative_improvement(metric, ctrl.raw_mean, cand.raw_mean)
    direction = cand.mean - ctrl.mean
    significant = p < alpha
    return ModelMetricTest(
        metric=metric,
        p_value=p,
        adjusted_p_value=p,
        delta=delta,
        delta_ci_low=low,
        delta_ci_high=high,
        effect_size=effect,
        power=power,
        better=significant and sign * direction > 0,
        worse=significant and sign * direction < 0,
    )


def _expm1(value: FloatOrArray) -> float:
    return math.expm1(float(value))


def _proportion_power(p_value_better: FloatOrArray, alpha: float) -> float:
    """Rates have no noncentral-t power: the normal-approximation power of the one-sided z
    test at the observed effect."""
    z_observed = norm.isf(min(max(float(p_value_better), 1e-300), 1 - 1e-16))
    return float(norm.sf(norm.isf(alpha) - z_observed))


def _metrics(experiment: ModelExperiment, feedback_type: EnumFeedbackType) -> list[EnumMetric]:
    primary = METRIC_OF_TYPE[experiment.improvement_type]
    wanted = list(EnumMetric) if feedback_type is EnumFeedbackType.ALL else [primary]
    return list(dict.fromkeys([primary, *wanted, *GUARDRAILS]))


class NodeImprovementValidatorCompute:
    def validate(self, contract: ModelValidateInput) -> ModelValidateOutput:
        return ModelValidateOutput(results=[self._one(e, contract) for e in contract.experiments])

    def _one(self, e: ModelExperiment, contract: ModelValidateInput) -> ModelValidationResult:
        primary = METRIC_OF_TYPE[e.improvement_type]
        alpha = contract.significance_level

        def result(decision: EnumDecision, reason: str, **fields: object) -> ModelValidationResult:
            return ModelValidationResult(
                improvement_id=e.improvement_id,
                candidate_version_id=e.candidate.version_id,
                decision=decision,
                reason=reason,
                metric=primary,
                n_control=e.control.n,
                n_candidate=e.candidate.n,
                **fields,
            )

        need = contract.min_sample_size
        if min(e.control.n, e.candidate.n) < need:
            return result(
                EnumDecision.CONTINUE,
                f"collecting: {e.control.n} control / {e.candidate.n} candidate executions, "
                f"{need} needed in each arm",
            )
        share = e.expected_traffic_share
        srm = sample_ratio_mismatch(
            [e.control.n, e.candidate.n], [1 - share, share], threshold=SRM_THRESHOLD
        )
        if srm.mismatch:
            return result(
                EnumDecision.CONTINUE,
                f"sample ratio mismatch: {e.control.n}:{e.candidate.n} for an expected "
                f"{1 - share:.0%}:{share:.0%} split (chi-square p={srm.p_value:.2g}); the arms "
                "are not comparable until traffic allocation is fixed",
            )

        tests: list[ModelMetricTest] = []
        untestable: dict[EnumMetric, str] = {}
        for metric in _metrics(e, contract.feedback_type):
            arms = (_arm(e.control, metric), _arm(e.candidate, metric))
            if min(a.n for a in arms) < need:
                untestable[metric] = f"fewer than {need} {metric.value} values in an arm"
                continue
            try:
                tests.append(
                    _test_metric(
                        metric,
                        e,
                        previous_p_value=e.previous_p_value if metric is primary else None,
                        alpha=alpha,
                    )
                )
            except StatsInputError as exc:
                untestable[metric] = str(exc)
        if contract.feedback_type is EnumFeedbackType.ALL and len(tests) > 1:
            adjusted = holm([t.p_value for t in tests])
            tests = [
                t.model_copy(
                    update={
                        "adjusted_p_value": float(a),
                        "better": t.better and a < alpha,
                        "worse": t.worse and a < alpha,
                    }
                )
                for t, a in zip(tests, adjusted, strict=True)
            ]
        main = next((t for t in tests if t.metric is primary), None)
        if main is None:
            return result(
                EnumDecision.CONTINUE,
                f"cannot test {primary.value} yet: {untestable.get(primary, 'no data')}",
                tests=tests,
            )
        confidence = min(1.0 - main.adjusted_p_value, MAX_CONFIDENCE)
        numbers = {
            "p_value": main.adjusted_p_value,
            "confidence": confidence,
            "performance_delta": main.delta,
            "tests": tests,
        }
        summary = (
            f"{primary.value} {main.delta:+.1%} (95% CI {main.delta_ci_low:+.1%} to "
            f"{main.delta_ci_high:+.1%}), always-valid p={main.adjusted_p_value:.3g}"
        )
        if main.worse:
            return result(EnumDecision.REJECT, f"significantly worse: {summary}", **numbers)
        regressed = [
            t for t in tests if t.metric in GUARDRAILS and t.metric is not primary and t.worse
        ]
        if regressed:
            names = ", ".join(f"{t.metric.value} {t.delta:+.1%}" for t in regressed)
            return result(
                EnumDecision.REJECT, f"guardrail regressed ({names}) while {summary}", **numbers
            )
        if main.better:
            significant = {**numbers, "significant": True}
            if confidence > contract.auto_apply_threshold:
                return result(EnumDecision.APPLY, f"better: {summary}", **significant)
            return result(
                EnumDecision.REVIEW,
                f"better but confidence {confidence:.3f} <= auto-apply threshold "
                f"{contract.auto_apply_threshold}: {summary}; approve or reject it",
                **significant,
            )
        if main.delta_ci_high < contract.min_relative_effect:
            return result(
                EnumDecision.REJECT,
                f"futile: even the optimistic end of the CI is below the "
                f"{contract.min_relative_effect:.0%} worth keeping; {summary}",
                **numbers,
            )
        return result(EnumDecision.CONTINUE, f"not significant yet: {summary}", **numbers)
