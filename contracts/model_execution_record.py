"""One execution row as it enters ``hook_executions``: validated before anything is stored.

A pydantic-validated ``TypedDict`` rather than a ``BaseModel``: ingestion validates hundreds of
thousands of rows per batch and building model instances costs ~3x more than validating into
plain dicts (bench/ingest.py). The constraints mirror the table's CHECKs, so a bad row is
named here, not by a failed COPY.

Numbers are strict: a boolean is not a rating and ``"12.5"`` is not a duration. A hook that
writes strings where numbers belong has a bug the loop should not paper over; CSV files are
converted column by column by a declared schema before they get here.

The limits below are part of the documented input contract (README, ``ingest --help``): they
keep one malformed export from filling the table with values the loop can never use.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final, NotRequired
from uuid import UUID

from pydantic import AwareDatetime, ConfigDict, Field, TypeAdapter
from typing_extensions import TypedDict

from contracts.enum_execution_status import EnumExecutionStatus

MAX_ID_CHARS: Final = 200
"""pattern_id, version_id and variant: the register command's limit."""
MAX_ERROR_MESSAGE_CHARS: Final = 65_536
"""A stack trace fits; a 30 MB blob does not."""
MAX_JSON_BYTES: Final = 65_536
"""metadata and quality_results, each, as stored JSON."""
MAX_JSON_DEPTH: Final = 32
"""Nesting of metadata and quality_results (an object holding an object is depth 2)."""
MAX_ROW_BYTES: Final = 1_048_576
"""One JSONL line or one CSV record in a file."""
EARLIEST_STARTED_AT: Final = datetime(1970, 1, 1, tzinfo=UTC)
MAX_CLOCK_SKEW: Final = timedelta(minutes=5)
"""How far in the future ``started_at`` may lie: clocks of hosts disagree a little."""

PATTERN_ID_PATTERN: Final = r"^[^@\s\x00]+$"
"""What a pattern id may hold: no ``@`` (it separates pattern and version), no whitespace;
and no NUL, which PostgreSQL's text type cannot store (nor can any of the text columns)."""
NO_NUL: Final = r"^[^\x00]*$"

PatternId = Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS, pattern=PATTERN_ID_PATTERN)]
"""A pattern id wherever one enters (an execution row, register, rollback, a stored version,
the CLI's arguments): one rule, so an id one of them accepts is one the others accept."""

StrictFinite = Annotated[float, Field(strict=True, allow_inf_nan=False)]


class ModelQualityResults(TypedDict, total=False):
    """Free-form quality results; only ``score`` has a meaning to the loop."""

    __pydantic_config__ = ConfigDict(extra="allow")  # type: ignore[misc]

    score: Annotated[float | None, Field(ge=0, le=1, allow_inf_nan=False, strict=True)]


class ModelExecutionRecord(TypedDict):
    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

    execution_id: UUID
    pattern_id: PatternId
    version_id: NotRequired[
        Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS, pattern=NO_NUL)] | None
    ]
    variant: NotRequired[Annotated[str, Field(max_length=MAX_ID_CHARS, pattern=NO_NUL)] | None]
    started_at: AwareDatetime
    duration_ms: Annotated[float, Field(ge=0, strict=True, allow_inf_nan=False)]
    status: EnumExecutionStatus
    quality_results: NotRequired[ModelQualityResults]
    performance_score: NotRequired[StrictFinite | None]
    error_message: NotRequired[
        Annotated[str, Field(max_length=MAX_ERROR_MESSAGE_CHARS, pattern=NO_NUL)] | None
    ]
    user_rating: NotRequired[Annotated[int, Field(ge=1, le=5, strict=True)] | None]
    cost_usd: NotRequired[Annotated[float, Field(ge=0, strict=True, allow_inf_nan=False)] | None]
    metadata: NotRequired[dict[str, Any]]


EXECUTION_RECORDS: TypeAdapter[list[ModelExecutionRecord]] = TypeAdapter(list[ModelExecutionRecord])
