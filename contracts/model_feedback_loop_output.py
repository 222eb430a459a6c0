"""What one loop run did. The original API's fields are kept; the ids of what it touched are added.

``workflow_stages`` keeps the original shape, stage name -> ``"completed"`` | ``"skipped"`` |
``"failed"``.
How each stage went in detail (reason, duration) is in ``stage_details``. Records stored before
the two were split held the reports in ``workflow_stages``; they still validate (the reports
move to ``stage_details`` and ``workflow_stages`` gets their status).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any
from uuid import UUID

from pydantic import (
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from contracts.enum_loop import EnumStageStatus
from contracts.model_stage_report import ModelStageReport
from contracts.model_subscriptable import ModelSubscriptable

_STATUSES = frozenset(s.value for s in EnumStageStatus)


class ModelFeedbackLoopOutput(ModelSubscriptable):
    """``output.improvements_applied``, or by key as dict-based callers wrote it:
    ``output["improvements_applied"]``.

    ``model_copy(update=...)`` skips validation, so a copy given stage reports in
    ``workflow_stages`` is brought to the current shape when it is put into another model
    (``revalidate_instances``) and when it is serialized.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, revalidate_instances="always")

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
    workflow_stages: dict[str, str] = Field(
        description="stage name -> completed | skipped | failed, in the order the stages ran"
    )
    stage_details: dict[str, ModelStageReport] = Field(
        default_factory=dict, description="stage name -> status, reason and duration"
    )
    active_version_id: str | None = None
    versions_created: list[str] = Field(default_factory=list)
    versions_touched: list[str] = Field(default_factory=list)
    improvements_touched: list[UUID] = Field(default_factory=list)
    monitor_only: bool = False
    replayed: bool = Field(default=False, description="true when this is a recorded result")

    @model_validator(mode="before")
    @classmethod
    def _reports_to_stage_details(cls, data: Any) -> Any:
        """Stage reports (objects or dicts) given in ``workflow_stages`` move to
        ``stage_details``; ``workflow_stages`` keeps their status."""
        if not isinstance(data, Mapping) or not isinstance(data.get("workflow_stages"), Mapping):
            return data
        stages: dict[str, Any] = {}
        details = dict(data.get("stage_details") or {})
        for name, value in data["workflow_stages"].items():
            if isinstance(value, ModelStageReport):
                details[name], value = value, value.status
            elif isinstance(value, Mapping):
                details[name], value = value, value.get("status")
            stages[name] = value.value if isinstance(value, Enum) else value
        return {**data, "workflow_stages": stages, "stage_details": details}

    @field_validator("workflow_stages")
    @classmethod
    def _known_statuses(cls, stages: dict[str, str]) -> dict[str, str]:
        for name, status in stages.items():
            if status not in _STATUSES:
                raise ValueError(
                    f"stage {name!r}: unknown status {status!r}; use one of "
                    f"{', '.join(sorted(_STATUSES))}"
                )
        return stages

    @model_validator(mode="after")
    def _details_match_stages(self) -> ModelFeedbackLoopOutput:
        for name, report in self.stage_details.items():
            status = self.workflow_stages.get(name)
            if status != report.status.value:
                raise ValueError(
                    f"stage_details[{name!r}] is {report.status.value!r} but workflow_stages "
                    f"says {status!r}"
                )
        return self

    @model_serializer(mode="wrap")
    def _serialize_current_shape(self, handler: SerializerFunctionWrapHandler) -> Any:
        if all(isinstance(status, str) for status in self.workflow_stages.values()):
            return handler(self)
        return handler(type(self).model_validate(dict(self)))
