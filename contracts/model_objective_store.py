"""Contracts of the objective store: set a pattern's objective (a new version), read it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from contracts.model_objective import ModelObjective

_FROZEN = ConfigDict(extra="forbid", frozen=True)


class ModelObjectiveSetInput(BaseModel):
    model_config = _FROZEN

    objective: ModelObjective = Field(description="its version is assigned by the store")
    actor: str = Field(min_length=1)
    reason: str = Field(default="objective changed", min_length=1)


class ModelObjectiveSetOutput(BaseModel):
    model_config = _FROZEN

    objective: ModelObjective
    changed: bool = Field(description="False when the objective was already this one")
