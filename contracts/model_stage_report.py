"""How one stage of a run went, as reported in ``workflow_stages``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from contracts.enum_loop import EnumStageStatus


class ModelStageReport(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    status: EnumStageStatus
    reason: str = ""
    duration_ms: float = Field(default=0.0, ge=0)
