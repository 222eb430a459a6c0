"""What one loop run is asked to do. The seed's fields and defaults are kept."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid4

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from contracts.enum_loop import EnumFeedbackType


class ModelFeedbackLoopInput(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    pattern_id: str = Field(min_length=1, max_length=200, description="pattern to improve")
    feedback_type: EnumFeedbackType = EnumFeedbackType.PERFORMANCE
    time_window_days: int = Field(default=7, ge=1, le=3650)
    auto_apply_threshold: float = Field(default=0.95, ge=0.0, le=1.0)
    min_sample_size: int = Field(default=30, ge=2, le=10_000_000)
    significance_level: float = Field(default=0.05, gt=0.0, le=0.5)
    enable_ab_testing: bool = True
    correlation_id: UUID = Field(default_factory=uuid4)
    max_candidates: int = Field(default=1, ge=1, le=10, description="candidates in testing at once")
    candidate_traffic: float = Field(
        default=0.5, gt=0.0, lt=1.0, description="share of traffic the candidates get together"
    )
    as_of: AwareDatetime | None = Field(
        default=None, description="end of the collection window (default: the database's now())"
    )
    actor: str = Field(default="feedback-loop", min_length=1, description="who the audit log names")

    @field_validator("pattern_id")
    @classmethod
    def _no_blank_pattern(cls, value: str) -> str:
        if not value.strip() or "@" in value:
            raise ValueError("pattern_id must be a non-blank name without '@'")
        return value

    @field_validator("feedback_type", mode="before")
    @classmethod
    def _known_feedback_type(cls, value: object) -> object:
        allowed = [t.value for t in EnumFeedbackType]
        if isinstance(value, str) and value not in allowed:
            raise ValueError(f"unknown feedback_type {value!r}: use one of {', '.join(allowed)}")
        return value

    @property
    def monitor_only(self) -> bool:
        """Observe and report, change nothing (no candidates, no decisions)."""
        return not self.enable_ab_testing or self.auto_apply_threshold >= 1.0

    def window_end(self, now: datetime) -> datetime:
        return self.as_of or now
