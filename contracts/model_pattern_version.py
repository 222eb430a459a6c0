"""An immutable config of a pattern, identified as ``<pattern_id>@<major.minor.patch>``."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from contracts.enum_version_status import EnumVersionStatus
from contracts.model_execution_record import PatternId

SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")


def make_version_id(pattern_id: str, version: str) -> str:
    return f"{pattern_id}@{version}"


def bump_minor(version: str) -> str:
    """The version number the next config of a pattern gets: ``1.4.2`` -> ``1.5.0``."""
    major, minor, _ = (int(part) for part in version.split("."))
    return f"{major}.{minor + 1}.0"


class ModelPatternVersion(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    pattern_id: PatternId
    version: str
    status: EnumVersionStatus
    config: dict[str, Any]
    traffic_weight: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    metrics: dict[str, Any] = Field(default_factory=dict)
    correlation_id: UUID | None = None
    created_at: datetime | None = None

    @field_validator("version")
    @classmethod
    def _semver(cls, value: str) -> str:
        if not SEMVER.match(value):
            raise ValueError(f"version must look like 1.4.0 (major.minor.patch), got {value!r}")
        return value

    @property
    def version_id(self) -> str:
        return make_version_id(self.pattern_id, self.version)

    @property
    def semver(self) -> tuple[int, int, int]:
        major, minor, patch = (int(part) for part in self.version.split("."))
        return major, minor, patch
