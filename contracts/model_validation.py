"""Contracts of the validate compute node."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from contracts.enum_loop import EnumDecision, EnumFeedbackType, EnumImprovementType, EnumMetric
from contracts.model_pattern_feedback import ModelArmStats

_FROZEN = ConfigDict(extra="forbid", frozen=True)


class ModelExperiment(BaseModel):
    """One candidate against the active version over the same period."""

    model_config = _FROZEN

    improvement_id: UUID
    improvement_type: EnumImprovementType
    control: ModelArmStats
    candidate: ModelArmStats
    expected_traffic_share: float = Field(
        default=0.5, gt=0, lt=1, description="candidate's share of (control + candidate) traffic"
    )
    previous_p_value: float | None = Field(
        default=None, ge=0, le=1, description="always-valid p-value at the previous look"
    )


class ModelValidateInput(BaseModel):
    model_config = _FROZEN

    experiments: list[ModelExperiment]
    feedback_type: EnumFeedbackType
    significance_level: float = Field(gt=0, le=0.5)
    auto_apply_threshold: float = Field(ge=0, le=1)
    min_sample_size: int = Field(ge=2)
    min_relative_effect: float = Field(
        default=0.02,
        ge=0,
        description="smallest improvement worth keeping: a candidate whose optimistic (upper "
        "95 % CI) improvement is below it is rejected as futile",
    )


class ModelMetricTest(BaseModel):
    """One metric's comparison; ``delta`` is the relative change, positive = better."""

    model_config = _FROZEN

    metric: EnumMetric
    p_value: float = Field(ge=0, le=1)
    adjusted_p_value: float = Field(ge=0, le=1)
    delta: float
    delta_ci_low: float
    delta_ci_high: float
    effect_size: float = Field(description="Cohen's d (means) or Cohen's h (rates)")
    power: float = Field(ge=0, le=1, description="achieved power at the observed effect")
    better: bool
    worse: bool


class ModelValidationResult(BaseModel):
    model_config = _FROZEN

    improvement_id: UUID
    candidate_version_id: str
    decision: EnumDecision
    reason: str
    metric: EnumMetric
    n_control: int = Field(ge=0)
    n_candidate: int = Field(ge=0)
    p_value: float | None = Field(default=None, ge=0, le=1)
    confidence: float = Field(default=0.0, ge=0, le=1)
    performance_delta: float = 0.0
    significant: bool = False
    tests: list[ModelMetricTest] = Field(default_factory=list)


class ModelValidateOutput(BaseModel):
    model_config = _FROZEN

    results: list[ModelValidationResult]

    def headline(self) -> ModelValidationResult | None:
        """The result a run reports: an applied one first, then one for review, then the
        strongest evidence (smallest p-value)."""
        rank = {
            EnumDecision.APPLY: 0,
            EnumDecision.REVIEW: 1,
            EnumDecision.REJECT: 2,
            EnumDecision.CONTINUE: 2,
        }
        return min(
            self.results,
            key=lambda r: (rank[r.decision], 1.0 if r.p_value is None else r.p_value),
            default=None,
        )
