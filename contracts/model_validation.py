"""Contracts of the validate compute node."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from contracts.enum_loop import (
    EnumDecision,
    EnumGuardrailVerdict,
    EnumImprovementType,
    EnumMetric,
)
from contracts.model_exposure import ModelExposureWindow
from contracts.model_objective import RELATIVE_MARGIN, EnumGuardedMetric, ModelObjective
from contracts.model_pattern_feedback import ModelArmStats

_FROZEN = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


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
    age_days: float = Field(default=0.0, ge=0, description="since the candidate started")
    exposure: ModelExposureWindow | None = Field(
        default=None, description="assign()'s record of both arms; None: check logged counts"
    )
    watch_days_left: float | None = Field(
        default=None,
        description="set for an applied change under watch (control: the previous version "
        "keeping its holdback; candidate: the new active one); None for an experiment",
    )


class ModelValidateInput(BaseModel):
    model_config = _FROZEN

    experiments: list[ModelExperiment]
    objective: ModelObjective
    significance_level: float = Field(gt=0, le=0.5)
    auto_apply_threshold: float = Field(ge=0, le=1)
    min_sample_size: int = Field(ge=2)


class ModelGuardrailCheck(BaseModel):
    """One guardrail at one look: the always-valid bound of how much worse the candidate is,
    in the margin's units (points for rates and scores, a fraction for durations and cost;
    positive = worse), against the margin."""

    model_config = _FROZEN

    metric: EnumGuardedMetric
    margin: float
    required: bool = False
    verdict: EnumGuardrailVerdict
    worse_by: float | None = Field(default=None, description="estimate; positive = worse")
    worse_by_low: float | None = None
    worse_by_high: float | None = None
    n_control: int = Field(default=0, ge=0)
    n_candidate: int = Field(default=0, ge=0)
    needed_per_arm: int | None = Field(
        default=None, ge=0, description="executions per arm the bound is expected to need"
    )
    note: str = ""

    def amount(self, value: float | None) -> str:
        """An amount in this guardrail's margin units: % for durations and cost, points for
        the success rate, the metric's own units for scores; "-" when there is none."""
        if value is None:
            return "-"
        if self.metric in RELATIVE_MARGIN:
            return f"{value:+.1%}"
        if self.metric is EnumGuardedMetric.SUCCESS_RATE:
            return f"{value * 100:+.1f} pts"
        return f"{value:+.3f}"

    def describe(self) -> str:
        """One line: estimate, bound and margin, as the decision's reason quotes it."""
        if self.worse_by is None:
            return f"{self.metric.value} not measured"
        bound = (
            f" (bound {self.amount(self.worse_by_low)} to {self.amount(self.worse_by_high)})"
            if self.worse_by_low is not None and self.worse_by_high is not None
            else ""
        )
        margin = self.amount(self.margin).lstrip("+")
        return f"{self.metric.value} worse by {self.amount(self.worse_by)}{bound}, margin {margin}"


class ModelMetricTest(BaseModel):
    """One metric's comparison; ``delta`` is the relative change, positive = better."""

    model_config = _FROZEN

    metric: EnumMetric
    statistic: str = Field(description="what delta measures, e.g. 'mean duration_ms'")
    p_value: float = Field(ge=0, le=1, description="always-valid (mixture SPRT)")
    delta: float
    delta_ci_low: float = Field(description="always-valid bound, same level as the decision")
    delta_ci_high: float
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
    statistic: str = ""
    delta_ci_low: float | None = None
    delta_ci_high: float | None = None
    significant: bool = False
    tests: list[ModelMetricTest] = Field(default_factory=list)
    guardrails: list[ModelGuardrailCheck] = Field(default_factory=list)
    horizon_per_arm: int | None = Field(default=None, ge=0)
    watch: bool = Field(
        default=False, description="a look at an applied change under watch, not a test"
    )


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
            EnumDecision.INCONCLUSIVE: 2,
            EnumDecision.BLOCK: 2,
            EnumDecision.HOLD: 2,
            EnumDecision.ROLLBACK: 2,
            EnumDecision.CONTINUE: 2,
        }
        return min(
            self.results,
            key=lambda r: (rank[r.decision], 1.0 if r.p_value is None else r.p_value),
            default=None,
        )


class ModelImprovementLook(BaseModel):
    """One stored look at an experiment: what the validator saw and decided."""

    model_config = _FROZEN

    look: int = Field(ge=1)
    at: datetime
    correlation_id: UUID | None = None
    result: ModelValidationResult
