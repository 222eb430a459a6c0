"""Time 10,000 Welch comparisons: vectorised engine vs a Python loop over scipy; one line out.

The engine compares summary stats of many (pattern, metric) pairs per scheduled run, so the
array path is what the loop uses. Run: python bench/stats.py
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from scipy import stats

from nodes.stats import compare_means_from_stats

N_COMPARISONS = 10_000
RUNS = 5


def _best_ms(fn: Callable[[], object], runs: int = RUNS) -> float:
    """Best wall time of ``runs`` calls after one warm-up, in milliseconds."""
    fn()
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best * 1e3


def main() -> None:
    rng = np.random.default_rng(0)
    na = rng.integers(50, 5000, N_COMPARISONS).astype(float)
    nb = rng.integers(50, 5000, N_COMPARISONS).astype(float)
    ma = rng.normal(7.0, 1.0, N_COMPARISONS)
    mb = ma + rng.normal(0.0, 0.05, N_COMPARISONS)
    va = rng.uniform(0.2, 2.0, N_COMPARISONS)
    vb = rng.uniform(0.2, 2.0, N_COMPARISONS)
    sa, sb = np.sqrt(va), np.sqrt(vb)

    def vectorised() -> object:
        return compare_means_from_stats(na, ma, va, nb, mb, vb, lower_is_better=True)

    def vectorised_with_power() -> object:
        return compare_means_from_stats(na, ma, va, nb, mb, vb, lower_is_better=True).power

    def scipy_loop() -> object:
        return [
            stats.ttest_ind_from_stats(mb[i], sb[i], nb[i], ma[i], sa[i], na[i], equal_var=False)
            for i in range(N_COMPARISONS)
        ]

    vec_ms = _best_ms(vectorised)
    power_ms = _best_ms(vectorised_with_power)
    loop_ms = _best_ms(scipy_loop)
    print(
        f"welch x{N_COMPARISONS}: vectorised {vec_ms:.1f} ms (t, df, p, CIs, lift, d; "
        f"{power_ms:.1f} ms with achieved power), scipy loop {loop_ms:.1f} ms (t, p only), "
        f"ratio {loop_ms / vec_ms:.0f}x"
    )


if __name__ == "__main__":
    main()
