"""Registering a pattern: its first version (1.0.0) becomes active with all the traffic."""

from __future__ import annotations

import asyncpg

from contracts.enum_error_code import EnumErrorCode
from contracts.enum_version_status import EnumVersionStatus
from contracts.model_objective import ModelObjective
from contracts.model_onex_error import ModelOnexError
from contracts.model_pattern_version import ModelPatternVersion
from contracts.model_register import ModelRegisterInput
from nodes.effect.node_lineage_store_effect import NodeLineageStoreEffect
from nodes.storage import sql_buckets
from nodes.storage.locks import lock_pattern_for_transaction
from nodes.storage.sql_audit import write_audit

INITIAL_VERSION = "1.0.0"


class NodePatternRegistryEffect:
    def __init__(self, lineage_store: NodeLineageStoreEffect) -> None:
        self._lineage = lineage_store

    async def register_pattern(
        self, conn: asyncpg.Connection, contract: ModelRegisterInput
    ) -> ModelPatternVersion:
        """Idempotent for the same config; a different config for a known pattern is refused
        (improvements go through the loop, restores through rollback)."""
        version = ModelPatternVersion(
            pattern_id=contract.pattern_id,
            version=INITIAL_VERSION,
            status=EnumVersionStatus.ACTIVE,
            config=contract.config,
            traffic_weight=1.0,
        )
        async with conn.transaction():
            await lock_pattern_for_transaction(conn, contract.pattern_id)
            existing = await self._lineage.list_versions(conn, contract.pattern_id)
            if existing:
                first = min(existing, key=lambda v: v.semver)
                if first.config == contract.config:
                    return first
                raise ModelOnexError(
                    EnumErrorCode.CONFLICT,
                    f"pattern {contract.pattern_id!r} is already registered with another "
                    f"config ({len(existing)} version(s)); the loop proposes new versions itself",
                )
            version = await self._lineage.create_version(conn, version, parents=[])
            # The buckets sum the default objective's reward until an objective is set.
            await sql_buckets.set_reward_params(
                conn, contract.pattern_id, ModelObjective(pattern_id=contract.pattern_id).reward
            )
            await write_audit(
                conn,
                actor=contract.actor,
                action="register",
                pattern_id=contract.pattern_id,
                version_id=version.version_id,
                reason="pattern registered",
                details={"config": contract.config},
            )
        return version
