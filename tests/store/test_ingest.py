"""Ingestion through COPY: all rows or none, bad rows named, duplicates never doubled."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from contracts.enum_error_code import EnumErrorCode
from contracts.model_execution_record import EXECUTION_RECORDS
from contracts.model_onex_error import ModelOnexError
from nodes.effect import execution_file_reader
from nodes.effect.execution_file_reader import read_execution_file
from nodes.effect.node_execution_ingest_effect import validate_execution_rows
from nodes.service import FeedbackLoopService
from tests.factories import execution_rows


async def _count(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM hook_executions"))


@pytest.fixture
async def service(pool: asyncpg.Pool) -> FeedbackLoopService:
    """A service whose database has the factories' pattern registered."""
    node = FeedbackLoopService(pool=pool)
    await node.register("api_debug", {"timeout_ms": 100})
    return node


async def test_valid_rows_are_stored_as_given(
    pool: asyncpg.Pool, service: FeedbackLoopService
) -> None:
    rows = execution_rows(50, seed=1)
    result = await service.ingest(rows)
    assert (result.received, result.inserted, result.skipped_duplicates) == (50, 50, 0)
    stored = await pool.fetchrow(
        "SELECT * FROM hook_executions WHERE execution_id = $1", rows[7]["execution_id"]
    )
    assert stored["duration_ms"] == pytest.approx(rows[7]["duration_ms"], rel=1e-12)
    assert stored["quality_results"] == rows[7]["quality_results"]
    assert stored["started_at"] == rows[7]["started_at"]
    assert stored["metadata"] == {"i": 7}
    statuses = await pool.fetch("SELECT DISTINCT status FROM hook_executions ORDER BY 1")
    assert [r["status"] for r in statuses] == ["failure", "success"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("duration_ms", -3.0),
        ("status", "exploded"),
        ("user_rating", 9),
        ("quality_results", {"score": 1.7}),
        ("started_at", "2026-01-01T00:00:00"),  # no timezone
        ("pattern_id", ""),
        ("duration_ms", float("nan")),
        ("duration_ms", "12.5"),  # strict: a string is not a number
        ("user_rating", True),  # strict: a boolean is not a rating
        ("user_rating", 4.0),
        ("started_at", "2999-01-01T00:00:00+00:00"),  # beyond now + skew
        ("started_at", "0001-01-01T00:00:00+05:00"),  # before 1970 (and would overflow)
        ("pattern_id", "a@b"),  # what register refuses
        ("error_message", "x" * 70_000),
        ("error_message", "bad\x00byte"),
        ("variant", "\ud800"),
        ("metadata", {"k": "nul\x00"}),
    ],
)
async def test_one_bad_row_among_10000_stores_nothing_and_is_named(
    pool: asyncpg.Pool, service: FeedbackLoopService, field: str, value: object
) -> None:
    rows = execution_rows(10_000, seed=2)
    rows[4321][field] = value
    with pytest.raises(ModelOnexError) as caught:
        await service.ingest(rows)
    assert caught.value.code is EnumErrorCode.INVALID_INPUT
    summary, line = caught.value.message.splitlines()
    assert summary == "batch: rejected, nothing stored (1 problem):"
    assert line.startswith(f"row 4322: {field}")
    assert caught.value.details["errors"][0]["where"] == "row 4322"
    assert await _count(pool) == 0


async def test_metadata_nested_deeper_than_the_limit_is_named(
    pool: asyncpg.Pool, service: FeedbackLoopService
) -> None:
    rows = execution_rows(3)
    deep: dict[str, object] = {}
    for _ in range(40):
        deep = {"k": deep}
    rows[1]["metadata"] = deep
    with pytest.raises(ModelOnexError, match=r"row 2: metadata: nested deeper than 32 levels"):
        await service.ingest(rows)
    assert await _count(pool) == 0


async def test_problems_are_listed_up_to_20_then_counted(
    pool: asyncpg.Pool, service: FeedbackLoopService
) -> None:
    rows = execution_rows(100)
    for row in rows[10:40]:
        row["duration_ms"] = -1.0
    with pytest.raises(ModelOnexError) as caught:
        await service.ingest(rows)
    lines = caught.value.message.splitlines()
    assert lines[0] == "batch: rejected, nothing stored (30 problems):"
    assert lines[1].startswith("row 11: duration_ms: ")
    assert lines[20].startswith("row 30: duration_ms: ")
    assert lines[21:] == ["... and 10 more"]
    assert await _count(pool) == 0


async def test_rows_the_registry_does_not_know_are_refused_unless_allowed(
    pool: asyncpg.Pool, service: FeedbackLoopService
) -> None:
    await service.register("other", {"timeout_ms": 1})
    rows = execution_rows(6)
    rows[1]["pattern_id"] = "nopat"
    rows[2]["pattern_id"] = "nopat"
    rows[3]["version_id"] = "api_debug@9.9.9"
    rows[4]["version_id"] = "other@1.0.0"
    rows[5]["version_id"] = "api_debug@1.0.0"  # the registered version: fine
    with pytest.raises(ModelOnexError) as caught:
        await service.ingest(rows)
    assert caught.value.message.splitlines()[1:] == [
        "row 2: pattern_id: pattern 'nopat' is not registered (feedback-loop register, or "
        "--allow-unregistered) (2 rows)",
        "row 4: version_id: version 'api_debug@9.9.9' is not registered",
        "row 5: version_id: version 'other@1.0.0' belongs to pattern 'other', not 'api_debug'",
    ]
    assert await _count(pool) == 0
    result = await service.ingest(rows, allow_unregistered=True)
    assert result.inserted == 6


async def test_unknown_field_is_rejected(pool: asyncpg.Pool, service: FeedbackLoopService) -> None:
    rows = execution_rows(3)
    rows[1]["durration_ms"] = 5
    with pytest.raises(ModelOnexError, match=r"row 2: durration_ms"):
        await service.ingest(rows)
    assert await _count(pool) == 0


async def test_duplicate_inside_batch_is_named(
    pool: asyncpg.Pool, service: FeedbackLoopService
) -> None:
    rows = execution_rows(20)
    rows[15]["execution_id"] = rows[3]["execution_id"]
    with pytest.raises(ModelOnexError, match=r"row 16: execution_id: .* repeats row 4"):
        await service.ingest(rows)
    assert await _count(pool) == 0


async def test_duplicates_of_stored_rows_are_named_first_lines_first(
    pool: asyncpg.Pool, service: FeedbackLoopService
) -> None:
    first = execution_rows(60, seed=3)
    await service.ingest(first)
    second = execution_rows(100, seed=4)
    # 30 repeats, written in reverse order of where they sit in the stored batch
    for k, index in enumerate(range(95, 5, -3)):
        second[index]["execution_id"] = first[k]["execution_id"]
    with pytest.raises(ModelOnexError) as caught:
        await service.ingest(second)
    assert caught.value.code is EnumErrorCode.DUPLICATE
    lines = caught.value.message.splitlines()
    assert lines[0] == "batch: rejected, nothing stored (30 problems):"
    assert [line.split(":")[0] for line in lines[1:21]] == [f"row {i + 1}" for i in range(8, 68, 3)]
    assert lines[21] == "... and 10 more"
    assert await _count(pool) == 60


async def test_skip_duplicates_is_idempotent(
    pool: asyncpg.Pool, service: FeedbackLoopService
) -> None:
    node = service
    rows = execution_rows(100, seed=5)
    await node.ingest(rows[:60])
    result = await node.ingest(rows, on_duplicate="skip")
    assert (result.inserted, result.skipped_duplicates) == (40, 60)
    again = await node.ingest(rows, on_duplicate="skip")
    assert (again.inserted, again.skipped_duplicates) == (0, 100)
    assert await _count(pool) == 100


async def test_100k_rows(pool: asyncpg.Pool, service: FeedbackLoopService) -> None:
    rows = execution_rows(100_000, seed=6)
    result = await service.ingest(rows)
    assert result.inserted == 100_000
    assert await _count(pool) == 100_000
    mean = await pool.fetchval("SELECT avg(duration_ms) FROM hook_executions")
    assert mean == pytest.approx(sum(r["duration_ms"] for r in rows) / len(rows), rel=1e-9)


def _write_jsonl(path: Path, rows: list[dict[str, object]]) -> None:
    path.write_text("\n".join(json.dumps(r, default=str) for r in rows) + "\n")


def _write_csv(path: Path, rows: list[dict[str, object]]) -> None:
    import csv

    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {
                    k: json.dumps(v) if isinstance(v, dict) else ("" if v is None else v)
                    for k, v in row.items()
                }
            )


@pytest.mark.parametrize("writer", [_write_jsonl, _write_csv], ids=["jsonl", "csv"])
def test_file_reader_round_trips(tmp_path: Path, writer: object) -> None:
    rows = execution_rows(5)
    suffix = ".jsonl" if writer is _write_jsonl else ".csv"
    path = tmp_path / f"runs{suffix}"
    writer(path, rows)  # type: ignore[operator]
    parsed = read_execution_file(path)
    assert len(parsed.rows) == 5
    assert parsed.rows[2]["quality_results"] == rows[2]["quality_results"]
    assert parsed.locator().name(0) == f"runs{suffix}:{1 if suffix == '.jsonl' else 2}"
    assert not parsed.problems


def _cli(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nodes.adapters.cli.main", "--dsn", dsn, *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_cli_ingest_names_the_bad_line_and_stores_nothing(
    db_dsn: str, pool: asyncpg.Pool, service: FeedbackLoopService, tmp_path: Path
) -> None:
    rows = execution_rows(30)
    rows[11]["user_rating"] = 0
    path = tmp_path / "bad.csv"
    _write_csv(path, rows)
    proc = _cli(db_dsn, "ingest", str(path))
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        "error: bad.csv: rejected, nothing stored (1 problem):",
        "bad.csv:13: user_rating: Input should be greater than or equal to 1",
    ]
    assert "Traceback" not in proc.stderr
    assert await _count(pool) == 0


async def test_cli_ingest_valid_jsonl(
    db_dsn: str, pool: asyncpg.Pool, service: FeedbackLoopService, tmp_path: Path
) -> None:
    path = tmp_path / "good.jsonl"
    _write_jsonl(path, execution_rows(25))
    proc = _cli(db_dsn, "ingest", str(path))
    assert proc.returncode == 0, proc.stderr
    assert "ingested 25 of 25 rows" in proc.stdout
    assert await _count(pool) == 25
    again = _cli(db_dsn, "ingest", str(path))
    assert again.returncode == 1 and "already stored" in again.stderr
    skip = _cli(db_dsn, "ingest", "--skip-duplicates", str(path))
    assert skip.returncode == 0 and "25 already stored" in skip.stdout
    assert await _count(pool) == 25


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("empty.jsonl", ""),
        ("blank.jsonl", "  \n\n \t\n"),
        ("header.csv", ",".join(execution_rows(1)[0]) + "\n"),
    ],
)
async def test_cli_empty_input_is_an_error_unless_allowed(
    db_dsn: str, pool: asyncpg.Pool, tmp_path: Path, name: str, content: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    refused = _cli(db_dsn, "ingest", str(path))
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert refused.stderr == (
        f"error: {name}: no executions in the file (pass --allow-empty if that is expected)\n"
    )
    allowed = _cli(db_dsn, "ingest", "--allow-empty", str(path))
    assert allowed.returncode == 0 and f"ingested 0 of 0 rows from {name}" in allowed.stdout
    assert await _count(pool) == 0


def test_the_one_pass_jsonl_reader_reads_what_the_line_reader_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Clean files take the one-pass path; it must yield exactly the records the line-by-line
    reader and the row contract make of the same bytes (BOM, CRLF, blank lines, Unicode)."""
    rows = execution_rows(300, version_id=None)
    rows[5]["error_message"] = 'caf\u00e9 \u2028 \\ "quoted" \U0001f600'
    rows[6]["metadata"] = {"nested": {"list": [1, 2.5, None, True]}, "\u00fc": "x"}
    rows[7]["variant"] = "B"
    lines = [json.dumps(r, default=str) for r in rows]
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n\r\n".join(lines).encode() + b"\r\n\n  \n")
    fast = read_execution_file(path)
    assert fast.validated and not fast.problems
    spaced = tmp_path / "spaced.jsonl"  # a line of spaces is no row, whichever path reads it
    spaced.write_text("\n".join([*lines[:3], "   ", *lines[3:]]) + "\n")
    assert read_execution_file(spaced).lines == [1, 2, 3, *range(5, 302)]
    monkeypatch.setattr(execution_file_reader, "_read_jsonl_fast", lambda data, out, lazy: False)
    slow = read_execution_file(path)
    assert not slow.validated and not slow.problems
    assert fast.lines == slow.lines == [1 + 2 * i for i in range(300)]
    assert list(fast.rows) == EXECUTION_RECORDS.validate_python(slow.rows)


def test_one_pass_records_slice_and_index_like_the_list_they_parse_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(execution_file_reader, "PARSE_CHUNK_ROWS", 7)
    path = tmp_path / "runs.jsonl"
    _write_jsonl(path, execution_rows(30))
    lazy = read_execution_file(path, lazy=True).rows
    eager = read_execution_file(path).rows
    assert isinstance(lazy, execution_file_reader.OnePassRecords) and isinstance(eager, list)
    assert len(lazy) == len(eager) == 30
    assert list(lazy) == eager
    for window in (slice(0, 7), slice(5, 23), slice(20, 100), slice(3, 3), slice(-4, None)):
        assert lazy[window] == eager[window]
    assert lazy[::4] == eager[::4]
    assert [lazy[i] for i in (0, 13, 29, -1, -30)] == [eager[i] for i in (0, 13, 29, -1, -30)]
    with pytest.raises(IndexError):
        lazy[30]


def test_started_at_is_copied_as_the_same_instant_in_standard_utc() -> None:
    """What COPY is given: the instant of every offset and kind of tzinfo, with the standard
    library's UTC (the driver's encoder is slow with pydantic-core's own)."""
    rows = execution_rows(4)
    given = ["2026-01-02T03:04:05.123456Z", "2026-01-02T05:04:05+02:00", "1970-01-01T00:00:00Z"]
    for row, at in zip(rows, given, strict=False):
        row["started_at"] = at
    rows[3]["started_at"] = datetime(2026, 7, 1, 12, 30, tzinfo=ZoneInfo("Europe/Paris"))
    expected = [r["started_at"] for r in EXECUTION_RECORDS.validate_python(rows)]
    copied = [t[4] for t in validate_execution_rows(rows)]
    assert copied == expected
    assert all(at.tzinfo is UTC for at in copied)
    assert [at.isoformat() for at in copied[:2]] == [
        "2026-01-02T03:04:05.123456+00:00",
        "2026-01-02T03:04:05+00:00",
    ]


@pytest.mark.parametrize(
    ("message", "one_pass"),
    [
        ("Not Infinite, Null", True),  # the markers' first letters alone
        ("got NaN", False),  # a marker inside a string: read line by line, and stored
        ("Infinity and beyond", False),
    ],
)
def test_only_a_chunk_holding_a_marker_is_read_line_by_line(
    tmp_path: Path, message: str, one_pass: bool
) -> None:
    rows = execution_rows(20)
    rows[13]["error_message"] = message
    path = tmp_path / "runs.jsonl"
    _write_jsonl(path, rows)
    read = read_execution_file(path)
    assert read.validated is one_pass and not read.problems
    assert [row.get("error_message") for row in read.rows][13] == message


async def test_a_bad_row_in_a_later_chunk_of_a_clean_looking_file_is_named(
    pool: asyncpg.Pool, service: FeedbackLoopService, tmp_path: Path
) -> None:
    """The file is parsed a chunk at a time while earlier chunks are copied; a chunk that does
    not parse rolls them back and the file is read again line by line, which names the row."""
    rows = execution_rows(execution_file_reader.PARSE_CHUNK_ROWS + 10, seed=4)
    bad = execution_file_reader.PARSE_CHUNK_ROWS + 3
    rows[bad]["duration_ms"] = "12.5"
    path = tmp_path / "runs.jsonl"
    _write_jsonl(path, rows)
    with pytest.raises(ModelOnexError) as caught:
        await service.ingest_file(path)
    assert caught.value.message.splitlines()[1].startswith(f"runs.jsonl:{bad + 1}: duration_ms")
    assert await _count(pool) == 0
