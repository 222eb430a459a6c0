"""A fresh, migrated database for a benchmark.

The server is the one at ``FEEDBACK_LOOP_DSN`` when set, else the package's own embedded
PostgreSQL on a temporary data directory removed afterwards. Either way the benchmark runs in a
database of its own, created here and dropped at the end.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from nodes.runtime.logging_setup import configure_logging
from nodes.storage.embedded import EmbeddedPostgres
from nodes.storage.migrate import upgrade
from nodes.storage.pool import create_pool
from tests.pg_server import traversable_temp_dir


def with_database(dsn: str, database: str) -> str:
    """The same DSN (host, user, query such as a unix-socket ``host=``) on another database."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{database}"))


@asynccontextmanager
async def _admin_dsn() -> AsyncIterator[str]:
    """FEEDBACK_LOOP_DSN, else an embedded server that lives as long as the context."""
    explicit = os.environ.get("FEEDBACK_LOOP_DSN")
    if explicit:
        yield explicit
        return
    # As root the server account must traverse the data dir's parents: a 0755 temp dir.
    with traversable_temp_dir("feedback-loop-bench-") as base:
        server = EmbeddedPostgres(data_dir=base / "pgdata")
        try:
            yield await server.start()
        finally:
            await asyncio.to_thread(server.stop)


@asynccontextmanager
async def _fresh_database(admin_dsn: str) -> AsyncIterator[str]:
    """A new database on the server, migrated, dropped at the end."""
    name = f"bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            dsn = with_database(admin_dsn, name)
            pool = await create_pool(dsn, max_size=1)
            try:
                await upgrade(pool)
            finally:
                await pool.close()
            yield dsn
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@asynccontextmanager
async def bench_database() -> AsyncIterator[str]:
    """The DSN of a fresh, migrated database of its own, dropped at the end (for benchmarks
    that drive the command line, which opens its own connections)."""
    configure_logging(json_output=True, level="WARNING")
    async with _admin_dsn() as admin_dsn, _fresh_database(admin_dsn) as dsn:
        yield dsn


@asynccontextmanager
async def bench_pools(count: int, max_size: int = 10) -> AsyncIterator[list[asyncpg.Pool]]:
    """Pools on ``count`` fresh, migrated databases of one server (side-by-side figures)."""
    configure_logging(json_output=True, level="WARNING")
    async with _admin_dsn() as admin_dsn, AsyncExitStack() as stack:
        pools = []
        for _ in range(count):
            dsn = await stack.enter_async_context(_fresh_database(admin_dsn))
            pool = await create_pool(dsn, max_size=max_size)
            stack.push_async_callback(pool.close)
            pools.append(pool)
        yield pools


@asynccontextmanager
async def bench_pool(max_size: int = 10) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a fresh, migrated database of its own."""
    async with bench_pools(1, max_size) as (pool,):
        yield pool
