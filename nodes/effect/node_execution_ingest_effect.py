"""Bulk ingestion of executions: every row validated, then one COPY in one transaction.

Validation and COPY are pipelined in chunks: while PostgreSQL inserts chunk k (in its own
process, on the other core) Python validates chunk k+1. A bad row anywhere aborts the COPY and
rolls the transaction back, so a batch is still stored whole or not at all.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any
from uuid import UUID

import asyncpg
import structlog
from pydantic import ValidationError

from contracts.enum_error_code import EnumErrorCode
from contracts.model_execution_record import EXECUTION_RECORDS, ModelExecutionRecord
from contracts.model_ingest import DuplicatePolicy, ModelIngestResult
from contracts.model_onex_error import ModelOnexError
from nodes.storage import sql_executions

log = structlog.get_logger(__name__)

CHUNK_ROWS = 10_000
_MAX_ERRORS_SHOWN = 5

Row = Mapping[str, Any]


def _row_name(index: int, row_names: Sequence[str] | None) -> str:
    return row_names[index] if row_names is not None else f"row {index + 1}"


class _BatchValidator:
    """Validates a batch chunk by chunk, remembering ids to catch repeats across chunks."""

    def __init__(self, row_names: Sequence[str] | None) -> None:
        self._row_names = row_names
        self._first_seen: dict[UUID, int] = {}

    def name(self, index: int) -> str:
        return _row_name(index, self._row_names)

    def validate(self, rows: Sequence[Row], offset: int) -> list[ModelExecutionRecord]:
        try:
            records = EXECUTION_RECORDS.validate_python(rows)
        except ValidationError as exc:
            raise self._invalid(exc, offset) from None
        for index, record in enumerate(records, start=offset):
            earlier = self._first_seen.setdefault(record["execution_id"], index)
            if earlier != index:
                raise ModelOnexError(
                    EnumErrorCode.DUPLICATE,
                    f"batch rejected, nothing stored: {self.name(index)}: execution_id "
                    f"{record['execution_id']} repeats {self.name(earlier)}",
                    details={"row": index + 1, "field": "execution_id"},
                )
        return records

    def _invalid(self, exc: ValidationError, offset: int) -> ModelOnexError:
        problems = []
        for err in exc.errors():
            position, *field = err["loc"]
            index = offset + int(position)
            where = ".".join(str(part) for part in field) or "row"
            problems.append(
                {
                    "row": index + 1,
                    "field": where,
                    "message": err["msg"],
                    "text": f"{self.name(index)}: {where}: {err['msg']}",
                }
            )
        shown = "; ".join(str(p["text"]) for p in problems[:_MAX_ERRORS_SHOWN])
        more = len(problems) - _MAX_ERRORS_SHOWN
        return ModelOnexError(
            EnumErrorCode.INVALID_INPUT,
            f"batch rejected, nothing stored: {shown}"
            + (f" (and {more} more)" if more > 0 else ""),
            details={"errors": problems},
        )


def validate_execution_rows(
    rows: Iterable[Row], *, row_names: Sequence[str] | None = None
) -> list[ModelExecutionRecord]:
    """All rows or none: the error names each bad row and field (the first few)."""
    items = rows if isinstance(rows, Sequence) else list(rows)
    return _BatchValidator(row_names).validate(items, 0)


def as_copy_tuple(r: ModelExecutionRecord) -> tuple[Any, ...]:
    get = r.get
    return (
        r["execution_id"],
        r["pattern_id"],
        get("version_id"),
        get("variant"),
        r["started_at"],
        r["duration_ms"],
        r["status"].value,
        get("quality_results", {}),
        get("performance_score"),
        get("error_message"),
        get("user_rating"),
        get("cost_usd"),
        get("metadata", {}),
    )


async def _validated_tuples(
    rows: Sequence[Row], validator: _BatchValidator
) -> AsyncIterator[tuple[Any, ...]]:
    for start in range(0, len(rows), CHUNK_ROWS):
        for record in validator.validate(rows[start : start + CHUNK_ROWS], start):
            yield as_copy_tuple(record)


class NodeExecutionIngestEffect:
    """Writes executions to ``hook_executions`` by COPY; a batch is stored whole or not at all."""

    async def ingest_executions(
        self,
        conn: asyncpg.Connection,
        rows: Iterable[Row],
        *,
        on_duplicate: DuplicatePolicy = "error",
        row_names: Sequence[str] | None = None,
    ) -> ModelIngestResult:
        """``on_duplicate="skip"`` makes re-ingesting the same rows an idempotent no-op."""
        if on_duplicate not in ("error", "skip"):
            raise ValueError(f"on_duplicate must be 'error' or 'skip', got {on_duplicate!r}")
        items = rows if isinstance(rows, Sequence) else list(rows)
        validator = _BatchValidator(row_names)
        try:
            async with conn.transaction():
                skip = on_duplicate == "skip"
                if skip:
                    await sql_executions.create_ingest_staging(conn)
                await sql_executions.copy_executions(
                    conn, _validated_tuples(items, validator), staging=skip
                )
                inserted = len(items)
                if skip:
                    inserted = await sql_executions.insert_staged_skipping_duplicates(conn)
        except asyncpg.UniqueViolationError:
            raise await self._already_stored(conn, items, validator) from None
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise ModelOnexError(
                EnumErrorCode.INVALID_INPUT, f"batch rejected, nothing stored: {exc}"
            ) from exc
        result = ModelIngestResult(
            received=len(items), inserted=inserted, skipped_duplicates=len(items) - inserted
        )
        log.info("executions_ingested", **result.model_dump())
        return result

    async def _already_stored(
        self, conn: asyncpg.Connection, items: Sequence[Row], validator: _BatchValidator
    ) -> ModelOnexError:
        position = {str(UUID(str(row["execution_id"]))): i for i, row in enumerate(items)}
        stored = await sql_executions.stored_execution_ids(conn, list(position), _MAX_ERRORS_SHOWN)
        rows = sorted(position[i] for i in stored)
        named = ", ".join(f"{validator.name(i)} ({items[i]['execution_id']})" for i in rows)
        return ModelOnexError(
            EnumErrorCode.DUPLICATE,
            f"batch rejected, nothing stored: execution_id already stored: {named}; "
            "use on_duplicate='skip' (CLI: --skip-duplicates) to ingest only the new rows",
            details={"field": "execution_id", "rows": [i + 1 for i in rows]},
        )
