"""Sequential sample-ratio-mismatch test (Lindon & Malek, "Anytime-valid inference for
multinomial count data", arXiv 2020 / NeurIPS 2022: the Dirichlet-multinomial mixture test
behind Optimizely's SSRM).

The chi-square check in ``guards.py`` is a fixed-horizon test: run at every look it raises
false alarms far more often than its threshold, and each false alarm halts a healthy
experiment. Here each exposed unit is one multinomial draw over the arms. Under H0 the arm
probabilities are the intended shares theta0; the alternative mixes over theta ~ Dirichlet
(c * theta0), centred on the intended split. The Bayes factor

    BF_n = [B(c theta0 + x) / B(c theta0)] / prod_j theta0_j^x_j,
    B(a) = prod_j Gamma(a_j) / Gamma(sum_j a_j),

(x = cumulative counts per arm) is a mean-one martingale under H0, so by Ville's inequality
p_n = min(1, 1 / BF_n) and its running minimum over looks are valid at any stopping time.
The concentration c = 100 is the default of the authors' ``savvi`` package: the prior sd of
an arm's share is sqrt(theta0 (1 - theta0) / 101), about 0.05 at a 50/50 split, so
percent-level imbalances are what the test is tuned to find.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from nodes.stats._checks import (
    FloatArray,
    FloatOrArray,
    as_finite,
    broadcast,
    integer_valued,
    out,
    positive_scalar,
    probability,
)
from nodes.stats.errors import StatsInputError

__all__ = ["DEFAULT_SRM_CONCENTRATION", "SequentialSrmResult", "sequential_srm"]

DEFAULT_SRM_CONCENTRATION = 100.0


@dataclass(frozen=True)
class SequentialSrmResult:
    """Always-valid SRM check; ``p_value``/``mismatch`` have the counts' leading shape.

    ``observed_shares`` has the counts' shape (arms along the last axis); it is NaN for a
    row with no units yet, where a share is undefined (the p-value there is 1: no evidence).
    """

    p_value: FloatOrArray
    mismatch: bool | NDArray[np.bool_]
    observed_shares: FloatArray


def sequential_srm(
    counts: ArrayLike,
    expected_shares: ArrayLike,
    *,
    previous_p_value: ArrayLike | None = None,
    threshold: float = 0.001,
    concentration: float = DEFAULT_SRM_CONCENTRATION,
) -> SequentialSrmResult:
    """Always-valid p-value that cumulative per-arm unit counts match the intended split.

    ``counts`` holds distinct units exposed per arm along the last axis (leading axes are
    independent experiments); ``expected_shares`` are positive weights, normalised here, for
    the same arms (broadcast against ``counts``). Counts must be cumulative and each unit
    counted once: the guarantee is over units assigned one at a time, so a re-count or a
    window that drops old units breaks it. Pass the previous look's returned ``p_value`` as
    ``previous_p_value``; ``mismatch`` is ``p_value < threshold``, and the false-alarm
    probability over all looks together is at most ``threshold`` (strict default 0.001 like
    ``sample_ratio_mismatch``, since an alarm halts the experiment).
    """
    threshold = probability(threshold, "threshold")
    concentration = positive_scalar(concentration, "concentration")
    x = integer_valued(counts, "counts", 0.0)
    if x.ndim == 0 or x.shape[-1] < 2:
        raise StatsInputError(
            "counts", f"must have >= 2 arms along the last axis, got shape {x.shape}"
        )
    w = as_finite(expected_shares, "expected_shares")
    if w.ndim == 0 or w.shape[-1] != x.shape[-1]:
        raise StatsInputError(
            "expected_shares",
            f"must have {x.shape[-1]} arms along the last axis like counts, got shape {w.shape}",
        )
    if (w <= 0.0).any():
        raise StatsInputError("expected_shares", f"must be > 0, got {float(w[w <= 0.0][0])!r}")
    x, w = broadcast(counts=x, expected_shares=w)
    theta0 = w / w.sum(axis=-1, keepdims=True)
    prior = concentration * theta0
    total = x.sum(axis=-1)
    log_bf = (
        np.sum(special.gammaln(prior + x) - special.gammaln(prior) - x * np.log(theta0), axis=-1)
        - special.gammaln(concentration + total)
        + special.gammaln(concentration)
    )
    p = np.exp(-np.maximum(log_bf, 0.0))
    if previous_p_value is not None:
        prev = as_finite(previous_p_value, "previous_p_value")
        bad = (prev < 0.0) | (prev > 1.0)
        if bad.any():
            raise StatsInputError(
                "previous_p_value", f"must be in [0, 1], got {float(prev[bad][0])!r}"
            )
        p, prev = broadcast(p_value=p, previous_p_value=prev)
        p = np.minimum(p, prev)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = x / total[..., None]
    mismatch = p < threshold
    return SequentialSrmResult(
        p_value=out(p),
        mismatch=bool(mismatch) if mismatch.ndim == 0 else mismatch,
        observed_shares=shares,
    )
