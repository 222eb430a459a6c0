"""Confidence sequences: duality with the mSPRT, closed forms, coverage under repeated looks.

Coverage is checked the way the loop uses the bounds: every simulated experiment is looked at
20 times, the running intersection is carried from look to look through previous_low /
previous_high, and an experiment counts as a miss if the truth is ever outside. All
experiments of one design are updated at once (cumulative sums over the looks).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from scipy import integrate, special, stats

from nodes.stats import (
    DEFAULT_TAU,
    ConfidenceSequenceResult,
    StatsInputError,
    always_valid_p_value,
    contrast_confidence_sequence,
    one_sided_level,
    proportion_confidence_sequence,
    quantile_rank_bounds,
)

ALPHA = 0.05
N_EXPERIMENTS = 2000
N_LOOKS = 20
# If the true miss rate were exactly alpha, the observed rate over 2,000 experiments exceeds
# alpha + 3 Monte Carlo SE with probability ~0.1 %; the bounds are conservative, so it sits
# well below alpha in practice and a real coverage failure shows up far above this.
MISS_BOUND = ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / N_EXPERIMENTS)


def _half_width(v: float, t2: float, alpha: float) -> float:
    """The closed form, written out independently of the module."""
    return math.sqrt(v * (v + t2) / t2 * (math.log((v + t2) / v) + 2 * math.log(1 / alpha)))


def _random_summaries(rng: np.random.Generator, size: int) -> tuple[np.ndarray, ...]:
    na = rng.integers(2, 3000, size).astype(float)
    nb = rng.integers(2, 3000, size).astype(float)
    ma = rng.normal(10.0, 3.0, size)
    mb = ma + rng.normal(0.0, 0.3, size)
    va = rng.uniform(0.1, 5.0, size)
    vb = rng.uniform(0.1, 5.0, size)
    return na, ma, va, nb, mb, vb


# --- duality with always_valid_p_value ---------------------------------------------------


@pytest.mark.parametrize(("alpha", "tau"), [(0.05, DEFAULT_TAU), (0.01, 0.3), (0.2, 0.05)])
def test_zero_outside_cs_exactly_when_msprt_rejects(alpha: float, tau: float) -> None:
    rng = np.random.default_rng(11)
    stats_ = _random_summaries(rng, 5000)
    p = np.maximum(np.asarray(always_valid_p_value(*stats_, tau=tau)), 1e-300)
    cs = contrast_confidence_sequence(*stats_, alpha=alpha, tau=tau)
    excludes_zero = (np.asarray(cs.low) > 0) | (np.asarray(cs.high) < 0)
    clear = np.abs(np.log(p) - math.log(alpha)) > 1e-9  # skip float ties at the boundary
    assert clear.mean() > 0.99
    assert 0.05 < excludes_zero.mean() < 0.95  # the grid exercises both outcomes
    np.testing.assert_array_equal(excludes_zero[clear], (p < alpha)[clear])


def test_bounds_are_where_the_msprt_p_value_equals_alpha() -> None:
    rng = np.random.default_rng(12)
    na, ma, va, nb, mb, vb = _random_summaries(rng, 200)
    cs = contrast_confidence_sequence(na, ma, va, nb, mb, vb)
    for bound in (cs.low, cs.high):
        # Testing H0: difference = bound is the mSPRT on the data shifted by the bound.
        p = always_valid_p_value(na, ma, va, nb, mb - np.asarray(bound), vb)
        np.testing.assert_allclose(p, ALPHA, rtol=1e-9)


def test_ratio_contrast_is_the_difference_against_a_scaled_control() -> None:
    """mean_b - r mean_a is the plain difference against a control with mean r mean_a and
    variance r^2 var_a, including the tau scaling; and it matches the closed form."""
    rng = np.random.default_rng(13)
    na, ma, va, nb, mb, vb = _random_summaries(rng, 3000)
    r = 1.1
    cs = contrast_confidence_sequence(na, ma, va, nb, mb, vb, ratio=r)
    p = np.maximum(np.asarray(always_valid_p_value(na, r * ma, r * r * va, nb, mb, vb)), 1e-300)
    excludes_zero = (np.asarray(cs.low) > 0) | (np.asarray(cs.high) < 0)
    clear = np.abs(np.log(p) - math.log(ALPHA)) > 1e-9
    np.testing.assert_array_equal(excludes_zero[clear], (p < ALPHA)[clear])
    i = 7
    v = r * r * va[i] / na[i] + vb[i] / nb[i]
    t2 = DEFAULT_TAU**2 * (r * r * va[i] + vb[i]) / 2
    h = _half_width(v, t2, ALPHA)
    assert np.asarray(cs.estimate)[i] == pytest.approx(mb[i] - r * ma[i], rel=1e-12)
    assert np.asarray(cs.high)[i] - np.asarray(cs.estimate)[i] == pytest.approx(h, rel=1e-10)


def test_running_intersection_rejects_exactly_when_running_min_p_does() -> None:
    """0 leaves the intersection at the first look whose own CS excludes it, which is the
    first look with p < alpha; so the sequential decisions agree look by look."""
    rng = np.random.default_rng(14)
    e, looks, per = 500, 15, 40
    xa = rng.normal(0.0, 1.0, (e, looks * per))
    xb = rng.normal(0.2, 1.3, (e, looks * per))
    low = high = p = None
    for k in range(1, looks + 1):
        n = k * per
        sa, sb = xa[:, :n], xb[:, :n]
        args = (n, sa.mean(1), sa.var(1, ddof=1), n, sb.mean(1), sb.var(1, ddof=1))
        cs = contrast_confidence_sequence(*args, previous_low=low, previous_high=high)
        p = always_valid_p_value(*args, previous_p_value=p)
        low, high = cs.low, cs.high
        excludes = (np.asarray(low) > 0) | (np.asarray(high) < 0)
        np.testing.assert_array_equal(excludes, np.asarray(p) < ALPHA)
    assert 0.2 < float(np.mean(np.asarray(p) < ALPHA)) < 0.95


def test_proportions_are_the_means_version_with_bernoulli_variances() -> None:
    rng = np.random.default_rng(15)
    na = rng.integers(20, 5000, 300)
    nb = rng.integers(20, 5000, 300)
    sa = rng.binomial(na, 0.1)
    sb = rng.binomial(nb, 0.12)
    pa, pb = sa / na, sb / nb
    for r in (1.0, 1.1):
        got = proportion_confidence_sequence(sa, na, sb, nb, ratio=r)
        ref = contrast_confidence_sequence(na, pa, pa * (1 - pa), nb, pb, pb * (1 - pb), ratio=r)
        for field in ("estimate", "low", "high"):
            np.testing.assert_allclose(getattr(got, field), getattr(ref, field), rtol=1e-12)


def test_degenerate_rates_give_no_bound_not_a_point() -> None:
    cs = proportion_confidence_sequence(0, 200, 0, 200)
    assert (cs.low, cs.high) == (-math.inf, math.inf)
    kept = proportion_confidence_sequence(0, 200, 0, 200, previous_low=-0.01, previous_high=0.02)
    assert (kept.low, kept.high) == (-0.01, 0.02)
    one_arm = proportion_confidence_sequence(0, 200, 3, 200)
    assert math.isfinite(one_arm.low) and one_arm.low < 0 < one_arm.high


def test_empty_intersection_is_reported() -> None:
    first = contrast_confidence_sequence([1000, 1000], 0.0, 1.0, 1000, [-0.95, 1.0], 1.0)
    assert np.asarray(first.empty).tolist() == [False, False]
    # For the second experiment the next look disagrees with all the first look allowed.
    later = contrast_confidence_sequence(
        1000, 0.0, 1.0, 1000, -1.0, 1.0, previous_low=first.low, previous_high=first.high
    )
    assert np.asarray(later.empty).tolist() == [False, True]
    assert later.estimate.tolist() == [-1.0, -1.0]  # type: ignore[union-attr]


# --- one-sided use -------------------------------------------------------------------------


def _half_normal_mixture(s: float, v: float, t2: float) -> float:
    """Lambda+ = E[LR(delta)] over delta ~ half-normal(t2) > 0, by quadrature."""
    sd = math.sqrt(t2)

    def integrand(d: float) -> float:
        return math.exp((d * s - d * d / 2) / v) * 2 * float(stats.norm.pdf(d, scale=sd))

    return float(integrate.quad(integrand, 0, 12 * sd, limit=200)[0])


@pytest.mark.parametrize(("v", "t2"), [(0.01, 0.02), (1e-4, 0.0225), (0.5, 0.01)])
def test_one_sided_level_is_valid_and_two_alpha_is_not(v: float, t2: float) -> None:
    """At the one-sided bound the half-normal mixture (a mean-one martingale, so Ville gives
    level alpha) reaches 1/alpha; at the two-sided bound for 2 alpha it falls short."""
    beta = one_sided_level(ALPHA)
    assert beta == pytest.approx(2 * ALPHA / (1 + ALPHA), rel=1e-15)
    assert _half_normal_mixture(_half_width(v, t2, beta), v, t2) >= 1 / ALPHA
    assert _half_normal_mixture(_half_width(v, t2, 2 * ALPHA), v, t2) < 1 / ALPHA


def test_one_sided_alternatives() -> None:
    args = (400, 10.0, 4.0, 380, 9.6, 3.0)
    two = contrast_confidence_sequence(*args, alpha=one_sided_level(ALPHA))
    less = contrast_confidence_sequence(*args, alternative="less")
    greater = contrast_confidence_sequence(*args, alternative="greater")
    assert less.low == -math.inf and less.high == pytest.approx(two.high, rel=1e-14)
    assert greater.high == math.inf and greater.low == pytest.approx(two.low, rel=1e-14)
    # One-sided bounds are tighter than the two-sided ones at the same alpha.
    both = contrast_confidence_sequence(*args)
    assert both.low < greater.low and less.high < both.high
    # A previous one-sided look carries its infinite side through.
    nxt = contrast_confidence_sequence(
        *args, alternative="less", previous_low=less.low, previous_high=less.high - 0.01
    )
    assert nxt.low == -math.inf and nxt.high == pytest.approx(less.high - 0.01)


# --- coverage under repeated looks --------------------------------------------------------


def _cumulative(x: np.ndarray, looks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n, mean, sample variance) at each look for every experiment (rows)."""
    n = looks.astype(float)
    s = np.cumsum(x, axis=1)[:, looks - 1]
    s2 = np.cumsum(x * x, axis=1)[:, looks - 1]
    mean = s / n
    return np.broadcast_to(n, mean.shape), mean, (s2 - n * mean * mean) / (n - 1)


def _misses(
    estimates: Sequence[tuple[Any, ...]], call: str, truth: float, ratio: float
) -> tuple[float, float, float]:
    """Share of experiments whose running-intersection CS ever misses the truth: two-sided,
    and the one-sided 'less' and 'greater' sequences."""
    shares = []
    for alternative in ("two-sided", "less", "greater"):
        low = high = None
        ever = np.zeros(estimates[0][0].shape, dtype=bool)
        for args in estimates:
            f = contrast_confidence_sequence if call == "means" else proportion_confidence_sequence
            cs: ConfidenceSequenceResult = f(
                *args,
                ratio=ratio,
                alternative=alternative,
                previous_low=low,
                previous_high=high,
            )
            low, high = cs.low, cs.high
            ever |= (np.asarray(low) > truth) | (np.asarray(high) < truth)
        shares.append(float(ever.mean()))
    return shares[0], shares[1], shares[2]


def _naive_misses(estimates: Sequence[tuple[Any, ...]], truth: float, ratio: float) -> float:
    """The same experiments with a fixed-horizon z interval at every look (peeking): shows
    that this harness does detect a bound that is not valid under repeated looks."""
    z = special.ndtri(1 - ALPHA / 2)
    ever = np.zeros(estimates[0][0].shape, dtype=bool)
    for args in estimates:
        if len(args) == 6:
            na, ma, va, nb, mb, vb = args
        else:
            sa, na, sb, nb = args
            ma, mb = sa / na, sb / nb
            va, vb = ma * (1 - ma), mb * (1 - mb)
        se = np.sqrt(ratio * ratio * va / na + vb / nb)
        ever |= np.abs(mb - ratio * ma - truth) > z * se
    return float(ever.mean())


@pytest.mark.parametrize("ratio", [1.0, 1.1])
@pytest.mark.parametrize("dist", ["normal", "lognormal"])
@pytest.mark.parametrize("per_look", [10, 50])
def test_means_coverage_under_repeated_looks(dist: str, ratio: float, per_look: int) -> None:
    rng = np.random.default_rng(2024)
    total = N_LOOKS * per_look
    shape = (N_EXPERIMENTS, total)
    if dist == "normal":  # unequal spreads and a real effect
        xa, xb = rng.normal(10.0, 2.0, shape), rng.normal(10.5, 3.0, shape)
        truth = 10.5 - ratio * 10.0
    else:  # heavy right tail, lognormal sigma = 1 (durations, costs)
        xa, xb = rng.lognormal(0.0, 1.0, shape), rng.lognormal(0.05, 1.0, shape)
        truth = math.exp(0.05 + 0.5) - ratio * math.exp(0.5)
    looks = np.arange(1, N_LOOKS + 1) * per_look
    ca, cb = _cumulative(xa, looks), _cumulative(xb, looks)
    estimates = [tuple(a[:, k] for a in (*ca, *cb)) for k in range(N_LOOKS)]
    two, less, greater = _misses(estimates, "means", truth, ratio)
    naive = _naive_misses(estimates, truth, ratio)
    print(
        f"\n{dist} ratio={ratio} n={per_look}..{total}/arm: ever-miss two-sided {two:.4f}, "
        f"upper bound {less:.4f}, lower bound {greater:.4f} (bound {MISS_BOUND:.4f}); "
        f"fixed-horizon CI peeking {naive:.4f}"
    )
    assert max(two, less, greater) <= MISS_BOUND
    assert naive > 2 * MISS_BOUND


@pytest.mark.parametrize("ratio", [1.0, 1.1])
@pytest.mark.parametrize("rate", [0.05, 0.5])
def test_proportions_coverage_under_repeated_looks(rate: float, ratio: float) -> None:
    rng = np.random.default_rng(77)
    per_look = 20  # 20..400 per arm; at rate 0.05 early looks often see 0 or 1 success
    n = np.arange(1, N_LOOKS + 1) * per_look
    sa = np.cumsum(rng.binomial(per_look, rate, (N_EXPERIMENTS, N_LOOKS)), axis=1)
    sb = np.cumsum(rng.binomial(per_look, rate, (N_EXPERIMENTS, N_LOOKS)), axis=1)
    estimates = [(sa[:, k], n[k], sb[:, k], n[k]) for k in range(N_LOOKS)]
    truth = rate - ratio * rate
    two, less, greater = _misses(estimates, "rates", truth, ratio)
    naive = _naive_misses(estimates, truth, ratio)
    print(
        f"\nrate={rate} ratio={ratio}: ever-miss two-sided {two:.4f}, upper bound {less:.4f}, "
        f"lower bound {greater:.4f} (bound {MISS_BOUND:.4f}); fixed-horizon CI peeking {naive:.4f}"
    )
    assert max(two, less, greater) <= MISS_BOUND
    assert naive > 2 * MISS_BOUND


# --- fixed-n limit ------------------------------------------------------------------------


def test_wider_than_the_fixed_horizon_welch_ci() -> None:
    rng = np.random.default_rng(5)
    for n in (20, 100, 1000, 5000):
        a, b = rng.normal(0, 1.0, n), rng.normal(0.1, 1.5, n)
        welch = stats.ttest_ind(b, a, equal_var=False).confidence_interval(1 - ALPHA)
        cs = contrast_confidence_sequence(n, a.mean(), a.var(ddof=1), n, b.mean(), b.var(ddof=1))
        assert cs.estimate == pytest.approx((welch.low + welch.high) / 2, rel=1e-9)
        assert cs.low < welch.low and cs.high > welch.high


def test_width_shrinks_like_sqrt_log_n_over_n() -> None:
    """h^2 n = 2 sigma^2 (ln n + const) + o(1) for equal arms, so the increment of h^2 n per
    unit of ln n tends to 2 sigma^2, while the fixed-horizon width has h^2 n constant."""
    sigma2 = 2.5
    n = np.array([1e6, 1e7, 1e8, 1e9])
    cs = contrast_confidence_sequence(n, 0.0, sigma2, n, 0.0, sigma2)
    scaled = np.asarray(cs.high) ** 2 * n
    slope = np.diff(scaled) / np.diff(np.log(n))
    np.testing.assert_allclose(slope, 2 * sigma2, rtol=1e-3)
    z = special.ndtri(1 - ALPHA / 2)
    ratio_to_fixed = np.asarray(cs.high) / (z * np.sqrt(2 * sigma2 / n))
    assert (np.diff(ratio_to_fixed) > 0).all() and ratio_to_fixed[0] > 1.5


# --- quantile bounds -----------------------------------------------------------------------


def _accepted_by_definition(n: int, q: float, alpha: float, tau: float) -> np.ndarray:
    """k with M_n(k) = betabinom.pmf / binom.pmf < 1/alpha (binomial coefficients cancel)."""
    c = 1 / tau**2 - 1
    k = np.arange(n + 1)
    log_m = stats.betabinom.logpmf(k, n, c * q, c * (1 - q)) - stats.binom.logpmf(k, n, q)
    return np.flatnonzero(log_m < math.log(1 / alpha))


@pytest.mark.parametrize("q", [0.5, 0.9, 0.95, 0.99])
@pytest.mark.parametrize("alpha", [0.05, 0.2])
def test_quantile_ranks_match_the_beta_binomial_definition(q: float, alpha: float) -> None:
    ns = [0, 1, 2, 5, 50, 73, 100, 137, 1000, 4999]
    got = quantile_rank_bounds(ns, q, alpha=alpha)
    for i, n in enumerate(ns):
        ok = _accepted_by_definition(n, q, alpha, DEFAULT_TAU)
        assert np.array_equal(ok, np.arange(ok[0], ok[-1] + 1))  # an interval of counts
        assert np.asarray(got.lower)[i] == ok[0]
        assert np.asarray(got.upper)[i] == ok[-1] + 1
        one = quantile_rank_bounds(n, q, alpha=alpha)  # searched on its own, in floats
        assert (one.lower, one.upper) == (ok[0], ok[-1] + 1)


@pytest.mark.parametrize(("q", "alpha"), [(0.95, 0.025), (0.5, 0.01), (0.99, 0.2)])
def test_quantile_ranks_one_by_one_equal_the_vectorised_search(q: float, alpha: float) -> None:
    """A look's two sizes are searched one by one in floats, arrays by one vectorised
    bisection: the same ranks for every n (exact equality, near the threshold too)."""
    rng = np.random.default_rng(11)
    ns = np.concatenate([np.arange(0, 2001), rng.integers(2_000, 10_000_000, 200)])
    many = quantile_rank_bounds(ns, q, alpha=alpha)
    pairs = [quantile_rank_bounds(ns[i : i + 2], q, alpha=alpha) for i in range(0, ns.size, 2)]
    assert np.array_equal(np.concatenate([p.lower for p in pairs]), many.lower)
    assert np.array_equal(np.concatenate([p.upper for p in pairs]), many.upper)


def test_quantile_bounds_hold_at_every_n_exactly() -> None:
    """Exact probability, by dynamic programming over the Binomial(n, 0.95) path, that the
    count T_n ever leaves [lower, upper - 1] for some n <= 3000, looking at every single n."""
    q, horizon = 0.95, 3000
    b = quantile_rank_bounds(np.arange(1, horizon + 1), q)
    lower, upper = np.asarray(b.lower), np.asarray(b.upper)
    alive = np.array([1.0])  # distribution of T_0 on paths that never left the bounds
    crossed = 0.0
    for n in range(1, horizon + 1):
        nxt = np.zeros(n + 1)
        nxt[:-1] += alive * (1 - q)
        nxt[1:] += alive * q
        inside = np.zeros(n + 1, dtype=bool)
        inside[lower[n - 1] : upper[n - 1]] = True
        crossed += float(nxt[~inside].sum())
        alive = np.where(inside, nxt, 0.0)
    print(f"\nexact P(quantile bounds ever wrong, n = 1..{horizon}) = {crossed:.4f}")
    assert crossed <= ALPHA
    assert crossed > ALPHA / 10  # not vacuous: the boundary is used


def test_quantile_coverage_under_repeated_looks_lognormal() -> None:
    q, sigma, per_look = 0.95, 0.8, 100
    truth = math.exp(sigma * special.ndtri(q))
    rng = np.random.default_rng(95)
    x = rng.lognormal(0.0, sigma, (N_EXPERIMENTS, N_LOOKS * per_look))
    ever = np.zeros(N_EXPERIMENTS, dtype=bool)
    naive = np.zeros(N_EXPERIMENTS, dtype=bool)
    finite_from = None
    for k in range(1, N_LOOKS + 1):
        n = k * per_look
        # Fixed-n exact interval (the ranks of scipy.stats.quantile_test), reused at every look.
        f_lo = int(stats.binom.ppf(ALPHA / 2, n, q))
        f_hi = int(stats.binom.ppf(1 - ALPHA / 2, n, q)) + 1
        b = quantile_rank_bounds(n, q)
        lo, hi = int(b.lower), int(b.upper)
        assert 0 <= lo <= f_lo and f_hi <= hi <= n + 1
        part = np.partition(x[:, :n], [r - 1 for r in (lo, f_lo, f_hi, hi) if 1 <= r <= n], axis=1)
        if f_hi <= n:
            naive |= (part[:, f_lo - 1] > truth) | (part[:, f_hi - 1] < truth)
        if lo == 0 or hi == n + 1:
            continue  # unbounded on a side: cannot miss there (checked in the DP test)
        finite_from = finite_from or n
        ever |= (part[:, lo - 1] > truth) | (part[:, hi - 1] < truth)
    miss, peek = float(ever.mean()), float(naive.mean())
    print(
        f"\np95 of lognormal(0.8), n=100..2000: ever-miss {miss:.4f} (finite from n="
        f"{finite_from}); fixed-n exact interval peeking {peek:.4f}"
    )
    assert finite_from == 200
    assert miss <= MISS_BOUND
    assert peek > 2 * MISS_BOUND


def test_quantile_bounds_contain_the_fixed_n_exact_interval() -> None:
    rng = np.random.default_rng(3)
    for n in (150, 500, 2000):
        x = np.sort(rng.lognormal(0.0, 0.8, n))
        ci = stats.quantile_test(x, q=1.0, p=0.95).confidence_interval(1 - ALPHA)
        b = quantile_rank_bounds(n, 0.95)
        assert x[int(b.lower) - 1] <= ci.low and x[int(b.upper) - 1] >= ci.high
        assert (int(b.upper) - int(b.lower)) / n < 0.12  # still a useful interval


def test_quantile_bounds_small_n_are_unbounded_not_wrong() -> None:
    b = quantile_rank_bounds(50, 0.95)
    assert b.upper == 51  # no finite upper bound: even the maximum could be below the p95
    assert 1 <= b.lower <= 47
    assert quantile_rank_bounds(0, 0.5) == quantile_rank_bounds(0, 0.5, alpha=0.5)
    assert (quantile_rank_bounds(0, 0.5).lower, quantile_rank_bounds(0, 0.5).upper) == (0, 1)
    # The documented SQL fraction (k - 0.5) / n picks X_(k) under percentile_disc's rule
    # "first value whose cumulative share k/n reaches f", i.e. rank ceil(f n).
    for n in (1, 7, 115, 1000, 123_457):
        k = np.arange(1, n + 1)
        assert (np.ceil((k - 0.5) / n * n) == k).all()
    scalar = quantile_rank_bounds(1000, 0.95)
    assert isinstance(scalar.lower, int) and isinstance(scalar.upper, int)
    # Monotone in alpha: a stricter level never gives tighter ranks.
    strict = quantile_rank_bounds(1000, 0.95, alpha=0.01)
    assert strict.lower <= scalar.lower and strict.upper >= scalar.upper


# --- input validation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"alpha": 0.0}, "alpha"),
        ({"tau": -1.0}, "tau"),
        ({"ratio": 0.0}, "ratio"),
        ({"ratio": float("nan")}, "ratio"),
        ({"alternative": "both"}, "alternative"),
        ({"previous_low": float("nan")}, "previous_low"),
        ({"previous_low": math.inf}, "previous_low"),
        ({"previous_high": -math.inf}, "previous_high"),
        ({"previous_high": "x"}, "previous_high"),
        ({"n_control": 1}, "n_control"),
        ({"var_candidate": -1.0}, "var_candidate"),
        ({"mean_control": math.inf}, "mean_control"),
    ],
)
def test_bad_contrast_inputs(kwargs: dict[str, object], argument: str) -> None:
    args: dict[str, object] = {
        "n_control": 10,
        "mean_control": 0.0,
        "var_control": 1.0,
        "n_candidate": 10,
        "mean_candidate": 0.0,
        "var_candidate": 1.0,
    }
    args.update(kwargs)
    with pytest.raises(StatsInputError) as info:
        contrast_confidence_sequence(**args)  # type: ignore[arg-type]
    assert info.value.argument == argument


@pytest.mark.parametrize(
    ("args", "kwargs", "argument"),
    [
        ((11, 10, 1, 10), {}, "successes_control"),
        ((1, 10, 1.5, 10), {}, "successes_candidate"),
        ((1, 0, 1, 10), {}, "n_control"),
        ((1, 10, 1, 10), {"ratio": -1.1}, "ratio"),
        (([1, 2], 10, [1, 2, 3], 10), {}, "successes_control"),
    ],
)
def test_bad_proportion_inputs(
    args: tuple[object, ...], kwargs: dict[str, float], argument: str
) -> None:
    with pytest.raises(StatsInputError) as info:
        proportion_confidence_sequence(*args, **kwargs)  # type: ignore[arg-type]
    assert info.value.argument == argument


@pytest.mark.parametrize(
    ("n", "q", "kwargs", "argument"),
    [
        (-1, 0.95, {}, "n"),
        (10.5, 0.95, {}, "n"),
        (10, 1.0, {}, "q"),
        (10, 0.95, {"alpha": 1.5}, "alpha"),
        (10, 0.95, {"tau": 1.0}, "tau"),
    ],
)
def test_bad_quantile_inputs(n: float, q: float, kwargs: dict[str, float], argument: str) -> None:
    with pytest.raises(StatsInputError) as info:
        quantile_rank_bounds(n, q, **kwargs)
    assert info.value.argument == argument
