"""Bulk ingestion of executions: every row validated, then COPY, all in one transaction.

Validation and COPY are pipelined in chunks, one COPY statement each: while PostgreSQL inserts
chunk k and runs its statement's trigger (in its own process, on the other core), a worker
thread validates chunk k+1 (and parses it, for a file read lazily). A bad row anywhere stops
the copying and rolls the transaction back, so a batch is still stored whole or not at all.

Beyond the row contract, a row must be usable by the loop: its pattern registered, its version
(when given) registered under that pattern, its values storable by PostgreSQL (no NUL, no lone
surrogate, JSON within the documented depth and size) and ``started_at`` no later than now plus
the documented clock skew. Every problem is named by row (``runs.csv:12: field: message``).
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from itertools import repeat
from operator import add, sub
from typing import Any, cast
from uuid import UUID

import asyncpg
import pydantic_core
import structlog
from pydantic import AwareDatetime, TypeAdapter, ValidationError

from contracts.enum_error_code import EnumErrorCode
from contracts.model_execution_record import (
    EARLIEST_STARTED_AT,
    EXECUTION_RECORDS,
    MAX_CLOCK_SKEW,
    MAX_JSON_BYTES,
    MAX_JSON_DEPTH,
    ModelExecutionRecord,
)
from contracts.model_ingest import DuplicatePolicy, ModelIngestResult
from contracts.model_onex_error import ModelOnexError
from nodes.effect.bulk_allocation import collector_paused
from nodes.effect.ingest_problems import MAX_PROBLEMS_SHOWN, ProblemLog, RowLocator, quote_value
from nodes.storage import sql_executions, sql_partitions
from nodes.storage.pool import EncodedJsonb
from nodes.storage.sql_partitions import Horizon

log = structlog.get_logger(__name__)

CHUNK_ROWS = 25_000
FIRST_CHUNK_ROWS = 5_000
"""The first chunk is small: PostgreSQL waits while it is validated, and starts sooner."""
_SKIP_ATTEMPTS = 3
_EMPTY: dict[str, Any] = {}
_EPOCH_UTC = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_PARSED: datetime = TypeAdapter(AwareDatetime).validate_json(b'"1970-01-01T00:00:00Z"')
"""The epoch with pydantic-core's own UTC ``tzinfo`` (one object, shared by every datetime it
parses with offset 0): see :func:`_standard_utc`."""
_SMALL_JSON = MAX_JSON_DEPTH * 2
"""JSON this short cannot nest deeper than the limit: most metadata skips the depth count."""
_COPY_LINE = re.compile(r"\bline (\d+)")
_COPY_COLUMN = re.compile(r"\bcolumn (\w+)")

Row = Mapping[str, Any]
Reference = tuple[str, str | None]


class _Rejected(Exception):
    """Raised inside the COPY stream so the driver aborts it; carries nothing, the log does."""


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(map(_has_nul, value))
    return False


def _brackets(encoded: bytes) -> int:
    """Opening brackets: an upper bound of the nesting depth, counted in C."""
    return encoded.count(b"{") + encoded.count(b"[")


def json_field_problem(value: Any) -> str | None:
    """Why PostgreSQL cannot store this JSON value, or ``None``."""
    try:
        encoded = pydantic_core.to_json(value)
    except pydantic_core.PydanticSerializationError as exc:
        if "surrogate" in str(exc):
            return "contains a lone surrogate (not valid Unicode)"
        return f"nested deeper than {MAX_JSON_DEPTH} levels"
    if len(encoded) > MAX_JSON_BYTES:
        return f"larger than {MAX_JSON_BYTES} bytes as JSON"
    if _brackets(encoded) > MAX_JSON_DEPTH and _depth(value) > MAX_JSON_DEPTH:
        return f"nested deeper than {MAX_JSON_DEPTH} levels"
    if b"\\u0000" in encoded and _has_nul(value):
        return "contains a NUL character (\\u0000), which PostgreSQL cannot store"
    return None


def _standard_utc(started: list[datetime]) -> list[datetime]:
    """The same instants with the standard library's UTC ``tzinfo``, for COPY.

    The driver's encoder compares each value with two naive datetimes and converts it to UTC,
    which asks its ``tzinfo`` for the offset each time: for pydantic-core's ``TzInfo`` a call
    into Rust that builds a ``timedelta``, ~11,000 instructions per value in all, ~7,000 with
    the standard UTC. Re-based here in C (an aware difference from an epoch with the same
    ``tzinfo`` needs no offset, then added to the standard UTC epoch) costs ~1,300. Any other
    ``tzinfo`` still gives the same instant, by the offsets the subtraction then asks for.
    """
    return list(map(add, repeat(_EPOCH_UTC), map(sub, started, repeat(_EPOCH_PARSED))))


def _contract_message(field: str | None, err: Any) -> str:
    """pydantic's message, except where its wording would puzzle a user."""
    if err["type"] == "string_pattern_mismatch":
        if "\x00" in str(err.get("input", "")):
            return "contains a NUL character, which PostgreSQL cannot store"
        if field == "pattern_id":
            return f"{quote_value(err.get('input'))} is not a pattern id (no '@', no whitespace)"
    return str(err["msg"])


class _BatchValidator:
    """Validates a batch chunk by chunk into COPY tuples; every problem goes to ``problems``.

    The checks beyond the row contract run column by column over a whole chunk with C-level
    operations (``map``, ``min``/``max``, ``in`` on one joined buffer); only a chunk that
    trips one is walked row by row to name the rows. That keeps validation off the critical
    path of the COPY it overlaps with (bench/ingest.py).

    Remembers ids across chunks (to catch repeats) and the (pattern, version) pairs seen (for
    the registry check that follows the COPY).
    """

    def __init__(
        self,
        locator: RowLocator,
        problems: ProblemLog,
        now: datetime,
        validated: bool = False,
        horizon: Horizon | None = None,
    ) -> None:
        """``validated``: the rows are records of the contract already (the JSONL fast path
        parsed and validated them in one pass), so only the checks beyond it run.
        ``horizon``: the oldest ``started_at`` the database keeps (its retention)."""
        self.locator = locator
        self.validated = validated
        self.problems = problems
        self.references: set[Reference] = set()
        self._first_seen: dict[int, int] = {}
        self._latest = now + MAX_CLOCK_SKEW
        self._horizon = horizon
        self._earliest = max(EARLIEST_STARTED_AT, horizon.at if horizon else EARLIEST_STARTED_AT)

    def restart(self) -> None:
        """Forget the rows seen, to validate the same batch again (a retried transaction)."""
        self.references.clear()
        self._first_seen.clear()

    def _problem(self, index: int, field: str | None, message: str) -> None:
        self.problems.add_row(self.locator, index, field, message)

    def validate(self, rows: Sequence[Row], offset: int) -> list[tuple[Any, ...]]:
        """COPY tuples of the chunk's rows; ``[]`` (with the problems logged) if any is bad."""
        positions: Sequence[int] = range(offset, offset + len(rows))
        try:
            records = (
                cast("list[ModelExecutionRecord]", rows)
                if self.validated
                else EXECUTION_RECORDS.validate_python(rows)
            )
        except ValidationError as exc:
            bad = self._contract_problems(exc, offset)
            # Check the chunk's other rows too, so one report names every problem.
            positions = [offset + i for i in range(len(rows)) if offset + i not in bad]
            records = EXECUTION_RECORDS.validate_python([rows[i - offset] for i in positions])
        if not records:
            return []
        found = self.problems.total
        self._check_ids(positions, records)
        started = [r["started_at"] for r in records]
        if min(started) < self._earliest or max(started) > self._latest:
            self._check_times(positions, started)
        quality = self._check_json(
            positions, "quality_results", [r.get("quality_results", _EMPTY) for r in records]
        )
        metadata = self._check_json(
            positions, "metadata", [r.get("metadata", _EMPTY) for r in records]
        )
        if self.problems.total > found:
            return []
        patterns = [r["pattern_id"] for r in records]
        versions = [r.get("version_id") for r in records]
        self.references.update(zip(patterns, versions, strict=True))
        return list(
            zip(
                [r["execution_id"] for r in records],
                patterns,
                versions,
                [r.get("variant") for r in records],
                _standard_utc(started),
                [r["duration_ms"] for r in records],
                # The member itself: a StrEnum is the text the column stores.
                [r["status"] for r in records],
                quality,
                [r.get("performance_score") for r in records],
                [r.get("error_message") for r in records],
                [r.get("user_rating") for r in records],
                [r.get("cost_usd") for r in records],
                metadata,
                strict=True,
            )
        )

    def _contract_problems(self, exc: ValidationError, offset: int) -> set[int]:
        bad: set[int] = set()
        for err in exc.errors(include_url=False):
            position, *field = err["loc"]
            index = offset + int(position)
            bad.add(index)
            where = ".".join(str(part) for part in field) or None
            self._problem(index, where, _contract_message(where, err))
        return bad

    def _check_ids(self, positions: Sequence[int], records: list[ModelExecutionRecord]) -> None:
        keys = [r["execution_id"].int for r in records]
        first_seen = self._first_seen
        before = len(first_seen)
        # Reversed, so the first occurrence in the chunk wins.
        first_seen.update(zip(reversed(keys), reversed(positions), strict=True))
        if len(first_seen) - before == len(keys):
            return
        # A repeat (inside the chunk or of an earlier one): name each later occurrence.
        for index, key, record in zip(positions, keys, records, strict=True):
            earlier = first_seen[key]
            if earlier < index:
                self._problem(
                    index,
                    "execution_id",
                    f"{record['execution_id']} repeats {self.locator.name(earlier)}",
                )
            elif earlier > index:  # an earlier chunk's row was overwritten by this one
                first_seen[key] = index

    def _check_times(self, positions: Sequence[int], started: list[datetime]) -> None:
        minutes = int(MAX_CLOCK_SKEW.total_seconds() // 60)
        for index, at in zip(positions, started, strict=True):
            if not EARLIEST_STARTED_AT <= at <= self._latest:
                self._problem(
                    index,
                    "started_at",
                    f"{at.isoformat()} is outside {EARLIEST_STARTED_AT.date()} .. now + "
                    f"{minutes} min",
                )
            elif self._horizon is not None and at < self._horizon.at:
                self._problem(
                    index,
                    "started_at",
                    f"{at.isoformat()} is older than the database keeps ({self._horizon.reason}; "
                    "feedback-loop db retention)",
                )

    def _check_json(self, positions: Sequence[int], field: str, values: list[Any]) -> list[Any]:
        """Size, depth, NUL and encodability of one JSON column, chunk-wide first. Returns
        the column for COPY: the JSON text as encoded here (not encoded a second time by the
        driver), or the values when a problem was found."""
        try:
            encoded = list(map(pydantic_core.to_json, values))
        except pydantic_core.PydanticSerializationError:
            encoded = []
        if encoded and b"\\u0000" not in b"".join(encoded):
            longest = max(map(len, encoded))
            if longest <= _SMALL_JSON or (
                longest <= MAX_JSON_BYTES and max(map(_brackets, encoded)) <= MAX_JSON_DEPTH
            ):
                return list(map(EncodedJsonb, encoded))
        for index, value in zip(positions, values, strict=True):
            problem = json_field_problem(value)
            if problem is not None:
                self._problem(index, field, problem)
        return values


def validate_execution_rows(
    rows: Iterable[Row], *, locator: RowLocator | None = None
) -> list[tuple[Any, ...]]:
    """COPY tuples of all rows, or a rejection naming each bad row and field (no database)."""
    items = rows if isinstance(rows, Sequence) else list(rows)
    locator = locator or RowLocator()
    problems = ProblemLog(locator.source)
    tuples = _BatchValidator(locator, problems, datetime.now(UTC)).validate(items, 0)
    if problems:
        raise problems.rejection()
    return tuples


async def _copy_chunks(
    conn: asyncpg.Connection, rows: Sequence[Row], validator: _BatchValidator, *, staging: bool
) -> None:
    """One COPY statement per chunk, the next chunk validated in a worker thread while
    PostgreSQL runs this chunk's statement trigger (the ids and the hour buckets): Python
    validates on one core while the server aggregates on the other. The thread starts once
    this chunk's rows are all encoded: started with the COPY, it competed with the encoding
    for the interpreter lock while the rows streamed, then sat idle through the trigger. A
    bad row stops the copying; the rest is still validated, so the report names every
    problem."""

    def validate(start: int) -> tuple[list[tuple[Any, ...]], bool]:
        """The chunk's tuples, and whether a problem was found so far (read here, in the
        thread that adds them, not while the next chunk's thread may be adding more)."""
        with collector_paused():
            tuples = validator.validate(rows[start : stops[start]], start)
        return tuples, bool(validator.problems)

    if not rows:
        return
    starts = [0, *range(FIRST_CHUNK_ROWS, len(rows), CHUNK_ROWS)]
    stops = dict(zip(starts, [*starts[1:], len(rows)], strict=True))
    validated = await asyncio.to_thread(validate, 0)
    for k, start in enumerate(starts):
        tuples, rejected = validated
        following = starts[k + 1] if k + 1 < len(starts) else None
        pending: asyncio.Future[tuple[list[tuple[Any, ...]], bool]] | None = None

        def then_validate_following(
            chunk: list[tuple[Any, ...]], following: int | None = following
        ) -> Iterator[tuple[Any, ...]]:
            nonlocal pending
            yield from chunk
            if following is not None:
                pending = asyncio.ensure_future(asyncio.to_thread(validate, following))

        try:
            if rejected:  # a bad row in this chunk or before (its problems are logged)
                raise _Rejected
            await sql_executions.copy_executions(
                conn, then_validate_following(tuples), staging=staging
            )
        except (_Rejected, asyncpg.PostgresError) as exc:
            if pending is not None:
                await pending  # the thread must not outlive the batch it validates
            if isinstance(exc, _Rejected):
                for rest in starts[k + 1 if pending is None else k + 2 :]:
                    validate(rest)
                raise
            if isinstance(exc, asyncpg.UniqueViolationError):
                raise  # an id stored before: found by id, not by line
            if isinstance(exc, (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError)):
                raise _ChunkRefusedError(exc, start) from exc
            raise
        if pending is not None:
            validated = await pending


class _ChunkRefusedError(Exception):
    """PostgreSQL refused a row of the chunk starting at ``offset`` (its COPY names the line
    within the chunk)."""

    def __init__(self, error: asyncpg.PostgresError, offset: int) -> None:
        super().__init__(str(error))
        self.error = error
        self.offset = offset


class NodeExecutionIngestEffect:
    """Writes executions to ``hook_executions`` by COPY; a batch is stored whole or not at all."""

    async def ingest_executions(
        self,
        conn: asyncpg.Connection,
        rows: Iterable[Row],
        *,
        on_duplicate: DuplicatePolicy = "error",
        allow_unregistered: bool = False,
        locator: RowLocator | None = None,
        problems: ProblemLog | None = None,
        validated: bool = False,
    ) -> ModelIngestResult:
        """``on_duplicate="skip"`` makes re-ingesting the same rows an idempotent no-op.

        ``problems`` carries what an earlier stage (the file reader) found: the rows are then
        only validated, so the one report lists every problem, and nothing is written.
        ``validated`` says the rows are records of the contract already (the file reader's
        one-pass JSONL path), which skips validating them a second time.
        """
        if on_duplicate not in ("error", "skip"):
            raise ValueError(f"on_duplicate must be 'error' or 'skip', got {on_duplicate!r}")
        items = rows if isinstance(rows, Sequence) else list(rows)
        locator = locator or RowLocator()
        problems = problems if problems is not None else ProblemLog(locator.source)
        # The partitions from the horizon on exist: the runtime makes them once a day, and
        # retention when it changes the horizon.
        horizon = await sql_partitions.horizon(conn)
        validator = _BatchValidator(locator, problems, datetime.now(UTC), validated, horizon)
        if problems:
            validator.validate(items, 0)
            raise problems.rejection()
        try:
            inserted = await self._store(conn, items, validator, on_duplicate, allow_unregistered)
        except _Rejected:
            raise problems.rejection() from None
        except asyncpg.UniqueViolationError:
            raise await self._already_stored(conn, items, locator) from None
        except _ChunkRefusedError as exc:
            raise self._database_rejection(exc.error, exc.offset, locator, problems) from None
        except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError) as exc:
            raise self._database_rejection(exc, 0, locator, problems) from None
        result = ModelIngestResult(
            received=len(items), inserted=inserted, skipped_duplicates=len(items) - inserted
        )
        log.info("executions_ingested", **result.model_dump())
        return result

    async def _store(
        self,
        conn: asyncpg.Connection,
        items: Sequence[Row],
        validator: _BatchValidator,
        on_duplicate: DuplicatePolicy,
        allow_unregistered: bool,
    ) -> int:
        """One transaction. Skipping duplicates, a concurrent batch may store one of our ids
        between our check and our insert: the insert then fails on the id's key and the whole
        transaction is tried again, now seeing that row (at most ``_SKIP_ATTEMPTS`` times)."""
        retries = _SKIP_ATTEMPTS - 1 if on_duplicate == "skip" else 0
        for _ in range(retries):
            try:
                return await self._store_once(
                    conn, items, validator, on_duplicate, allow_unregistered
                )
            except asyncpg.UniqueViolationError:
                validator.restart()
        return await self._store_once(conn, items, validator, on_duplicate, allow_unregistered)

    async def _store_once(
        self,
        conn: asyncpg.Connection,
        items: Sequence[Row],
        validator: _BatchValidator,
        on_duplicate: DuplicatePolicy,
        allow_unregistered: bool,
    ) -> int:
        async with conn.transaction():
            inserted = await self._copy(conn, items, validator, on_duplicate)
            if not allow_unregistered:
                await self._check_registry(conn, items, validator)
        return inserted

    async def _copy(
        self,
        conn: asyncpg.Connection,
        items: Sequence[Row],
        validator: _BatchValidator,
        on_duplicate: DuplicatePolicy,
    ) -> int:
        skip = on_duplicate == "skip"
        if skip:
            await sql_executions.create_ingest_staging(conn)
        await _copy_chunks(conn, items, validator, staging=skip)
        if skip:
            return await sql_executions.insert_staged_skipping_duplicates(conn)
        return len(items)

    async def _check_registry(
        self, conn: asyncpg.Connection, items: Sequence[Row], validator: _BatchValidator
    ) -> None:
        """Rows the loop could never read: an unknown pattern or version, or a version of
        another pattern. Checked after the COPY, in its transaction, so the rows stream."""
        references = validator.references
        patterns, versions = await sql_executions.known_references(
            conn,
            sorted({pattern for pattern, _ in references}),
            sorted({version for _, version in references if version is not None}),
        )
        wrong: dict[Reference, tuple[str, str]] = {}
        for pattern, version in references:
            if pattern not in patterns:
                wrong[pattern, version] = (
                    "pattern_id",
                    f"pattern {pattern!r} is not registered (feedback-loop register, or "
                    "--allow-unregistered)",
                )
            elif version is not None and version not in versions:
                wrong[pattern, version] = ("version_id", f"version {version!r} is not registered")
            elif version is not None and versions[version] != pattern:
                wrong[pattern, version] = (
                    "version_id",
                    f"version {version!r} belongs to pattern {versions[version]!r}, "
                    f"not {pattern!r}",
                )
        if not wrong:
            return
        first: dict[Reference, int] = {}
        rows_of: Counter[Reference] = Counter()
        for index, row in enumerate(items):
            key = (row["pattern_id"], row.get("version_id"))
            if key in wrong:
                first.setdefault(key, index)
                rows_of[key] += 1
        for key, (field, message) in wrong.items():
            more = f" ({rows_of[key]} rows)" if rows_of[key] > 1 else ""
            validator.problems.add_row(validator.locator, first[key], field, message + more)
        raise _Rejected

    async def _already_stored(
        self, conn: asyncpg.Connection, items: Sequence[Row], locator: RowLocator
    ) -> ModelOnexError:
        ids = [str(UUID(str(row["execution_id"]))) for row in items]
        positions, total = await sql_executions.stored_execution_ids(conn, ids, MAX_PROBLEMS_SHOWN)
        problems = ProblemLog(locator.source)
        for index in positions:
            problems.add_row(
                locator,
                index,
                "execution_id",
                f"{ids[index]} is already stored (--skip-duplicates ingests only new rows)",
            )
        problems.total = total
        return problems.rejection(EnumErrorCode.DUPLICATE)

    @staticmethod
    def _database_rejection(
        exc: asyncpg.PostgresError, offset: int, locator: RowLocator, problems: ProblemLog
    ) -> ModelOnexError:
        """A row the database refused that validation let through: named by COPY's line."""
        context = getattr(exc, "context", None) or ""
        line = _COPY_LINE.search(context)
        column = _COPY_COLUMN.search(context)
        message = f"database refused it: {exc.args[0] if exc.args else exc}"
        if line is not None:
            index = offset + int(line.group(1)) - 1
            problems.add_row(locator, index, column.group(1) if column else None, message)
        else:
            problems.add(0, locator.source, None, message)
        return problems.rejection()
