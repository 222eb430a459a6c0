"""Fixtures: one real PostgreSQL per session, a fresh migrated database per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from nodes.runtime.logging_setup import configure_logging
from nodes.storage.migrate import upgrade
from nodes.storage.pool import create_pool
from tests.pg_server import describe_server, throwaway_server

TEMPLATE_DB = "feedback_loop_template"
DATABASE_MARK = "database"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{DATABASE_MARK}: uses the session's PostgreSQL (marked automatically)"
    )


def pytest_report_header() -> str:
    return describe_server()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that reaches the session server, so `-m database` selects exactly the
    tests worth repeating on another PostgreSQL major (.ci/run does, on Debian's)."""
    for item in items:
        if "pg_admin_dsn" in getattr(item, "fixturenames", ()):
            item.add_marker(DATABASE_MARK)


def with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{database}"))


@pytest.fixture(scope="session")
def pg_admin_dsn() -> Iterator[str]:
    configure_logging(json_output=True, level="WARNING")
    with throwaway_server() as dsn:
        yield dsn


@pytest.fixture(scope="session")
async def migrated_template(pg_admin_dsn: str) -> str:
    """Migrate once; every test database is a cheap copy of this template."""
    admin = await asyncpg.connect(pg_admin_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE_DB}"')
        await admin.execute(f'CREATE DATABASE "{TEMPLATE_DB}"')
    finally:
        await admin.close()
    pool = await create_pool(with_database(pg_admin_dsn, TEMPLATE_DB), max_size=2)
    try:
        await upgrade(pool)
    finally:
        await pool.close()
    return TEMPLATE_DB


async def _fresh_database(admin_dsn: str, template: str) -> str:
    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await admin.close()
    return name


async def _drop_database(admin_dsn: str, name: str) -> None:
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def db_dsn(pg_admin_dsn: str, migrated_template: str) -> AsyncIterator[str]:
    """DSN of a fresh, migrated database owned by this test alone."""
    name = await _fresh_database(pg_admin_dsn, migrated_template)
    try:
        yield with_database(pg_admin_dsn, name)
    finally:
        await _drop_database(pg_admin_dsn, name)


@pytest.fixture
async def empty_db_dsn(pg_admin_dsn: str) -> AsyncIterator[str]:
    """DSN of a fresh database with no schema at all (for migration tests)."""
    name = await _fresh_database(pg_admin_dsn, "template0")
    try:
        yield with_database(pg_admin_dsn, name)
    finally:
        await _drop_database(pg_admin_dsn, name)


@pytest.fixture
async def pool(db_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(db_dsn, max_size=10)
    try:
        yield pool
    finally:
        await pool.close()
