"""What a CLI command needs: a lazily opened pool, checked to be on the current schema."""

from __future__ import annotations

from contextlib import AsyncExitStack

import asyncpg

from contracts.enum_error_code import EnumErrorCode
from contracts.model_onex_error import ModelOnexError
from nodes.storage.dsn import resolve_dsn
from nodes.storage.migrate import status, upgrade
from nodes.storage.pool import open_pool


class CliContext:
    """Opens the database on first use, so ``--help`` and argument errors never touch it."""

    def __init__(self, dsn: str | None) -> None:
        self.dsn = dsn
        self._stack = AsyncExitStack()
        self._pool: asyncpg.Pool | None = None

    @property
    def embedded(self) -> bool:
        return resolve_dsn(self.dsn) is None

    async def pool(self, *, max_size: int = 10) -> asyncpg.Pool:
        if self._pool is None:
            self._pool = await self._stack.enter_async_context(
                open_pool(self.dsn, max_size=max_size)
            )
        return self._pool

    async def migrated_pool(self, *, max_size: int = 10) -> asyncpg.Pool:
        """The embedded database is ours to migrate; a user's database is upgraded explicitly."""
        pool = await self.pool(max_size=max_size)
        pending = [s for s in await status(pool) if not s.applied]
        if pending:
            if not self.embedded:
                raise ModelOnexError(
                    EnumErrorCode.MIGRATION_ERROR,
                    f"the database schema is {len(pending)} migration(s) behind: "
                    "run `feedback-loop db upgrade` first",
                )
            await upgrade(pool)
        return pool

    async def close(self) -> None:
        await self._stack.aclose()
