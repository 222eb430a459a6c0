"""The orchestrator's envelope: a result or a clear error, never an exception."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict

from contracts.model_feedback_loop_output import ModelFeedbackLoopOutput
from contracts.model_subscriptable import ModelSubscriptable


class ModelResult(ModelSubscriptable):
    """``result.success`` or, as dict-based callers wrote, ``result["success"]``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    success: bool
    data: ModelFeedbackLoopOutput | None = None
    error: dict[str, Any] | None = None
