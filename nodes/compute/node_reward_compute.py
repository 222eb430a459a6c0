"""Composite reward of an execution: one number in [0, 1] from success, latency and cost. Pure.

The formula, with the weights ``w`` and bounds of a ``ModelRewardConfig``::

    s               = 1 if status is success else 0      (failure, timeout, error -> 0)
    latency_frac    = min(duration_ms / max_latency_ms, 1)   (duration missing -> 1)
    cost_frac       = min(cost_usd / max_cost_usd, 1)        (cost missing -> 0)

    base            = 1 - w.success
    success_boost   = w.success * s
    latency_penalty = w.latency * latency_frac
    cost_penalty    = w.cost * cost_frac
    error_penalty   = w.error * (1 - s)

    score = clip(base + success_boost - latency_penalty - cost_penalty - error_penalty, 0, 1)

So a success starts from 1 and loses at most ``w.latency + w.cost`` (linearly in its duration
and cost, each capped at its bound); a failure starts from ``1 - w.success - w.error`` and
loses the same penalties. With the default configuration (weights latency 0.25, cost 0.2,
success 0.6, error 0.6; bounds 4000 ms, $0.10):

- a fast, free success scores 1.0; the slowest, costliest success scores 0.55 (exactly the
  default ``minimum_acceptable``); every success lies in [0.55, 1.0];
- every failure scores 0 (its raw value is at most 0.4 - 0.6 = -0.2). In general a failure
  scores at most ``max(0, 1 - w.success - w.error)``;
- the score never rises with duration or cost (the penalties are non-decreasing and clipping
  preserves order) and a success never scores below a failure of the same duration and cost
  (they differ by ``w.success + w.error >= 0`` before clipping).

A missing duration takes the full latency penalty (unknown time is not rewarded as fast); a
missing cost takes none (an unmetered execution, e.g. a local one, is treated as free).

The source document's example ("0.6 success boost, 0.05 latency and 0.02 cost penalties give
0.78") matches no weighted sum of those parts; under this formula those parts give
0.4 + 0.6 - 0.05 - 0.02 = 0.93.

``score`` computes one execution; ``score_many`` computes the same values over arrays (NaN
marks a missing duration or cost) without a Python loop, for mean reward per arm.
"""

from __future__ import annotations

from typing import NamedTuple, TypeAlias

import numpy as np
from numpy.typing import ArrayLike, NDArray

from contracts.enum_execution_status import EnumExecutionStatus
from contracts.model_reward import (
    EnumRewardAssessment,
    ModelRewardConfig,
    ModelRewardExecution,
    ModelRewardParts,
)

FloatArray: TypeAlias = NDArray[np.float64]


class RewardArrays(NamedTuple):
    """``score_many``'s result: the score and each part, one entry per execution."""

    score: FloatArray
    success_boost: FloatArray
    latency_penalty: FloatArray
    cost_penalty: FloatArray
    error_penalty: FloatArray


def _measurements(values: ArrayLike | None, name: str, size: int | None) -> FloatArray:
    """A 1-D float array, NaN for missing; negative or infinite values are rejected."""
    if values is None:
        if size is None:
            raise ValueError(f"{name}: required")
        return np.full(size, np.nan)
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: must be numeric (NaN for missing)") from exc
    if arr.ndim != 1:
        raise ValueError(f"{name}: must be one-dimensional, got shape {arr.shape}")
    if np.isinf(arr).any():
        raise ValueError(f"{name}: must be finite or NaN (missing), got an infinite value")
    negative = np.flatnonzero(arr < 0)
    if negative.size:
        i = int(negative[0])
        raise ValueError(f"{name}: must be >= 0, got {float(arr[i])!r} at index {i}")
    return arr


class NodeRewardCompute:
    def score(self, config: ModelRewardConfig, execution: ModelRewardExecution) -> ModelRewardParts:
        """The reward of one execution, with its parts and the configuration version."""
        w, bounds = config.weights, config.bounds
        success = execution.status is EnumExecutionStatus.SUCCESS
        if execution.duration_ms is None:
            latency_frac = 1.0
        else:
            latency_frac = min(execution.duration_ms / bounds.max_latency_ms, 1.0)
        if execution.cost_usd is None:
            cost_frac = 0.0
        else:
            cost_frac = min(execution.cost_usd / bounds.max_cost_usd, 1.0)
        latency_penalty = w.latency * latency_frac
        cost_penalty = w.cost * cost_frac
        # Computed as "1 minus what was lost" (same order as score_many) so a fast, free
        # success is exactly 1.0 rather than (1 - w) + w up to rounding.
        forfeit = 0.0 if success else w.success + w.error
        raw = 1.0 - latency_penalty - cost_penalty - forfeit
        return ModelRewardParts(
            config_version=config.version,
            score=min(max(raw, 0.0), 1.0),
            raw_score=raw,
            base=1.0 - w.success,
            success_boost=w.success if success else 0.0,
            latency_penalty=latency_penalty,
            cost_penalty=cost_penalty,
            error_penalty=0.0 if success else w.error,
        )

    def score_many(
        self,
        config: ModelRewardConfig,
        durations: ArrayLike,
        costs: ArrayLike | None,
        successes: ArrayLike,
    ) -> RewardArrays:
        """``score`` over equal-length 1-D arrays, vectorised. NaN in ``durations`` or
        ``costs`` means missing (as ``None`` in ``score``); ``costs=None`` means no cost for
        any execution; ``successes`` must be booleans (status is success)."""
        w, bounds = config.weights, config.bounds
        d = _measurements(durations, "durations", None)
        ok = np.asarray(successes)
        if ok.size == 0:
            ok = ok.astype(np.bool_)
        if ok.dtype != np.bool_:
            raise ValueError(f"successes: must be booleans, got dtype {ok.dtype}")
        c = _measurements(costs, "costs", d.size)
        if not d.shape == c.shape == ok.shape:
            raise ValueError(
                f"durations, costs, successes: lengths differ ({d.size}, {c.size}, {ok.size})"
            )
        latency_frac = np.where(np.isnan(d), 1.0, np.minimum(d / bounds.max_latency_ms, 1.0))
        cost_frac = np.where(np.isnan(c), 0.0, np.minimum(c / bounds.max_cost_usd, 1.0))
        latency_penalty = w.latency * latency_frac
        cost_penalty = w.cost * cost_frac
        forfeit = np.where(ok, 0.0, w.success + w.error)
        raw = 1.0 - latency_penalty - cost_penalty - forfeit
        return RewardArrays(
            score=np.clip(raw, 0.0, 1.0),
            success_boost=np.where(ok, w.success, 0.0),
            latency_penalty=latency_penalty,
            cost_penalty=cost_penalty,
            error_penalty=np.where(ok, 0.0, w.error),
        )

    def assess(self, config: ModelRewardConfig, mean_reward: float) -> EnumRewardAssessment:
        """Classify a mean reward: ok at or above ``minimum_acceptable``, retrain below
        ``retrain``, below_minimum in between. A value on a threshold meets it."""
        value = float(mean_reward)
        if not 0.0 <= value <= 1.0:  # also rejects NaN (the mean of no executions)
            raise ValueError(f"mean_reward: must be a number in [0, 1], got {value!r}")
        thresholds = config.thresholds
        if value >= thresholds.minimum_acceptable:
            return EnumRewardAssessment.OK
        if value >= thresholds.retrain:
            return EnumRewardAssessment.BELOW_MINIMUM
        return EnumRewardAssessment.RETRAIN
