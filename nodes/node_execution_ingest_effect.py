"""Bulk ingestion of executions: validate every row, then one COPY in one transaction."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import asyncpg
import structlog
from pydantic import TypeAdapter, ValidationError

from contracts.enum_error_code import EnumErrorCode
from contracts.model_execution_record import ModelExecutionRecord
from contracts.model_ingest import DuplicatePolicy, ModelIngestResult
from contracts.model_onex_error import ModelOnexError

log = structlog.get_logger(__name__)

EXECUTION_COLUMNS = (
    "execution_id",
    "pattern_id",
    "version_id",
    "variant",
    "started_at",
    "duration_ms",
    "status",
    "quality_results",
    "performance_score",
    "error_message",
    "user_rating",
    "cost_usd",
    "metadata",
)
_MAX_ERRORS_SHOWN = 5
_ROWS = TypeAdapter(list[ModelExecutionRecord])


def _row_name(index: int, row_names: Sequence[str] | None) -> str:
    return row_names[index] if row_names is not None else f"row {index + 1}"


def validate_execution_rows(
    rows: Iterable[Mapping[str, Any] | ModelExecutionRecord],
    *,
    row_names: Sequence[str] | None = None,
) -> list[ModelExecutionRecord]:
    """All rows or none: the error names each bad row and field (the first few)."""
    items = [r.model_dump() if isinstance(r, ModelExecutionRecord) else r for r in rows]
    try:
        records = _ROWS.validate_python(items)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            index, *field = err["loc"]
            assert isinstance(index, int)
            where = ".".join(str(part) for part in field) or "row"
            problems.append(
                {"row": index + 1, "field": where, "message": err["msg"],
                 "text": f"{_row_name(index, row_names)}: {where}: {err['msg']}"}
            )
        shown = "; ".join(p["text"] for p in problems[:_MAX_ERRORS_SHOWN])
        more = len(problems) - _MAX_ERRORS_SHOWN
        raise ModelOnexError(
            EnumErrorCode.INVALID_INPUT,
            f"batch rejected, nothing stored: {shown}" + (f" (and {more} more)" if more > 0 else ""),
            details={"errors": problems},
        ) from None
    first_seen: dict[Any, int] = {}
    for index, record in enumerate(records):
        earlier = first_seen.setdefault(record.execution_id, index)
        if earlier != index:
            raise ModelOnexError(
                EnumErrorCode.DUPLICATE,
                f"batch rejected, nothing stored: {_row_name(index, row_names)}: execution_id "
                f"{record.execution_id} repeats {_row_name(earlier, row_names)}",
                details={"row": index + 1, "field": "execution_id"},
            )
    return records


def _as_tuple(record: ModelExecutionRecord) -> tuple[Any, ...]:
    return (
        record.execution_id,
        record.pattern_id,
        record.version_id,
        record.variant,
        record.started_at,
        record.duration_ms,
        record.status.value,
        record.quality_results,
        record.performance_score,
        record.error_message,
        record.user_rating,
        record.cost_usd,
        record.metadata,
    )


class NodeExecutionIngestEffect:
    """Writes executions to ``hook_executions`` by COPY; a batch is stored whole or not at all."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def ingest_executions(
        self,
        rows: Iterable[Mapping[str, Any] | ModelExecutionRecord],
        *,
        on_duplicate: DuplicatePolicy = "error",
        row_names: Sequence[str] | None = None,
    ) -> ModelIngestResult:
        """``on_duplicate="skip"`` makes re-ingesting the same rows an idempotent no-op."""
        if on_duplicate not in ("error", "skip"):
            raise ValueError(f"on_duplicate must be 'error' or 'skip', got {on_duplicate!r}")
        records = validate_execution_rows(rows, row_names=row_names)
        tuples = [_as_tuple(r) for r in records]
        async with self._pool.acquire() as conn:
            if on_duplicate == "skip":
                inserted = await self._copy_skipping_duplicates(conn, tuples)
            else:
                inserted = await self._copy_rejecting_duplicates(conn, tuples, records, row_names)
        result = ModelIngestResult(
            received=len(records), inserted=inserted, skipped_duplicates=len(records) - inserted
        )
        log.info("executions_ingested", **result.model_dump())
        return result

    async def _copy_rejecting_duplicates(
        self,
        conn: asyncpg.Connection,
        tuples: list[tuple[Any, ...]],
        records: list[ModelExecutionRecord],
        row_names: Sequence[str] | None,
    ) -> int:
        try:
            async with conn.transaction():
                await conn.copy_records_to_table(
                    "hook_executions", records=tuples, columns=EXECUTION_COLUMNS
                )
        except asyncpg.UniqueViolationError:
            ids = [r.execution_id for r in records]
            stored = await conn.fetch(
                "SELECT execution_id FROM hook_executions WHERE execution_id = ANY($1::uuid[]) "
                "LIMIT $2",
                ids,
                _MAX_ERRORS_SHOWN,
            )
            position = {eid: i for i, eid in enumerate(ids)}
            named = ", ".join(
                f"{_row_name(position[row['execution_id']], row_names)} "
                f"({row['execution_id']})"
                for row in stored
            )
            raise ModelOnexError(
                EnumErrorCode.DUPLICATE,
                f"batch rejected, nothing stored: execution_id already stored: {named}; "
                "use on_duplicate='skip' (CLI: --skip-duplicates) to ingest only the new rows",
                details={"field": "execution_id", "rows": [position[r["execution_id"]] + 1
                                                            for r in stored]},
            ) from None
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise ModelOnexError(
                EnumErrorCode.INVALID_INPUT, f"batch rejected, nothing stored: {exc}"
            ) from exc
        return len(tuples)

    async def _copy_skipping_duplicates(
        self, conn: asyncpg.Connection, tuples: list[tuple[Any, ...]]
    ) -> int:
        async with conn.transaction():
            await conn.execute(
                "CREATE TEMP TABLE ingest_staging (LIKE hook_executions INCLUDING DEFAULTS) "
                "ON COMMIT DROP"
            )
            await conn.copy_records_to_table(
                "ingest_staging", records=tuples, columns=EXECUTION_COLUMNS
            )
            status = await conn.execute(
                "INSERT INTO hook_executions SELECT * FROM ingest_staging "
                "ON CONFLICT (execution_id) DO NOTHING"
            )
        return int(status.split()[-1])
