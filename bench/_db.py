"""A fresh, migrated database for a benchmark (FEEDBACK_LOOP_DSN's server, else a throwaway)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import asyncpg

from nodes.runtime.logging_setup import configure_logging
from nodes.storage.migrate import upgrade
from nodes.storage.pool import create_pool
from tests.conftest import with_database
from tests.pg_server import throwaway_server


@asynccontextmanager
async def bench_pool(max_size: int = 10) -> AsyncIterator[asyncpg.Pool]:
    configure_logging(json_output=True, level="WARNING")
    async with AsyncExitStack() as stack:
        admin_dsn = os.environ.get("FEEDBACK_LOOP_DSN") or stack.enter_context(throwaway_server())
        name = f"bench_{uuid.uuid4().hex[:12]}"
        admin = await asyncpg.connect(admin_dsn)
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
            await admin.close()
