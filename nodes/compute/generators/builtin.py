"""Generic generators keyed on common config fields. Each returns at most one proposal.

- ``timeout_headroom`` (reliability): executions time out and ``timeout_ms`` sits below what
  the pattern needs -> raise it to 1.5 x the observed p99 (at least 1.5 x the old value).
- ``retry_transient`` (reliability): failures whose messages look transient (5xx, reset,
  rate limit, unavailable) and ``max_retries`` < 5 -> one more retry.
- ``cache_for_latency`` (performance): the version is slow and ``cache_enabled`` is false ->
  enable the cache.
- ``smaller_batches`` (performance): slow, cache already on or absent, ``batch_size`` > 1 ->
  halve the batch size.
- ``lower_temperature`` (quality): quality below threshold and ``temperature`` > 0.2 -> lower it
  by 0.3 (not below 0.1).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from contracts.enum_loop import EnumImprovementType, EnumRiskLevel
from contracts.model_pattern_improvement import ModelConfigChange, ModelProposal
from nodes.compute.generators.registry import GeneratorRegistry, ModelGeneratorContext

_TRANSIENT = re.compile(
    r"\b(5\d\d|timeout|timed out|reset|unavailable|rate.?limit|temporar|try again|retry)\b", re.I
)
MAX_RETRIES_CAP = 5


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def timeout_headroom(ctx: ModelGeneratorContext) -> Sequence[ModelProposal]:
    timeout = ctx.config.get("timeout_ms")
    if not _is_number(timeout) or not ctx.has_issue("timeouts"):
        return []
    new = int(max(ctx.feedback.duration_p99 * 1.5, float(timeout) * 1.5))  # type: ignore[arg-type]
    timeout_share = 1.0 - ctx.feedback.success_rate
    return [
        ModelProposal(
            generator="timeout_headroom",
            improvement_type=EnumImprovementType.RELIABILITY,
            description=f"raise timeout_ms {timeout} -> {new}: executions time out near p99",
            config_diff={"timeout_ms": ModelConfigChange(old=timeout, new=new)},
            expected_delta=round(min(timeout_share, 0.5), 4),
            risk=EnumRiskLevel.LOW,
        )
    ]


def retry_transient(ctx: ModelGeneratorContext) -> Sequence[ModelProposal]:
    retries = ctx.config.get("max_retries", 0)
    if not isinstance(retries, int) or retries >= MAX_RETRIES_CAP or not ctx.has_issue("failing"):
        return []
    transient = sum(e.count for e in ctx.feedback.top_errors if _TRANSIENT.search(e.message))
    if transient == 0:
        return []
    return [
        ModelProposal(
            generator="retry_transient",
            improvement_type=EnumImprovementType.RELIABILITY,
            description=f"max_retries {retries} -> {retries + 1}: {transient} transient errors",
            config_diff={"max_retries": ModelConfigChange(old=retries, new=retries + 1)},
            expected_delta=round(min(1.0 - ctx.feedback.success_rate, 0.5), 4),
            risk=EnumRiskLevel.MEDIUM,
        )
    ]


def cache_for_latency(ctx: ModelGeneratorContext) -> Sequence[ModelProposal]:
    if ctx.config.get("cache_enabled") is not False or not ctx.has_issue("slow"):
        return []
    return [
        ModelProposal(
            generator="cache_for_latency",
            improvement_type=EnumImprovementType.PERFORMANCE,
            description=f"enable the cache: p50 {ctx.feedback.duration_p50:.0f} ms is slow",
            config_diff={"cache_enabled": ModelConfigChange(old=False, new=True)},
            expected_delta=0.2,
            risk=EnumRiskLevel.LOW,
        )
    ]


def smaller_batches(ctx: ModelGeneratorContext) -> Sequence[ModelProposal]:
    batch = ctx.config.get("batch_size")
    if not isinstance(batch, int) or batch <= 1 or ctx.config.get("cache_enabled") is False:
        return []
    if not ctx.has_issue("slow"):
        return []
    new = max(1, batch // 2)
    return [
        ModelProposal(
            generator="smaller_batches",
            improvement_type=EnumImprovementType.PERFORMANCE,
            description=f"batch_size {batch} -> {new}: p50 {ctx.feedback.duration_p50:.0f} ms",
            config_diff={"batch_size": ModelConfigChange(old=batch, new=new)},
            expected_delta=0.15,
            risk=EnumRiskLevel.MEDIUM,
        )
    ]


def lower_temperature(ctx: ModelGeneratorContext) -> Sequence[ModelProposal]:
    temperature = ctx.config.get("temperature")
    if not _is_number(temperature) or float(temperature) <= 0.2:  # type: ignore[arg-type]
        return []
    if not ctx.has_issue("low_quality"):
        return []
    new = round(max(0.1, float(temperature) - 0.3), 2)  # type: ignore[arg-type]
    return [
        ModelProposal(
            generator="lower_temperature",
            improvement_type=EnumImprovementType.QUALITY,
            description=f"lower temperature {temperature} -> {new}: mean quality is low",
            config_diff={"temperature": ModelConfigChange(old=temperature, new=new)},
            expected_delta=0.1,
            risk=EnumRiskLevel.MEDIUM,
        )
    ]


BUILTIN_GENERATORS = {
    "timeout_headroom": timeout_headroom,
    "retry_transient": retry_transient,
    "cache_for_latency": cache_for_latency,
    "smaller_batches": smaller_batches,
    "lower_temperature": lower_temperature,
}


def default_registry() -> GeneratorRegistry:
    registry = GeneratorRegistry()
    for name, generator in BUILTIN_GENERATORS.items():
        registry.register(name, generator)
    return registry
