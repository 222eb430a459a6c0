"""Two-sample comparison of conversion rates (success proportions).

The pooled z-test is the large-sample workhorse (identical to the uncorrected chi-square test
of the 2x2 table); Fisher's exact test takes over when the normal approximation is unreliable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy import special, stats

from nodes.stats._checks import (
    FloatArray,
    FloatOrArray,
    out,
    probability,
    two_arm_counts,
)
from nodes.stats.errors import StatsInputError

__all__ = ["ProportionTestResult", "compare_proportions"]

_MIN_EXPECTED = 5.0


@dataclass(frozen=True)
class ProportionTestResult:
    """Candidate vs control rate comparison; ``method`` says which test gave the p-values."""

    statistic: FloatOrArray
    p_value: FloatOrArray
    p_value_better: FloatOrArray
    difference: FloatOrArray
    difference_ci_low: FloatOrArray
    difference_ci_high: FloatOrArray
    cohens_h: FloatOrArray
    method: str


def _min_expected(sa: FloatArray, na: FloatArray, sb: FloatArray, nb: FloatArray) -> FloatArray:
    """Smallest expected cell count of the 2x2 table under independence."""
    total = na + nb
    succ = sa + sb
    fail = total - succ
    smaller_arm = np.minimum(na, nb)
    return np.asarray(smaller_arm * np.minimum(succ, fail) / total, dtype=np.float64)


def _fisher(sa: float, na: float, sb: float, nb: float) -> tuple[float, float]:
    """Two-sided and 'candidate rate higher' one-sided exact p-values for one table."""
    table = [[int(sb), int(nb - sb)], [int(sa), int(na - sa)]]
    two = float(stats.fisher_exact(table, alternative="two-sided").pvalue)
    greater = float(stats.fisher_exact(table, alternative="greater").pvalue)
    return min(1.0, two), min(1.0, greater)


def compare_proportions(
    successes_control: ArrayLike,
    n_control: ArrayLike,
    successes_candidate: ArrayLike,
    n_candidate: ArrayLike,
    *,
    alpha: float = 0.05,
    method: Literal["auto", "z", "fisher"] = "auto",
) -> ProportionTestResult:
    """Compare candidate vs control success rates (higher rate is better).

    ``statistic`` is always the pooled-variance z score (its square equals the uncorrected
    chi-square of the 2x2 table), so it stays comparable across methods; the confidence
    interval of the difference is the unpooled Wald interval.

    Switching rule for ``method='auto'``: Fisher's exact test when any expected cell count of
    the 2x2 table (arm x success/failure, under independence) is below 5 - the classic bound
    below which the chi-square/z approximation is unreliable - otherwise the z-test. Fisher is
    scalar only: ``method='fisher'`` with array input raises, and for array input 'auto' runs
    Fisher just on the (rare) elements that need it, reporting ``method='mixed'`` when both
    tests were used. When both arms are all-failure or all-success there is no variance and no
    evidence: p_value = p_value_better = 1 (no error).
    """
    alpha = probability(alpha, "alpha")
    if method not in ("auto", "z", "fisher"):
        raise StatsInputError("method", f"must be 'auto', 'z' or 'fisher', got {method!r}")
    sa, na, sb, nb = two_arm_counts(successes_control, n_control, successes_candidate, n_candidate)
    scalar = sa.ndim == 0
    if method == "fisher" and not scalar:
        raise StatsInputError("method", "'fisher' supports scalar inputs only")

    pa = sa / na
    pb = sb / nb
    diff = pb - pa
    pooled = (sa + sb) / (na + nb)
    se0 = np.sqrt(pooled * (1.0 - pooled) * (1.0 / na + 1.0 / nb))
    degenerate = se0 == 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(degenerate, 0.0, diff / se0)
    p_two = np.where(degenerate, 1.0, 2.0 * special.ndtr(-np.abs(z)))
    p_better = np.where(degenerate, 1.0, special.ndtr(-z))

    se = np.sqrt(pa * (1.0 - pa) / na + pb * (1.0 - pb) / nb)
    half = special.ndtri(1.0 - alpha / 2.0) * se
    h = 2.0 * np.arcsin(np.sqrt(pb)) - 2.0 * np.arcsin(np.sqrt(pa))

    if method == "fisher":
        use_fisher = np.ones(sa.shape, dtype=bool)
    elif method == "z":
        use_fisher = np.zeros(sa.shape, dtype=bool)
    else:
        use_fisher = _min_expected(sa, na, sb, nb) < _MIN_EXPECTED

    if use_fisher.any():
        p_two = np.array(p_two, dtype=np.float64)
        p_better = np.array(p_better, dtype=np.float64)
        for idx in zip(*np.nonzero(np.atleast_1d(use_fisher)), strict=True):
            key = idx if not scalar else ()
            two, greater = _fisher(float(sa[key]), float(na[key]), float(sb[key]), float(nb[key]))
            p_two[key] = two
            p_better[key] = greater

    n_fisher = int(np.count_nonzero(use_fisher))
    if n_fisher == 0:
        used = "z"
    elif n_fisher == use_fisher.size:
        used = "fisher"
    else:
        used = "mixed"

    return ProportionTestResult(
        statistic=out(z),
        p_value=out(p_two),
        p_value_better=out(p_better),
        difference=out(diff),
        difference_ci_low=out(diff - half),
        difference_ci_high=out(diff + half),
        cohens_h=out(h),
        method=used,
    )
