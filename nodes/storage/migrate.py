"""Numbered SQL migrations shipped in the package, applied in order, each in its own transaction.

Safe to run twice (applied versions are skipped) and from two processes at once (a
session-level advisory lock serialises runners). A migration whose file changed after it was
applied is reported, never silently re-run.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

import asyncpg
import structlog

from contracts.enum_error_code import EnumErrorCode
from contracts.model_onex_error import ModelOnexError

log = structlog.get_logger(__name__)

_MIGRATION_LOCK_KEY = 0x6F6E6578_464C4D  # "onexFLM": one lock for all migration runners
_FILE_NAME = re.compile(r"^(?P<number>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")

_CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


# Checksums recorded by earlier releases for files whose comments were reworded since: the
# statements are identical, so a database migrated by them is up to date, not tampered with.
_EARLIER_CHECKSUMS: dict[int, frozenset[str]] = {
    1: frozenset({"c5e5f913b2a6373e84cb9ad09321b201bb1ae7f7f33567b122ee4df86b557c90"}),
}


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    def matches(self, recorded: str) -> bool:
        return recorded == self.checksum or recorded in _EARLIER_CHECKSUMS.get(self.version, ())


@dataclass(frozen=True)
class MigrationStatus:
    version: int
    name: str
    applied: bool
    applied_at: str | None
    # Applied, but the shipped file is no longer what was applied (edited afterwards).
    changed: bool


def load_migrations() -> list[Migration]:
    migrations = []
    for entry in resources.files("nodes.storage.migrations").iterdir():
        match = _FILE_NAME.match(entry.name)
        if match:
            migrations.append(
                Migration(int(match["number"]), match["name"], entry.read_text(encoding="utf-8"))
            )
    migrations.sort(key=lambda m: m.version)
    numbers = [m.version for m in migrations]
    if len(set(numbers)) != len(numbers):
        raise ModelOnexError(
            EnumErrorCode.MIGRATION_ERROR, f"duplicate migration numbers: {numbers}"
        )
    return migrations


async def _applied(conn: asyncpg.Connection) -> dict[int, asyncpg.Record]:
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return {}
    rows = await conn.fetch("SELECT version, name, checksum, applied_at FROM schema_migrations")
    return {row["version"]: row for row in rows}


async def upgrade(pool: asyncpg.Pool) -> list[Migration]:
    """Apply pending migrations; returns the ones applied by this call."""
    migrations = load_migrations()
    applied_now: list[Migration] = []
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK_KEY)
        try:
            await conn.execute(_CREATE_LEDGER)
            done = await _applied(conn)
            for migration in migrations:
                previous = done.get(migration.version)
                if previous is not None:
                    if not migration.matches(previous["checksum"]):
                        raise ModelOnexError(
                            EnumErrorCode.MIGRATION_ERROR,
                            f"migration {migration.version:04d}_{migration.name} changed after it "
                            "was applied; write a new migration instead of editing an old one",
                        )
                    continue
                try:
                    async with conn.transaction():
                        await conn.execute(migration.sql)
                        await conn.execute(
                            "INSERT INTO schema_migrations (version, name, checksum) "
                            "VALUES ($1, $2, $3)",
                            migration.version,
                            migration.name,
                            migration.checksum,
                        )
                except asyncpg.PostgresError as exc:
                    raise ModelOnexError(
                        EnumErrorCode.MIGRATION_ERROR,
                        f"migration {migration.version:04d}_{migration.name} failed: {exc}",
                    ) from exc
                log.info("migration_applied", version=migration.version, name=migration.name)
                applied_now.append(migration)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK_KEY)
    return applied_now


async def status(pool: asyncpg.Pool) -> list[MigrationStatus]:
    async with pool.acquire() as conn:
        done = await _applied(conn)
    return [
        MigrationStatus(
            version=m.version,
            name=m.name,
            applied=m.version in done,
            applied_at=done[m.version]["applied_at"].isoformat() if m.version in done else None,
            changed=m.version in done and not m.matches(done[m.version]["checksum"]),
        )
        for m in load_migrations()
    ]
