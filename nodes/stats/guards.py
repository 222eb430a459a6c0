"""Guard rails around a comparison: sample-ratio mismatch and multiple-testing corrections.

A sample-ratio mismatch means the traffic split itself is broken (assignment or logging bug),
which invalidates every metric comparison; many metrics per experiment inflate false
positives, hence Holm (family-wise error) and Benjamini-Hochberg (false discovery rate).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from nodes.stats._checks import FloatArray, as_finite, at_least, probability
from nodes.stats.errors import StatsInputError

__all__ = ["SampleRatioResult", "benjamini_hochberg", "holm", "sample_ratio_mismatch"]


@dataclass(frozen=True)
class SampleRatioResult:
    """Chi-square goodness of fit of observed arm counts to the intended split."""

    statistic: float
    p_value: float
    mismatch: bool


def sample_ratio_mismatch(
    observed: ArrayLike,
    expected_weights: ArrayLike,
    *,
    threshold: float = 0.001,
) -> SampleRatioResult:
    """Flag a broken traffic split: chi-square test of counts vs normalised weights.

    The default threshold is strict (0.001) because the check runs on every experiment at
    every look and a false alarm halts an otherwise healthy experiment.
    """
    threshold = probability(threshold, "threshold")
    obs = at_least(observed, "observed", 0.0)
    w = as_finite(expected_weights, "expected_weights")
    if obs.ndim != 1 or obs.size < 2:
        raise StatsInputError("observed", f"must be 1-D with >= 2 arms, got shape {obs.shape}")
    if w.shape != obs.shape:
        raise StatsInputError(
            "expected_weights", f"must have shape {obs.shape} like observed, got {w.shape}"
        )
    if (w <= 0.0).any():
        raise StatsInputError("expected_weights", f"must be > 0, got {float(w[w <= 0][0])!r}")
    total = float(obs.sum())
    if total <= 0.0:
        raise StatsInputError("observed", "must contain at least one observation")
    expected = total * w / w.sum()
    stat = float(np.sum((obs - expected) ** 2 / expected))
    p = float(special.chdtrc(obs.size - 1, stat))
    return SampleRatioResult(statistic=stat, p_value=p, mismatch=p < threshold)


def _p_values(p_values: ArrayLike) -> FloatArray:
    """Finite values in [0, 1]."""
    p = as_finite(p_values, "p_values")
    bad = (p < 0.0) | (p > 1.0)
    if bad.any():
        raise StatsInputError("p_values", f"must be in [0, 1], got {float(p[bad][0])!r}")
    return p


def holm(p_values: ArrayLike) -> np.ndarray:
    """Holm step-down adjusted p-values (family-wise error control), same shape as input."""
    p = _p_values(p_values)
    flat = p.ravel()
    m = flat.size
    order = np.argsort(flat, kind="stable")
    adjusted_sorted = np.maximum.accumulate(flat[order] * (m - np.arange(m)))
    adjusted = np.empty(m, dtype=np.float64)
    adjusted[order] = np.minimum(adjusted_sorted, 1.0)
    return adjusted.reshape(p.shape)


def benjamini_hochberg(p_values: ArrayLike) -> np.ndarray:
    """Benjamini-Hochberg step-up adjusted p-values (false discovery rate control)."""
    p = _p_values(p_values)
    flat = p.ravel()
    m = flat.size
    order = np.argsort(flat, kind="stable")
    scaled = flat[order] * m / np.arange(1, m + 1)
    adjusted_sorted = np.minimum.accumulate(scaled[::-1])[::-1]
    adjusted = np.empty(m, dtype=np.float64)
    adjusted[order] = np.minimum(adjusted_sorted, 1.0)
    return adjusted.reshape(p.shape)
