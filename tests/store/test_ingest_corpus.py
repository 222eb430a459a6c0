"""Every malformed file gets its exact one-line answer, exit 1, and stores nothing; random
bytes and mutated rows never raise anything but the one error type and never store part."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.model_onex_error import ModelOnexError
from nodes.adapters.cli.main import main
from nodes.effect.node_execution_ingest_effect import CHUNK_ROWS
from nodes.service import FeedbackLoopService
from tests.ingest_corpus import CSV_COLUMNS, REGISTERED, STORED_ID, corpus, good_row

CORPUS = corpus()


async def _prepare(dsn: str) -> None:
    async with FeedbackLoopService(dsn=dsn) as service:
        for pattern_id, config in REGISTERED.items():
            await service.register(pattern_id, config)
        await service.ingest([{**good_row(0), "execution_id": STORED_ID}])


async def _count(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM hook_executions"))
    finally:
        await conn.close()


@pytest.fixture
async def corpus_dsn(db_dsn: str) -> AsyncIterator[str]:
    await _prepare(db_dsn)
    yield db_dsn


def test_the_corpus_covers_every_category_three_times() -> None:
    per_category = Counter(f.category for f in CORPUS)
    assert len(CORPUS) >= 60
    assert min(per_category.values()) >= 3, per_category
    assert len({f.name for f in CORPUS}) == len(CORPUS)


def test_every_corpus_file_gets_its_line_and_stores_nothing(
    corpus_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = []
    for bad in CORPUS:
        path = tmp_path / bad.name
        path.write_bytes(bad.content)
        code = main(["--dsn", corpus_dsn, "--log-format", "json", "ingest", str(path)])
        captured = capsys.readouterr()
        lines = captured.err.splitlines()
        expected_first = f"error: {bad.line}" if "no executions" in bad.line else None
        ok = (
            code == 1
            and captured.out == ""
            and "Traceback" not in captured.err
            and (
                lines == [expected_first]
                if expected_first
                else lines[0] == f"error: {bad.name}: rejected, nothing stored (1 problem):"
                and lines[1:] == [bad.line]
            )
        )
        if not ok:
            wrong.append((bad.name, code, captured.err[:500]))
    assert wrong == []
    assert asyncio.run(_count(corpus_dsn)) == 1  # the row stored beforehand, nothing else


def test_a_bom_is_accepted(corpus_dsn: str, tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    header = ",".join(CSV_COLUMNS)
    cells = [
        json.dumps(v) if isinstance(v, dict) else str(v)
        for v in (good_row(5).get(c, "") for c in CSV_COLUMNS)
    ]
    path.write_bytes(b"\xef\xbb\xbf" + f"{header}\n{','.join(map(_csv_cell, cells))}\n".encode())
    assert main(["--dsn", corpus_dsn, "ingest", str(path)]) == 0
    assert asyncio.run(_count(corpus_dsn)) == 2


def _csv_cell(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if ("," in text or '"' in text) else text


@pytest.mark.parametrize(
    ("rows", "bad"), [(5, 3), (CHUNK_ROWS + 5, CHUNK_ROWS + 2)], ids=["first-chunk", "later-chunk"]
)
async def test_a_constraint_only_the_database_knows_is_named_by_line(
    db_dsn: str, pool: asyncpg.Pool, tmp_path: Path, rows: int, bad: int
) -> None:
    """A DBA's own CHECK (not in our contract): the COPY's line becomes the file's line, also
    in a later chunk (each chunk is its own COPY, whose lines start again at 1)."""
    await _prepare(db_dsn)
    await pool.execute(
        "ALTER TABLE hook_executions ADD CONSTRAINT site_max_duration CHECK (duration_ms < 100000)"
    )
    lines = [good_row(i) for i in range(1, rows + 1)]
    lines[bad]["duration_ms"] = 500000.0
    path = tmp_path / "site.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    with pytest.raises(ModelOnexError) as caught:
        await FeedbackLoopService(pool=pool).ingest_file(path)
    problem = caught.value.message.splitlines()[1]
    assert problem.startswith(f"site.jsonl:{bad + 1}: database refused it: ")
    assert "site_max_duration" in problem
    assert await pool.fetchval("SELECT count(*) FROM hook_executions") == 1


# --------------------------------------------------------------------------------- fuzzing
def _valid_lines(n: int) -> list[bytes]:
    return [json.dumps(good_row(i)).encode() for i in range(1, n + 1)]


def _mutate(line: bytes, rng: random.Random) -> bytes:
    data = bytearray(line)
    for _ in range(rng.randint(1, 4)):
        action = rng.randrange(4)
        position = rng.randrange(len(data) + 1)
        if action == 0 and data:
            del data[min(position, len(data) - 1)]
        elif action == 1:
            data.insert(position, rng.randrange(256))
        elif action == 2 and data:
            data[min(position, len(data) - 1)] = rng.choice(b'"{}[],:0-9eE.\\\x00\n')
        else:
            data[position:position] = rng.choice(
                [b"NaN", b"\\u0000", b"\\ud800", b'"x"', b"true", b"1e999", b"[" * 50]
            )
    return bytes(data)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    garbage=st.binary(max_size=2000),
    seed=st.integers(0, 2**32 - 1),
    suffix=st.sampled_from([".jsonl", ".csv"]),
    mode=st.sampled_from(["bytes", "mutated"]),
)
def test_fuzzed_files_are_stored_whole_or_not_at_all(
    corpus_dsn: str,
    tmp_path_factory: pytest.TempPathFactory,
    garbage: bytes,
    seed: int,
    suffix: str,
    mode: str,
) -> None:
    rng = random.Random(seed)
    lines = _valid_lines(5)
    if mode == "mutated":
        index = rng.randrange(len(lines))
        lines[index] = _mutate(lines[index], rng)
        content = b"\n".join(lines) + b"\n"
    else:
        content = garbage
    path = tmp_path_factory.mktemp("fuzz") / f"fuzz{suffix}"
    path.write_bytes(content)

    async def attempt() -> None:
        before = await _count(corpus_dsn)
        async with FeedbackLoopService(dsn=corpus_dsn) as service:
            try:
                result = await service.ingest_file(path, on_duplicate="skip", allow_empty=True)
            except ModelOnexError as exc:
                assert exc.message.strip()
                assert await _count(corpus_dsn) == before, "a rejected file stored rows"
                return
        assert await _count(corpus_dsn) == before + result.inserted

    asyncio.run(attempt())
