"""A pattern's objective: how a candidate wins, and how much worse it may be elsewhere.

A candidate that is faster by its median but slower on average, or faster but flakier, is not
better for the people who use the pattern. So every decision carries guardrails: on each
guarded metric the candidate must be shown *no worse than a margin* (non-inferiority), with an
always-valid bound at the run's significance level, before it can be applied. A guardrail is
an intersection-union test: each must pass on its own, so no multiplicity correction weakens
it.

Margins are absolute for rates and scores (success rate -0.02 = two points) and relative for
durations and cost (+0.10 = 10 % more). Tighter margins need more traffic: when a 5 % failure
rate truly does not change, showing it rose by at most 2 points takes about 3,500 executions per
arm at 80 % power under always-valid bounds at alpha 0.05 (1 point: about 15,700; 5 points:
about 500); ``feedback-loop improvements --show`` prints per guardrail the sample it still
needs.

A guardrail whose metric has fewer than ``min_sample_size`` values in either arm is reported
``not measured`` and does not block, unless it is ``required`` (many users log no rating or
cost).
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.enum_loop import EnumMetric
from contracts.model_reward import DEFAULT_REWARD_CONFIG, ModelRewardConfig

_FROZEN = ConfigDict(extra="forbid", frozen=True)


class EnumGuardedMetric(StrEnum):
    """What a guardrail watches; each has one direction and one kind of margin."""

    SUCCESS_RATE = "success_rate"  # higher is better; margin in points (0.02 = 2 points)
    DURATION_MEAN = "duration_mean"  # lower is better; relative margin (0.10 = +10 %)
    DURATION_P95 = "duration_p95"  # lower is better; relative margin
    QUALITY_SCORE = "quality_score"  # higher is better; absolute margin
    USER_RATING = "user_rating"  # higher is better; absolute margin (stars on a 1-5 scale)
    COST_USD = "cost_usd"  # lower is better; relative margin


RELATIVE_MARGIN: frozenset[EnumGuardedMetric] = frozenset(
    {EnumGuardedMetric.DURATION_MEAN, EnumGuardedMetric.DURATION_P95, EnumGuardedMetric.COST_USD}
)
"""Margins of these are fractions of the control's value; the others are absolute."""

GUARDED_LOWER_IS_BETTER = RELATIVE_MARGIN


class ModelGuardrail(BaseModel):
    model_config = _FROZEN

    metric: EnumGuardedMetric
    margin: float = Field(
        gt=0,
        le=10,
        description="how much worse the candidate may be: points/units for rates and scores, "
        "a fraction of the control for durations and cost",
    )
    required: bool = Field(
        default=False, description="block the decision while this metric is not measured"
    )


DEFAULT_GUARDRAILS: tuple[ModelGuardrail, ...] = (
    ModelGuardrail(metric=EnumGuardedMetric.SUCCESS_RATE, margin=0.02),
    ModelGuardrail(metric=EnumGuardedMetric.DURATION_MEAN, margin=0.10),
    ModelGuardrail(metric=EnumGuardedMetric.DURATION_P95, margin=0.20),
    ModelGuardrail(metric=EnumGuardedMetric.QUALITY_SCORE, margin=0.03),
    ModelGuardrail(metric=EnumGuardedMetric.USER_RATING, margin=0.25),
    ModelGuardrail(metric=EnumGuardedMetric.COST_USD, margin=0.10),
)

MAX_HORIZON_PER_ARM = 10_000
"""The longest an experiment runs, in executions per arm, whatever its plan says."""

MAX_HORIZON_DAYS = 28


class ModelObjective(BaseModel):
    """One version of a pattern's objective (stored, versioned, audit-logged)."""

    model_config = _FROZEN

    pattern_id: str = Field(min_length=1, max_length=200)
    version: int = Field(default=1, ge=1)
    primary_metric: EnumMetric | None = Field(
        default=None,
        description="None: each proposal wins on its own target metric; else every proposal "
        "must win on this one",
    )
    guardrails: tuple[ModelGuardrail, ...] = DEFAULT_GUARDRAILS
    min_relative_effect: float = Field(
        default=0.02,
        ge=0,
        le=1,
        description="smallest improvement worth keeping; plans the horizon and ends futile tests",
    )
    horizon_per_arm: int | None = Field(
        default=None,
        ge=2,
        le=MAX_HORIZON_PER_ARM,
        description="None: planned from min_relative_effect at 80 % power, capped at "
        f"{MAX_HORIZON_PER_ARM}",
    )
    horizon_days: int = Field(default=MAX_HORIZON_DAYS, ge=1, le=365)
    holdback: float = Field(
        default=0.10, ge=0, lt=0.5, description="share kept on the previous version after apply"
    )
    watch_days: int = Field(default=7, ge=0, le=90, description="how long an apply is watched")
    reward: ModelRewardConfig = Field(
        default=DEFAULT_REWARD_CONFIG,
        description="the composite reward: a per-execution score, the metric 'reward'",
    )

    @model_validator(mode="after")
    def _one_guardrail_per_metric(self) -> ModelObjective:
        metrics = [g.metric for g in self.guardrails]
        repeated = sorted({m.value for m in metrics if metrics.count(m) > 1})
        if repeated:
            raise ValueError(f"one guardrail per metric, repeated: {', '.join(repeated)}")
        return self

    def guardrail(self, metric: EnumGuardedMetric) -> ModelGuardrail | None:
        return next((g for g in self.guardrails if g.metric is metric), None)
