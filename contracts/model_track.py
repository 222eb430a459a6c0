"""Contracts of the track effect node: the window's numbers as each version's snapshot."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, ConfigDict

from contracts.model_pattern_feedback import ModelArmStats

_FROZEN = ConfigDict(extra="forbid", frozen=True)


class ModelTrackInput(BaseModel):
    model_config = _FROZEN

    correlation_id: UUID
    stats: list[ModelArmStats]
    version_ids: list[str]  # the pattern's versions; stats of unknown ids are ignored


class ModelTrackOutput(BaseModel):
    model_config = _FROZEN

    versions_updated: list[str]
