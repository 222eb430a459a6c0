"""Contracts of exposure recording (what assign() saw) and of the checks built on it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

_FROZEN = ConfigDict(extra="forbid", frozen=True)


class ModelExposureFlush(BaseModel):
    model_config = _FROZEN

    reason: str = Field(default="interval", description="why now: interval, full, close")


class ModelExposureFlushed(BaseModel):
    model_config = _FROZEN

    units: int = Field(ge=0, description="first exposures written (before deduplication)")
    buckets: int = Field(ge=0, description="call-count buckets written")


class ModelArmExposure(BaseModel):
    """One arm over the experiment's closed exposure window."""

    model_config = _FROZEN

    version_id: str
    units: int = Field(ge=0, description="distinct units first exposed under the current split")
    calls: int = Field(ge=0, description="assign calls")
    executions: int = Field(ge=0, description="logged executions in the same period")


class ModelExposureWindow(BaseModel):
    """What the sample-ratio and completeness checks compare, for control and candidate."""

    model_config = _FROZEN

    control: ModelArmExposure
    candidate: ModelArmExposure
