"""Contracts of the collector effect node."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from contracts.model_exposure import ModelExposureWindow
from contracts.model_objective import ModelObjective
from contracts.model_pattern_feedback import ModelArmStats
from contracts.model_pattern_improvement import ModelPatternImprovement
from contracts.model_pattern_version import ModelPatternVersion

_FROZEN = ConfigDict(extra="forbid", frozen=True)


class ModelCollectInput(BaseModel):
    model_config = _FROZEN

    pattern_id: str = Field(min_length=1)
    time_window_days: int = Field(ge=1)
    as_of: datetime | None = None


class ModelCandidateExperiment(BaseModel):
    """A candidate in testing, its improvement, and both arms since its first execution."""

    model_config = _FROZEN

    version: ModelPatternVersion
    improvement: ModelPatternImprovement
    control: ModelArmStats
    candidate: ModelArmStats
    exposure: ModelExposureWindow | None = Field(
        default=None, description="what assign() recorded for both arms (None: nothing yet)"
    )


class ModelCollectOutput(BaseModel):
    model_config = _FROZEN

    pattern_id: str
    window_end: datetime
    objective: ModelObjective
    active: ModelPatternVersion
    versions: list[ModelPatternVersion] = Field(description="every version of the pattern")
    window_stats: list[ModelArmStats] = Field(description="per version, unversioned -> active")
    experiments: list[ModelCandidateExperiment]
    feedback_collected: int = Field(ge=0)
    watches: list[ModelCandidateExperiment] = Field(
        default_factory=list,
        description="applied changes under watch: previous version (control) vs active, "
        "from the apply on",
    )
    improvements: list[ModelPatternImprovement] = Field(
        default_factory=list,
        description="the pattern's open improvements (testing, validated, blocked, or applied "
        "and watched): the lifecycle's state, read under the run's lock",
    )
