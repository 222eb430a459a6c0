"""A proposal to change a version's config, and its lifecycle."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from contracts.enum_loop import (
    METRIC_OF_TYPE,
    EnumImprovementStatus,
    EnumImprovementType,
    EnumMetric,
    EnumRiskLevel,
)


class ModelConfigChange(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    old: Any = None
    new: Any = None


class ModelProposal(BaseModel):
    """What a generator returns: a config diff with its expected effect and risk."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    generator: str = Field(min_length=1)
    improvement_type: EnumImprovementType
    description: str = Field(min_length=1)
    config_diff: dict[str, ModelConfigChange] = Field(min_length=1)
    expected_delta: float = Field(description="expected relative improvement, 0.2 = 20 % better")
    risk: EnumRiskLevel = EnumRiskLevel.MEDIUM

    @property
    def metric(self) -> EnumMetric:
        return METRIC_OF_TYPE[self.improvement_type]

    def apply_to(self, config: dict[str, Any]) -> dict[str, Any]:
        return {**config, **{key: change.new for key, change in self.config_diff.items()}}


class ModelPatternImprovement(BaseModel):
    """A stored proposal: proposed -> testing -> validated -> applied | rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    improvement_id: UUID
    pattern_id: str
    base_version_id: str
    candidate_version_id: str | None = None
    generator: str
    improvement_type: EnumImprovementType
    description: str
    config_diff: dict[str, ModelConfigChange]
    expected_delta: float
    risk: EnumRiskLevel
    status: EnumImprovementStatus
    p_value: float | None = Field(default=None, ge=0, le=1)
    confidence: float | None = Field(default=None, ge=0, le=1)
    performance_delta: float | None = None
    decision_reason: str | None = None
    correlation_id: UUID | None = None
    srm_epoch_at: datetime | None = Field(
        default=None, description="when a person last lifted a block; checks count from here"
    )
    watch_from: datetime | None = Field(
        default=None, description="applied: executions from then on are watched"
    )
    watch_until: datetime | None = Field(
        default=None, description="applied: the previous version keeps a holdback until then"
    )
    watch_outcome: str | None = Field(
        default=None, description="None while watched; then 'held' or 'rolled_back'"
    )

    @property
    def watching(self) -> bool:
        return (
            self.status is EnumImprovementStatus.APPLIED
            and self.watch_until is not None
            and self.watch_outcome is None
        )

    @property
    def metric(self) -> EnumMetric:
        return METRIC_OF_TYPE[self.improvement_type]
