"""Welch/Student comparison cross-checked against scipy, plus bad-input handling."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from nodes.stats import (
    ContinuousTestResult,
    StatsInputError,
    compare_means,
    compare_means_from_stats,
)

RTOL = 1e-9


def _arrays(seed: int = 0, size: int = 50) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    na = rng.integers(2, 500, size).astype(float)
    nb = rng.integers(2, 500, size).astype(float)
    ma = rng.normal(10, 2, size)
    mb = ma + rng.normal(0, 1, size)
    va = rng.uniform(0.1, 9, size)
    vb = rng.uniform(0.1, 9, size)
    return na, ma, va, nb, mb, vb


@pytest.mark.parametrize("equal_var", [False, True])
@pytest.mark.parametrize("lower_is_better", [False, True])
def test_matches_scipy_from_stats(equal_var: bool, lower_is_better: bool) -> None:
    na, ma, va, nb, mb, vb = _arrays()
    r = compare_means_from_stats(
        na, ma, va, nb, mb, vb, lower_is_better=lower_is_better, equal_var=equal_var
    )
    sa, sb = np.sqrt(va), np.sqrt(vb)
    ref = stats.ttest_ind_from_stats(mb, sb, nb, ma, sa, na, equal_var=equal_var)
    np.testing.assert_allclose(r.statistic, ref.statistic, rtol=RTOL)
    np.testing.assert_allclose(r.p_value, ref.pvalue, rtol=RTOL)
    alt = "less" if lower_is_better else "greater"
    one = stats.ttest_ind_from_stats(mb, sb, nb, ma, sa, na, equal_var=equal_var, alternative=alt)
    np.testing.assert_allclose(r.p_value_better, one.pvalue, rtol=RTOL)
    np.testing.assert_allclose(r.difference, mb - ma, rtol=RTOL)


@pytest.mark.parametrize("equal_var", [False, True])
def test_raw_samples_match_ttest_ind_and_ci(equal_var: bool) -> None:
    rng = np.random.default_rng(3)
    control = rng.normal(5.0, 2.0, 80)
    candidate = rng.normal(5.6, 3.0, 95)
    r = compare_means(control, candidate, lower_is_better=False, equal_var=equal_var, alpha=0.1)
    ref = stats.ttest_ind(candidate, control, equal_var=equal_var)
    assert r.statistic == pytest.approx(float(ref.statistic), rel=RTOL)
    assert r.p_value == pytest.approx(float(ref.pvalue), rel=RTOL)
    assert r.df == pytest.approx(float(ref.df), rel=RTOL)
    ci = ref.confidence_interval(confidence_level=0.9)
    assert r.difference_ci_low == pytest.approx(float(ci.low), rel=RTOL)
    assert r.difference_ci_high == pytest.approx(float(ci.high), rel=RTOL)
    for alt in ("less", "greater"):
        one = stats.ttest_ind(candidate, control, equal_var=equal_var, alternative=alt)
        flipped = compare_means(
            control, candidate, lower_is_better=alt == "less", equal_var=equal_var
        )
        assert flipped.p_value_better == pytest.approx(float(one.pvalue), rel=RTOL)


def test_effect_sizes_lift_and_power() -> None:
    na, ma, va, nb, mb, vb = 100.0, 10.0, 4.0, 120.0, 11.0, 9.0
    r = compare_means_from_stats(na, ma, va, nb, mb, vb, lower_is_better=False)
    assert isinstance(r, ContinuousTestResult)
    assert isinstance(r.p_value, float)
    pooled = math.sqrt(((na - 1) * va + (nb - 1) * vb) / (na + nb - 2))
    assert r.cohens_d == pytest.approx(1.0 / pooled, rel=1e-12)
    assert r.relative_lift == pytest.approx(0.1, rel=1e-12)
    se = math.sqrt(vb / nb / ma**2 + (mb / ma) ** 2 * (va / na) / ma**2)
    z = stats.norm.ppf(0.975)
    assert r.relative_lift_ci_low == pytest.approx(0.1 - z * se, rel=1e-9)
    assert r.relative_lift_ci_high == pytest.approx(0.1 + z * se, rel=1e-9)
    se_d = math.sqrt(va / na + vb / nb)
    crit = stats.t.ppf(0.95, r.df)
    assert r.power == pytest.approx(stats.nct.sf(crit, r.df, 1.0 / se_d), rel=1e-9)


def test_array_fields_and_broadcasting() -> None:
    r = compare_means_from_stats(
        [10, 20], 1.0, 1.0, 30, np.array([[1.5], [2.0]]), 2.0, lower_is_better=False
    )
    assert isinstance(r.p_value, np.ndarray)
    assert np.shape(r.p_value) == (2, 2)


def test_one_zero_variance_arm_is_fine_and_zero_control_mean_gives_nan_lift() -> None:
    r = compare_means_from_stats(10, 0.0, 0.0, 12, 1.0, 2.0, lower_is_better=False)
    assert 0 <= r.p_value <= 1
    assert math.isnan(r.relative_lift)
    assert r.df == pytest.approx(11.0)


GOOD = {
    "n_control": 20,
    "mean_control": 1.0,
    "var_control": 1.0,
    "n_candidate": 20,
    "mean_candidate": 1.2,
    "var_candidate": 1.0,
}


@pytest.mark.parametrize(
    ("override", "argument"),
    [
        ({"n_control": 1}, "n_control"),
        ({"n_candidate": 1}, "n_candidate"),
        ({"n_control": float("nan")}, "n_control"),
        ({"mean_control": float("nan")}, "mean_control"),
        ({"mean_candidate": float("inf")}, "mean_candidate"),
        ({"var_control": float("-inf")}, "var_control"),
        ({"var_candidate": -1.0}, "var_candidate"),
        ({"var_control": 0.0, "var_candidate": 0.0}, "var_control"),
        ({"mean_candidate": [1.0, float("nan")]}, "mean_candidate"),
    ],
)
def test_bad_summary_stats_raise(override: dict[str, object], argument: str) -> None:
    kwargs = {**GOOD, **override}
    with pytest.raises(StatsInputError) as info:
        compare_means_from_stats(**kwargs, lower_is_better=True)  # type: ignore[arg-type]
    assert info.value.argument == argument
    assert str(info.value).startswith(f"{argument}: ")


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.1, 1.5, float("nan")])
def test_bad_alpha_raises(alpha: float) -> None:
    with pytest.raises(StatsInputError) as info:
        compare_means_from_stats(**GOOD, lower_is_better=True, alpha=alpha)  # type: ignore[arg-type]
    assert info.value.argument == "alpha"


def test_error_message_format() -> None:
    with pytest.raises(StatsInputError, match=r"^n_control: must be >= 2, got 1$"):
        compare_means_from_stats(1, 0, 1, 5, 0, 1, lower_is_better=True)


def test_raw_sample_errors() -> None:
    with pytest.raises(StatsInputError) as info:
        compare_means([1.0], [1.0, 2.0], lower_is_better=True)
    assert info.value.argument == "control"
    with pytest.raises(StatsInputError) as info:
        compare_means([1.0, 2.0], [1.0, float("nan")], lower_is_better=True)
    assert info.value.argument == "candidate"
    with pytest.raises(StatsInputError) as info:
        compare_means([1.0, 1.0], [2.0, 2.0], lower_is_better=True)
    assert info.value.argument == "control"
