"""Sample-size and minimum-detectable-effect planning for equal-size arms.

Planning happens before an experiment starts, so these are scalar functions. They solve the
same power equations as statsmodels' ``TTestIndPower`` (noncentral t, means) and
``NormalIndPower`` (Cohen's h, proportions), including the far tail for two-sided tests, so the
unrounded solutions (``required_n_means`` / ``required_n_proportions``) match ``solve_power``
and the integer sizes are their ceilings.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

from scipy import optimize, special

from nodes.stats._checks import nct_cdf, positive_scalar, probability
from nodes.stats.errors import StatsInputError

__all__ = [
    "mde_means",
    "mde_proportions",
    "required_n_means",
    "required_n_proportions",
    "sample_size_means",
    "sample_size_proportions",
]

Alternative = Literal["one-sided", "two-sided"]
_XTOL = 1e-12
_RTOL = 4 * 2.220446049250313e-16


def _tail_alpha(alpha: float, alternative: str) -> float:
    """Per-tail significance level."""
    if alternative == "one-sided":
        return alpha
    if alternative == "two-sided":
        return alpha / 2.0
    raise StatsInputError("alternative", f"must be 'one-sided' or 'two-sided', got {alternative!r}")


def _t_power(d: float, n: float, alpha: float, alternative: str) -> float:
    """Power of the two-sample t-test with n per arm for standardised effect d >= 0."""
    df = 2.0 * n - 2.0
    nc = d * math.sqrt(n / 2.0)
    crit = float(special.stdtrit(df, 1.0 - _tail_alpha(alpha, alternative)))
    power = 1.0 - float(nct_cdf(df, nc, crit))
    if alternative == "two-sided":
        power += float(nct_cdf(df, nc, -crit))
    return power


def _z_power(h: float, n: float, alpha: float, alternative: str) -> float:
    """Power of the two-sample z-test on Cohen's h with n per arm."""
    crit = float(special.ndtri(1.0 - _tail_alpha(alpha, alternative)))
    nc = h * math.sqrt(n / 2.0)
    power = float(special.ndtr(nc - crit))
    if alternative == "two-sided":
        power += float(special.ndtr(-crit - nc))
    return power


def _solve(f: Callable[[float], float], lo: float, hi: float) -> float:
    """Root of an increasing function, expanding the upper bracket as needed."""
    while f(hi) < 0.0:
        lo, hi = hi, hi * 4.0
        if hi > 1e15:
            raise StatsInputError("mde", "effect too small: required sample size overflows")
    return float(optimize.brentq(f, lo, hi, xtol=_XTOL, rtol=_RTOL, maxiter=500))


def _targets(alpha: float, power: float, alternative: Alternative) -> tuple[float, float]:
    """Validated (alpha, power) of a planning question."""
    alpha = probability(alpha, "alpha")
    power = probability(power, "power")
    _tail_alpha(alpha, alternative)
    return alpha, power


def _n_per_arm(n_per_arm: int) -> float:
    n = float(n_per_arm)
    if not (math.isfinite(n) and n >= 2.0):
        raise StatsInputError("n_per_arm", f"must be >= 2, got {n_per_arm!r}")
    return n


def required_n_means(
    *,
    sd: float,
    mde: float,
    alpha: float = 0.05,
    power: float = 0.8,
    alternative: Alternative = "one-sided",
) -> float:
    """Unrounded per-arm n of the noncentral-t power equation (statsmodels ``nobs1``)."""
    sd = positive_scalar(sd, "sd")
    mde_abs = positive_scalar(abs(mde), "mde")
    alpha, power = _targets(alpha, power, alternative)
    d = mde_abs / sd
    return _solve(lambda n: _t_power(d, n, alpha, alternative) - power, 2.0 + 1e-9, 64.0)


def sample_size_means(
    *,
    sd: float,
    mde: float,
    alpha: float = 0.05,
    power: float = 0.8,
    alternative: Alternative = "one-sided",
) -> int:
    """Per-arm sample size to detect an absolute mean change ``mde`` (Welch/Student test)."""
    n = required_n_means(sd=sd, mde=mde, alpha=alpha, power=power, alternative=alternative)
    return max(2, math.ceil(n))


def mde_means(
    *,
    n_per_arm: int,
    sd: float,
    alpha: float = 0.05,
    power: float = 0.8,
    alternative: Alternative = "one-sided",
) -> float:
    """Smallest absolute mean difference detectable with ``power`` at ``n_per_arm`` per arm."""
    n = _n_per_arm(n_per_arm)
    sd = positive_scalar(sd, "sd")
    alpha, power = _targets(alpha, power, alternative)
    d = _solve(lambda x: _t_power(x, n, alpha, alternative) - power, 0.0, 1.0)
    return d * sd


def _cohens_h(p1: float, p2: float) -> float:
    """Arcsine-transformed rate difference (variance-stabilised effect size)."""
    return 2.0 * math.asin(math.sqrt(p2)) - 2.0 * math.asin(math.sqrt(p1))


def required_n_proportions(
    *,
    p_control: float,
    p_candidate: float,
    alpha: float = 0.05,
    power: float = 0.8,
    alternative: Alternative = "one-sided",
) -> float:
    """Unrounded per-arm n for the normal test on Cohen's h (statsmodels ``nobs1``)."""
    pa = probability(p_control, "p_control")
    pb = probability(p_candidate, "p_candidate")
    if pa == pb:
        raise StatsInputError("p_candidate", f"must differ from p_control, got {pb!r}")
    alpha, power = _targets(alpha, power, alternative)
    h = abs(_cohens_h(pa, pb))
    return _solve(lambda n: _z_power(h, n, alpha, alternative) - power, 1e-9, 64.0)


def sample_size_proportions(
    *,
    p_control: float,
    p_candidate: float,
    alpha: float = 0.05,
    power: float = 0.8,
    alternative: Alternative = "one-sided",
) -> int:
    """Per-arm sample size to detect a change from ``p_control`` to ``p_candidate``."""
    n = required_n_proportions(
        p_control=p_control,
        p_candidate=p_candidate,
        alpha=alpha,
        power=power,
        alternative=alternative,
    )
    return max(2, math.ceil(n))


def mde_proportions(
    *,
    n_per_arm: int,
    p_control: float,
    alpha: float = 0.05,
    power: float = 0.8,
    alternative: Alternative = "one-sided",
) -> float:
    """Smallest upward absolute rate difference detectable at ``n_per_arm`` per arm."""
    n = _n_per_arm(n_per_arm)
    pa = probability(p_control, "p_control")
    alpha, power = _targets(alpha, power, alternative)
    h = _solve(lambda x: _z_power(x, n, alpha, alternative) - power, 0.0, 1.0)
    phi = math.asin(math.sqrt(pa)) + h / 2.0
    if phi >= math.pi / 2.0:
        raise StatsInputError(
            "n_per_arm", f"too small: no upward rate from p_control={pa!r} reaches the power"
        )
    return math.sin(phi) ** 2 - pa
