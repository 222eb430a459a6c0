"""Registering a pattern: its first version (1.0.0) becomes active with all the traffic."""

from __future__ import annotations

from typing import Any

import asyncpg

from contracts.enum_error_code import EnumErrorCode
from contracts.enum_version_status import EnumVersionStatus
from contracts.model_onex_error import ModelOnexError
from contracts.model_pattern_version import ModelPatternVersion
from nodes.effect.node_lineage_store_effect import NodeLineageStoreEffect
from nodes.storage.locks import pattern_lock_key
from nodes.storage.sql_audit import write_audit

INITIAL_VERSION = "1.0.0"


class NodePatternRegistryEffect:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._lineage = NodeLineageStoreEffect()

    async def register_pattern(
        self, pattern_id: str, config: dict[str, Any], *, actor: str = "feedback-loop"
    ) -> ModelPatternVersion:
        """Idempotent for the same config; a different config for a known pattern is refused
        (improvements go through the loop, restores through rollback)."""
        version = ModelPatternVersion(
            pattern_id=pattern_id,
            version=INITIAL_VERSION,
            status=EnumVersionStatus.ACTIVE,
            config=config,
            traffic_weight=1.0,
        )
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", pattern_lock_key(pattern_id))
            existing = await self._lineage.list_versions(conn, pattern_id)
            if existing:
                first = min(existing, key=lambda v: v.semver)
                if first.config == config:
                    return first
                raise ModelOnexError(
                    EnumErrorCode.CONFLICT,
                    f"pattern {pattern_id!r} is already registered with another config "
                    f"({len(existing)} version(s)); the loop proposes new versions itself",
                )
            await self._lineage.create_version(conn, version, parents=[], correlation_id=None)
            await write_audit(
                conn,
                actor=actor,
                action="register",
                pattern_id=pattern_id,
                version_id=version.version_id,
                reason="pattern registered",
                details={"config": config},
            )
        return version
