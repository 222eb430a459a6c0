"""Ingestion through COPY: all rows or none, bad rows named, duplicates never doubled."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from contracts.enum_error_code import EnumErrorCode
from contracts.model_onex_error import ModelOnexError
from nodes.effect.execution_file_reader import read_execution_file
from nodes.service import FeedbackLoopService
from tests.factories import execution_rows


async def _count(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM hook_executions"))


async def test_valid_rows_are_stored_as_given(pool: asyncpg.Pool) -> None:
    rows = execution_rows(50, seed=1)
    result = await FeedbackLoopService(pool=pool).ingest(rows)
    assert (result.received, result.inserted, result.skipped_duplicates) == (50, 50, 0)
    stored = await pool.fetchrow(
        "SELECT * FROM hook_executions WHERE execution_id = $1", rows[7]["execution_id"]
    )
    assert stored["duration_ms"] == pytest.approx(rows[7]["duration_ms"], rel=1e-12)
    assert stored["quality_results"] == rows[7]["quality_results"]
    assert stored["started_at"] == rows[7]["started_at"]
    assert stored["metadata"] == {"i": 7}


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
    ],
)
async def test_one_bad_row_among_10000_stores_nothing_and_is_named(
    pool: asyncpg.Pool, field: str, value: object
) -> None:
    rows = execution_rows(10_000, seed=2)
    rows[4321][field] = value
    with pytest.raises(ModelOnexError) as caught:
        await FeedbackLoopService(pool=pool).ingest(rows)
    assert caught.value.code is EnumErrorCode.INVALID_INPUT
    assert "row 4322" in caught.value.message
    assert field in caught.value.message
    assert caught.value.details["errors"][0]["row"] == 4322
    assert await _count(pool) == 0


async def test_unknown_field_is_rejected(pool: asyncpg.Pool) -> None:
    rows = execution_rows(3)
    rows[1]["durration_ms"] = 5
    with pytest.raises(ModelOnexError, match=r"row 2: durration_ms"):
        await FeedbackLoopService(pool=pool).ingest(rows)
    assert await _count(pool) == 0


async def test_duplicate_inside_batch_is_named(pool: asyncpg.Pool) -> None:
    rows = execution_rows(20)
    rows[15]["execution_id"] = rows[3]["execution_id"]
    with pytest.raises(ModelOnexError, match=r"row 16: execution_id .* repeats row 4") as caught:
        await FeedbackLoopService(pool=pool).ingest(rows)
    assert caught.value.code is EnumErrorCode.DUPLICATE
    assert await _count(pool) == 0


async def test_duplicate_of_stored_row_rejects_batch(pool: asyncpg.Pool) -> None:
    node = FeedbackLoopService(pool=pool)
    first = execution_rows(10, seed=3)
    await node.ingest(first)
    second = execution_rows(10, seed=4)
    second[6]["execution_id"] = first[2]["execution_id"]
    with pytest.raises(ModelOnexError, match=r"already stored: row 7") as caught:
        await node.ingest(second)
    assert caught.value.code is EnumErrorCode.DUPLICATE
    assert await _count(pool) == 10


async def test_skip_duplicates_is_idempotent(pool: asyncpg.Pool) -> None:
    node = FeedbackLoopService(pool=pool)
    rows = execution_rows(100, seed=5)
    await node.ingest(rows[:60])
    result = await node.ingest(rows, on_duplicate="skip")
    assert (result.inserted, result.skipped_duplicates) == (40, 60)
    again = await node.ingest(rows, on_duplicate="skip")
    assert (again.inserted, again.skipped_duplicates) == (0, 100)
    assert await _count(pool) == 100


async def test_100k_rows(pool: asyncpg.Pool) -> None:
    rows = execution_rows(100_000, seed=6)
    result = await FeedbackLoopService(pool=pool).ingest(rows)
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
    assert parsed.row_names[0] == f"line {1 if suffix == '.jsonl' else 2} of runs{suffix}"


def _cli(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nodes.adapters.cli.main", "--dsn", dsn, *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_cli_ingest_names_the_bad_line_and_stores_nothing(
    db_dsn: str, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    rows = execution_rows(30)
    rows[11]["user_rating"] = 0
    path = tmp_path / "bad.csv"
    _write_csv(path, rows)
    proc = _cli(db_dsn, "ingest", str(path))
    assert proc.returncode == 1
    assert "line 13 of bad.csv: user_rating" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert await _count(pool) == 0


async def test_cli_ingest_valid_jsonl(db_dsn: str, pool: asyncpg.Pool, tmp_path: Path) -> None:
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
