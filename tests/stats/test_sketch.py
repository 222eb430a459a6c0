"""The duration histogram: ranks exact, values within their bin, merging by adding counts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nodes.stats import StatsInputError
from nodes.stats.sketch import GAMMA, DurationHistogram, bin_of

durations = st.lists(
    st.floats(min_value=0, max_value=1e7, allow_nan=False, allow_infinity=False),
    min_size=1,
    max_size=300,
)


def _histogram(values: np.ndarray) -> DurationHistogram:
    bins, counts = np.unique(bin_of(values), return_counts=True)
    return DurationHistogram.of(bins, counts)


@settings(max_examples=200, deadline=None)
@given(durations)
def test_every_order_statistic_lies_between_its_bin_edges(values: list[float]) -> None:
    ordered = np.sort(np.asarray(values))
    histogram = _histogram(ordered)
    ranks = np.arange(1, len(ordered) + 1)
    low, high = histogram.edges(ranks)
    assert np.all(low <= ordered) and np.all(ordered <= high)
    positive = low > 0
    assert np.all(high[positive] <= low[positive] * GAMMA * (1 + 1e-8))


def test_percentiles_are_within_a_bin_of_numpys() -> None:
    values = np.random.default_rng(7).lognormal(5.0, 0.6, 20_000)
    fractions = np.array([0.5, 0.9, 0.95, 0.99])
    got = _histogram(values).percentiles(fractions)
    # Each order statistic within half a bin, so their interpolation too.
    assert got == pytest.approx(np.percentile(values, fractions * 100), rel=GAMMA**0.5 - 1)
    ranks = _histogram(values).discrete_ranks(fractions)
    assert ranks.tolist() == np.ceil(fractions * len(values)).astype(int).tolist()


def test_merged_histograms_are_the_histogram_of_all_values() -> None:
    rng = np.random.default_rng(8)
    a, b = rng.lognormal(4, 1, 500), rng.lognormal(6, 0.2, 700)
    parts = [np.unique(bin_of(values), return_counts=True) for values in (a, b)]
    merged = DurationHistogram.of(
        np.concatenate([bins for bins, _ in parts]),
        np.concatenate([counts for _, counts in parts]),
    )
    bins, counts = np.unique(bin_of(np.concatenate([a, b])), return_counts=True)
    assert merged.bins.tolist() == bins.tolist()
    assert merged.counts.tolist() == counts.tolist()
    # Any order, repeats added; one stored (ascending) histogram is taken as it is.
    shuffled = DurationHistogram.of([5, 3, 5, -2], [1, 2, 3, 4])
    assert (shuffled.bins.tolist(), shuffled.counts.tolist()) == ([-2, 3, 5], [4, 2, 4])
    assert DurationHistogram.of(bins, counts).counts.tolist() == counts.tolist()
    far = DurationHistogram.of([10**9, -(10**9), 10**9], [1, 2, 3])  # sorted, not counted
    assert (far.bins.tolist(), far.counts.tolist()) == ([-(10**9), 10**9], [2, 4])


def test_bad_input_is_named() -> None:
    with pytest.raises(StatsInputError, match="duration_ms"):
        bin_of([1.0, -2.0])
    with pytest.raises(StatsInputError, match="histogram"):
        DurationHistogram.of([3], [0])
    with pytest.raises(StatsInputError, match="histogram"):
        DurationHistogram.of([3, 4], [1])
