"""Sequential SRM: Bayes factor vs scipy's Dirichlet-multinomial, exact and simulated size
under repeated looks, power against a 52/48 split."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from nodes.stats import (
    DEFAULT_SRM_CONCENTRATION,
    StatsInputError,
    sample_ratio_mismatch,
    sequential_srm,
)

N_EXPERIMENTS = 2000
N_LOOKS = 20


def _size_bound(alpha: float) -> float:
    """alpha + 3 Monte Carlo SE: a test whose true rate were exactly alpha exceeds it with
    probability ~0.1 %."""
    return alpha + 3 * math.sqrt(alpha * (1 - alpha) / N_EXPERIMENTS)


@pytest.mark.parametrize(
    ("counts", "weights"),
    [
        ([5000, 5100], [1, 1]),
        ([48, 61], [1, 1]),
        ([900, 2100, 7000], [1, 2, 7]),
        ([3, 0, 1], [2, 1, 1]),
    ],
)
@pytest.mark.parametrize("concentration", [DEFAULT_SRM_CONCENTRATION, 1.0])
def test_bayes_factor_is_dirichlet_multinomial_over_multinomial(
    counts: list[int], weights: list[float], concentration: float
) -> None:
    w = np.asarray(weights, dtype=float)
    theta0 = w / w.sum()
    n = int(np.sum(counts))
    # Multinomial coefficients cancel: BF of the sequence = ratio of the count pmfs.
    log_bf = stats.dirichlet_multinomial.logpmf(
        counts, concentration * theta0, n
    ) - stats.multinomial.logpmf(counts, n, theta0)
    r = sequential_srm(counts, weights, concentration=concentration)
    assert r.p_value == pytest.approx(min(1.0, math.exp(-log_bf)), rel=1e-9)
    np.testing.assert_allclose(r.observed_shares, np.asarray(counts) / n, rtol=1e-15)


def test_exact_size_when_every_unit_is_a_look() -> None:
    """P(p_n < alpha for some n <= 2000) under a 50/50 split, exactly: dynamic programming
    over the binomial path of arm-1 counts, absorbing paths as soon as they alarm."""
    alpha, horizon = 0.05, 2000
    alive = np.array([1.0])
    alarmed = 0.0
    for n in range(1, horizon + 1):
        nxt = np.zeros(n + 1)
        nxt[:-1] += alive * 0.5
        nxt[1:] += alive * 0.5
        k = np.arange(n + 1)
        p = np.asarray(sequential_srm(np.stack([k, n - k], axis=-1), [1, 1]).p_value)
        alarm = p < alpha
        alarmed += float(nxt[alarm].sum())
        alive = np.where(alarm, 0.0, nxt)
    print(f"\nexact P(sequential SRM ever alarms at 0.05, n = 1..{horizon}) = {alarmed:.4f}")
    assert alarmed <= alpha
    assert alarmed > alpha / 10


def _simulate(
    shares: list[float], true_shares: list[float], total: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative counts per look (looks, experiments, arms) and the running-min p-value at
    each look; units arrive total / N_LOOKS at a time."""
    rng = np.random.default_rng(seed)
    per = rng.multinomial(total // N_LOOKS, true_shares, size=(N_LOOKS, N_EXPERIMENTS))
    counts = np.cumsum(per, axis=0)
    p: np.ndarray | None = None
    ps = []
    for k in range(N_LOOKS):
        p = np.asarray(sequential_srm(counts[k], shares, previous_p_value=p).p_value)
        ps.append(p)
    return counts, np.stack(ps)


@pytest.mark.parametrize(
    "shares", [[0.5, 0.5], [0.2, 0.3, 0.5], [0.9, 0.1]], ids=["50/50", "20/30/50", "90/10"]
)
def test_aa_false_mismatch_rate_over_repeated_looks(shares: list[float]) -> None:
    counts, p = _simulate(shares, shares, total=20_000, seed=1)
    rates = {a: float((p[-1] < a).mean()) for a in (0.05, 0.01, 0.001)}
    # The chi-square SRM check applied at every look (peeking) alarms more often.
    chi2_alarm = np.zeros(N_EXPERIMENTS, dtype=bool)
    for k in range(N_LOOKS):
        f_exp = counts[k].sum(axis=1, keepdims=True) * np.asarray(shares)
        chi2_alarm |= stats.chisquare(counts[k], f_exp=f_exp, axis=1).pvalue < 0.05
    print(
        f"\nA/A {shares}, {N_EXPERIMENTS} x {N_LOOKS} looks to 20k units: ever-mismatch "
        + ", ".join(f"{v:.4f} at {a}" for a, v in rates.items())
        + f"; chi-square peeking at 0.05: {chi2_alarm.mean():.4f}"
    )
    for a, v in rates.items():
        assert v <= _size_bound(a)
    assert chi2_alarm.mean() > _size_bound(0.05)
    assert (np.diff(p, axis=0) <= 0).all()  # running minimum


def test_power_52_48_split_at_20k_units() -> None:
    _, p = _simulate([0.5, 0.5], [0.52, 0.48], total=20_000, seed=2)
    power = {a: float((p[-1] < a).mean()) for a in (0.05, 0.001)}
    first = np.argmax(p < 0.001, axis=0)[p[-1] < 0.001]
    median_units = float(np.median((first + 1) * 20_000 / N_LOOKS))
    print(
        f"\n52/48 vs 50/50 by 20k units: power {power[0.05]:.4f} at 0.05, {power[0.001]:.4f} "
        f"at 0.001 (median detection at {median_units:.0f} units)"
    )
    assert power[0.05] >= 0.95
    assert power[0.001] >= 0.85
    # The expected counts themselves are flagged at the strict default threshold.
    r = sequential_srm([10_400, 9_600], [1, 1])
    assert r.mismatch and r.p_value < 1e-4
    # And a healthy split is not: 10,050 / 9,950 is 0.7 sd off 50/50.
    assert not sequential_srm([10_050, 9_950], [1, 1]).mismatch


def test_more_conservative_than_the_fixed_horizon_chi_square() -> None:
    """At one look the price of validity under peeking is a larger p-value than chi-square."""
    for counts in ([10_200, 9_800], [5_150, 4_850], [1_000, 1_100, 2_050]):
        w = [1.0] * len(counts)
        assert sequential_srm(counts, w).p_value > sample_ratio_mismatch(counts, w).p_value


def test_running_minimum_vectorised_rows_and_empty_rows() -> None:
    rows = np.array([[5_200, 4_800], [5_010, 4_990], [0, 0]])
    r = sequential_srm(rows, [1, 1])
    assert isinstance(r.p_value, np.ndarray) and r.p_value.shape == (3,)
    for i, row in enumerate(rows):
        single = sequential_srm(row, [1, 1])
        assert r.p_value[i] == pytest.approx(single.p_value, rel=1e-14)
        assert isinstance(single.p_value, float) and isinstance(single.mismatch, bool)
    assert r.p_value[2] == 1.0 and np.isnan(r.observed_shares[2]).all()
    later = sequential_srm([5_300, 5_300], [1, 1], previous_p_value=r.p_value[0])
    assert later.p_value == r.p_value[0]
    flags = np.asarray(sequential_srm(rows, [1, 1], threshold=0.5).mismatch)
    assert flags.tolist() == [True, False, False]


@pytest.mark.parametrize(
    ("counts", "shares", "kwargs", "argument"),
    [
        ([10, -1], [1, 1], {}, "counts"),
        ([10, 2.5], [1, 1], {}, "counts"),
        ([10], [1], {}, "counts"),
        (5, [1, 1], {}, "counts"),
        ([10, 10], [1, 0], {}, "expected_shares"),
        ([10, 10], [1, 1, 1], {}, "expected_shares"),
        ([10, 10], [1, float("nan")], {}, "expected_shares"),
        ([10, 10], [1, 1], {"previous_p_value": 1.5}, "previous_p_value"),
        ([10, 10], [1, 1], {"threshold": 0.0}, "threshold"),
        ([10, 10], [1, 1], {"concentration": -1.0}, "concentration"),
        ([[10, 10], [1, 2]], [[1, 1], [1, 1], [1, 1]], {}, "counts"),
    ],
)
def test_bad_srm_inputs(
    counts: object, shares: object, kwargs: dict[str, float], argument: str
) -> None:
    with pytest.raises(StatsInputError) as info:
        sequential_srm(counts, shares, **kwargs)  # type: ignore[arg-type]
    assert info.value.argument == argument
