"""Always-valid confidence sequences: bounds that stay valid under repeated looks.

The loop re-examines a candidate at every scheduled run and may stop at any look, so a
fixed-horizon CI (valid at one pre-planned n) would miss the truth far more often than alpha.
A confidence sequence (CS) covers the truth at every look simultaneously with probability
>= 1 - alpha, hence also at any data-dependent stopping time.

Means and rates (``contrast_confidence_sequence``, ``proportion_confidence_sequence``) invert
the mixture SPRT of ``sequential.py`` (Johari, Pekelis & Walsh 2017; the normal-mixture
boundary of Robbins 1970 / Howard, Ramdas, McAuliffe & Sekhon 2021): with the estimate
theta_hat ~ N(theta, v) and a N(0, t2) mixture over the effect, the mSPRT rejects
H0: theta = theta0 at level alpha exactly when |theta_hat - theta0| > h with

    h = sqrt( v (v + t2) / t2 * ( ln((v + t2) / v) + 2 ln(1/alpha) ) ),

so the CS is theta_hat +- h, and "theta0 outside the CS" is "always-valid p < alpha". The
running intersection with the previous look's bounds keeps it valid across looks (the
coverage event is "the truth is in every look's interval", so intersecting costs nothing).
Like ``sequential.py`` it plugs in sample variances (asymptotically exact; the simulations in
``tests/stats/test_confidence.py`` check coverage from 10 units per arm on).

Quantiles (``quantile_rank_bounds``) use an exact, distribution-free beta-binomial mixture
martingale instead (Howard & Ramdas 2022, "Sequential estimation of quantiles with
applications to A/B-testing and best-arm identification"): no plug-in, valid at every n.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from nodes.stats._checks import (
    FloatArray,
    FloatOrArray,
    broadcast,
    integer_valued,
    out,
    positive_scalar,
    probability,
    two_arm_counts,
    two_arm_summaries,
)
from nodes.stats.errors import StatsInputError
from nodes.stats.sequential import DEFAULT_TAU

__all__ = [
    "Alternative",
    "ConfidenceSequenceResult",
    "QuantileRankBounds",
    "contrast_confidence_sequence",
    "one_sided_level",
    "proportion_confidence_sequence",
    "quantile_rank_bounds",
]

Alternative: TypeAlias = Literal["two-sided", "less", "greater"]
BoolOrArray: TypeAlias = bool | NDArray[np.bool_]
IntOrArray: TypeAlias = int | NDArray[np.int64]


@dataclass(frozen=True)
class ConfidenceSequenceResult:
    """Always-valid bounds for a contrast; fields broadcast like the inputs.

    ``estimate`` is this look's point estimate; ``low``/``high`` are the running
    intersection, so the estimate may lie outside them. A one-sided sequence has
    ``low = -inf`` (alternative "less") or ``high = +inf`` ("greater").
    """

    estimate: FloatOrArray
    low: FloatOrArray
    high: FloatOrArray

    @property
    def empty(self) -> BoolOrArray:
        """True where the running intersection is empty (low > high): no value is consistent
        with every look. Under the model that happens with probability <= alpha, so in
        practice it signals broken assumptions (drifting arms, a changed metric definition);
        both "bound excludes the margin" readings are then meaningless."""
        e = np.asarray(self.low) > np.asarray(self.high)
        return bool(e) if e.ndim == 0 else e


@dataclass(frozen=True)
class QuantileRankBounds:
    """1-based order-statistic ranks bracketing a quantile at every n simultaneously.

    With X_(1) <= ... <= X_(n) the sorted sample, the true quantile lies in
    [X_(lower), X_(upper)] for all n at once with probability >= 1 - alpha.
    ``lower == 0`` means no finite lower bound yet (X_(0) = -inf) and
    ``upper == n + 1`` no finite upper bound (X_(n+1) = +inf). In SQL, X_(k) for
    1 <= k <= n is ``percentile_disc((k - 0.5) / n)`` (it returns the first value whose
    cumulative share k/n reaches the fraction) or ``ORDER BY x OFFSET k - 1 LIMIT 1``.
    """

    lower: IntOrArray
    upper: IntOrArray


def one_sided_level(alpha: float) -> float:
    """Level at which the two-sided normal-mixture boundary is a one-sided level-alpha bound.

    Not 2 * alpha: write the N(0, t2) mixture likelihood ratio as the average of its two
    half-normal halves, Lambda = (Lambda+ + Lambda-) / 2. Each half is itself a mean-one
    martingale, so Ville's inequality gives P(ever Lambda+ >= 1/alpha) <= alpha. On the side
    where theta_hat >= theta0 the other half is Lambda- <= 1, hence Lambda+ >= 2 Lambda - 1, and
    Lambda >= 1/beta implies Lambda+ >= 1/alpha when 2/beta - 1 = 1/alpha, i.e.
    beta = 2 alpha / (1 + alpha) (0.0952 for alpha = 0.05). At beta = 2 alpha, Lambda+ at the
    bound is 1/alpha - Lambda- < 1/alpha, so that shortcut is only valid at alpha / (1 - alpha).
    """
    alpha = probability(alpha, "alpha")
    return 2.0 * alpha / (1.0 + alpha)


def _half_width(v: FloatArray, t2: FloatArray, level: float) -> FloatArray:
    """Normal-mixture boundary; +inf where v or t2 is 0 (no spread estimate, no bound)."""
    degenerate = (v <= 0.0) | (t2 <= 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        h2 = v * (v + t2) / t2 * (np.log1p(t2 / v) + 2.0 * math.log(1.0 / level))
    return np.where(degenerate, np.inf, np.sqrt(h2))


def _previous(value: ArrayLike | None, name: str, allowed_infinity: float) -> FloatArray | None:
    """A previous bound: numeric, never NaN; +-inf only on its open side (a one-sided CS or
    a look that had no bound yet), since low = +inf or high = -inf would be a wrong bound."""
    if value is None:
        return None
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise StatsInputError(name, f"must be numeric, got {value!r}") from exc
    bad = np.isnan(arr) | (np.isinf(arr) & (arr != allowed_infinity))
    if bad.any():
        raise StatsInputError(
            name, f"must be finite or {allowed_infinity:+g}, got {float(arr[bad][0])!r}"
        )
    return arr


def _sequence(
    estimate: FloatArray,
    v: FloatArray,
    t2: FloatArray,
    alpha: float,
    alternative: Alternative,
    previous_low: ArrayLike | None,
    previous_high: ArrayLike | None,
) -> ConfidenceSequenceResult:
    """Bounds at this look, one-sided if asked, then the running intersection."""
    if alternative == "two-sided":
        h = _half_width(v, t2, alpha)
        low, high = estimate - h, estimate + h
    elif alternative == "less":
        high = estimate + _half_width(v, t2, one_sided_level(alpha))
        low = np.full_like(high, -np.inf)
    elif alternative == "greater":
        low = estimate - _half_width(v, t2, one_sided_level(alpha))
        high = np.full_like(low, np.inf)
    else:
        raise StatsInputError(
            "alternative", f"must be 'two-sided', 'less' or 'greater', got {alternative!r}"
        )
    prev_low = _previous(previous_low, "previous_low", -np.inf)
    prev_high = _previous(previous_high, "previous_high", np.inf)
    if prev_low is not None:
        low, prev_low = broadcast(low=low, previous_low=prev_low)
        low = np.maximum(low, prev_low)
    if prev_high is not None:
        high, prev_high = broadcast(high=high, previous_high=prev_high)
        high = np.minimum(high, prev_high)
    if max(np.ndim(estimate), np.ndim(low), np.ndim(high)) > 0:
        estimate, low, high = (np.array(x) for x in np.broadcast_arrays(estimate, low, high))
    return ConfidenceSequenceResult(estimate=out(estimate), low=out(low), high=out(high))


def contrast_confidence_sequence(
    n_control: ArrayLike,
    mean_control: ArrayLike,
    var_control: ArrayLike,
    n_candidate: ArrayLike,
    mean_candidate: ArrayLike,
    var_candidate: ArrayLike,
    *,
    ratio: float = 1.0,
    alpha: float = 0.05,
    tau: float = DEFAULT_TAU,
    alternative: Alternative = "two-sided",
    previous_low: ArrayLike | None = None,
    previous_high: ArrayLike | None = None,
) -> ConfidenceSequenceResult:
    """Always-valid CS for mean_candidate - ratio * mean_control from (n, mean, sample var).

    ``ratio`` turns relative margins into a linear contrast: "candidate at most 10 % above
    control" is mean_candidate - 1.1 * mean_control <= 0, shown when ``high < 0``. Variance of
    the estimate v = ratio^2 var_control / n_control + var_candidate / n_candidate; the mixture
    sd is tau times sqrt((ratio^2 var_control + var_candidate) / 2), the pooled sd of
    ``sequential.py`` (identical at ratio = 1, where 0 outside the CS exactly when
    ``always_valid_p_value(...) < alpha``).

    Non-inferiority and one-sided use: ``alternative="greater"`` gives [low, +inf) for showing
    the contrast is above a margin (higher is better: candidate - control > -margin when
    ``low > -margin``); ``"less"`` gives (-inf, high] for showing it is below (lower is better,
    e.g. a latency guardrail with ratio = 1.1 holds when ``high < 0``). One-sided bounds use
    the two-sided boundary at ``one_sided_level(alpha)`` = 2 alpha / (1 + alpha), which is
    provably level alpha (2 alpha is not; see ``one_sided_level``).

    Pass the previous look's returned ``low``/``high`` as ``previous_low``/``previous_high``
    (same ratio, alpha, tau and alternative): the running intersection is the CS.
    """
    alpha = probability(alpha, "alpha")
    tau = positive_scalar(tau, "tau")
    ratio = positive_scalar(ratio, "ratio")
    na, ma, va, nb, mb, vb = two_arm_summaries(
        n_control, mean_control, var_control, n_candidate, mean_candidate, var_candidate
    )
    r2 = ratio * ratio
    v = r2 * va / na + vb / nb
    t2 = tau * tau * (r2 * va + vb) / 2.0
    return _sequence(mb - ratio * ma, v, t2, alpha, alternative, previous_low, previous_high)


def proportion_confidence_sequence(
    successes_control: ArrayLike,
    n_control: ArrayLike,
    successes_candidate: ArrayLike,
    n_candidate: ArrayLike,
    *,
    ratio: float = 1.0,
    alpha: float = 0.05,
    tau: float = DEFAULT_TAU,
    alternative: Alternative = "two-sided",
    previous_low: ArrayLike | None = None,
    previous_high: ArrayLike | None = None,
) -> ConfidenceSequenceResult:
    """Always-valid CS for rate_candidate - ratio * rate_control (see the means version).

    Unpooled Bernoulli variances p(1 - p) per arm: a CS must hold for every difference, not
    only 0, so the H0-pooled variance of ``always_valid_p_value_proportions`` does not apply
    (its p-value and this CS can disagree slightly near the boundary). Where both arms sit at
    rate 0 or 1 there is no spread estimate, and the bounds are infinite (or the previous
    look's) rather than a zero-width interval that would claim certainty.
    """
    alpha = probability(alpha, "alpha")
    tau = positive_scalar(tau, "tau")
    ratio = positive_scalar(ratio, "ratio")
    sa, na, sb, nb = two_arm_counts(
        successes_control, n_control, successes_candidate, n_candidate, min_n=1.0
    )
    pa = sa / na
    pb = sb / nb
    r2 = ratio * ratio
    ba = pa * (1.0 - pa)
    bb = pb * (1.0 - pb)
    v = r2 * ba / na + bb / nb
    t2 = tau * tau * (r2 * ba + bb) / 2.0
    return _sequence(pb - ratio * pa, v, t2, alpha, alternative, previous_low, previous_high)


def _int_out(value: FloatArray) -> IntOrArray:
    """Ranks as Python int for scalar input, int64 arrays otherwise."""
    arr = np.asarray(value).astype(np.int64)
    if arr.ndim == 0:
        return int(arr)
    return arr


_ONE_BY_ONE = 4
"""Up to this many sizes, each is searched on its own in Python floats: a look asks for two
(control and candidate), where numpy's per-call cost on tiny arrays would dominate."""


@dataclass(frozen=True)
class _BetaBinomialMixture:
    """log M_n(k), the beta-binomial mixture martingale of ``quantile_rank_bounds``, for
    floats and arrays alike (the same operations in the same order, so both give the same
    bits).

    log M_n is convex in k and M_n(k+1) >= M_n(k) iff k >= (n - 1) q, so its integer minimum
    sits at k_min = ceil((n - 1) q); there M_n <= 1 < 1/alpha because E[M_n] = 1 under H0. The
    accepted ks are therefore one run around k_min, found by bisection on each side."""

    a: float
    b: float
    betaln_ab: float
    log_q: float
    log_1mq: float
    log_threshold: float

    def log_m(self, k: FloatOrArray, n: FloatOrArray) -> FloatOrArray:
        log_m: FloatOrArray = special.betaln(self.a + k, self.b + n - k)
        return log_m - self.betaln_ab - k * self.log_q - (n - k) * self.log_1mq


def _ranks_of_one(n: float, q: float, mixture: _BetaBinomialMixture) -> tuple[float, float]:
    """Lower and upper rank for one n: the two bisections of ``_ranks_of_many``, in floats."""

    def accepted(k: float) -> bool:
        return 0.0 <= k <= n and float(mixture.log_m(k, n)) < mixture.log_threshold

    k_min = min(max(float(math.ceil((n - 1.0) * q)), 0.0), n)
    lo, hi = -1.0, k_min  # lo rejected (or -1), hi accepted
    while hi - lo > 1.0:
        mid = float(math.floor((lo + hi) / 2.0))
        lo, hi = (lo, mid) if accepted(mid) else (mid, hi)
    lower = hi
    lo, hi = k_min, n + 1.0  # lo accepted, hi rejected (or n + 1)
    while hi - lo > 1.0:
        mid = float(math.floor((lo + hi) / 2.0))
        lo, hi = (mid, hi) if accepted(mid) else (lo, mid)
    return lower, lo + 1.0


def _ranks_of_many(
    nn: FloatArray, q: float, mixture: _BetaBinomialMixture
) -> tuple[FloatArray, FloatArray]:
    """Lower and upper ranks for an array of sizes, every bisection step one vectorised call.
    Both searches run as one array (each n twice). First half: the smallest accepted k in
    [0, k_min], invariant lo rejected (or -1) and hi accepted. Second half: the largest
    accepted k in [k_min, n], invariant lo accepted and hi rejected (or n + 1). So an
    accepted mid moves hi in the first half, lo in the second."""
    both = np.concatenate([nn.ravel(), nn.ravel()])

    def accepted(k: FloatArray) -> NDArray[np.bool_]:
        """k outside [0, n] is never accepted."""
        inside = (k >= 0.0) & (k <= both)
        log_m = mixture.log_m(np.clip(k, 0.0, both), both)
        return inside & (log_m < mixture.log_threshold)

    k_min = np.clip(np.ceil((both - 1.0) * q), 0.0, both)
    steps = int(np.ceil(np.log2(float(nn.max(initial=0.0)) + 2.0))) + 1
    half = nn.size
    upper_half = np.arange(2 * half) >= half
    lo = np.where(upper_half, k_min, -1.0)
    hi = np.where(upper_half, both + 1.0, k_min)
    for _ in range(steps):
        mid = np.floor((lo + hi) / 2.0)
        moves_hi = accepted(mid) != upper_half
        active = hi - lo > 1.0
        hi = np.where(active & moves_hi, mid, hi)
        lo = np.where(active & ~moves_hi, mid, lo)
    return hi[:half].reshape(nn.shape), lo[half:].reshape(nn.shape) + 1.0


def quantile_rank_bounds(
    n: ArrayLike,
    q: float,
    *,
    alpha: float = 0.05,
    tau: float = DEFAULT_TAU,
) -> QuantileRankBounds:
    """Order-statistic ranks that bracket the q-quantile at every n simultaneously.

    Why it works for any distribution (Howard & Ramdas 2022): with X_i = F^-1(U_i), the count
    T_n = #{U_i <= q} is Binomial(n, q) and #{X_i < xi} <= T_n <= #{X_i <= xi} for the true
    quantile xi. The beta-binomial mixture M_n(k) = B(a + k, b + n - k) / B(a, b) /
    (q^k (1 - q)^(n - k)) is a mean-one martingale (a likelihood ratio mixed over
    p ~ Beta(a, b)), so by Ville's inequality T_n stays in {k : M_n(k) < 1/alpha} = [L_n, U_n]
    for all n with probability >= 1 - alpha. Then X_(L_n) <= xi (at least L_n values are
    <= xi) and X_(U_n + 1) >= xi (at most U_n values are < xi): lower = L_n,
    upper = U_n + 1, with 0 and n + 1 meaning unbounded. A caller may also keep the
    running max / min of the bound values across looks; the guarantee covers that too.

    The Beta prior is centred on q with the spread of the normal mixture in
    ``sequential.py``: Var(p) = q (1 - q) / (a + b + 1) = tau^2 q (1 - q), so
    a + b = 1/tau^2 - 1 (tau in Bernoulli-sd units, so 0 < tau < 1).

    Small n: for q = 0.95 and alpha = 0.05 the first finite upper bound (the maximum) comes
    at n = 115 (a fixed-n exact interval needs n >= 72); before that upper == n + 1 says so.
    """
    q = probability(q, "q")
    alpha = probability(alpha, "alpha")
    tau = positive_scalar(tau, "tau")
    if tau >= 1.0:
        raise StatsInputError("tau", f"must be < 1 (Bernoulli-sd units), got {tau!r}")
    nn = integer_valued(n, "n", 0.0)
    concentration = 1.0 / (tau * tau) - 1.0
    a = concentration * q
    b = concentration * (1.0 - q)
    log_threshold = math.log(1.0 / alpha)
    log_q = math.log(q)
    log_1mq = math.log1p(-q)
    betaln_ab = float(special.betaln(a, b))

    mixture = _BetaBinomialMixture(a, b, betaln_ab, log_q, log_1mq, log_threshold)
    if nn.size <= _ONE_BY_ONE:
        ranks = [_ranks_of_one(float(x), q, mixture) for x in nn.ravel()]
        lower = np.array([low for low, _ in ranks]).reshape(nn.shape)
        upper = np.array([high for _, high in ranks]).reshape(nn.shape)
    else:
        lower, upper = _ranks_of_many(nn, q, mixture)
    return QuantileRankBounds(lower=_int_out(lower), upper=_int_out(upper))
