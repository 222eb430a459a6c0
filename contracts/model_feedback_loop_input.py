"""What one loop run is asked to do. The original API's fields and defaults are kept.

``ModelFeedbackLoopInput.preset(name, pattern_id, **overrides)`` starts from one of the usage
profiles in ``PRESETS`` instead of the defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Self
from uuid import UUID, uuid4

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from contracts.enum_loop import EnumFeedbackType

_PROFILES: dict[str, dict[str, Any]] = {
    # A month of data, big samples, p < 0.01; confidence is capped at 0.99, so a threshold of
    # 0.99 sends every significant win to a person (approve / reject).
    "conservative": {
        "time_window_days": 30,
        "auto_apply_threshold": 0.99,
        "min_sample_size": 100,
        "significance_level": 0.01,
    },
    # Fast iteration: three days, small samples, p < 0.10.
    "aggressive": {
        "time_window_days": 3,
        "auto_apply_threshold": 0.85,
        "min_sample_size": 20,
        "significance_level": 0.10,
    },
    # Judge candidates on the quality score rather than latency.
    "quality": {
        "feedback_type": EnumFeedbackType.QUALITY,
        "time_window_days": 14,
        "auto_apply_threshold": 0.90,
        "min_sample_size": 50,
    },
    # Observe and report, change nothing.
    "monitor-only": {"enable_ab_testing": False, "auto_apply_threshold": 1.0},
}

PRESETS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {name: MappingProxyType(values) for name, values in _PROFILES.items()}
)
"""Usage profile name -> the input fields it sets (the rest keep their defaults)."""


class ModelFeedbackLoopInput(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    pattern_id: str = Field(min_length=1, max_length=200, description="pattern to improve")
    feedback_type: EnumFeedbackType = EnumFeedbackType.PERFORMANCE
    time_window_days: int = Field(
        default=7,
        ge=1,
        le=3650,
        description="days of executions the analysis reads, up to as_of, from the whole UTC "
        "hour the first day starts in",
    )
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

    @classmethod
    def preset(cls, name: str, pattern_id: str, **overrides: Any) -> Self:
        """The ``PRESETS[name]`` profile for ``pattern_id``; ``overrides`` win over it."""
        try:
            values = PRESETS[name]
        except KeyError:
            raise ValueError(f"unknown preset {name!r}: use one of {', '.join(PRESETS)}") from None
        return cls(**{**values, **overrides}, pattern_id=pattern_id)

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
