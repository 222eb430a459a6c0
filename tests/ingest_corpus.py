"""A corpus of malformed execution files, each with the one line ingestion must answer.

Shared by the corpus test (exit code, exact line, nothing stored) and ``bench/badinput.py``.
Each file holds good rows around one bad one, so the line number in the answer is checked too.
The registry the corpus expects: pattern ``api_debug`` (version 1.0.0) and pattern ``other``.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from nodes.effect.execution_file_reader import CSV_SCHEMA

REGISTERED = {"api_debug": {"timeout_ms": 100}, "other": {"timeout_ms": 200}}
STORED_ID = str(uuid.UUID(int=0xC0FFEE_9999))
"""An execution stored before the corpus runs, so a file repeating it meets the unique key."""
EMPTY = "empty input"


@dataclass(frozen=True)
class BadFile:
    """``line`` is the exact problem line; for empty input, the whole error line."""

    category: str
    name: str
    content: bytes
    line: str


YESTERDAY = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
"""The good rows' day: inside the retention horizon whenever the tests run."""


def good_row(i: int) -> dict[str, Any]:
    return {
        "execution_id": str(uuid.UUID(int=0xC0FFEE_0000 + i)),
        "pattern_id": "api_debug",
        "started_at": f"{YESTERDAY}T10:{i % 60:02d}:00+00:00",
        "duration_ms": 120.5 + i,
        "status": "success",
        "quality_results": {"score": 0.9},
        "user_rating": 4,
        "metadata": {"i": i},
    }


def _jsonl(bad: dict[str, Any] | str) -> bytes:
    """Three lines, the second bad: a row (serialised as is) or raw text."""
    middle = bad if isinstance(bad, str) else json.dumps(bad, allow_nan=True)
    return "\n".join([json.dumps(good_row(1)), middle, json.dumps(good_row(3))]).encode() + b"\n"


def _with(**changes: Any) -> dict[str, Any]:
    row = good_row(2)
    for key, value in changes.items():
        if value is _DROP:
            row.pop(key)
        else:
            row[key] = value
    return row


_DROP = object()
CSV_COLUMNS = list(CSV_SCHEMA)


def _csv_cells(row: dict[str, Any]) -> list[str]:
    return [
        json.dumps(row[c]) if isinstance(row.get(c), dict) else str(row.get(c, ""))
        for c in CSV_COLUMNS
    ]


def _csv(bad: list[str] | str, header: list[str] | None = None) -> bytes:
    """Header, then three records, the second bad (cells, or a raw line)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header or CSV_COLUMNS)
    writer.writerow(_csv_cells(good_row(1)))
    if isinstance(bad, str):
        out.write(bad + "\n")
    else:
        writer.writerow(bad)
    writer.writerow(_csv_cells(good_row(3)))
    return out.getvalue().encode()


def _csv_with(**changes: str) -> list[str]:
    cells = _csv_cells(good_row(2))
    for key, value in changes.items():
        cells[CSV_COLUMNS.index(key)] = value
    return cells


def _deep(levels: int) -> str:
    return '{"k":' * levels + "1" + "}" * levels


def _jsonl_raw_metadata(metadata_json: str) -> bytes:
    row = json.dumps(_with(metadata={}))
    return _jsonl(row.replace('"metadata": {}', f'"metadata": {metadata_json}'))


_NOT_NUMBER = "Input should be a valid number"
_NOT_INTEGER = "Input should be a valid integer"
_OUTSIDE = "is outside 1970-01-01 .. now + 5 min"
_REGISTER = "(feedback-loop register, or --allow-unregistered)"

Case = tuple[str, str, Callable[[], bytes], str]

CASES: list[Case] = [
    # --- encoding -----------------------------------------------------------------------
    (
        "encoding",
        "latin1.csv",
        lambda: _csv(_csv_with(error_message="caf\u00e9")).replace(
            "caf\u00e9".encode(), "caf\u00e9".encode("latin-1")
        ),
        "latin1.csv:3: not UTF-8 (byte 0xe9 at column 113): the file must be UTF-8",
    ),
    (
        "encoding",
        "utf16.jsonl",
        lambda: codecs.BOM_UTF16_LE + _jsonl(good_row(2)).decode().encode("utf-16-le"),
        "utf16.jsonl:1: the file is UTF-16: convert it to UTF-8",
    ),
    (
        "encoding",
        "utf32.jsonl",
        lambda: codecs.BOM_UTF32_BE + _jsonl(good_row(2)).decode().encode("utf-32-be"),
        "utf32.jsonl:1: the file is UTF-32: convert it to UTF-8",
    ),
    (
        "encoding",
        "garbage.jsonl",
        lambda: bytes(range(256)) * 4,
        "garbage.jsonl:2: not UTF-8 (byte 0x80 at column 118): the file must be UTF-8",
    ),
    (
        "encoding",
        "garbage_tail.jsonl",
        lambda: _jsonl(good_row(2)) + b"\xff\xfe\xfa\x00\x81",
        "garbage_tail.jsonl:4: not UTF-8 (byte 0xff at column 1): the file must be UTF-8",
    ),
    (
        "encoding",
        "overlong.jsonl",
        lambda: _jsonl('{"execution_id": "\xc0\xaf"}'.encode("latin-1").decode("latin-1")).replace(
            "\u00c0\u00af".encode(), b"\xc0\xaf"
        ),
        "overlong.jsonl:2: not UTF-8 (byte 0xc0 at column 19): the file must be UTF-8",
    ),
    # --- malformed structure ------------------------------------------------------------
    (
        "structure",
        "truncated.jsonl",
        lambda: _jsonl('{"execution_id": "x", "pat'),
        "truncated.jsonl:2: not valid JSON (Unterminated string starting at, column 23)",
    ),
    (
        "structure",
        "array.jsonl",
        lambda: _jsonl("[1, 2, 3]"),
        "array.jsonl:2: expected a JSON object",
    ),
    (
        "structure",
        "trailing.jsonl",
        lambda: _jsonl(json.dumps(good_row(2)) + " }"),
        "trailing.jsonl:2: not valid JSON (Extra data, column 246)",
    ),
    (
        "structure",
        "quote.csv",
        lambda: _csv('"unterminated,api_debug'),
        "quote.csv:4: not valid CSV (',' expected after '\"')",
    ),
    (
        "structure",
        "cells.csv",
        lambda: _csv(_csv_cells(good_row(2))[:-2]),
        "cells.csv:3: 11 cells, the header has 13 columns",
    ),
    (
        "structure",
        "unknown_column.csv",
        lambda: _csv(_csv_cells(good_row(2)), header=[*CSV_COLUMNS[:-1], "meta"]),
        "unknown_column.csv:1: unknown column(s) 'meta'; known: execution_id, pattern_id, "
        "version_id, variant, started_at, duration_ms, status, quality_results, "
        "performance_score, error_message, user_rating, cost_usd, metadata",
    ),
    (
        "structure",
        "missing_column.csv",
        lambda: (
            b"execution_id,pattern_id,started_at,status\n"
            + f"{uuid.uuid4()},api_debug,{YESTERDAY}T10:00:00+00:00,success\n".encode()
        ),
        "missing_column.csv:1: missing column(s) duration_ms",
    ),
    (
        "structure",
        "unknown_field.jsonl",
        lambda: _jsonl(_with(durration_ms=5)),
        "unknown_field.jsonl:2: durration_ms: Extra inputs are not permitted",
    ),
    (
        "structure",
        "missing_field.jsonl",
        lambda: _jsonl(_with(status=_DROP)),
        "missing_field.jsonl:2: status: Field required",
    ),
    # --- oversize -----------------------------------------------------------------------
    (
        "oversize",
        "long_line.jsonl",
        lambda: _jsonl(_with(error_message="x" * 1_100_000)),
        "long_line.jsonl:2: line longer than 1048576 bytes",
    ),
    (
        "oversize",
        "long_cell.csv",
        lambda: _csv(_csv_with(error_message="x" * 1_100_000)),
        "long_cell.csv:3: not valid CSV (cell longer than 1048576 bytes)",
    ),
    (
        "oversize",
        "long_message.csv",
        lambda: _csv(_csv_with(error_message="x" * 131_073)),
        "long_message.csv:3: error_message: String should have at most 65536 characters",
    ),
    (
        "oversize",
        "long_message.jsonl",
        lambda: _jsonl(_with(error_message="e" * 70_000)),
        "long_message.jsonl:2: error_message: String should have at most 65536 characters",
    ),
    (
        "oversize",
        "big_metadata.jsonl",
        lambda: _jsonl(_with(metadata={"blob": "m" * 70_000})),
        "big_metadata.jsonl:2: metadata: larger than 65536 bytes as JSON",
    ),
    (
        "oversize",
        "long_pattern.jsonl",
        lambda: _jsonl(_with(pattern_id="p" * 201)),
        "long_pattern.jsonl:2: pattern_id: String should have at most 200 characters",
    ),
    # --- timestamps ---------------------------------------------------------------------
    (
        "timestamps",
        "year1.jsonl",
        lambda: _jsonl(_with(started_at="0001-01-01T00:00:00+05:00")),
        f"year1.jsonl:2: started_at: 0001-01-01T00:00:00+05:00 {_OUTSIDE}",
    ),
    (
        "timestamps",
        "year9999.jsonl",
        lambda: _jsonl(_with(started_at="9999-12-31T23:00:00-05:00")),
        f"year9999.jsonl:2: started_at: 9999-12-31T23:00:00-05:00 {_OUTSIDE}",
    ),
    (
        "timestamps",
        "year2999.csv",
        lambda: _csv(_csv_with(started_at="2999-01-01T00:00:00+00:00")),
        f"year2999.csv:3: started_at: 2999-01-01T00:00:00+00:00 {_OUTSIDE}",
    ),
    (
        "timestamps",
        "older_than_kept.jsonl",
        lambda: _jsonl(_with(started_at="2020-01-01T00:00:00+00:00")),
        "older_than_kept.jsonl:2: started_at: 2020-01-01T00:00:00+00:00 is older than the "
        "database keeps (executions are kept 30 days; feedback-loop db retention)",
    ),
    (
        "timestamps",
        "naive.jsonl",
        lambda: _jsonl(_with(started_at="2026-11-01T10:00:00")),
        "naive.jsonl:2: started_at: Input should have timezone info",
    ),
    (
        "timestamps",
        "feb30.csv",
        lambda: _csv(_csv_with(started_at="2026-02-30T10:00:00+00:00")),
        "feb30.csv:3: started_at: Input should be a valid datetime or date, day value is "
        "outside expected range",
    ),
    # --- NUL ----------------------------------------------------------------------------
    (
        "nul",
        "nul_raw.jsonl",
        lambda: _jsonl(json.dumps(_with()).replace("success", "succ\x00ess")),
        "nul_raw.jsonl:2: contains a NUL byte",
    ),
    (
        "nul",
        "nul_raw.csv",
        lambda: _csv(_csv_with(variant="a\x00b")),
        "nul_raw.csv:3: contains a NUL byte",
    ),
    (
        "nul",
        "nul_escape.jsonl",
        lambda: _jsonl(_with(error_message="boom\x00")),
        "nul_escape.jsonl:2: error_message: contains a NUL character, which PostgreSQL cannot "
        "store",
    ),
    (
        "nul",
        "nul_metadata.jsonl",
        lambda: _jsonl(_with(metadata={"k\x00": 1})),
        "nul_metadata.jsonl:2: metadata: contains a NUL character (\\u0000), which PostgreSQL "
        "cannot store",
    ),
    # --- NaN / Infinity -----------------------------------------------------------------
    (
        "nan",
        "nan.jsonl",
        lambda: _jsonl(_with(duration_ms=float("nan"))),
        "nan.jsonl:2: NaN is not valid JSON (use null)",
    ),
    (
        "nan",
        "infinity.jsonl",
        lambda: _jsonl(_with(cost_usd=float("inf"))),
        "infinity.jsonl:2: Infinity is not valid JSON (use null)",
    ),
    (
        "nan",
        "neg_infinity_metadata.jsonl",
        lambda: _jsonl(_with(metadata={"x": float("-inf")})),
        "neg_infinity_metadata.jsonl:2: -Infinity is not valid JSON (use null)",
    ),
    (
        "nan",
        "nan.csv",
        lambda: _csv(_csv_with(duration_ms="nan")),
        "nan.csv:3: duration_ms: not a decimal number: 'nan'",
    ),
    (
        "nan",
        "nan_metadata.csv",
        lambda: _csv(_csv_with(metadata='{"x": NaN}')),
        "nan_metadata.csv:3: metadata: NaN is not valid JSON (use null)",
    ),
    # --- nesting ------------------------------------------------------------------------
    (
        "nesting",
        "deep_100000.jsonl",
        lambda: _jsonl_raw_metadata(_deep(100_000)),
        "deep_100000.jsonl:2: JSON nested deeper than 32 levels",
    ),
    (
        "nesting",
        "deep_40.jsonl",
        lambda: _jsonl_raw_metadata(_deep(40)),
        "deep_40.jsonl:2: metadata: nested deeper than 32 levels",
    ),
    (
        "nesting",
        "deep_quality.jsonl",
        lambda: _jsonl(_with(quality_results=json.loads(_deep(33)))),
        "deep_quality.jsonl:2: quality_results: nested deeper than 32 levels",
    ),
    (
        "nesting",
        "deep.csv",
        lambda: _csv(_csv_with(metadata=_deep(50_000))),
        "deep.csv:3: metadata: JSON nested deeper than 32 levels",
    ),
    # --- Unicode ------------------------------------------------------------------------
    (
        "unicode",
        "surrogate_variant.jsonl",
        lambda: _jsonl(json.dumps(_with(variant="X")).replace('"X"', '"\\ud800"')),
        "surrogate_variant.jsonl:2: variant: Input should be a valid string, unable to parse raw "
        "data as a unicode string",
    ),
    (
        "unicode",
        "surrogate_metadata.jsonl",
        lambda: _jsonl(json.dumps(_with(metadata={"s": "X"})).replace('"X"', '"\\udfff"')),
        "surrogate_metadata.jsonl:2: metadata: contains a lone surrogate (not valid Unicode)",
    ),
    (
        "unicode",
        "surrogate_message.csv",
        lambda: _csv(_csv_with(metadata='{"s": "\\ud83d"}')),
        "surrogate_message.csv:3: metadata: contains a lone surrogate (not valid Unicode)",
    ),
    # --- registry -----------------------------------------------------------------------
    (
        "registry",
        "unknown_pattern.jsonl",
        lambda: _jsonl(_with(pattern_id="nopat")),
        f"unknown_pattern.jsonl:2: pattern_id: pattern 'nopat' is not registered {_REGISTER}",
    ),
    (
        "registry",
        "unknown_version.csv",
        lambda: _csv(_csv_with(version_id="api_debug@9.9.9")),
        "unknown_version.csv:3: version_id: version 'api_debug@9.9.9' is not registered",
    ),
    (
        "registry",
        "other_version.jsonl",
        lambda: _jsonl(_with(version_id="other@1.0.0")),
        "other_version.jsonl:2: version_id: version 'other@1.0.0' belongs to pattern 'other', "
        "not 'api_debug'",
    ),
    (
        "registry",
        "at_pattern.jsonl",
        lambda: _jsonl(_with(pattern_id="a@b")),
        "at_pattern.jsonl:2: pattern_id: 'a@b' is not a pattern id (no '@', no whitespace)",
    ),
    (
        "registry",
        "space_pattern.csv",
        lambda: _csv(_csv_with(pattern_id="api debug")),
        "space_pattern.csv:3: pattern_id: 'api debug' is not a pattern id (no '@', no whitespace)",
    ),
    # --- strict types -------------------------------------------------------------------
    (
        "types",
        "bool_rating.jsonl",
        lambda: _jsonl(_with(user_rating=True)),
        f"bool_rating.jsonl:2: user_rating: {_NOT_INTEGER}",
    ),
    (
        "types",
        "string_rating.jsonl",
        lambda: _jsonl(_with(user_rating="4.0")),
        f"string_rating.jsonl:2: user_rating: {_NOT_INTEGER}",
    ),
    (
        "types",
        "float_rating.jsonl",
        lambda: _jsonl(_with(user_rating=4.0)),
        f"float_rating.jsonl:2: user_rating: {_NOT_INTEGER}",
    ),
    (
        "types",
        "string_duration.jsonl",
        lambda: _jsonl(_with(duration_ms="12.5")),
        f"string_duration.jsonl:2: duration_ms: {_NOT_NUMBER}",
    ),
    (
        "types",
        "decimal_rating.csv",
        lambda: _csv(_csv_with(user_rating="4.0")),
        "decimal_rating.csv:3: user_rating: not an integer: '4.0'",
    ),
    (
        "types",
        "comma_duration.csv",
        lambda: _csv(_csv_with(duration_ms="12,5")),
        "comma_duration.csv:3: duration_ms: not a decimal number: '12,5'",
    ),
    (
        "types",
        "word_cost.csv",
        lambda: _csv(_csv_with(cost_usd="cheap")),
        "word_cost.csv:3: cost_usd: not a decimal number: 'cheap'",
    ),
    (
        "types",
        "array_metadata.csv",
        lambda: _csv(_csv_with(metadata="[1, 2]")),
        "array_metadata.csv:3: metadata: expected a JSON object",
    ),
    (
        "types",
        "bool_status.jsonl",
        lambda: _jsonl(_with(status=True)),
        "bool_status.jsonl:2: status: Input should be 'success', 'failure', 'timeout' or 'error'",
    ),
    # --- duplicates (the database's unique key) ------------------------------------------
    (
        "duplicates",
        "repeat.jsonl",
        lambda: _jsonl(_with(execution_id=good_row(1)["execution_id"])),
        f"repeat.jsonl:2: execution_id: {good_row(1)['execution_id']} repeats repeat.jsonl:1",
    ),
    (
        "duplicates",
        "repeat.csv",
        lambda: _csv(_csv_with(execution_id=good_row(1)["execution_id"])),
        f"repeat.csv:3: execution_id: {good_row(1)['execution_id']} repeats repeat.csv:2",
    ),
    (
        "duplicates",
        "stored.jsonl",
        lambda: _jsonl(_with(execution_id=STORED_ID)),
        f"stored.jsonl:2: execution_id: {STORED_ID} is already stored (--skip-duplicates "
        "ingests only new rows)",
    ),
    (
        "duplicates",
        "stored.csv",
        lambda: _csv(_csv_with(execution_id=STORED_ID)),
        f"stored.csv:3: execution_id: {STORED_ID} is already stored (--skip-duplicates "
        "ingests only new rows)",
    ),
    (
        "duplicates",
        "bad_uuid.jsonl",
        lambda: _jsonl(_with(execution_id="not-a-uuid")),
        "bad_uuid.jsonl:2: execution_id: Input should be a valid UUID, invalid character: "
        "found `n` at 0",
    ),
    # --- empty input --------------------------------------------------------------------
    ("empty", "zero.jsonl", lambda: b"", EMPTY),
    ("empty", "blank.jsonl", lambda: b"  \n\n\t \n", EMPTY),
    ("empty", "header_only.csv", lambda: (",".join(CSV_COLUMNS) + "\n").encode(), EMPTY),
    ("empty", "bom_only.jsonl", lambda: codecs.BOM_UTF8, EMPTY),
    ("empty", "bom_header.csv", lambda: codecs.BOM_UTF8 + ",".join(CSV_COLUMNS).encode(), EMPTY),
]


def corpus() -> list[BadFile]:
    """Every malformed file with its expected line (built fresh: some are megabytes)."""
    files = []
    for category, name, build, line in CASES:
        expected = (
            f"{name}: no executions in the file (pass --allow-empty if that is expected)"
            if line == EMPTY
            else line
        )
        files.append(BadFile(category, name, build(), expected))
    return files


__all__ = ["REGISTERED", "STORED_ID", "BadFile", "corpus", "good_row"]
