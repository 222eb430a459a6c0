"""Migrations: fresh, twice, and from two processes at once, on a real server."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import asyncpg
import pytest

from nodes.storage.migrate import _CREATE_LEDGER, load_migrations, status, upgrade
from nodes.storage.pool import create_pool

EXPECTED_TABLES = {
    "hook_executions",
    "pattern_versions",
    "lineage_edges",
    "improvements",
    "loop_runs",
    "audit_log",
    "schema_migrations",
}


async def _tables(conn: asyncpg.Connection) -> set[str]:
    rows = await conn.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
    )
    return {r["table_name"] for r in rows}


async def _schema_fingerprint(conn: asyncpg.Connection) -> list[tuple[str, ...]]:
    rows = await conn.fetch(
        "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_schema = 'public' ORDER BY 1, 2"
    )
    constraints = await conn.fetch(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE connamespace = 'public'::regnamespace ORDER BY 1"
    )
    return [tuple(r) for r in rows] + [tuple(r) for r in constraints]


async def test_fresh_upgrade_creates_every_table(empty_db_dsn: str) -> None:
    pool = await create_pool(empty_db_dsn)
    try:
        applied = await upgrade(pool)
        assert [m.version for m in applied] == [m.version for m in load_migrations()]
        async with pool.acquire() as conn:
            assert await _tables(conn) >= EXPECTED_TABLES
        assert all(s.applied for s in await status(pool))
    finally:
        await pool.close()


async def test_second_upgrade_changes_nothing(empty_db_dsn: str) -> None:
    pool = await create_pool(empty_db_dsn)
    try:
        await upgrade(pool)
        async with pool.acquire() as conn:
            before = await _schema_fingerprint(conn)
            ledger_before = await conn.fetch("SELECT * FROM schema_migrations ORDER BY version")
        assert await upgrade(pool) == []
        async with pool.acquire() as conn:
            assert await _schema_fingerprint(conn) == before
            assert await conn.fetch("SELECT * FROM schema_migrations ORDER BY version") == (
                ledger_before
            )
    finally:
        await pool.close()


_ADD_ROWS = """
INSERT INTO hook_executions (execution_id, pattern_id, started_at, duration_ms, status)
SELECT gen_random_uuid(), 'p', date_trunc('hour', now()) - interval '2 hours'
       + (i % 3600) * interval '1 second', 3 + (i % 37) * 1.7 + $1, 'success'
FROM generate_series(1, 300) AS i
"""
_HISTOGRAMS_FROM_ROWS = """
SELECT array_agg(bin ORDER BY bin) AS bins, array_agg(c ORDER BY bin) AS counts
FROM (SELECT feedback_duration_bin(duration_ms) AS bin, count(*) AS c
      FROM hook_executions GROUP BY 1) AS per_bin
"""


async def test_histograms_stored_as_json_objects_become_arrays(empty_db_dsn: str) -> None:
    """Buckets written before migration 0013 (histograms as JSON objects, one merged from two
    statements) keep every count: after it, the bucket holds the rows' bins ascending with
    their counts, and the trigger merges a later statement into the arrays."""
    pool = await create_pool(empty_db_dsn)
    try:
        async with pool.acquire() as conn:
            await conn.execute(_CREATE_LEDGER)
            for m in load_migrations():
                if m.version < 13:
                    await conn.execute(m.sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations VALUES ($1, $2, $3)",
                        m.version,
                        m.name,
                        m.checksum,
                    )
            await conn.execute(_ADD_ROWS, 0.0)
            await conn.execute(_ADD_ROWS, 17.0)  # the same hour and some bins: merged
        assert [m.version for m in await upgrade(pool)][:1] == [13]
        async with pool.acquire() as conn:
            for statement in range(2):
                stored = await conn.fetch(
                    "SELECT duration_bins, duration_counts FROM execution_buckets"
                )
                expected = await conn.fetchrow(_HISTOGRAMS_FROM_ROWS)
                assert [tuple(r) for r in stored] == [(expected["bins"], expected["counts"])]
                assert max(expected["counts"]) > 9  # a bin shared by statements (9 rows each)
                if statement == 0:
                    await conn.execute(_ADD_ROWS, 34.0)  # merged by the new trigger
    finally:
        await pool.close()


async def test_status_before_upgrade_reports_pending(empty_db_dsn: str) -> None:
    pool = await create_pool(empty_db_dsn)
    try:
        states = await status(pool)
        assert states and not any(s.applied for s in states)
    finally:
        await pool.close()


async def test_concurrent_upgrades_in_one_process_apply_once(empty_db_dsn: str) -> None:
    pools = [await create_pool(empty_db_dsn) for _ in range(4)]
    try:
        results = await asyncio.gather(*(upgrade(p) for p in pools))
        assert sorted(len(r) for r in results) == [0, 0, 0, len(load_migrations())]
    finally:
        for p in pools:
            await p.close()


async def test_two_processes_upgrading_at_once(empty_db_dsn: str) -> None:
    """Two real OS processes race on `db upgrade`; both exit 0 and each migration lands once."""
    cmd = [sys.executable, "-m", "nodes.adapters.cli.main", "--dsn", empty_db_dsn, "db", "upgrade"]
    procs = [
        await asyncio.create_subprocess_exec(*cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    outputs = [await p.communicate() for p in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()
    conn = await asyncpg.connect(empty_db_dsn)
    try:
        rows = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
        assert [r["version"] for r in rows] == [m.version for m in load_migrations()]
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("sql", "constraint"),
    [
        (
            "INSERT INTO hook_executions (execution_id, pattern_id, started_at, duration_ms, "
            "status) VALUES (gen_random_uuid(), 'p', now(), -1, 'success')",
            "duration_ms",
        ),
        (
            "INSERT INTO hook_executions (execution_id, pattern_id, started_at, duration_ms, "
            "status) VALUES (gen_random_uuid(), 'p', now(), 1, 'exploded')",
            "status",
        ),
        (
            "INSERT INTO hook_executions (execution_id, pattern_id, started_at, duration_ms, "
            "status, user_rating) VALUES (gen_random_uuid(), 'p', now(), 1, 'success', 6)",
            "user_rating",
        ),
        (
            "INSERT INTO hook_executions (execution_id, pattern_id, started_at, duration_ms, "
            "status, quality_results) VALUES (gen_random_uuid(), 'p', now(), 1, 'success', "
            "'{\"score\": 1.5}')",
            "quality_results",
        ),
    ],
)
async def test_execution_checks_reject_bad_rows(
    pool: asyncpg.Pool, sql: str, constraint: str
) -> None:
    async with pool.acquire() as conn:
        with pytest.raises(asyncpg.CheckViolationError, match=constraint):
            await conn.execute(sql)
        assert await conn.fetchval("SELECT count(*) FROM hook_executions") == 0


async def test_version_and_lineage_constraints(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO pattern_versions (version_id, pattern_id, version, status, config) "
            "VALUES ('p@1.0.0', 'p', '1.0.0', 'active', '{}')"
        )
        with pytest.raises(asyncpg.UniqueViolationError):  # a second active version
            await conn.execute(
                "INSERT INTO pattern_versions (version_id, pattern_id, version, status, config) "
                "VALUES ('p@1.1.0', 'p', '1.1.0', 'active', '{}')"
            )
        with pytest.raises(asyncpg.CheckViolationError, match="no_self_edge"):
            await conn.execute(
                "INSERT INTO lineage_edges (parent_id, child_id, relation) "
                "VALUES ('p@1.0.0', 'p@1.0.0', 'derived_from')"
            )
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await conn.execute(
                "INSERT INTO lineage_edges (parent_id, child_id, relation) "
                "VALUES ('p@1.0.0', 'p@9.9.9', 'derived_from')"
            )
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(
                "INSERT INTO pattern_versions (version_id, pattern_id, version, status, config) "
                "VALUES ('q@1.0.0', 'p', '1.0.0', 'draft', '{}')"
            )


async def test_raw_buckets_are_generated_from_the_current_bucket_definition(
    pool: asyncpg.Pool,
) -> None:
    """``feedback_raw_buckets`` is static SQL generated from ``feedback_bucket_query``: a
    migration that changes the definition must generate it again, or looks would add raw
    parts made by an older definition to stored buckets made by the new one."""
    body = "SELECT prosrc FROM pg_proc WHERE proname = 'feedback_raw_buckets'"
    stored = await pool.fetchval(body)
    await pool.execute("SELECT feedback_regenerate_raw_buckets()")
    assert await pool.fetchval(body) == stored
    assert "WITH r AS MATERIALIZED" in stored  # migration 0014's definition
