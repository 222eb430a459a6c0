"""Contracts of the analyze and generate compute nodes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from contracts.enum_loop import EnumFeedbackType
from contracts.model_pattern_feedback import ModelArmStats, ModelPatternFeedback
from contracts.model_pattern_improvement import ModelProposal
from contracts.model_reward import ModelRewardConfig

_FROZEN = ConfigDict(extra="forbid", frozen=True)


class ModelAnalysisThresholds(BaseModel):
    """When a version is flagged; generators act on the flags."""

    model_config = _FROZEN

    min_success_rate: float = Field(default=0.95, ge=0, le=1)
    max_timeout_rate: float = Field(default=0.01, ge=0, le=1)
    slow_p50_ms: float = Field(default=100.0, ge=0)
    min_quality: float = Field(default=0.75, ge=0, le=1)
    min_rating: float = Field(default=3.5, ge=1, le=5)
    min_executions: int = Field(default=20, ge=1, description="fewer executions: no flags")


class ModelAnalyzeInput(BaseModel):
    model_config = _FROZEN

    pattern_id: str
    stats: list[ModelArmStats]
    thresholds: ModelAnalysisThresholds = ModelAnalysisThresholds()
    reward: ModelRewardConfig | None = Field(
        default=None, description="the objective's composite reward (None: no reward flags)"
    )


class ModelAnalyzeOutput(BaseModel):
    model_config = _FROZEN

    feedback: list[ModelPatternFeedback]

    def for_version(self, version_id: str | None) -> ModelPatternFeedback | None:
        return next((f for f in self.feedback if f.version_id == version_id), None)


class ModelGenerateInput(BaseModel):
    model_config = _FROZEN

    pattern_id: str
    base_version_id: str
    base_config: dict[str, Any]
    feedback: ModelPatternFeedback
    feedback_type: EnumFeedbackType
    slots: int = Field(ge=0, description="how many new candidates may start testing")
    known_configs: list[dict[str, Any]] = Field(
        default_factory=list, description="configs already tried: never proposed again"
    )


class ModelGenerateOutput(BaseModel):
    model_config = _FROZEN

    proposals: list[ModelProposal]
    considered: int = Field(ge=0, description="proposals made before filtering")
    set_aside: list[str] = Field(
        default_factory=list,
        description="each proposal not kept, with why: another feedback type, a config already "
        "tried, or no free slot",
    )
    generator_errors: list[str] = Field(default_factory=list)
