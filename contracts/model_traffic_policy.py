"""Contracts of the traffic policy: how a pattern's traffic is split over its versions."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

_FROZEN = ConfigDict(extra="forbid", frozen=True)


class ModelTrafficPolicyInput(BaseModel):
    model_config = _FROZEN

    active_version_id: str
    testing_version_ids: tuple[str, ...] = ()
    candidate_traffic: float = Field(gt=0, lt=1, description="share the candidates get together")
    holdback_version_ids: tuple[str, ...] = Field(
        default=(), description="previous versions watched after an apply"
    )
    holdback: float = Field(default=0.0, ge=0, lt=0.5, description="share of each holdback")


class ModelTrafficPolicyOutput(BaseModel):
    model_config = _FROZEN

    weights: dict[str, float] = Field(description="version id -> share; versions absent get 0")
