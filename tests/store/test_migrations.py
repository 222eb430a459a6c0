"""Migrations: fresh, twice, and from two processes at once, on a real server."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import asyncpg
import pytest

from nodes.storage.migrate import load_migrations, status, upgrade
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
