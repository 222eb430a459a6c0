"""What one loop run did. The seed's fields are kept; the ids of what it touched are added."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from contracts.model_stage_report import ModelStageReport


class ModelFeedbackLoopOutput(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    success: bool
    pattern_id: str
    correlation_id: UUID
    feedback_collected: int = Field(ge=0, description="executions in the window")
    improvements_identified: int = Field(ge=0, description="new proposals made by this run")
    improvements_validated: int = Field(ge=0, description="candidates found significantly better")
    improvements_applied: int = Field(ge=0)
    performance_delta: float = Field(
        description="relative improvement of the best judged candidate over control "
        "(0.6 = 60 % better; 0 when nothing was judged)"
    )
    confidence_score: float = Field(ge=0, le=1)
    p_value: float | None = Field(default=None, ge=0, le=1)
    statistically_significant: bool
    workflow_stages: dict[str, ModelStageReport]
    active_version_id: str | None = None
    versions_created: list[str] = Field(default_factory=list)
    versions_touched: list[str] = Field(default_factory=list)
    improvements_touched: list[UUID] = Field(default_factory=list)
    monitor_only: bool = False
    replayed: bool = Field(default=False, description="true when this is a recorded result")
