"""Property tests: symmetry, location invariance, p-value range, vectorised == scalar."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nodes.stats import (
    always_valid_p_value,
    compare_means_from_stats,
    compare_proportions,
)

SETTINGS = settings(max_examples=200, deadline=None)

ns = st.integers(min_value=2, max_value=100_000).map(float)
means = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False)
variances = st.floats(min_value=1e-3, max_value=1e4, allow_nan=False)
arm = st.tuples(ns, means, variances)


@SETTINGS
@given(a=arm, b=arm, lower=st.booleans(), equal_var=st.booleans())
def test_swapping_arms_flips_sign(
    a: tuple[float, float, float], b: tuple[float, float, float], lower: bool, equal_var: bool
) -> None:
    r = compare_means_from_stats(*a, *b, lower_is_better=lower, equal_var=equal_var)
    s = compare_means_from_stats(*b, *a, lower_is_better=lower, equal_var=equal_var)
    assert s.statistic == pytest.approx(-r.statistic, rel=1e-12, abs=1e-300)
    assert s.difference == pytest.approx(-r.difference, rel=1e-12, abs=1e-300)
    assert s.p_value == pytest.approx(r.p_value, rel=1e-12)
    assert s.p_value_better == pytest.approx(1.0 - r.p_value_better, rel=1e-9, abs=1e-12)


@SETTINGS
@given(a=arm, b=arm, shift=st.floats(min_value=-1e3, max_value=1e3), lower=st.booleans())
def test_shifting_both_means_changes_only_relative_lift(
    a: tuple[float, float, float], b: tuple[float, float, float], shift: float, lower: bool
) -> None:
    r = compare_means_from_stats(*a, *b, lower_is_better=lower)
    s = compare_means_from_stats(
        a[0], a[1] + shift, a[2], b[0], b[1] + shift, b[2], lower_is_better=lower
    )
    # The shifted difference is recomputed from shifted means, so allow float cancellation.
    tol = 1e-9 * (abs(a[1]) + abs(b[1]) + abs(shift)) + 1e-12
    assert s.difference == pytest.approx(r.difference, abs=tol)
    assert s.df == pytest.approx(r.df, rel=1e-12)
    assert s.cohens_d == pytest.approx(r.cohens_d, abs=tol)
    assert s.power == pytest.approx(r.power, abs=1e-6)
    se = float(np.abs(np.asarray(r.difference_ci_high) - np.asarray(r.difference_ci_low))) + 1e-300
    assert s.difference_ci_low - r.difference_ci_low == pytest.approx(0.0, abs=tol + 1e-9 * se)


@SETTINGS
@given(a=arm, b=arm, alpha=st.floats(min_value=1e-4, max_value=0.5), lower=st.booleans())
def test_continuous_p_values_in_unit_interval(
    a: tuple[float, float, float], b: tuple[float, float, float], alpha: float, lower: bool
) -> None:
    r = compare_means_from_stats(*a, *b, lower_is_better=lower, alpha=alpha)
    for p in (r.p_value, r.p_value_better, r.power):
        assert 0.0 <= p <= 1.0
    assert r.difference_ci_low <= r.difference <= r.difference_ci_high
    seq = always_valid_p_value(*a, *b)
    assert 0.0 <= seq <= 1.0


counts = st.integers(min_value=2, max_value=5000).flatmap(
    lambda n: st.tuples(st.integers(min_value=0, max_value=n), st.just(n))
)


@SETTINGS
@given(a=counts, b=counts, method=st.sampled_from(["auto", "z", "fisher"]))
def test_proportion_p_values_in_unit_interval(
    a: tuple[int, int], b: tuple[int, int], method: str
) -> None:
    r = compare_proportions(a[0], a[1], b[0], b[1], method=method)  # type: ignore[arg-type]
    assert 0.0 <= r.p_value <= 1.0
    assert 0.0 <= r.p_value_better <= 1.0
    assert not np.isnan(r.statistic)


@SETTINGS
@given(pairs=st.lists(st.tuples(arm, arm), min_size=1, max_size=8), lower=st.booleans())
def test_vectorised_equals_scalar(
    pairs: list[tuple[tuple[float, float, float], tuple[float, float, float]]], lower: bool
) -> None:
    cols = [np.array([p[i][j] for p in pairs]) for i in range(2) for j in range(3)]
    vec = compare_means_from_stats(*cols, lower_is_better=lower)
    seq = np.asarray(always_valid_p_value(*cols))
    for k, (a, b) in enumerate(pairs):
        one = compare_means_from_stats(*a, *b, lower_is_better=lower)
        for field in ("statistic", "df", "p_value", "p_value_better", "difference_ci_low", "power"):
            assert np.asarray(getattr(vec, field))[k] == getattr(one, field)
        assert seq[k] == always_valid_p_value(*a, *b)


@SETTINGS
@given(pairs=st.lists(st.tuples(counts, counts), min_size=1, max_size=8))
def test_vectorised_proportions_equal_scalar(
    pairs: list[tuple[tuple[int, int], tuple[int, int]]],
) -> None:
    cols = [np.array([p[i][j] for p in pairs]) for i in range(2) for j in range(2)]
    vec = compare_proportions(*cols, method="z")
    for k, (a, b) in enumerate(pairs):
        one = compare_proportions(a[0], a[1], b[0], b[1], method="z")
        assert np.asarray(vec.p_value)[k] == one.p_value
        assert np.asarray(vec.statistic)[k] == one.statistic
