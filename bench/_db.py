"""A fresh, migrated database for a benchmark.

The server is the one at ``FEEDBACK_LOOP_DSN`` when set, else the package's own embedded
PostgreSQL on a temporary data directory removed afterwards. Either way the benchmark runs in a
database of its own, created here and dropped at the end.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from nodes.runtime.logging_setup import configure_logging
from nodes.storage.embedded import EmbeddedPostgres
from nodes.storage.migrate import upgrade
from nodes.storage.pool import create_pool


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
    # As root the wheel adds o+rx to every parent of the data dir: keep it in the temp dir.
    base = Path(tempfile.mkdtemp(prefix="feedback-loop-bench-"))
    server = EmbeddedPostgres(data_dir=base / "pgdata")
    try:
        yield await server.start()
    finally:
        await asyncio.to_thread(server.stop)
        shutil.rmtree(base, ignore_errors=True)


@asynccontextmanager
async def bench_pool(max_size: int = 10) -> AsyncIterator[asyncpg.Pool]:
    configure_logging(json_output=True, level="WARNING")
    async with _admin_dsn() as admin_dsn:
        name = f"bench_{uuid.uuid4().hex[:12]}"
        admin = await asyncpg.connect(admin_dsn)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
            try:
                pool = await create_pool(with_database(admin_dsn, name), max_size=max_size)
                try:
                    await upgrade(pool)
                    yield pool
                finally:
                    await pool.close()
            finally:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
