"""Contracts of the ingestion effect node."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DuplicatePolicy = Literal["error", "skip"]


class ModelIngestResult(BaseModel):
    """What a batch did: every row stored, or (on ``skip``) stored plus already-present ones."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    received: int = Field(ge=0)
    inserted: int = Field(ge=0)
    skipped_duplicates: int = Field(ge=0)
