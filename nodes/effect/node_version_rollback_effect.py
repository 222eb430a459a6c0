"""Rollback: an operator restores an older config of a pattern as a NEW active version.

History is never rewritten: the restored config gets a fresh version number and a
``rolled_back_to`` edge from the version it was copied from, so the lineage shows both what ran
and why. Everything happens in one transaction under the pattern's advisory lock, so a rollback
and a loop run (or two rollbacks) of one pattern never interleave.
"""

from __future__ import annotations

import uuid
from uuid import UUID

import asyncpg
from pydantic import BaseModel, ConfigDict, Field

from contracts.enum_error_code import EnumErrorCode
from contracts.enum_lineage_relation import EnumLineageRelation
from contracts.enum_version_status import EnumVersionStatus
from contracts.model_onex_error import ModelOnexError
from contracts.model_pattern_version import ModelPatternVersion, make_version_id
from nodes.effect.node_improvement_store_effect import NodeImprovementStoreEffect
from nodes.effect.node_lineage_store_effect import NodeLineageStoreEffect
from nodes.storage.sql_audit import write_audit


class ModelRollbackInput(BaseModel):
    """Restore ``pattern_id@to_version``'s config as the pattern's new active version."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pattern_id: str = Field(min_length=1, pattern=r"^[^@\s]+$")
    to_version: str = Field(min_length=1, description="semver of the version to restore")
    actor: str = Field(min_length=1)
    reason: str = Field(min_length=1)
    correlation_id: UUID | None = None


class ModelRollbackOutput(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: ModelPatternVersion = Field(description="the new active version")
    restored_from: str
    archived: str | None = Field(description="the version that was active before, if any")
    retired_improvements: list[UUID] = Field(
        description="open improvements rejected as superseded (tested against the old control)"
    )
    correlation_id: UUID


class NodeVersionRollbackEffect:
    def __init__(self, lineage_store: NodeLineageStoreEffect | None = None) -> None:
        self._lineage = lineage_store or NodeLineageStoreEffect()
        self._improvements = NodeImprovementStoreEffect(self._lineage)

    async def rollback(
        self,
        conn: asyncpg.Connection,
        pattern_id: str,
        to_version: str,
        *,
        actor: str,
        reason: str,
        correlation_id: UUID | None = None,
    ) -> ModelPatternVersion:
        """The new active version (``execute_effect`` also reports what was archived)."""
        request = ModelRollbackInput(
            pattern_id=pattern_id,
            to_version=to_version,
            actor=actor,
            reason=reason,
            correlation_id=correlation_id,
        )
        return (await self.execute_effect(conn, request)).version

    async def execute_effect(
        self, conn: asyncpg.Connection, request: ModelRollbackInput
    ) -> ModelRollbackOutput:
        pattern_id = request.pattern_id
        target_id = make_version_id(pattern_id, request.to_version)
        correlation_id = request.correlation_id or uuid.uuid4()
        async with conn.transaction():
            await self._lineage.lock_pattern(conn, pattern_id)
            target = await self._lineage.get_version(conn, target_id)
            if target is None:
                raise ModelOnexError(
                    EnumErrorCode.NOT_FOUND,
                    f"cannot roll back to {target_id}: no such version",
                    correlation_id=correlation_id,
                    details={"version_id": target_id},
                )
            versions = await self._lineage.list_versions(conn, pattern_id)
            old = next((v for v in versions if v.status is EnumVersionStatus.ACTIVE), None)
            if old is not None and old.version_id == target_id:
                raise ModelOnexError(
                    EnumErrorCode.CONFLICT,
                    f"{target_id} is already the active version of {pattern_id!r}; "
                    "nothing to roll back",
                    correlation_id=correlation_id,
                    details={"version_id": target_id},
                )
            # Archive first: the database allows one active version per pattern.
            if old is not None:
                await self._lineage.set_status(conn, old.version_id, EnumVersionStatus.ARCHIVED)
            restored = await self._lineage.create_version(
                conn,
                ModelPatternVersion(
                    pattern_id=pattern_id,
                    version=await self._lineage.next_version(conn, pattern_id),
                    status=EnumVersionStatus.ACTIVE,
                    config=target.config,
                    traffic_weight=1.0,
                    correlation_id=correlation_id,
                ),
                parents=[(target_id, EnumLineageRelation.ROLLED_BACK_TO)],
                correlation_id=correlation_id,
            )
            new_id = restored.version_id
            retired = await self._improvements.retire_open(
                conn,
                pattern_id,
                actor=request.actor,
                reason=f"superseded: rollback to {target_id} made {new_id} active",
                correlation_id=correlation_id,
            )
            # retire_open left no candidate in testing: the restored version takes all traffic.
            await self._improvements.rebalance(conn, pattern_id, candidate_traffic=0.0)
            await write_audit(
                conn,
                actor=request.actor,
                action="rollback",
                pattern_id=pattern_id,
                version_id=new_id,
                correlation_id=correlation_id,
                reason=request.reason,
                details={
                    "restored_from": target_id,
                    "replaced": old.version_id if old is not None else None,
                    "retired_improvements": [str(i.improvement_id) for i in retired],
                },
            )
            if old is not None:
                await write_audit(
                    conn,
                    actor=request.actor,
                    action="archive",
                    pattern_id=pattern_id,
                    version_id=old.version_id,
                    correlation_id=correlation_id,
                    reason=f"replaced by {new_id} (rollback to {target_id})",
                )
        return ModelRollbackOutput(
            version=restored,
            restored_from=target_id,
            archived=old.version_id if old is not None else None,
            retired_improvements=[i.improvement_id for i in retired],
            correlation_id=correlation_id,
        )
