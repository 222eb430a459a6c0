"""Two-sample comparison of means from summary statistics (Welch by default).

Why summary statistics: the loop's SQL aggregates n, mean and sample variance per arm, so the
engine never needs raw rows and one call can compare thousands of (pattern, metric) pairs at
once; every function is vectorised over broadcastable arrays.

Heavy tails (why durations are tested on the log scale): execution durations are heavy-tailed
(roughly lognormal). On the raw scale a handful of very slow runs dominate the sample variance,
so the Welch test has little power, and its t statistic converges to normal slowly. A
performance change is usually multiplicative (a 10 % speedup scales every duration), which is a
constant shift of ``log(1 + duration_ms)``, where the distribution is close to normal with a
stable variance. The SQL therefore provides mean/var of ``log1p(duration_ms)`` and the duration
metric is compared with a Welch test on that scale; ``relative_lift`` there is a lift of the
log-mean, and ``exp(difference) - 1`` approximates the multiplicative change. The simulation in
``tests/stats/test_heavy_tails.py`` (lognormal sigma = 1, n = 200 per arm, 10 % speedup) shows
the raw-scale Welch test has markedly lower power than the log-scale one while both hold their
size under A/A; Mann-Whitney U (scale-free, rank based) is the robustness check there and
agrees with the log-scale test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from nodes.stats._checks import (
    FloatArray,
    FloatOrArray,
    as_finite,
    nct_cdf,
    out,
    probability,
    two_arm_summaries,
)
from nodes.stats.errors import StatsInputError

__all__ = ["ContinuousTestResult", "compare_means", "compare_means_from_stats"]


@dataclass(frozen=True)
class ContinuousTestResult:
    """Welch/Student comparison of candidate vs control; fields broadcast like the inputs."""

    statistic: FloatOrArray
    df: FloatOrArray
    p_value: FloatOrArray
    p_value_better: FloatOrArray
    difference: FloatOrArray
    difference_ci_low: FloatOrArray
    difference_ci_high: FloatOrArray
    relative_lift: FloatOrArray
    relative_lift_ci_low: FloatOrArray
    relative_lift_ci_high: FloatOrArray
    cohens_d: FloatOrArray
    _power_inputs: tuple[FloatArray, FloatArray, float] = field(repr=False, compare=False)

    @cached_property
    def power(self) -> FloatOrArray:
        """Achieved power of the one-sided test at the observed |effect| (noncentral t).
        Computed on first access: it is the costliest field and most callers never read it."""
        df, abs_t, alpha = self._power_inputs
        crit = special.stdtrit(df, 1.0 - alpha)
        return out(np.clip(1.0 - nct_cdf(df, abs_t, crit), 0.0, 1.0))


def compare_means_from_stats(
    n_control: ArrayLike,
    mean_control: ArrayLike,
    var_control: ArrayLike,
    n_candidate: ArrayLike,
    mean_candidate: ArrayLike,
    var_candidate: ArrayLike,
    *,
    lower_is_better: bool,
    equal_var: bool = False,
    alpha: float = 0.05,
) -> ContinuousTestResult:
    """Compare candidate vs control means from (n, mean, sample variance ddof=1) per arm.

    Welch's unequal-variance t-test by default because arms of an A/B test routinely differ in
    spread; ``equal_var=True`` gives the pooled Student test. ``p_value_better`` is one-sided in
    the improving direction (candidate mean lower when ``lower_is_better``). ``relative_lift``
    is NaN where ``mean_control == 0`` (undefined), never the p-values.
    """
    alpha = probability(alpha, "alpha")
    na, ma, va, nb, mb, vb = two_arm_summaries(
        n_control, mean_control, var_control, n_candidate, mean_candidate, var_candidate
    )

    sea2 = va / na
    seb2 = vb / nb
    dfp = na + nb - 2.0
    pooled_var = ((na - 1.0) * va + (nb - 1.0) * vb) / dfp
    if equal_var:
        se2 = pooled_var * (1.0 / na + 1.0 / nb)
        df = dfp
    else:
        se2 = sea2 + seb2
        df = se2 * se2 / (sea2 * sea2 / (na - 1.0) + seb2 * seb2 / (nb - 1.0))
    se = np.sqrt(se2)
    diff = mb - ma
    t = diff / se

    # One CDF evaluation serves both p-values: tail = P(T >= |t|).
    tail = special.stdtr(df, -np.abs(t))
    p_two = np.minimum(1.0, 2.0 * tail)
    favourable = t < 0.0 if lower_is_better else t > 0.0
    p_better = np.where(favourable, tail, 1.0 - tail)
    p_better = np.where(t == 0.0, 0.5, p_better)

    q = special.stdtrit(df, 1.0 - alpha / 2.0)
    half = q * se

    # Lift is undefined at mean_control == 0 and may overflow for means near 0; keep it quiet.
    with np.errstate(all="ignore"):
        lift = diff / ma
        ratio = mb / ma
        # Delta method for mean_b / mean_a with independent arms.
        lift_se = np.sqrt(seb2 / (ma * ma) + ratio * ratio * sea2 / (ma * ma))
        lift_half = special.ndtri(1.0 - alpha / 2.0) * lift_se
        undefined = ma == 0.0
        lift_lo = np.where(undefined, np.nan, lift - lift_half)
        lift_hi = np.where(undefined, np.nan, lift + lift_half)
        lift = np.where(undefined, np.nan, lift)

    d = diff / np.sqrt(pooled_var)

    return ContinuousTestResult(
        statistic=out(t),
        df=out(df),
        p_value=out(p_two),
        p_value_better=out(p_better),
        difference=out(diff),
        difference_ci_low=out(diff - half),
        difference_ci_high=out(diff + half),
        relative_lift=out(lift),
        relative_lift_ci_low=out(lift_lo),
        relative_lift_ci_high=out(lift_hi),
        cohens_d=out(d),
        _power_inputs=(df, np.abs(t), alpha),
    )


def _sample_stats(values: ArrayLike, name: str) -> tuple[FloatArray, FloatArray, FloatArray]:
    """n, mean and ddof=1 variance along the last axis (so 2-D input means many comparisons)."""
    arr = as_finite(values, name)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    n = arr.shape[-1]
    if n < 2:
        raise StatsInputError(name, f"must have >= 2 observations, got {n}")
    return (
        np.full(arr.shape[:-1], float(n)),
        arr.mean(axis=-1),
        arr.var(axis=-1, ddof=1),
    )


def compare_means(
    control: ArrayLike,
    candidate: ArrayLike,
    *,
    lower_is_better: bool,
    equal_var: bool = False,
    alpha: float = 0.05,
) -> ContinuousTestResult:
    """Raw-sample convenience wrapper; samples lie along the last axis (ddof=1 variances)."""
    na, ma, va = _sample_stats(control, "control")
    nb, mb, vb = _sample_stats(candidate, "candidate")
    if ((va == 0.0) & (vb == 0.0)).any():
        raise StatsInputError("control", "zero variance in both arms (candidate too)")
    return compare_means_from_stats(
        na,
        ma,
        va,
        nb,
        mb,
        vb,
        lower_is_better=lower_is_better,
        equal_var=equal_var,
        alpha=alpha,
    )
