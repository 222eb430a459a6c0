"""A simulated production system with known ground truth, for demos, tests and benchmarks.

Each pattern has a ``PatternTruth``: how its configs really behave. An execution is one request:
attempts of lognormal latency (faster on a cache hit, slower with bigger batches), each of which
can time out (``timeout_ms``) or fail transiently (retried up to ``max_retries``) or
permanently; successful executions get a quality score (worse at higher ``temperature``) and
sometimes a user rating. Because the truth is known, ``is_truly_better`` can tell whether a
change the loop applied really helped: the loop must apply real improvements and refuse false
ones.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from contracts.model_objective import RELATIVE_MARGIN, EnumGuardedMetric, ModelObjective

TRANSIENT_ERROR = "503 service unavailable, try again"
PERMANENT_ERROR = "invalid request: schema mismatch"
TIMEOUT_ERROR = "timed out"
CACHE_HIT_FACTOR = 0.1  # a cache hit costs a tenth of a full computation
TRUTH_SAMPLES = 400_000  # common-random-number Monte Carlo for true metrics
RATING_SHARE = 0.3  # share of successful executions a user rates


@dataclass(frozen=True)
class PatternTruth:
    base_latency_ms: float  # median latency of one uncached attempt at batch size 1
    latency_sigma: float  # lognormal sigma: tail heaviness
    transient_error_rate: float  # per attempt, cured by a retry
    permanent_failure_rate: float  # per execution, no retry helps
    cache_hit_rate: float  # share of requests a cache would serve (when cache_enabled)
    batch_latency_factor: float  # latency x (1 + factor * log2(batch_size))
    base_quality: float  # mean quality score at temperature 0
    quality_temp_slope: float  # quality lost per unit of temperature
    cost_per_attempt_usd: float


def _knobs(config: Mapping[str, Any]) -> tuple[float, int, bool, int, float]:
    timeout = float(config.get("timeout_ms", float("inf")))
    retries = int(config.get("max_retries", 0))
    cache = bool(config.get("cache_enabled", False))
    batch = max(1, int(config.get("batch_size", 1)))
    temperature = float(config.get("temperature", 0.0))
    return timeout, retries, cache, batch, temperature


def _execute(
    truth: PatternTruth, config: Mapping[str, Any], n: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Vectorised over the n executions; draws the same random numbers for any config, so two
    configs run with the same seed differ only by what the config changes."""
    timeout, retries, cache, batch, temperature = _knobs(config)
    max_attempts = 1 + retries
    hit_draw = rng.random(n)
    permanent = rng.random(n) < truth.permanent_failure_rate
    # Draw for a fixed attempt budget, so the number of draws does not depend on the config.
    latency_z = rng.standard_normal((n, 6))
    transient = rng.random((n, 6)) < truth.transient_error_rate
    quality_noise = rng.standard_normal(n)
    rating_draw = rng.random(n)
    rating_noise = rng.standard_normal(n)

    median = truth.base_latency_ms * (1 + truth.batch_latency_factor * np.log2(batch))
    hit = cache & (hit_draw < truth.cache_hit_rate)
    per_attempt = median * np.exp(truth.latency_sigma * latency_z[:, : min(max_attempts, 6)])
    per_attempt = np.where(hit[:, None], per_attempt * CACHE_HIT_FACTOR, per_attempt)
    timed_out = per_attempt > timeout
    failed = timed_out | transient[:, : per_attempt.shape[1]]
    # The first attempt that neither times out nor fails transiently ends the execution.
    ok = ~failed
    first_ok = np.where(ok.any(axis=1), ok.argmax(axis=1), per_attempt.shape[1] - 1)
    used = np.arange(per_attempt.shape[1])[None, :] <= first_ok[:, None]
    duration = np.where(used, np.minimum(per_attempt, timeout), 0.0).sum(axis=1)
    succeeded = ok.any(axis=1) & ~permanent
    last_timed_out = timed_out[np.arange(n), first_ok]
    attempts = first_ok + 1

    quality = np.clip(
        truth.base_quality - truth.quality_temp_slope * temperature + 0.08 * quality_noise, 0, 1
    )
    rating = np.clip(np.rint(1 + 4 * quality + 0.5 * rating_noise), 1, 5).astype(int)
    return {
        "duration": duration,
        "succeeded": succeeded,
        "permanent": permanent,
        "timed_out": last_timed_out & ~succeeded & ~permanent,
        "quality": quality,
        "rated": succeeded & (rating_draw < RATING_SHARE),
        "rating": rating,
        "attempts": attempts,
    }


class ProductionSimulator:
    def __init__(self, truths: Mapping[str, PatternTruth], *, seed: int = 0) -> None:
        self.truths = dict(truths)
        self._rng = np.random.default_rng(seed)

    def simulate(
        self,
        pattern_id: str,
        version_id: str,
        config: Mapping[str, Any],
        n: int,
        *,
        start: datetime,
        spacing_s: float = 1.0,
        unit_keys: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """``n`` execution rows of ``version_id`` (running ``config``), ready for ingestion."""
        truth = self.truths[pattern_id]
        out = _execute(truth, config, n, self._rng)
        rows: list[dict[str, Any]] = []
        for i in range(n):
            if out["succeeded"][i]:
                status, error = "success", None
            elif out["permanent"][i]:
                status, error = "failure", PERMANENT_ERROR
            elif out["timed_out"][i]:
                status, error = "timeout", TIMEOUT_ERROR
            else:
                status, error = "error", TRANSIENT_ERROR
            success = status == "success"
            rows.append(
                {
                    "execution_id": uuid.uuid4(),
                    "pattern_id": pattern_id,
                    "version_id": version_id,
                    "started_at": start + timedelta(seconds=spacing_s * (i + 1)),
                    "duration_ms": float(out["duration"][i]),
                    "status": status,
                    "quality_results": {"score": float(out["quality"][i])} if success else {},
                    "error_message": error,
                    "user_rating": int(out["rating"][i]) if out["rated"][i] else None,
                    "cost_usd": truth.cost_per_attempt_usd * int(out["attempts"][i]),
                    "metadata": {"unit_key": unit_keys[i]} if unit_keys is not None else {},
                }
            )
        return rows

    def true_metrics(self, pattern_id: str, config: Mapping[str, Any]) -> dict[str, float]:
        """Expected metrics of a config (Monte Carlo on a fixed seed: common random numbers
        make the difference between two configs precise). Keys are the decision metrics and
        the guarded metrics (``duration_ms`` and ``duration_mean`` are both the mean)."""
        truth = self.truths[pattern_id]
        out = _execute(truth, config, TRUTH_SAMPLES, np.random.default_rng(20_260_101))
        ok = out["succeeded"]
        rated = out["rated"]
        mean = float(out["duration"].mean())
        return {
            "duration_ms": mean,
            "duration_mean": mean,
            "duration_p95": float(np.percentile(out["duration"], 95)),
            "success_rate": float(ok.mean()),
            "quality_score": float(out["quality"][ok].mean()) if ok.any() else 0.0,
            "user_rating": float(out["rating"][rated].mean()) if rated.any() else 0.0,
            "cost_usd": float(truth.cost_per_attempt_usd * out["attempts"].mean()),
        }

    def is_truly_better(
        self,
        pattern_id: str,
        old_config: Mapping[str, Any],
        new_config: Mapping[str, Any],
        metric: str,
        *,
        tolerance: float = 0.005,
        objective: ModelObjective | None = None,
    ) -> bool:
        """Whether ``new_config`` beats ``old_config`` on ``metric`` by more than
        ``tolerance`` (relative) in truth and, given an objective, is within every guardrail's
        margin in truth too: the same standard the decisions are held to."""
        old = self.true_metrics(pattern_id, old_config)
        new = self.true_metrics(pattern_id, new_config)
        change = (new[metric] - old[metric]) / abs(old[metric]) if old[metric] else 0.0
        better = -change > tolerance if metric == "duration_ms" else change > tolerance
        return better and (objective is None or not self.true_harms(old, new, objective))

    @staticmethod
    def true_harms(
        old: Mapping[str, float], new: Mapping[str, float], objective: ModelObjective
    ) -> list[str]:
        """The guardrails the new config truly breaks: worse than their margin."""
        harms = []
        for g in objective.guardrails:
            name = g.metric.value
            if g.metric in RELATIVE_MARGIN:
                worse_by = new[name] / old[name] - 1.0 if old[name] else 0.0
            else:
                worse_by = old[name] - new[name]
            if worse_by > g.margin:
                harms.append(name)
        return harms


def _truth(**overrides: float) -> PatternTruth:
    values: dict[str, float] = {
        "base_latency_ms": 60.0,
        "latency_sigma": 0.5,
        "transient_error_rate": 0.01,
        "permanent_failure_rate": 0.0,
        "cache_hit_rate": 0.0,
        "batch_latency_factor": 0.0,
        "base_quality": 0.9,
        "quality_temp_slope": 0.0,
        "cost_per_attempt_usd": 0.001,
    }
    values.update(overrides)
    return PatternTruth(**values)


# name -> (truth, initial config). Four have a real improvement for a built-in generator to find;
# ``batch_embed`` is a trap: its generator's proposal changes nothing in truth (an A/A test).
DEMO_PATTERNS: dict[str, tuple[PatternTruth, dict[str, Any]]] = {
    "api_debug": (
        _truth(base_latency_ms=180.0, cache_hit_rate=0.6),
        {"cache_enabled": False, "timeout_ms": 5000, "max_retries": 1},
    ),
    "summarize_ticket": (
        _truth(base_quality=0.9, quality_temp_slope=0.25),
        {"temperature": 0.9, "timeout_ms": 5000, "max_retries": 1},
    ),
    "route_request": (
        _truth(base_latency_ms=40.0, transient_error_rate=0.08),
        {"max_retries": 0, "timeout_ms": 2000},
    ),
    "fetch_profile": (
        _truth(base_latency_ms=70.0, latency_sigma=0.4),
        {"timeout_ms": 110, "max_retries": 0},
    ),
    "batch_embed": (
        _truth(base_latency_ms=250.0, batch_latency_factor=0.0),
        {"batch_size": 16, "timeout_ms": 10_000, "max_retries": 1},
    ),
}

# What each demo pattern's owners accept, as guardrail margins over the defaults: a retry
# costs latency and money, a longer timeout lets slow requests finish (so the p95 rises). The
# demo's decisions and its ground truth both use these objectives.
DEMO_MARGINS: dict[str, dict[EnumGuardedMetric, float]] = {
    "route_request": {
        EnumGuardedMetric.DURATION_MEAN: 0.20,
        EnumGuardedMetric.DURATION_P95: 0.50,
        EnumGuardedMetric.COST_USD: 0.20,
    },
    "fetch_profile": {
        EnumGuardedMetric.DURATION_MEAN: 0.15,
        EnumGuardedMetric.DURATION_P95: 0.40,
    },
}


def demo_objective(name: str, pattern_id: str) -> ModelObjective:
    """The default objective with the demo pattern ``name``'s margins."""
    margins = DEMO_MARGINS.get(name, {})
    defaults = ModelObjective(pattern_id=pattern_id)
    return defaults.model_copy(
        update={
            "guardrails": tuple(
                g.model_copy(update={"margin": margins.get(g.metric, g.margin)})
                for g in defaults.guardrails
            )
        }
    )
