"""Rollback: an operator restores an older config of a pattern as a NEW active version.

History is never rewritten: the restored config gets a fresh version number and a
``rolled_back_to`` edge from the version it was copied from, so the lineage shows both what ran
and why. Everything happens in one transaction under the pattern's advisory lock, so a rollback
and a loop run (or two rollbacks) of one pattern never interleave.
"""

from __future__ import annotations

import uuid

import asyncpg

from contracts.enum_error_code import EnumErrorCode
from contracts.enum_lineage_relation import EnumLineageRelation
from contracts.enum_version_status import EnumVersionStatus
from contracts.model_improvement_lifecycle import (
    EnumLifecycleEvent,
    ModelDecisionEvidence,
    ModelLifecycleEvent,
    ModelLifecycleRequest,
)
from contracts.model_onex_error import ModelOnexError
from contracts.model_pattern_version import ModelPatternVersion, make_version_id
from contracts.model_rollback import ModelRollbackInput, ModelRollbackOutput
from nodes.effect.node_improvement_lifecycle_effect import NodeImprovementLifecycleEffect
from nodes.effect.node_lineage_store_effect import NodeLineageStoreEffect
from nodes.storage.locks import lock_pattern_for_transaction
from nodes.storage.sql_audit import write_audit


class NodeVersionRollbackEffect:
    def __init__(
        self, lineage_store: NodeLineageStoreEffect, lifecycle: NodeImprovementLifecycleEffect
    ) -> None:
        self._lineage = lineage_store
        self._lifecycle = lifecycle

    async def execute_effect(
        self, conn: asyncpg.Connection, request: ModelRollbackInput
    ) -> ModelRollbackOutput:
        pattern_id = request.pattern_id
        target_id = make_version_id(pattern_id, request.to_version)
        correlation_id = request.correlation_id or uuid.uuid4()
        async with conn.transaction():
            await lock_pattern_for_transaction(conn, pattern_id)
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
            if old is not None and old.config == target.config:
                # Already there (this very version, or a rollback that won the race): a retry
                # or a concurrent rollback must not stack up new versions.
                return ModelRollbackOutput(
                    version=old,
                    restored_from=target_id,
                    archived=None,
                    retired_improvements=[],
                    correlation_id=correlation_id,
                    changed=False,
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
            # Open candidates were tested against the old control: superseded. With none left
            # in testing, the traffic policy gives the restored version all traffic.
            superseded = await self._lifecycle.execute_effect(
                conn,
                ModelLifecycleRequest(
                    pattern_id=pattern_id,
                    events=(
                        ModelLifecycleEvent(
                            event=EnumLifecycleEvent.SUPERSEDE,
                            evidence=ModelDecisionEvidence(
                                reason=f"superseded: rollback to {target_id} made {new_id} active"
                            ),
                        ),
                    ),
                    actor=request.actor,
                    correlation_id=correlation_id,
                ),
            )
            retired = superseded.improvements
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
