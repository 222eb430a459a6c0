"""Sample-ratio mismatch vs scipy.stats.chisquare; Holm/BH vs statsmodels multipletests."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from nodes.stats import StatsInputError, benjamini_hochberg, holm, sample_ratio_mismatch


@pytest.mark.parametrize(
    ("observed", "weights"),
    [([5000, 5100], [1, 1]), ([5000, 5400], [0.5, 0.5]), ([900, 2100, 7000], [1, 2, 7])],
)
def test_srm_matches_chisquare(observed: list[int], weights: list[float]) -> None:
    r = sample_ratio_mismatch(observed, weights)
    w = np.asarray(weights, dtype=float)
    ref = stats.chisquare(observed, f_exp=np.sum(observed) * w / w.sum())
    assert r.statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-10)
    assert r.mismatch == (ref.pvalue < 0.001)


def test_srm_flags_a_broken_split() -> None:
    assert sample_ratio_mismatch([5000, 5400], [1, 1]).mismatch
    assert not sample_ratio_mismatch([5000, 5050], [1, 1]).mismatch


@pytest.mark.parametrize("seed", range(5))
def test_corrections_match_statsmodels(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p = np.concatenate([rng.uniform(0, 1, 30), rng.uniform(0, 0.01, 10), [0.0, 1.0, 0.5, 0.5]])
    rng.shuffle(p)
    for ours, method in ((holm, "holm"), (benjamini_hochberg, "fdr_bh")):
        np.testing.assert_allclose(ours(p), multipletests(p, method=method)[1], rtol=1e-12)


def test_corrections_keep_shape() -> None:
    p = np.array([[0.01, 0.04], [0.03, 0.2]])
    assert holm(p).shape == (2, 2)
    np.testing.assert_allclose(
        benjamini_hochberg(p).ravel(), multipletests(p.ravel(), method="fdr_bh")[1], rtol=1e-12
    )


@pytest.mark.parametrize(
    ("observed", "weights", "argument"),
    [
        ([10, -1], [1, 1], "observed"),
        ([0, 0], [1, 1], "observed"),
        ([10], [1], "observed"),
        ([10, 10], [1, 0], "expected_weights"),
        ([10, 10], [1, 1, 1], "expected_weights"),
        ([10, float("nan")], [1, 1], "observed"),
    ],
)
def test_bad_srm_inputs(observed: list[float], weights: list[float], argument: str) -> None:
    with pytest.raises(StatsInputError) as info:
        sample_ratio_mismatch(observed, weights)
    assert info.value.argument == argument


@pytest.mark.parametrize("bad", [[0.1, 1.2], [-0.1], [float("nan")]])
def test_bad_p_values(bad: list[float]) -> None:
    for func in (holm, benjamini_hochberg):
        with pytest.raises(StatsInputError) as info:
            func(bad)
        assert info.value.argument == "p_values"
