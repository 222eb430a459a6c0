"""Always-valid p-values for repeated looks (mixture SPRT, Johari, Pekelis & Walsh 2017).

Scheduled runs re-test the same experiment as data accumulates; stopping at the first
fixed-horizon p < alpha inflates the false-positive rate far above alpha. The mixture
sequential probability ratio test with a normal N(0, tau^2) mixing distribution over the effect
gives a likelihood ratio Lambda_n that is a martingale under H0, so p_n = min(1, 1/Lambda_n)
and its running minimum over looks are valid at any (data-dependent) stopping time.

``tau`` is scale-free: in units of the pooled standard deviation, so one default works for
every metric. DEFAULT_TAU = 0.15 sd, chosen by the power simulation in
``tests/stats/test_sequential.py``: the mixture is most powerful for effects near tau, and a
10 % change planned at ~500 runs per arm (80 % one-sided power) is ~0.16 sd. Over 20 looks
ending at twice that n, sequential power was 0.56 / 0.74 / 0.75 / 0.75 / 0.72 for tau =
0.05 / 0.1 / 0.15 / 0.2 / 0.3 (A/A false-positive rate <= 0.02 for all), so 0.15 sits on the
flat optimum; smaller tau wastes power on tiny effects, larger on implausibly large ones.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from nodes.stats._checks import (
    FloatArray,
    FloatOrArray,
    as_finite,
    broadcast,
    out,
    positive_scalar,
    two_arm_counts,
    two_arm_summaries,
)
from nodes.stats.errors import StatsInputError

__all__ = ["DEFAULT_TAU", "always_valid_p_value", "always_valid_p_value_proportions"]

DEFAULT_TAU = 0.15


def _msprt_p(
    theta: FloatArray,
    v: FloatArray,
    tau_abs: FloatArray,
    previous_p_value: ArrayLike | None,
) -> FloatOrArray:
    """p = min(1, 1/Lambda) in log space, then the running minimum with the previous look."""
    t2 = tau_abs * tau_abs
    degenerate = (v <= 0.0) | (t2 <= 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_lambda = 0.5 * np.log(v / (v + t2)) + theta * theta * t2 / (2.0 * v * (v + t2))
    log_lambda = np.where(degenerate, 0.0, log_lambda)
    p = np.exp(-np.maximum(log_lambda, 0.0))
    if previous_p_value is not None:
        prev = as_finite(previous_p_value, "previous_p_value")
        bad = (prev < 0.0) | (prev > 1.0)
        if bad.any():
            raise StatsInputError(
                "previous_p_value", f"must be in [0, 1], got {float(prev[bad][0])!r}"
            )
        p, prev = broadcast(p_value=p, previous_p_value=prev)
        p = np.minimum(p, prev)
    return out(p)


def always_valid_p_value(
    n_control: ArrayLike,
    mean_control: ArrayLike,
    var_control: ArrayLike,
    n_candidate: ArrayLike,
    mean_candidate: ArrayLike,
    var_candidate: ArrayLike,
    *,
    previous_p_value: ArrayLike | None = None,
    tau: float = DEFAULT_TAU,
) -> FloatOrArray:
    """Two-sided always-valid p-value for mean_candidate - mean_control (mSPRT).

    Pass the previous look's returned p-value as ``previous_p_value``; the running minimum is
    what makes "stop the first time p < alpha" valid.
    """
    tau = positive_scalar(tau, "tau")
    na, ma, va, nb, mb, vb = two_arm_summaries(
        n_control, mean_control, var_control, n_candidate, mean_candidate, var_candidate
    )
    theta = mb - ma
    v = va / na + vb / nb
    tau_abs = tau * np.sqrt((va + vb) / 2.0)
    return _msprt_p(theta, v, tau_abs, previous_p_value)


def always_valid_p_value_proportions(
    successes_control: ArrayLike,
    n_control: ArrayLike,
    successes_candidate: ArrayLike,
    n_candidate: ArrayLike,
    *,
    previous_p_value: ArrayLike | None = None,
    tau: float = DEFAULT_TAU,
) -> FloatOrArray:
    """Always-valid p-value for a rate difference; Bernoulli variances p(1 - p).

    V uses the pooled rate (the variance under H0, like the pooled z-test); tau is scaled by
    the average per-arm standard deviation. Both arms at rate 0 or 1 carry no evidence: p = 1
    (or the previous p-value).
    """
    tau = positive_scalar(tau, "tau")
    sa, na, sb, nb = two_arm_counts(successes_control, n_control, successes_candidate, n_candidate)
    pa = sa / na
    pb = sb / nb
    pooled = (sa + sb) / (na + nb)
    v = pooled * (1.0 - pooled) * (1.0 / na + 1.0 / nb)
    tau_abs = tau * np.sqrt((pa * (1.0 - pa) + pb * (1.0 - pb)) / 2.0)
    return _msprt_p(pb - pa, v, tau_abs, previous_p_value)
