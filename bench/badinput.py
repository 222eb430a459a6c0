"""Bad input through the real command line: every corpus file answered, nothing stored.

Runs ``feedback-loop ingest`` as a user would (one process per file) on each file of the test
corpus (tests/ingest_corpus.py) against a fresh database holding the corpus's registry, then
times the rejection of a 10,000-row file whose every row is bad, in process. One figure per
line:

    corpus files answered with their exact line: 66 of 66
    tracebacks: 0
    rows stored from rejected files: 0
    reject 10,000 bad rows (jsonl): 0.21 s (median of 5)
    reject 10,000 bad rows (csv): 0.19 s (median of 5)

Run: python bench/badinput.py [--repeats 5]  (FEEDBACK_LOOP_DSN, else an embedded server)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg

from bench._db import bench_database
from contracts.model_onex_error import ModelOnexError
from nodes.service import FeedbackLoopService
from tests.ingest_corpus import CSV_COLUMNS, REGISTERED, STORED_ID, corpus, good_row

BAD_ROWS = 10_000


def _cli(dsn: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nodes.adapters.cli.main", "--dsn", dsn, "ingest", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


def _answered(bad_line: str, name: str, proc: subprocess.CompletedProcess[str]) -> bool:
    lines = proc.stderr.splitlines()
    if "no executions in the file" in bad_line:
        return proc.returncode == 1 and lines == [f"error: {bad_line}"]
    return (
        proc.returncode == 1
        and lines[:1] == [f"error: {name}: rejected, nothing stored (1 problem):"]
        and lines[1:] == [bad_line]
    )


def _all_bad_rows() -> list[dict[str, object]]:
    """Every row wrong in a different way, cycling through four kinds of problem."""
    rows: list[dict[str, object]] = []
    for i in range(BAD_ROWS):
        row: dict[str, object] = {
            **good_row(i),
            "execution_id": f"00000000-0000-4000-8000-{i:012d}",
        }
        kind = i % 4
        if kind == 0:
            row["duration_ms"] = -1.0
        elif kind == 1:
            row["status"] = "exploded"
        elif kind == 2:
            row["user_rating"] = 9
        else:
            row["started_at"] = "2999-01-01T00:00:00+00:00"
        rows.append(row)
    return rows


def _write(path: Path, rows: list[dict[str, object]]) -> None:
    if path.suffix == ".jsonl":
        path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
        return

    def cell(value: object) -> str:
        text = json.dumps(value) if isinstance(value, dict) else str(value)
        return '"' + text.replace('"', '""') + '"' if ("," in text or '"' in text) else text

    lines = [",".join(CSV_COLUMNS)]
    lines += [",".join(cell(r[c]) if c in r else "" for c in CSV_COLUMNS) for r in rows]
    path.write_text("\n".join(lines) + "\n")


async def _count(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM hook_executions"))


async def main(repeats: int) -> None:
    async with bench_database() as dsn, FeedbackLoopService(dsn=dsn) as service:
        pool = await service.runtime.pool()
        for pattern_id, config in REGISTERED.items():
            await service.register(pattern_id, config)
        await service.ingest([{**good_row(0), "execution_id": STORED_ID}])
        work = Path(tempfile.mkdtemp(prefix="feedback-loop-badinput-"))
        files = corpus()
        answered = tracebacks = 0
        for bad in files:
            path = work / bad.name
            path.write_bytes(bad.content)
            proc = await asyncio.to_thread(_cli, dsn, path)
            answered += _answered(bad.line, bad.name, proc)
            tracebacks += "Traceback" in proc.stderr
        stored = await _count(pool) - 1
        print(f"corpus files answered with their exact line: {answered} of {len(files)}")
        print(f"tracebacks: {tracebacks}")
        print(f"rows stored from rejected files: {stored}")

        rows = _all_bad_rows()
        for suffix in (".jsonl", ".csv"):
            path = work / f"all_bad{suffix}"
            _write(path, rows)
            timings = []
            for _ in range(repeats):
                started = time.perf_counter()
                try:
                    await service.ingest_file(path)
                except ModelOnexError as exc:
                    assert f"({BAD_ROWS} problems)" in exc.message.splitlines()[0], exc.message
                else:
                    raise SystemExit(f"error: {path.name} was accepted")
                timings.append(time.perf_counter() - started)
            print(
                f"reject {BAD_ROWS:,} bad rows ({suffix[1:]}): "
                f"{statistics.median(timings):.2f} s (median of {repeats})"
            )
        assert await _count(pool) == 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    asyncio.run(main(parser.parse_args().repeats))
