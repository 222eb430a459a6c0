"""The orchestrator's envelope: a result or a clear error, never an exception."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from contracts.model_feedback_loop_output import ModelFeedbackLoopOutput


class ModelResult(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    success: bool
    data: ModelFeedbackLoopOutput | None = None
    error: dict[str, Any] | None = None
