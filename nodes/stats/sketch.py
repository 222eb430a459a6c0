"""Quantiles from the log-binned duration histograms the database keeps per hour.

A duration d > 0 lies in bin i = ceil(ln d / ln GAMMA), which holds GAMMA^(i-1) < d <= GAMMA^i
(durations under ``FLOOR_MS`` share the lowest bin, from 0). Histograms merge by adding counts,
so any span of hours is one histogram; counts are exact, so the k-th smallest duration is known
to lie in the bin where the running count reaches k: its rank error is zero and its value error
is the bin's width, a factor GAMMA (0.1 %). Bounds built on order statistics therefore stay valid
when read outwards, each at the edge of its bin away from the estimate; point estimates take
the value that is within GAMMA^(1/2) - 1 (about 0.05 %) of every value in the bin.

The bin index is computed in SQL (``feedback_duration_bin``); the constants here must match it
(a test checks that they do).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from nodes.stats._checks import FloatArray, as_finite
from nodes.stats.errors import StatsInputError

__all__ = [
    "FLOOR_MS",
    "GAMMA",
    "DurationHistogram",
    "bin_of",
]

GAMMA = 1.001
FLOOR_MS = 1e-6
_LOG_GAMMA = math.log(GAMMA)
_LOWEST_BIN = math.ceil(math.log(FLOOR_MS) / _LOG_GAMMA)
_EDGE_SLACK = 1e-9
"""Relative slack on a bin's edges: the bin of a value on an edge is computed in floating
point, which may put it one bin off; the slack keeps the edges outside the value."""


def bin_of(duration_ms: ArrayLike) -> np.ndarray:
    """The bins of durations, as the database computes them (for tests and raw data)."""
    d = as_finite(duration_ms, "duration_ms")
    if np.any(d < 0):
        raise StatsInputError("duration_ms", "must be >= 0")
    return np.ceil(np.log(np.maximum(d, FLOOR_MS)) / _LOG_GAMMA).astype(np.int64)


@dataclass(frozen=True)
class DurationHistogram:
    """One histogram with its bins sorted: ``bins`` (int indices) and ``counts`` (> 0)."""

    bins: np.ndarray
    counts: np.ndarray

    @classmethod
    def of(cls, bins: ArrayLike, counts: ArrayLike) -> DurationHistogram:
        """The histogram of bins and their counts, in any order and with repeats: the parts
        of several histograms concatenated are their merge (counts of a bin add up)."""
        b = np.asarray(bins, dtype=np.int64).ravel()
        c = np.asarray(counts, dtype=np.int64).ravel()
        if b.shape != c.shape:
            raise StatsInputError("histogram", "needs one count per bin")
        if np.any(c <= 0):
            raise StatsInputError("histogram", "counts must be > 0")
        if b.size > 1 and not bool(np.all(b[1:] > b[:-1])):  # one stored histogram already is
            low = int(b.min())
            if int(b.max()) - low <= 4 * b.size + 4096:  # bins span a few thousand: count
                # Counts add up exactly in float64 below 2^53 executions.
                dense = np.bincount(b - low, weights=c)
                where = np.flatnonzero(dense)
                b, c = where + low, dense[where].astype(np.int64)
            else:  # bins spread very far apart: sort instead of a huge dense array
                order = np.argsort(b, kind="stable")
                b, c = b[order], c[order]
                firsts = np.flatnonzero(np.concatenate(([True], b[1:] != b[:-1])))
                b, c = b[firsts], np.add.reduceat(c, firsts)
        return cls(bins=b, counts=c)

    @functools.cached_property
    def _cumulative(self) -> np.ndarray:
        """Running counts: every rank lookup searches them."""
        return np.cumsum(self.counts)

    @functools.cached_property
    def n(self) -> int:
        return int(self._cumulative[-1]) if self._cumulative.size else 0

    def _bins_at(self, ranks: ArrayLike) -> np.ndarray:
        """The bin holding each 1-based rank (ranks are clipped into 1 .. n; by minimum and
        maximum, which for integers is ``np.clip`` without its dispatch, a look's hot path)."""
        k = np.minimum(np.maximum(np.asarray(ranks, dtype=np.int64), 1), max(self.n, 1))
        return self.bins[np.searchsorted(self._cumulative, k, side="left")]

    def edges(self, ranks: ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Values at or below, and at or above, the order statistic of each rank."""
        bins = self._bins_at(ranks)
        lower = np.exp((bins - 1) * _LOG_GAMMA) * (1 - _EDGE_SLACK)
        upper = np.exp(bins * _LOG_GAMMA) * (1 + _EDGE_SLACK)
        return np.where(bins <= _LOWEST_BIN, 0.0, lower), upper

    def order_statistics(self, ranks: ArrayLike) -> FloatArray:
        """Point estimates of the order statistics: each bin's value closest, in ratio, to
        every value in it (the geometric middle of its edges)."""
        bins = self._bins_at(ranks)
        middle = np.exp((bins - 0.5) * _LOG_GAMMA)
        return np.where(bins <= _LOWEST_BIN, 0.0, middle)

    def percentiles(self, fractions: ArrayLike) -> FloatArray:
        """Estimates of ``percentile_cont``: it interpolates between the order statistics
        around position h = 1 + f (n - 1); so do these, between the two estimates (both
        looked up at once)."""
        f = as_finite(fractions, "fractions")
        if self.n == 0:
            return np.full(f.shape, np.nan)
        h = 1 + f * (self.n - 1)
        low = np.floor(h)
        both = self.order_statistics(np.concatenate((low, np.ceil(h))))
        below, above = both[: h.size], both[h.size :]
        return below + (h - low) * (above - below)

    def discrete_ranks(self, fractions: ArrayLike) -> np.ndarray:
        """The ranks ``percentile_disc`` reads at each fraction: ceil(f n), at least 1."""
        f = as_finite(fractions, "fractions")
        return np.maximum(np.ceil(f * self.n - 1e-9), 1).astype(np.int64)
