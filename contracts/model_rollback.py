"""Contracts of rollback: restore an older config of a pattern as a new active version."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from contracts.model_execution_record import PatternId
from contracts.model_pattern_version import ModelPatternVersion


class ModelRollbackInput(BaseModel):
    """Restore ``pattern_id@to_version``'s config as the pattern's new active version."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pattern_id: PatternId
    to_version: str = Field(min_length=1, description="semver of the version to restore")
    actor: str = Field(min_length=1)
    reason: str = Field(min_length=1)
    correlation_id: UUID | None = None


class ModelRollbackOutput(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: ModelPatternVersion = Field(description="the new active version")
    restored_from: str
    archived: str | None = Field(description="the version that was active before, if any")
    retired_improvements: list[UUID] = Field(
        description="open improvements rejected as superseded (tested against the old control)"
    )
    correlation_id: UUID
    changed: bool = Field(
        default=True,
        description="False: the active version already runs that config, so nothing was done "
        "(a retried or concurrent rollback is a no-op)",
    )
