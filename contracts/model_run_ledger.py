"""Contracts of the run ledger: opening an attempt of a run, and closing it."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from contracts.model_feedback_loop_output import ModelFeedbackLoopOutput

_FROZEN = ConfigDict(extra="forbid", frozen=True)


class ModelRunOpened(BaseModel):
    """Either a new attempt to run, or the recorded result of a succeeded one to replay."""

    model_config = _FROZEN

    correlation_id: UUID
    attempt: int = Field(ge=1)
    replay: ModelFeedbackLoopOutput | None = None
    abandoned: int = Field(default=0, ge=0, description="dead sessions' runs marked abandoned")


class ModelRunClose(BaseModel):
    model_config = _FROZEN

    correlation_id: UUID
    attempt: int = Field(ge=1)
    succeeded: bool
    stages: dict[str, Any]
    output: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
