"""Contract of registering a pattern: its first config becomes version 1.0.0, active."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from contracts.model_execution_record import PatternId


class ModelRegisterInput(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    pattern_id: PatternId
    config: dict[str, Any]
    actor: str = Field(default="feedback-loop", min_length=1)
