"""One arm's summary statistics computed in numpy exactly as the collector's SQL computes them.

The decision code only ever sees ``ModelArmStats``. Building them from simulated samples in
process lets the decision bench and the tests run thousands of experiments without a database,
through the same validator; ``tests/loop/test_collector.py`` checks this module against the SQL
on the same rows, so the two cannot drift apart.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from contracts.model_pattern_feedback import TAIL_FRACTIONS, ModelArmStats
from contracts.model_reward import DEFAULT_REWARD_CONFIG, ModelRewardConfig
from nodes.compute.node_reward_compute import NodeRewardCompute

_TAIL = np.asarray(TAIL_FRACTIONS)
_REWARD = NodeRewardCompute()


def _var(values: np.ndarray) -> float:
    return float(values.var(ddof=1)) if values.size > 1 else 0.0


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else 0.0


def arm_stats(
    version_id: str,
    durations_ms: ArrayLike,
    successes: ArrayLike,
    *,
    quality: ArrayLike | None = None,
    ratings: ArrayLike | None = None,
    costs: ArrayLike | None = None,
    with_tail: bool = True,
    reward: ModelRewardConfig = DEFAULT_REWARD_CONFIG,
) -> ModelArmStats:
    """``quality``, ``ratings`` and ``costs`` may hold NaN for executions that logged none (SQL
    NULL: not counted); ``successes`` is boolean per execution."""
    d = np.asarray(durations_ms, dtype=np.float64)
    ok = np.asarray(successes, dtype=bool)
    n = int(d.size)
    if n == 0:
        return ModelArmStats(version_id=version_id, n=0, successes=0)
    ordered = np.sort(d)
    logs = np.log1p(d)
    p50, p95, p99 = np.percentile(d, [50, 95, 99])

    def logged(values: ArrayLike | None) -> np.ndarray:
        if values is None:
            return np.empty(0)
        v = np.asarray(values, dtype=np.float64)
        return v[~np.isnan(v)]

    q, r, c = logged(quality), logged(ratings), logged(costs)
    all_costs = None if costs is None else np.asarray(costs, dtype=np.float64)
    scores = _REWARD.score_many(reward, d, all_costs, ok).score
    tail: tuple[float, ...] = ()
    if with_tail:  # percentile_disc(f) = X_(ceil(f n)), at least the first value
        ranks = np.maximum(np.ceil(_TAIL * n - 1e-9).astype(np.int64), 1)
        tail = tuple(float(x) for x in ordered[ranks - 1])
    return ModelArmStats(
        version_id=version_id,
        n=n,
        successes=int(ok.sum()),
        duration_mean=float(d.mean()),
        duration_var=_var(d),
        log_duration_mean=float(logs.mean()),
        log_duration_var=_var(logs),
        duration_p50=float(p50),
        duration_p95=float(p95),
        duration_p99=float(p99),
        quality_n=int(q.size),
        quality_mean=_mean(q),
        quality_var=_var(q),
        rating_n=int(r.size),
        rating_mean=_mean(r),
        rating_var=_var(r),
        cost_n=int(c.size),
        cost_mean=_mean(c),
        cost_var=_var(c),
        reward_mean=float(scores.mean()),
        reward_var=_var(scores),
        duration_tail=tail if all(math.isfinite(x) for x in tail) else (),
    )
