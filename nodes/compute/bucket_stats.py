"""An arm's statistics from buckets, pure: the parts of a span (stored buckets, and raw rows
bucketed the same way) added up, means and variances from sums of squares, and durations'
order statistics from the merged histogram (``nodes.stats.sketch``). The collector reads
experiments and windows this way, and trends each period."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from contracts.model_pattern_feedback import (
    BUCKET_SUMS,
    TAIL_FRACTIONS,
    ModelArmStats,
    ModelErrorCount,
)
from nodes.stats.sketch import DurationHistogram

_PERCENTILES = np.array([0.5, 0.95, 0.99])
_TAIL = np.array(TAIL_FRACTIONS)
_NO_TAIL = np.empty(0)
_ELEMENTS = {
    "int4": np.dtype([("size", ">i4"), ("value", ">i4")]),
    "int8": np.dtype([("size", ">i4"), ("value", ">i8")]),
}
_ONE_DIMENSION = (1).to_bytes(4, "big") + (0).to_bytes(4, "big")  # and no NULLs
_NO_DIMENSION = (0).to_bytes(4, "big")
_HEADER_BYTES = 20


def array_values(arrays: Iterable[bytes | None], element: str) -> np.ndarray:
    """The elements of one-dimensional PostgreSQL arrays of ``element`` ("int4" or "int8"),
    one after the other, from their binary form (``array_send``): five int32 (dimensions,
    has-nulls flag, element type, length, lower bound), then each element as its int32 byte
    size and its big-endian value; an empty array is the first three alone. None (no array)
    counts as empty. The bodies are joined and read by numpy in one go."""
    bodies = []
    for data in arrays:
        if data is None or data[:4] == _NO_DIMENSION:
            continue
        if data[:8] != _ONE_DIMENSION:
            raise ValueError(f"expected one-dimensional {element} arrays without NULLs")
        bodies.append(memoryview(data)[_HEADER_BYTES:])
    elements = np.frombuffer(b"".join(bodies), dtype=_ELEMENTS[element])
    if not (elements["size"] == elements.dtype["value"].itemsize).all():
        raise ValueError(f"expected {element} elements")
    return elements["value"].astype(np.int64)


def histogram_of(parts: Sequence[Mapping[str, Any]]) -> DurationHistogram:
    """The merged histogram of parts whose ``bins`` and ``counts`` are in binary form."""
    return DurationHistogram.of(
        array_values((p["bins"] for p in parts), "int4"),
        array_values((p["counts"] for p in parts), "int8"),
    )


def _mean_var(n: int, total: float, squares: float) -> tuple[float, float]:
    """Mean and sample variance from a count, a sum and a sum of squares (0 below 2 values)."""
    if n == 0:
        return 0.0, 0.0
    mean = total / n
    return mean, max(squares - total * mean, 0.0) / (n - 1) if n > 1 else 0.0


def arm_from_buckets(
    version_id: str,
    parts: Sequence[Mapping[str, Any]],
    errors: list[ModelErrorCount],
    *,
    tail: bool,
) -> ModelArmStats:
    """One version's statistics from its parts (each a mapping with ``BUCKET_SUMS`` and its
    histogram as ``bins`` and ``counts``, binary arrays, see ``histogram_of``); ``tail``:
    with the order statistics an experiment's p95 guardrail reads, at or below
    (``duration_tail``) and at or above each."""
    # Column by column, each summed in the parts' order, as a generator per column would
    # (no parts: zeros).
    columns = zip(*([p[c] for c in BUCKET_SUMS] for p in parts), strict=True)
    total = dict(zip(BUCKET_SUMS, [sum(c) for c in columns] or [0] * len(BUCKET_SUMS), strict=True))
    n = int(total["n"])
    histogram = histogram_of(parts)
    p50, p95, p99 = histogram.percentiles(_PERCENTILES).tolist()
    duration_mean, duration_var = _mean_var(n, total["duration_sum"], total["duration_sq"])
    log_mean, log_var = _mean_var(n, total["log_duration_sum"], total["log_duration_sq"])
    quality_mean, quality_var = _mean_var(
        int(total["quality_n"]), total["quality_sum"], total["quality_sq"]
    )
    rating_mean, rating_var = _mean_var(
        int(total["rating_n"]), total["rating_sum"], total["rating_sq"]
    )
    cost_mean, cost_var = _mean_var(int(total["cost_n"]), total["cost_sum"], total["cost_sq"])
    reward_mean, reward_var = _mean_var(n, total["reward_sum"], total["reward_sq"])
    lower, upper = histogram.edges(histogram.discrete_ranks(_TAIL)) if tail else (_NO_TAIL,) * 2
    return ModelArmStats(
        version_id=version_id,
        n=n,
        successes=int(total["successes"]),
        timeouts=int(total["timeouts"]),
        duration_mean=duration_mean,
        duration_var=duration_var,
        log_duration_mean=log_mean,
        log_duration_var=log_var,
        duration_p50=p50,
        duration_p95=p95,
        duration_p99=p99,
        quality_n=int(total["quality_n"]),
        quality_mean=quality_mean,
        quality_var=quality_var,
        rating_n=int(total["rating_n"]),
        rating_mean=rating_mean,
        rating_var=rating_var,
        cost_n=int(total["cost_n"]),
        cost_mean=cost_mean,
        cost_var=cost_var,
        reward_mean=min(max(reward_mean, 0.0), 1.0),
        reward_var=reward_var,
        duration_tail=tuple(lower.tolist()),
        duration_tail_upper=tuple(upper.tolist()),
        top_errors=errors,
    )
