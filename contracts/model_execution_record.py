"""One execution row as it enters ``hook_executions``: validated before anything is stored.

A pydantic-validated ``TypedDict`` rather than a ``BaseModel``: ingestion validates hundreds of
thousands of rows per batch and building model instances costs ~3x more than validating into
plain dicts (bench/ingest.py). The constraints mirror the table's CHECKs, so a bad row is
named here, not by a failed COPY.
"""

from __future__ import annotations

from typing import Annotated, Any, NotRequired
from uuid import UUID

from pydantic import AwareDatetime, ConfigDict, Field, TypeAdapter
from typing_extensions import TypedDict

from contracts.enum_execution_status import EnumExecutionStatus

Finite = Annotated[float, Field(allow_inf_nan=False)]


class ModelQualityResults(TypedDict, total=False):
    """Free-form quality results; only ``score`` has a meaning to the loop."""

    __pydantic_config__ = ConfigDict(extra="allow")  # type: ignore[misc]

    score: Annotated[float | None, Field(ge=0, le=1, allow_inf_nan=False, strict=True)]


class ModelExecutionRecord(TypedDict):
    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

    execution_id: UUID
    pattern_id: Annotated[str, Field(min_length=1, max_length=200)]
    version_id: NotRequired[Annotated[str, Field(min_length=1)] | None]
    variant: NotRequired[str | None]
    started_at: AwareDatetime
    duration_ms: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    status: EnumExecutionStatus
    quality_results: NotRequired[ModelQualityResults]
    performance_score: NotRequired[Finite | None]
    error_message: NotRequired[str | None]
    user_rating: NotRequired[Annotated[int, Field(ge=1, le=5)] | None]
    cost_usd: NotRequired[Annotated[float, Field(ge=0, allow_inf_nan=False)] | None]
    metadata: NotRequired[dict[str, Any]]


EXECUTION_RECORDS: TypeAdapter[list[ModelExecutionRecord]] = TypeAdapter(list[ModelExecutionRecord])
