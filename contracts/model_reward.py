"""Contracts of the composite reward: a versioned configuration, one execution's inputs, the
score with its parts, and the classification of a mean reward against the thresholds.

The formula itself is documented in ``nodes/compute/node_reward_compute.py``. In short:
``score = clip(base + success_boost - latency_penalty - cost_penalty - error_penalty, 0, 1)``
with ``base = 1 - weights.success``, so a fast, free success scores exactly 1.0.

Every numeric field is strict (no ``"0.3"`` strings, no ``True`` for 1) and finite; a bad value
is rejected here, with pydantic naming the field, before any arithmetic can hide it.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.enum_execution_status import EnumExecutionStatus

_STRICT = ConfigDict(extra="forbid", frozen=True, strict=True)

Weight = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Bound = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Unit = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class EnumRewardAssessment(StrEnum):
    """Where a mean reward stands against the thresholds (a value on a threshold meets it)."""

    OK = "ok"  # mean >= minimum_acceptable
    BELOW_MINIMUM = "below_minimum"  # retrain <= mean < minimum_acceptable
    RETRAIN = "retrain"  # mean < retrain


class ModelRewardWeights(BaseModel):
    """How much each part moves the score. ``success`` is also what a failure forfeits, so it
    is at most 1 (the base ``1 - success`` is then a score in [0, 1])."""

    model_config = _STRICT

    latency: Weight = 0.25
    cost: Weight = 0.2
    success: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] = 0.6
    error: Weight = 0.6


class ModelRewardBounds(BaseModel):
    """Where the latency and cost penalties reach their cap (the full weight)."""

    model_config = _STRICT

    max_latency_ms: Bound = 4000.0
    max_cost_usd: Bound = 0.10


class ModelRewardThresholds(BaseModel):
    """Mean reward at or above ``minimum_acceptable`` is ok; below ``retrain`` asks for a
    retrain; in between it is below the minimum but not yet a retrain."""

    model_config = _STRICT

    minimum_acceptable: Unit = 0.55
    retrain: Unit = 0.40

    @model_validator(mode="after")
    def _retrain_below_minimum(self) -> Self:
        if not self.retrain < self.minimum_acceptable:
            raise ValueError(
                f"thresholds.retrain ({self.retrain}) must be < "
                f"thresholds.minimum_acceptable ({self.minimum_acceptable})"
            )
        return self


class ModelRewardConfig(BaseModel):
    """A versioned reward configuration: change any number, bump ``version``; every score
    records the version it was computed with."""

    model_config = _STRICT

    version: int = Field(ge=1)
    weights: ModelRewardWeights = ModelRewardWeights()
    bounds: ModelRewardBounds = ModelRewardBounds()
    thresholds: ModelRewardThresholds = ModelRewardThresholds()


class ModelRewardExecution(BaseModel):
    """What the reward reads of one execution.

    ``duration_ms=None`` (not measured) takes the full latency penalty: an execution that did
    not report its time never looks faster than one that did. ``cost_usd=None`` (not metered)
    takes no cost penalty. ``status`` also accepts its string value (``"success"``), as the
    execution rows carry it.
    """

    model_config = _STRICT

    status: EnumExecutionStatus = Field(strict=False)
    duration_ms: NonNegative | None = None
    cost_usd: NonNegative | None = None

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> ModelRewardExecution:
        """The reward's view of an execution row (a ``ModelExecutionRecord``)."""
        return cls(
            status=record["status"],
            duration_ms=record.get("duration_ms"),
            cost_usd=record.get("cost_usd"),
        )


class ModelRewardParts(BaseModel):
    """One execution's score and the parts it is made of.

    ``score == clip(base + success_boost - latency_penalty - cost_penalty - error_penalty,
    0, 1)``; ``raw_score`` is the value before clipping.
    """

    model_config = _STRICT

    config_version: int = Field(ge=1)
    score: Unit
    raw_score: float = Field(allow_inf_nan=False)
    base: Unit
    success_boost: NonNegative
    latency_penalty: NonNegative
    cost_penalty: NonNegative
    error_penalty: NonNegative


DEFAULT_REWARD_CONFIG = ModelRewardConfig(version=1)
