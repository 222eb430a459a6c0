"""One execution row as it enters ``hook_executions``: validated before anything is stored."""

from __future__ import annotations

import math
from typing import Any
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from contracts.enum_execution_status import EnumExecutionStatus


class ModelExecutionRecord(BaseModel):
    """Mirrors the table's CHECKs so a bad row is named here, not by a failed COPY."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    execution_id: UUID
    pattern_id: str = Field(min_length=1, max_length=200)
    version_id: str | None = Field(default=None, min_length=1)
    variant: str | None = None
    started_at: AwareDatetime
    duration_ms: float = Field(ge=0, allow_inf_nan=False)
    status: EnumExecutionStatus
    quality_results: dict[str, Any] = Field(default_factory=dict)
    performance_score: float | None = Field(default=None, allow_inf_nan=False)
    error_message: str | None = None
    user_rating: int | None = Field(default=None, ge=1, le=5)
    cost_usd: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("quality_results")
    @classmethod
    def _score_in_unit_interval(cls, value: dict[str, Any]) -> dict[str, Any]:
        score = value.get("score")
        if score is None:
            return value
        if isinstance(score, bool) or not isinstance(score, int | float):
            raise ValueError("quality_results.score must be a number between 0 and 1")
        if not (math.isfinite(score) and 0.0 <= score <= 1.0):
            raise ValueError(f"quality_results.score must lie in [0, 1], got {score}")
        return value
