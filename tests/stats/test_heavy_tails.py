"""Why durations are tested on the log1p scale: simulated size and power (see continuous.py).

Lognormal(sigma = 1) durations with a median of ~1 s, n = 200 per arm, 2000 seeded reps. A 10 %
multiplicative speedup is a constant shift on the log scale, where Welch is near-optimal; on
the raw scale the long right tail inflates the variance and the test loses power.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from nodes.stats import compare_means

REPS = 2000
N = 200
SIGMA = 1.0
ALPHA = 0.05
SIZE_BOUND = ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / REPS)


def _durations(rng: np.random.Generator, factor: float) -> np.ndarray:
    """(REPS, N) lognormal durations in ms, scaled by ``factor``."""
    return factor * rng.lognormal(mean=math.log(1000.0), sigma=SIGMA, size=(REPS, N))


def _rejection_rates(factor: float, seed: int) -> dict[str, float]:
    """One-sided "candidate faster" rejection rates of the three tests on the same data."""
    rng = np.random.default_rng(seed)
    control = _durations(rng, 1.0)
    candidate = _durations(rng, factor)
    raw = compare_means(control, candidate, lower_is_better=True)
    log = compare_means(np.log1p(control), np.log1p(candidate), lower_is_better=True)
    mwu = stats.mannwhitneyu(candidate, control, alternative="less", axis=1)
    return {
        "raw_welch": float(np.mean(np.asarray(raw.p_value_better) < ALPHA)),
        "log_welch": float(np.mean(np.asarray(log.p_value_better) < ALPHA)),
        "mann_whitney": float(np.mean(np.asarray(mwu.pvalue) < ALPHA)),
    }


def test_size_under_aa_is_kept_on_both_scales() -> None:
    rates = _rejection_rates(1.0, seed=11)
    print(f"\nA/A size (bound {SIZE_BOUND:.4f}): {rates}")
    assert rates["raw_welch"] <= SIZE_BOUND
    assert rates["log_welch"] <= SIZE_BOUND
    assert rates["mann_whitney"] <= SIZE_BOUND


def test_log_scale_has_markedly_more_power_for_a_10_percent_speedup() -> None:
    rates = _rejection_rates(0.9, seed=12)
    print(f"\n10 % speedup power: {rates}")
    # Same data for both tests (paired), so the gap is far beyond Monte Carlo noise (~0.01).
    # Theory: standardised effect 0.105 (log) vs ~0.076 (raw), i.e. the raw test needs ~1.9x
    # the sample size for the same power.
    assert rates["log_welch"] >= 1.25 * rates["raw_welch"]
    assert rates["log_welch"] - rates["raw_welch"] >= 0.05
    # Robustness check: the rank test agrees with the log-scale test, not the raw one.
    assert abs(rates["mann_whitney"] - rates["log_welch"]) < 0.05
