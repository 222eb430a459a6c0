"""One asyncpg pool per process, on a given DSN or on the embedded server."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeAlias

import asyncpg
import pydantic_core
import structlog

from contracts.enum_error_code import EnumErrorCode
from contracts.model_onex_error import ModelOnexError
from nodes.storage.dsn import describe_dsn, normalize_dsn, redact_dsn, resolve_dsn
from nodes.storage.embedded import EmbeddedPostgres

log = structlog.get_logger(__name__)

CONNECT_TIMEOUT_S = 10.0

# Names for modules that pass database handles along without touching the driver themselves
# (the orchestrator): only effect nodes import asyncpg.
Pool: TypeAlias = asyncpg.Pool
Connection: TypeAlias = asyncpg.Connection
# What the driver raises, for adapters that must catch it without importing the driver.
DRIVER_ERRORS: tuple[type[Exception], ...] = (asyncpg.PostgresError, asyncpg.InterfaceError)


class EncodedJsonb(bytes):
    """JSON text already encoded (and checked) by its writer: sent as is, not encoded twice.

    Ingestion encodes metadata itself to check what PostgreSQL would refuse (``\\u0000``,
    depth, size) and names the row; re-encoding in the codec would double that cost.
    """


def _encode_jsonb(value: object) -> bytes:
    # jsonb's binary wire format is a version byte (1) followed by the JSON text;
    # pydantic-core's encoder is ~4x faster than json.dumps on the ingestion hot path.
    if isinstance(value, EncodedJsonb):
        return b"\x01" + value
    return b"\x01" + pydantic_core.to_json(value)


def _decode_jsonb(data: bytes) -> object:
    return pydantic_core.from_json(data[1:])


async def _init_connection(conn: asyncpg.Connection) -> None:
    """jsonb in and out as Python objects (binary, so COPY can use it too)."""
    await conn.set_type_codec(
        "jsonb", encoder=_encode_jsonb, decoder=_decode_jsonb, schema="pg_catalog", format="binary"
    )
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


def connection_error(dsn: str, exc: BaseException) -> ModelOnexError:
    """One line naming where we tried to go, never the password."""
    target = describe_dsn(dsn)
    reason = redact_dsn(
        str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    )
    return ModelOnexError(
        EnumErrorCode.DATABASE_UNAVAILABLE,
        f"cannot connect to PostgreSQL at {target.describe()}: {reason}",
        details={"host": target.host, "port": target.port, "database": target.database},
    )


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    try:
        pool = await asyncpg.create_pool(
            normalize_dsn(dsn),
            min_size=min_size,
            max_size=max_size,
            timeout=CONNECT_TIMEOUT_S,
            init=_init_connection,
        )
    except (
        TimeoutError,
        OSError,
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
        socket.gaierror,
        ValueError,
        OverflowError,  # a port out of range reaches the socket layer
    ) as exc:
        raise connection_error(dsn, exc) from exc
    log.info("database_pool_open", target=describe_dsn(dsn).describe(), max_size=max_size)
    return pool


@asynccontextmanager
async def open_pool(dsn: str | None = None, *, max_size: int = 10) -> AsyncIterator[asyncpg.Pool]:
    """Pool on ``dsn`` (or FEEDBACK_LOOP_DSN); with neither, on the embedded server."""
    resolved = resolve_dsn(dsn)
    embedded: EmbeddedPostgres | None = None
    if resolved is None:
        embedded = EmbeddedPostgres()
        resolved = await embedded.start()
    try:
        pool = await create_pool(resolved, max_size=max_size)
        try:
            yield pool
        finally:
            await pool.close()
    finally:
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)
