"""Beta-binomial posteriors for conversion rates: probability to be best and expected loss.

Bayesian summaries answer the product question directly ("how likely is the candidate the best
arm, and what do we lose if we ship it and are wrong"), complementing the frequentist tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import integrate, special, stats

from nodes.stats._checks import FloatArray, integer_valued, positive_scalar, probability, show
from nodes.stats.errors import StatsInputError

__all__ = ["BetaPosterior", "beta_posteriors", "expected_loss", "probability_to_be_best"]

_CLOSED_FORM_MAX_TERMS = 1_000_000
_CHUNK = 100_000


@dataclass(frozen=True)
class BetaPosterior:
    """Beta(alpha, beta) posterior of one arm's success rate."""

    alpha: float
    beta: float

    @property
    def mean(self) -> float:
        """Posterior mean alpha / (alpha + beta)."""
        return self.alpha / (self.alpha + self.beta)

    def interval(self, level: float = 0.95) -> tuple[float, float]:
        """Equal-tailed credible interval (quantiles (1 - level)/2 and (1 + level)/2)."""
        level = probability(level, "level")
        lo = float(special.betaincinv(self.alpha, self.beta, (1.0 - level) / 2.0))
        hi = float(special.betaincinv(self.alpha, self.beta, (1.0 + level) / 2.0))
        return lo, hi


def _posterior_params(
    successes: ArrayLike,
    trials: ArrayLike,
    prior_alpha: float,
    prior_beta: float,
    min_arms: int,
) -> tuple[FloatArray, FloatArray]:
    """Validate per-arm counts (1-D, equal length) and return posterior alpha/beta arrays."""
    pa = positive_scalar(prior_alpha, "prior_alpha")
    pb = positive_scalar(prior_beta, "prior_beta")
    s = np.atleast_1d(integer_valued(successes, "successes", 0.0))
    n = np.atleast_1d(integer_valued(trials, "trials", 0.0))
    if s.ndim != 1:
        raise StatsInputError("successes", f"must be 1-D (one count per arm), got shape {s.shape}")
    if n.shape != s.shape:
        raise StatsInputError("trials", f"must have shape {s.shape} like successes, got {n.shape}")
    if s.size < min_arms:
        raise StatsInputError("successes", f"must have >= {min_arms} arms, got {s.size}")
    bad = s > n
    if bad.any():
        raise StatsInputError(
            "successes",
            f"must be <= trials, got {show(float(s[bad][0]))} > {show(float(n[bad][0]))}",
        )
    return s + pa, n - s + pb


def beta_posteriors(
    successes: ArrayLike,
    trials: ArrayLike,
    *,
    prior_alpha: float = 1.0,
    prior_beta: float = 1.0,
) -> list[BetaPosterior]:
    """Posterior Beta(prior_alpha + s, prior_beta + n - s) per arm."""
    a, b = _posterior_params(successes, trials, prior_alpha, prior_beta, 1)
    return [BetaPosterior(float(x), float(y)) for x, y in zip(a, b, strict=True)]


def _prob_b_beats_a(a1: float, b1: float, a2: float, b2: float) -> float:
    """P(X2 > X1) for X1 ~ Beta(a1, b1), X2 ~ Beta(a2, b2), exactly.

    Evan Miller's closed-form sum when a2 is an integer (vectorised over its a2 terms), else
    numerical integration of f2(x) * F1(x) over the bulk of X2.
    """
    if a2 == round(a2) and a2 <= _CLOSED_FORM_MAX_TERMS:
        i = np.arange(int(a2), dtype=np.float64)
        log_terms = (
            special.betaln(a1 + i, b1 + b2)
            - np.log(b2 + i)
            - special.betaln(1.0 + i, b2)
            - special.betaln(a1, b1)
        )
        return float(np.clip(np.exp(special.logsumexp(log_terms)), 0.0, 1.0))
    if a1 == round(a1) and a1 <= _CLOSED_FORM_MAX_TERMS:
        return 1.0 - _prob_b_beats_a(a2, b2, a1, b1)
    lo = float(special.betaincinv(a2, b2, 1e-15))
    hi = float(special.betaincinv(a2, b2, 1.0 - 1e-15))

    def integrand(x: float) -> float:
        return float(stats.beta.pdf(x, a2, b2) * special.betainc(a1, b1, x))

    value, _ = integrate.quad(integrand, lo, hi, epsabs=1e-12, epsrel=1e-10, limit=200)
    return float(min(1.0, max(0.0, value)))


def _draws(a: FloatArray, b: FloatArray, samples: int, seed: int) -> list[FloatArray]:
    """Seeded posterior draws in chunks of rows (samples x arms) to bound memory."""
    if isinstance(samples, bool) or int(samples) != samples or samples < 1:
        raise StatsInputError("samples", f"must be a positive integer, got {samples!r}")
    rng = np.random.default_rng(seed)
    chunks = []
    remaining = int(samples)
    while remaining > 0:
        size = min(_CHUNK, remaining)
        chunks.append(rng.beta(a, b, size=(size, a.size)))
        remaining -= size
    return chunks


def probability_to_be_best(
    successes: ArrayLike,
    trials: ArrayLike,
    *,
    prior_alpha: float = 1.0,
    prior_beta: float = 1.0,
    samples: int = 200_000,
    seed: int = 0,
) -> np.ndarray:
    """P(arm i has the highest rate) per arm; exact for 2 arms, seeded Monte Carlo for more."""
    a, b = _posterior_params(successes, trials, prior_alpha, prior_beta, 2)
    if a.size == 2:
        p1 = _prob_b_beats_a(float(a[0]), float(b[0]), float(a[1]), float(b[1]))
        return np.array([1.0 - p1, p1])
    wins = np.zeros(a.size, dtype=np.float64)
    for chunk in _draws(a, b, samples, seed):
        wins += np.bincount(np.argmax(chunk, axis=1), minlength=a.size)
    result: np.ndarray = wins / wins.sum()
    return result


def expected_loss(
    successes: ArrayLike,
    trials: ArrayLike,
    *,
    prior_alpha: float = 1.0,
    prior_beta: float = 1.0,
    samples: int = 200_000,
    seed: int = 0,
) -> np.ndarray:
    """E[max_j p_j - p_i] per arm: the rate given up by shipping arm i (seeded Monte Carlo)."""
    a, b = _posterior_params(successes, trials, prior_alpha, prior_beta, 2)
    total = np.zeros(a.size, dtype=np.float64)
    count = 0
    for chunk in _draws(a, b, samples, seed):
        total += (chunk.max(axis=1, keepdims=True) - chunk).sum(axis=0)
        count += chunk.shape[0]
    return total / count
