"""Validate: is each candidate better on what it set out to improve, and no worse elsewhere?

Measured executions only, judged at every scheduled look with always-valid statistics (mixture
SPRT p-values and the confidence sequences that invert them), so stopping at whichever look
first crosses a bound keeps the error rates at or below ``significance_level``.

A candidate wins on one metric: its proposal's own target (a latency fix on mean duration, a
retry on success rate, a prompt change on quality), or the objective's ``primary_metric`` when
one is declared. Durations are judged by their **mean over every execution at its recorded
duration, failures included**: that is the latency people wait for, and it moves with the tail;
a median (or a log-scale mean) can improve while most users wait longer.

Per candidate, in order:
1. fewer than ``min_sample_size`` executions in either arm -> continue;
2. sample-ratio mismatch against the traffic split -> continue (the arms are not comparable);
3. the winning metric significantly worse -> reject;
4. any guardrail shown worse than its margin -> reject, naming it;
5. the winning metric significantly better (always-valid p < alpha, in the better direction)
   and every guardrail shown within its margin (an intersection-union test: each one on its
   own at alpha, so no multiplicity correction weakens them; a guardrail not measured blocks
   only when required) -> apply when ``confidence = min(1 - p, 0.99) > auto_apply_threshold``
   (strictly), else review;
6. futile (the always-valid bound of the improvement lies below ``min_relative_effect``) ->
   reject;
7. at the horizon (executions per arm, or days) -> inconclusive; otherwise continue.

With several candidates in testing at once, alpha is divided among them (Bonferroni), so the
chance that any of them is wrongly applied stays at alpha.

Every number reported is the one that decided: ``performance_delta`` is the winning metric's
relative change (named in ``statistic``) and its CI is the always-valid bound at the decision's
level. Guardrail bounds are one-sided at alpha (each side of the two-sided sequence at
``one_sided_level(alpha)``).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from contracts.enum_loop import (
    LOWER_IS_BETTER,
    METRIC_OF_TYPE,
    EnumDecision,
    EnumGuardrailVerdict,
    EnumMetric,
)
from contracts.model_exposure import ModelExposureWindow
from contracts.model_objective import (
    MAX_HORIZON_PER_ARM,
    RELATIVE_MARGIN,
    EnumGuardedMetric,
    ModelGuardrail,
    ModelObjective,
)
from contracts.model_pattern_feedback import TAIL_FRACTIONS, ModelArmStats
from contracts.model_validation import (
    ModelExperiment,
    ModelGuardrailCheck,
    ModelMetricTest,
    ModelValidateInput,
    ModelValidateOutput,
    ModelValidationResult,
)
from nodes.stats import (
    StatsInputError,
    always_valid_p_value,
    always_valid_p_value_proportions,
    contrast_confidence_sequence,
    one_sided_level,
    proportion_confidence_sequence,
    quantile_rank_bounds,
    sequential_srm,
)

MAX_CONFIDENCE = 0.99
SRM_P = 0.001
"""Flag level of the sample-ratio and completeness checks: a flag stops the experiment until a
person looks, so it must be rare when nothing is wrong (A/A false blocks), and always-valid, as
it is checked at every look."""
TAIL_QUANTILE = 0.95
_Z_POWER = 0.8416212335729143  # the standard normal's 80 % quantile: plans aim at 80 % power
_NEEDED_GRID = np.unique(np.geomspace(2, 10_000_000, 400).astype(np.int64))


@dataclass(frozen=True)
class _Mean:
    """One arm of a mean comparison."""

    n: int
    mean: float
    var: float


def _mean_arm(stats: ModelArmStats, metric: EnumMetric | EnumGuardedMetric) -> _Mean:
    match metric:
        case EnumMetric.DURATION_MS | EnumGuardedMetric.DURATION_MEAN:
            return _Mean(stats.n, stats.duration_mean, stats.duration_var)
        case EnumMetric.QUALITY_SCORE | EnumGuardedMetric.QUALITY_SCORE:
            return _Mean(stats.quality_n, stats.quality_mean, stats.quality_var)
        case EnumMetric.USER_RATING | EnumGuardedMetric.USER_RATING:
            return _Mean(stats.rating_n, stats.rating_mean, stats.rating_var)
        case EnumGuardedMetric.COST_USD:
            return _Mean(stats.cost_n, stats.cost_mean, stats.cost_var)
        case EnumMetric.REWARD:
            return _Mean(stats.n, stats.reward_mean, stats.reward_var)
    raise ValueError(f"{metric} is not a mean")  # pragma: no cover - exhaustive above


_STATISTIC = {
    EnumMetric.DURATION_MS: "mean duration_ms (relative change, + = faster)",
    EnumMetric.QUALITY_SCORE: "mean quality_score (relative change)",
    EnumMetric.USER_RATING: "mean user_rating (relative change)",
    EnumMetric.SUCCESS_RATE: "success rate (relative change)",
    EnumMetric.REWARD: "mean composite reward (relative change)",
}


def _win_test(metric: EnumMetric, e: ModelExperiment, *, alpha: float) -> ModelMetricTest:
    """The winning metric: always-valid p-value and confidence sequence, as a relative change
    (positive = better). Raises StatsInputError when the arms cannot be compared.

    The p-value is this look's, not the running minimum over looks: both are valid at any
    stopping time, but a minimum carried from a look where the guardrails were unresolved
    could decide while the CI shown beside it still includes no change. This look's p is
    below alpha exactly when its always-valid CI excludes 0: one story."""
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    if metric is EnumMetric.SUCCESS_RATE:
        c, t = e.control, e.candidate
        p = float(always_valid_p_value_proportions(c.successes, c.n, t.successes, t.n))
        cs = proportion_confidence_sequence(c.successes, c.n, t.successes, t.n, alpha=alpha)
        base, difference = c.success_rate, t.success_rate - c.success_rate
    else:
        a, b = _mean_arm(e.control, metric), _mean_arm(e.candidate, metric)
        p = float(always_valid_p_value(a.n, a.mean, a.var, b.n, b.mean, b.var))
        cs = contrast_confidence_sequence(a.n, a.mean, a.var, b.n, b.mean, b.var, alpha=alpha)
        base, difference = a.mean, b.mean - a.mean
    scale = abs(base) or 1.0
    low, high = sorted((sign * float(cs.low) / scale, sign * float(cs.high) / scale))
    significant = p < alpha
    return ModelMetricTest(
        metric=metric,
        statistic=_STATISTIC[metric],
        p_value=p,
        delta=sign * difference / scale,
        delta_ci_low=low,
        delta_ci_high=high,
        better=significant and sign * difference > 0,
        worse=significant and sign * difference < 0,
    )


def _one_sided(alpha: float) -> float:
    """The two-sided sequence's level whose each side is a one-sided level-alpha bound."""
    return float(one_sided_level(alpha))


def _verdict(worse_by_low: float, worse_by_high: float, margin: float) -> EnumGuardrailVerdict:
    if worse_by_high < margin:
        return EnumGuardrailVerdict.NON_INFERIOR
    if worse_by_low > margin:
        return EnumGuardrailVerdict.INFERIOR
    return EnumGuardrailVerdict.UNRESOLVED


def _needed(resolved: np.ndarray) -> int | None:
    """The first grid n at which a bound computed as if both arms had n values resolves."""
    hits = np.flatnonzero(resolved)
    return int(_NEEDED_GRID[hits[0]]) if hits.size else None


def _check_rate(
    g: ModelGuardrail, c: ModelArmStats, t: ModelArmStats, alpha: float
) -> ModelGuardrailCheck:
    """Success rate, higher is better, margin in points: worse_by = control - candidate.

    Each arm's counts get one success and one failure added (Agresti-Caffo) before the bound:
    with no failures in either arm the plug-in variance is 0 and the normal-mixture bound
    would stay infinite, although 0 of 1,000 against 0 of 1,000 clearly rose by less than 2
    points."""

    def bounds(sc: ArrayLike, nc: ArrayLike, st: ArrayLike, nt: ArrayLike) -> tuple[Any, Any]:
        cs = proportion_confidence_sequence(
            np.add(sc, 1), np.add(nc, 2), np.add(st, 1), np.add(nt, 2), alpha=_one_sided(alpha)
        )
        return -np.asarray(cs.high), -np.asarray(cs.low)

    low, high = (float(x) for x in bounds(c.successes, c.n, t.successes, t.n))
    verdict = _verdict(low, high, g.margin)
    needed = None
    if verdict is EnumGuardrailVerdict.UNRESOLVED:
        grid = _NEEDED_GRID
        lows, highs = bounds(
            np.round(c.success_rate * grid), grid, np.round(t.success_rate * grid), grid
        )
        needed = _needed((highs < g.margin) | (lows > g.margin))
    return _guard(g, verdict, c.success_rate - t.success_rate, low, high, c.n, t.n, needed)


def _check_mean(
    g: ModelGuardrail, c: ModelArmStats, t: ModelArmStats, alpha: float
) -> ModelGuardrailCheck:
    """Relative margins (mean duration, cost: lower is better): the contrast candidate - (1 +
    margin) x control is below 0. Absolute margins (quality, rating: higher is better): the
    difference control - candidate is below the margin."""
    a, b = _mean_arm(c, g.metric), _mean_arm(t, g.metric)
    relative = g.metric in RELATIVE_MARGIN
    ratio = 1.0 + g.margin if relative else 1.0

    level = _one_sided(alpha)
    cs = contrast_confidence_sequence(
        a.n, a.mean, a.var, b.n, b.mean, b.var, ratio=ratio, alpha=level
    )
    contrast, cs_low, cs_high = float(cs.estimate), float(cs.low), float(cs.high)
    if relative:  # in units of the control's mean, shifted back to "worse by"
        scale = abs(a.mean) or 1.0
        low, high = g.margin + cs_low / scale, g.margin + cs_high / scale
    else:
        low, high = -cs_high, -cs_low
    verdict = _verdict(low, high, g.margin)
    estimate = (b.mean / a.mean - 1.0 if a.mean else 0.0) if relative else a.mean - b.mean
    needed = None
    if verdict is EnumGuardrailVerdict.UNRESOLVED:
        # With n in each arm the bounds are the contrast's estimate d plus or minus
        # sqrt(ratio^2 var_control + var_candidate) x the unit half-width at n. They clear the
        # margin once that is below |d| (relative: the margin is inside the ratio) or below
        # |d + margin| (absolute: the bounds are -(d +- half-width)).
        gap = abs(contrast) if relative else abs(contrast + g.margin)
        spread = math.sqrt(ratio * ratio * a.var + b.var)
        needed = _needed(spread * _unit_half_widths(level) < gap)
    return _guard(g, verdict, estimate, low, high, a.n, b.n, needed)


def _tail_value(arm: ModelArmStats, rank: int, *, up: bool) -> float | None:
    """The order statistic X_(rank) read off the tail grid, rounded outwards (``up``: a grid
    value at or above it, else at or below it); None when the grid does not reach it.
    ``percentile_disc(f)`` returns X_(ceil(f n)); the 1e-9 absorbs float rounding in f n."""
    if len(arm.duration_tail) != len(TAIL_FRACTIONS) or not 1 <= rank <= arm.n:
        return None
    fractions = np.asarray(TAIL_FRACTIONS)
    if up:
        ok = np.flatnonzero(np.ceil(fractions * arm.n - 1e-9) >= rank)
        return _upper_tail(arm)[int(ok[0])] if ok.size else None
    ok = np.flatnonzero(np.ceil(fractions * arm.n + 1e-9) <= rank)
    return arm.duration_tail[int(ok[-1])] if ok.size else None


def _upper_tail(arm: ModelArmStats) -> tuple[float, ...]:
    """Values at or above the tail's order statistics: the tail itself when it is exact (raw
    rows), its bins' upper edges when it was read from buckets."""
    return arm.duration_tail_upper or arm.duration_tail


def _check_tail(
    g: ModelGuardrail, c: ModelArmStats, t: ModelArmStats, alpha: float
) -> ModelGuardrailCheck:
    """The 95th percentile of duration, relative margin: order-statistic bounds valid under
    repeated looks, each arm's pair of bounds at alpha / 2 so the ratio holds at alpha."""
    # Both arms in one call: the bisection is elementwise, so the ranks are the ones two
    # calls would give, at the cost of one.
    bounds = quantile_rank_bounds(np.array([c.n, t.n]), TAIL_QUANTILE, alpha=alpha / 2)
    (c_rank_low, t_rank_low), (c_rank_high, t_rank_high) = (
        np.asarray(bounds.lower).tolist(),
        np.asarray(bounds.upper).tolist(),
    )
    c_low = _tail_value(c, c_rank_low, up=False)
    c_high = _tail_value(c, c_rank_high, up=True)
    t_low = _tail_value(t, t_rank_low, up=False)
    t_high = _tail_value(t, t_rank_high, up=True)
    estimate = t.duration_p95 / c.duration_p95 - 1.0 if c.duration_p95 else 0.0
    low = t_low / c_high - 1.0 if t_low is not None and c_high else -math.inf
    high = t_high / c_low - 1.0 if t_high is not None and c_low else math.inf
    verdict = _verdict(low, high, g.margin)
    note = "" if math.isfinite(high) else "too few executions to bound the 95th percentile"
    unresolved = verdict is EnumGuardrailVerdict.UNRESOLVED
    needed = _tail_needed(c, t, g.margin, alpha) if unresolved else None
    return _guard(g, verdict, estimate, low, high, c.n, t.n, needed, note=note)


@functools.lru_cache(maxsize=32)
def _grid_rank_fractions(alpha: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The p95 bounds' ranks over the whole planning grid, as fractions of n, and where both
    lie inside the tail grid. They depend on alpha alone, yet cost as much as the rest of a
    look together (a bisection over 400 sizes), and every look asks for them twice (the p95
    guardrail's plan and its own ``needed``) with the same alpha: computed once per alpha,
    returned read-only since the cache shares them."""
    grid = _NEEDED_GRID
    bounds = quantile_rank_bounds(grid, TAIL_QUANTILE, alpha=alpha / 2)
    low_f = np.asarray(bounds.lower) / grid
    high_f = np.asarray(bounds.upper) / grid
    inside = (low_f >= TAIL_FRACTIONS[0]) & (high_f <= TAIL_FRACTIONS[-1])
    for array in (low_f, high_f, inside):
        array.setflags(write=False)
    return low_f, high_f, inside


def _tail_needed(
    control: ModelArmStats, candidate: ModelArmStats, margin: float, alpha: float
) -> int | None:
    """Executions per arm at which the p95 bounds would resolve if both arms kept the shapes
    they show now: the bounds' ranks at n, as fractions of n, read off each arm's observed
    quantiles (interpolated on the tail grid; beyond the grid: not resolved)."""
    tails = (control.duration_tail, candidate.duration_tail)
    if any(len(tail) != len(TAIL_FRACTIONS) for tail in tails):
        return None
    low_f, high_f, inside = _grid_rank_fractions(alpha)
    fractions = np.asarray(TAIL_FRACTIONS)

    def quantile(tail: tuple[float, ...], f: np.ndarray) -> np.ndarray:
        return np.asarray(np.interp(f, fractions, np.asarray(tail)), dtype=np.float64)

    c_low, c_high = quantile(tails[0], low_f), quantile(_upper_tail(control), high_f)
    t_low, t_high = quantile(tails[1], low_f), quantile(_upper_tail(candidate), high_f)
    with np.errstate(divide="ignore", invalid="ignore"):
        shown_within = t_high / c_low - 1.0 < margin
        shown_beyond = t_low / c_high - 1.0 > margin
    return _needed(inside & (shown_within | shown_beyond))


def _guard(
    g: ModelGuardrail,
    verdict: EnumGuardrailVerdict,
    estimate: float,
    low: float | None,
    high: float | None,
    n_control: int,
    n_candidate: int,
    needed: int | None,
    note: str = "",
) -> ModelGuardrailCheck:
    return ModelGuardrailCheck(
        metric=g.metric,
        margin=g.margin,
        required=g.required,
        verdict=verdict,
        worse_by=estimate,
        worse_by_low=_finite(low),
        worse_by_high=_finite(high),
        n_control=n_control,
        n_candidate=n_candidate,
        needed_per_arm=needed,
        note=note,
    )


def _finite(value: float | None) -> float | None:
    """An unbounded side is reported as None (JSON has no infinity)."""
    return value if value is not None and math.isfinite(value) else None


def _measured_n(stats: ModelArmStats, metric: EnumGuardedMetric) -> int:
    if metric in (EnumGuardedMetric.SUCCESS_RATE, EnumGuardedMetric.DURATION_P95):
        return stats.n
    return _mean_arm(stats, metric).n


def check_guardrail(
    g: ModelGuardrail, e: ModelExperiment, *, alpha: float, min_sample_size: int
) -> ModelGuardrailCheck:
    """One guardrail at this look (also what the post-apply watch asks of each guardrail)."""
    c, t = e.control, e.candidate
    counts = (_measured_n(c, g.metric), _measured_n(t, g.metric))
    if min(counts) < min_sample_size:
        return ModelGuardrailCheck(
            metric=g.metric,
            margin=g.margin,
            required=g.required,
            verdict=EnumGuardrailVerdict.NOT_MEASURED,
            n_control=counts[0],
            n_candidate=counts[1],
            note=f"fewer than {min_sample_size} {g.metric.value} values in an arm",
        )
    try:
        if g.metric is EnumGuardedMetric.SUCCESS_RATE:
            return _check_rate(g, c, t, alpha)
        if g.metric is EnumGuardedMetric.DURATION_P95:
            return _check_tail(g, c, t, alpha)
        return _check_mean(g, c, t, alpha)
    except StatsInputError as exc:
        return ModelGuardrailCheck(
            metric=g.metric,
            margin=g.margin,
            required=g.required,
            verdict=EnumGuardrailVerdict.UNRESOLVED,
            n_control=counts[0],
            n_candidate=counts[1],
            note=str(exc),
        )


@functools.lru_cache(maxsize=32)
def _unit_half_widths(level: float) -> np.ndarray:
    """h(n) / sqrt(s) over the grid, both arms with n values, where s = ratio^2 var_control +
    var_candidate: the contrast's half-width scales with sqrt(s) (its variance is s / n and
    the mixture's spread is tau sqrt(s / 2)), so one curve per level serves every variance
    and ratio. It costs a confidence sequence over the whole grid, and every look asks for it
    (the plans, and each unresolved mean guardrail's ``needed``) with the same level: computed
    once per level, returned read-only since the cache shares it."""
    grid = _NEEDED_GRID
    cs = contrast_confidence_sequence(grid, 0.0, 0.5, grid, 0.0, 0.5, alpha=level)  # s = 1
    curve: np.ndarray = (np.asarray(cs.high) - np.asarray(cs.low)) / 2
    curve.setflags(write=False)
    return curve


@functools.lru_cache(maxsize=32)
def _plan_curve(level: float) -> np.ndarray:
    """(h(n) + z_0.8 se(n)) / sqrt(s) over the grid for arms with the same variance, where
    s = (ratio^2 + 1) var: the standard error scales with sqrt(s) as the half-width does."""
    curve: np.ndarray = _unit_half_widths(level) + _Z_POWER * np.sqrt(1.0 / _NEEDED_GRID)
    curve.setflags(write=False)
    return curve


def _plan(var: float, distance: float, level: float, ratio: float = 1.0) -> int | None:
    """Executions per arm at which an always-valid bound around a true difference of 0 clears
    ``distance`` with 80 % probability: half-width h(n) + z_0.8 se(n) <= distance, both arms
    with the control's variance. None when not within the grid's 10 million."""
    if not (distance > 0 and var > 0):
        return None
    return _needed(_plan_curve(level) <= distance / math.sqrt((ratio * ratio + 1) * var))


def _plan_guardrail(g: ModelGuardrail, control: ModelArmStats, alpha: float) -> int | None:
    level = _one_sided(alpha)
    if g.metric is EnumGuardedMetric.SUCCESS_RATE:
        rate = (control.successes + 1) / (control.n + 2)
        return _plan(rate * (1 - rate), g.margin, level)
    if g.metric is EnumGuardedMetric.DURATION_P95:
        # The control's own shape in both arms, to half the margin: the estimate itself moves
        # by about as much as the bounds' width, so a plan to the full margin falls short.
        return _tail_needed(control, control, g.margin / 2, alpha)
    arm = _mean_arm(control, g.metric)
    if g.metric in RELATIVE_MARGIN:
        return _plan(arm.var, g.margin * abs(arm.mean), level, ratio=1 + g.margin)
    return _plan(arm.var, g.margin, level)


def not_comparable(e: ModelExperiment) -> str | None:
    """Why the arms cannot be compared, or None. With exposures from assign(): distinct units
    per arm against the traffic split (a unit counts once, however often it calls), and logged
    executions per assign call alike in both arms (an arm that loses its slow or failed
    executions before they are logged looks better than it is). Without: the logged counts
    against the split, said so. Both tests are always valid under repeated looks."""
    share = e.expected_traffic_share
    split = f"{1 - share:.0%}:{share:.0%}"
    x = e.exposure
    if x is None:
        srm = sequential_srm([e.control.n, e.candidate.n], [1 - share, share], threshold=SRM_P)
        if srm.mismatch:
            return (
                f"sample ratio mismatch: {e.control.n}:{e.candidate.n} logged executions for "
                f"a {split} split (always-valid p={float(srm.p_value):.2g}; no exposures "
                "recorded by assign(), so checked on logged counts)"
            )
        return None
    srm = sequential_srm([x.control.units, x.candidate.units], [1 - share, share], threshold=SRM_P)
    if srm.mismatch:
        return (
            f"sample ratio mismatch: {x.control.units}:{x.candidate.units} distinct units for "
            f"a {split} split (always-valid p={float(srm.p_value):.2g})"
        )
    if x.control.calls >= 2 and x.candidate.calls >= 2:
        p = _logging_p_value(x)
        if p < SRM_P:
            per_call = (
                x.control.executions / x.control.calls,
                x.candidate.executions / x.candidate.calls,
            )
            return (
                f"logging incomplete: {per_call[0]:.3f} control vs {per_call[1]:.3f} candidate "
                f"logged executions per assign call (always-valid p={p:.2g}); the arm that "
                "loses executions before they are logged looks better than it is"
            )
    return None


def _logging_p_value(x: ModelExposureWindow) -> float:
    """Always-valid p-value that both arms log the same share of their assign calls. When no
    arm logs more executions than calls (one execution per call, the usual case) the share is a
    rate and its Bernoulli variance is small when nearly everything is logged, so a loss of a
    fifth shows at once; otherwise the executions are compared with the calls' split."""
    c, t = x.control, x.candidate
    if c.executions <= c.calls and t.executions <= t.calls:
        return float(always_valid_p_value_proportions(c.executions, c.calls, t.executions, t.calls))
    share = t.calls / (c.calls + t.calls)
    return float(sequential_srm([c.executions, t.executions], [1 - share, share]).p_value)


def _watch(e: ModelExperiment, contract: ModelValidateInput) -> ModelValidationResult:
    """An applied change against the previous version it replaced (which keeps a holdback):
    rolled back when any guardrail shows it worse than its margin, held when the watch ends
    without that. Rolling back is the claim to make rarely when the change is truly fine, so
    alpha is divided among the guardrails (Bonferroni): the chance a truly-within-margins
    change is rolled back stays at or below alpha."""
    guardrails = contract.objective.guardrails
    alpha = contract.significance_level / max(len(guardrails), 1)
    checks = [
        check_guardrail(g, e, alpha=alpha, min_sample_size=contract.min_sample_size)
        for g in guardrails
    ]
    inferior = [g for g in checks if g.verdict is EnumGuardrailVerdict.INFERIOR]
    left = e.watch_days_left or 0.0
    if inferior:
        decision = EnumDecision.ROLLBACK
        reason = "regressed after apply: " + "; ".join(g.describe() for g in inferior)
    elif left <= 0:
        decision = EnumDecision.HOLD
        reason = "watch ended: no guardrail worse than its margin against the previous version"
    else:
        decision = EnumDecision.CONTINUE
        reason = (
            f"watching ({left:.1f} days left, {e.control.n} holdback / {e.candidate.n} "
            "new executions): no guardrail worse than its margin so far"
        )
    return ModelValidationResult(
        improvement_id=e.improvement_id,
        candidate_version_id=e.candidate.version_id,
        decision=decision,
        reason=reason,
        metric=METRIC_OF_TYPE[e.improvement_type],
        n_control=e.control.n,
        n_candidate=e.candidate.n,
        guardrails=checks,
        watch=True,
    )


def planned_horizon(
    objective: ModelObjective, metric: EnumMetric, control: ModelArmStats, alpha: float
) -> int:
    """Executions per arm an experiment may run: the objective's, else what the always-valid
    bounds need at 80 % power to show an improvement of ``min_relative_effect`` on the winning
    metric and every measured guardrail within its margin (when the truth is no change),
    planned on the control's variance; capped at ``MAX_HORIZON_PER_ARM``."""
    if objective.horizon_per_arm is not None:
        return objective.horizon_per_arm
    if metric is EnumMetric.SUCCESS_RATE:
        rate = (control.successes + 1) / (control.n + 2)
        var, scale = rate * (1 - rate), rate
    else:
        arm = _mean_arm(control, metric)
        var, scale = arm.var, abs(arm.mean)
    plans = [_plan(var, objective.min_relative_effect * scale, alpha)]
    plans += [
        _plan_guardrail(g, control, alpha)
        for g in objective.guardrails
        if _measured_n(control, g.metric) >= 2
    ]
    if any(p is None for p in plans):
        return MAX_HORIZON_PER_ARM
    return min(max(p for p in plans if p is not None), MAX_HORIZON_PER_ARM)


class NodeImprovementValidatorCompute:
    def validate(self, contract: ModelValidateInput) -> ModelValidateOutput:
        tests = [e for e in contract.experiments if e.watch_days_left is None]
        alpha = contract.significance_level / max(len(tests), 1)
        return ModelValidateOutput(
            results=[
                self._one(e, contract, alpha) if e.watch_days_left is None else _watch(e, contract)
                for e in contract.experiments
            ]
        )

    def _one(
        self, e: ModelExperiment, contract: ModelValidateInput, alpha: float
    ) -> ModelValidationResult:
        objective = contract.objective
        metric = objective.primary_metric or METRIC_OF_TYPE[e.improvement_type]

        def result(decision: EnumDecision, reason: str, **fields: object) -> ModelValidationResult:
            return ModelValidationResult(
                improvement_id=e.improvement_id,
                candidate_version_id=e.candidate.version_id,
                decision=decision,
                reason=reason,
                metric=metric,
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
        flag = not_comparable(e)
        if flag is not None:
            return result(EnumDecision.BLOCK, flag)
        horizon = planned_horizon(objective, metric, e.control, alpha)
        # Executions per arm on average: with a 90/10 split the horizon still comes when the
        # experiment has run as many executions as an even split would have by then.
        at_horizon = (e.control.n + e.candidate.n) / 2 >= horizon or (
            e.age_days >= objective.horizon_days
        )
        guardrails = [
            check_guardrail(g, e, alpha=alpha, min_sample_size=need) for g in objective.guardrails
        ]
        try:
            main = _win_test(metric, e, alpha=alpha)
        except StatsInputError as exc:
            return result(
                EnumDecision.INCONCLUSIVE if at_horizon else EnumDecision.CONTINUE,
                f"cannot test {metric.value}: {exc}",
                guardrails=guardrails,
                horizon_per_arm=horizon,
            )
        confidence = min(1.0 - main.p_value, MAX_CONFIDENCE)
        numbers = {
            "p_value": main.p_value,
            "confidence": confidence,
            "performance_delta": main.delta,
            "statistic": main.statistic,
            "delta_ci_low": main.delta_ci_low,
            "delta_ci_high": main.delta_ci_high,
            "tests": [main],
            "guardrails": guardrails,
            "horizon_per_arm": horizon,
        }
        summary = (
            f"{main.statistic}: {main.delta:+.1%} (always-valid {1 - alpha:.0%} CI "
            f"{main.delta_ci_low:+.1%} to {main.delta_ci_high:+.1%}), p={main.p_value:.3g}"
        )
        if main.worse:
            return result(EnumDecision.REJECT, f"significantly worse: {summary}", **numbers)
        inferior = [g for g in guardrails if g.verdict is EnumGuardrailVerdict.INFERIOR]
        if inferior:
            names = "; ".join(g.describe() for g in inferior)
            return result(
                EnumDecision.REJECT,
                f"worse than a guardrail's margin ({names}) while {summary}",
                **numbers,
            )
        pending = [
            g
            for g in guardrails
            if g.verdict is EnumGuardrailVerdict.UNRESOLVED
            or (g.verdict is EnumGuardrailVerdict.NOT_MEASURED and g.required)
        ]
        if main.better and not pending:
            significant = {**numbers, "significant": True}
            if confidence > contract.auto_apply_threshold:
                return result(EnumDecision.APPLY, f"better: {summary}", **significant)
            return result(
                EnumDecision.REVIEW,
                f"better but confidence {confidence:.3f} <= auto-apply threshold "
                f"{contract.auto_apply_threshold}: {summary}; approve or reject it",
                **significant,
            )
        if main.delta_ci_high < objective.min_relative_effect:
            return result(
                EnumDecision.REJECT,
                f"futile: even the optimistic end of the always-valid CI is below the "
                f"{objective.min_relative_effect:.0%} worth keeping; {summary}",
                **numbers,
            )
        waiting = (
            f"guardrails unresolved ({', '.join(g.describe() for g in pending)})"
            if main.better
            else "not significant yet"
        )
        if at_horizon:
            return result(
                EnumDecision.INCONCLUSIVE,
                f"horizon reached ({horizon} per arm or {objective.horizon_days} days), "
                f"{waiting}: {summary}",
                **numbers,
            )
        return result(EnumDecision.CONTINUE, f"{waiting}: {summary}", **numbers)
