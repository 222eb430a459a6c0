"""Contracts of the applier effect node."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from contracts.model_validation import ModelValidationResult

_FROZEN = ConfigDict(extra="forbid", frozen=True)


class ModelApplyInput(BaseModel):
    model_config = _FROZEN

    pattern_id: str
    correlation_id: UUID
    actor: str
    candidate_traffic: float = Field(gt=0, lt=1)
    results: list[ModelValidationResult]


class ModelApplyOutput(BaseModel):
    model_config = _FROZEN

    applied: list[UUID] = Field(default_factory=list)
    validated: list[UUID] = Field(default_factory=list)
    rejected: list[UUID] = Field(default_factory=list)
    continuing: list[UUID] = Field(default_factory=list)
    versions_touched: list[str] = Field(default_factory=list)
    active_version_id: str | None = None
