"""Rate comparison cross-checked against statsmodels / scipy (z, chi-square, Fisher)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportions_ztest

from nodes.stats import StatsInputError, compare_proportions


def test_z_matches_statsmodels_and_chi2() -> None:
    r = compare_proportions(120, 1000, 150, 1000)
    assert r.method == "z"
    z, p = proportions_ztest([150, 120], [1000, 1000])
    assert r.statistic == pytest.approx(z, rel=1e-12)
    assert r.p_value == pytest.approx(p, rel=1e-12)
    _, p_larger = proportions_ztest([150, 120], [1000, 1000], alternative="larger")
    assert r.p_value_better == pytest.approx(p_larger, rel=1e-12)
    chi2 = stats.chi2_contingency([[150, 850], [120, 880]], correction=False)
    assert r.statistic**2 == pytest.approx(chi2.statistic, rel=1e-12)
    assert r.p_value == pytest.approx(chi2.pvalue, rel=1e-12)


def test_wald_ci_and_cohens_h() -> None:
    r = compare_proportions(120, 1000, 150, 1200, alpha=0.1)
    pa, pb = 0.12, 0.125
    se = math.sqrt(pa * (1 - pa) / 1000 + pb * (1 - pb) / 1200)
    z = stats.norm.ppf(0.95)
    assert r.difference == pytest.approx(pb - pa, rel=1e-12)
    assert r.difference_ci_low == pytest.approx(pb - pa - z * se, rel=1e-12)
    assert r.difference_ci_high == pytest.approx(pb - pa + z * se, rel=1e-12)
    h = 2 * math.asin(math.sqrt(pb)) - 2 * math.asin(math.sqrt(pa))
    assert r.cohens_h == pytest.approx(h, rel=1e-12)


def test_vectorised_z_path() -> None:
    rng = np.random.default_rng(1)
    n_a = rng.integers(200, 2000, 40)
    n_b = rng.integers(200, 2000, 40)
    s_a = rng.binomial(n_a, 0.3)
    s_b = rng.binomial(n_b, 0.32)
    r = compare_proportions(s_a, n_a, s_b, n_b)
    assert r.method == "z"
    for i in range(40):
        z, p = proportions_ztest([s_b[i], s_a[i]], [n_b[i], n_a[i]])
        assert np.asarray(r.statistic)[i] == pytest.approx(z, rel=1e-10)
        assert np.asarray(r.p_value)[i] == pytest.approx(p, rel=1e-10)


def test_auto_switches_to_fisher_for_small_expected_counts() -> None:
    r = compare_proportions(1, 30, 6, 30)
    assert r.method == "fisher"  # expected successes per arm = 3.5 < 5
    table = [[6, 24], [1, 29]]
    assert r.p_value == pytest.approx(stats.fisher_exact(table).pvalue, rel=1e-12)
    greater = stats.fisher_exact(table, alternative="greater").pvalue
    assert r.p_value_better == pytest.approx(greater, rel=1e-12)
    less = compare_proportions(6, 30, 1, 30)
    assert less.p_value_better == pytest.approx(
        stats.fisher_exact([[1, 29], [6, 24]], alternative="greater").pvalue, rel=1e-12
    )
    # Expected count exactly at the bound stays on z: 10 successes of 40 -> 20 * 10 / 40 = 5.
    assert compare_proportions(5, 20, 5, 20).method == "z"
    assert compare_proportions(1, 30, 6, 30, method="z").method == "z"
    assert compare_proportions(300, 1000, 330, 1000, method="fisher").method == "fisher"


def test_auto_on_arrays_mixes_only_where_needed() -> None:
    r = compare_proportions([1, 300], [30, 1000], [6, 330], [30, 1000])
    assert r.method == "mixed"
    assert np.asarray(r.p_value)[0] == pytest.approx(compare_proportions(1, 30, 6, 30).p_value)
    assert np.asarray(r.p_value)[1] == pytest.approx(
        compare_proportions(300, 1000, 330, 1000).p_value
    )


@pytest.mark.parametrize("method", ["auto", "z", "fisher"])
@pytest.mark.parametrize(("s_a", "s_b"), [(0, 0), (50, 50)])
def test_no_variance_gives_p_one(method: str, s_a: int, s_b: int) -> None:
    r = compare_proportions(s_a, 50, s_b, 50, method=method)  # type: ignore[arg-type]
    assert r.p_value == 1.0
    assert r.p_value_better == 1.0
    assert r.difference == 0.0
    arr = compare_proportions([0, 10], [50, 100], [0, 12], [50, 100], method="z")
    assert np.asarray(arr.p_value)[0] == 1.0


@pytest.mark.parametrize(
    ("args", "argument"),
    [
        ((-1, 10, 3, 10), "successes_control"),
        ((1, 10, -3, 10), "successes_candidate"),
        ((11, 10, 3, 10), "successes_control"),
        ((1, 10, 12, 10), "successes_candidate"),
        ((1, 1, 1, 10), "n_control"),
        ((1, 10, 1, -5), "n_candidate"),
        ((float("nan"), 10, 1, 10), "successes_control"),
        ((1, float("inf"), 1, 10), "n_control"),
        ((1.5, 10, 1, 10), "successes_control"),
    ],
)
def test_bad_counts_raise(args: tuple[float, float, float, float], argument: str) -> None:
    with pytest.raises(StatsInputError) as info:
        compare_proportions(*args)
    assert info.value.argument == argument


def test_bad_options_raise() -> None:
    with pytest.raises(StatsInputError) as info:
        compare_proportions(1, 10, 2, 10, alpha=1.0)
    assert info.value.argument == "alpha"
    with pytest.raises(StatsInputError) as info:
        compare_proportions([1, 2], [10, 10], [2, 3], [10, 10], method="fisher")
    assert info.value.argument == "method"
