"""Applies the improvement lifecycle: reads the pattern's state under its lock, asks the
reducer for intents, and carries them out in ONE transaction on the caller's connection
(versions, lineage edges, improvement rows, traffic weights, NOTIFY and audit rows of one
change land together or not at all)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from contracts.model_improvement_lifecycle import (
    ModelIntent,
    ModelIntentAddEdge,
    ModelIntentCreateVersion,
    ModelIntentInsertImprovement,
    ModelIntentNotifyVersionsChanged,
    ModelIntentSetTrafficWeight,
    ModelIntentSetVersionStatus,
    ModelIntentUpdateImprovement,
    ModelIntentWriteAudit,
    ModelLifecycleInput,
    ModelLifecycleRequest,
    ModelLifecycleResult,
    ModelLifecycleState,
)
from contracts.model_pattern_version import ModelPatternVersion
from nodes.effect.node_lineage_store_effect import NodeLineageStoreEffect
from nodes.reducer.node_improvement_lifecycle_reducer import NodeImprovementLifecycleReducer
from nodes.storage import sql_improvements
from nodes.storage.channels import notify_versions_changed
from nodes.storage.locks import lock_pattern_for_transaction
from nodes.storage.sql_audit import write_audit


class NodeImprovementLifecycleEffect:
    def __init__(
        self, lineage_store: NodeLineageStoreEffect, reducer: NodeImprovementLifecycleReducer
    ) -> None:
        self._lineage = lineage_store
        self._reducer = reducer

    async def execute_effect(
        self,
        conn: asyncpg.Connection,
        request: ModelLifecycleRequest,
        *,
        versions: Sequence[ModelPatternVersion] | None = None,
    ) -> ModelLifecycleResult:
        """``versions``: the pattern's versions as the caller read them on ``conn`` while
        holding the pattern's session lock ever since (a loop run: every writer of versions
        takes that lock, so they are still what a read here would return, and the lock is
        already held: the run saves both round trips); None takes the transaction's lock and
        reads them here."""
        named = [e.improvement_id for e in request.events if e.improvement_id is not None]
        async with conn.transaction():
            if versions is None:
                await lock_pattern_for_transaction(conn, request.pattern_id)
                versions = await self._lineage.list_versions(conn, request.pattern_id)
            state = ModelLifecycleState(
                pattern_id=request.pattern_id,
                versions=tuple(versions),
                improvements=tuple(
                    await sql_improvements.lock_for_lifecycle(conn, request.pattern_id, named)
                ),
            )
            reduced = self._reducer.reduce(
                ModelLifecycleInput(
                    state=state,
                    events=request.events,
                    actor=request.actor,
                    correlation_id=request.correlation_id,
                    candidate_traffic=request.candidate_traffic,
                    holdback=request.holdback,
                    watch_days=request.watch_days,
                    as_of=request.as_of,
                )
            )
            for intent in reduced.intents:
                await self._apply(conn, intent)
        return ModelLifecycleResult(
            pattern_id=request.pattern_id,
            versions=reduced.state.versions,
            improvements=reduced.improvements,
            intents_applied=len(reduced.intents),
        )

    async def _apply(self, conn: asyncpg.Connection, intent: ModelIntent) -> None:
        match intent:
            case ModelIntentCreateVersion():
                await self._lineage.create_version(
                    conn,
                    intent.version,
                    parents=[(intent.parent_id, intent.relation)],
                    correlation_id=intent.version.correlation_id,
                )
            case ModelIntentInsertImprovement():
                await sql_improvements.insert_improvement(conn, intent.improvement)
            case ModelIntentUpdateImprovement():
                look = intent.evidence.look
                decision = str((look or {}).get("decision", intent.status.value))
                await sql_improvements.update_improvement(
                    conn,
                    intent.improvement_id,
                    status=intent.status,
                    decision_reason=intent.evidence.reason or None,
                    correlation_id=intent.correlation_id,
                    new_check_epoch=intent.new_check_epoch,
                    watch_days=intent.watch_days,
                    watch_outcome=intent.watch_outcome,
                    watch_from=intent.watch_from,
                    look=None if look is None else (decision, look),
                    **intent.evidence.numbers(),
                )
            case ModelIntentSetVersionStatus():
                await self._lineage.set_status(conn, intent.version_id, intent.status)
            case ModelIntentAddEdge():
                await self._lineage.add_edge(
                    conn,
                    intent.parent_id,
                    intent.child_id,
                    intent.relation,
                    correlation_id=intent.correlation_id,
                )
            case ModelIntentSetTrafficWeight():
                await self._lineage.set_traffic_weight(conn, intent.version_id, intent.weight)
            case ModelIntentNotifyVersionsChanged():
                await notify_versions_changed(conn, intent.pattern_id)
            case ModelIntentWriteAudit():
                await write_audit(
                    conn,
                    actor=intent.actor,
                    action=intent.action,
                    pattern_id=intent.pattern_id,
                    reason=intent.reason,
                    version_id=intent.version_id,
                    improvement_id=intent.improvement_id,
                    correlation_id=intent.correlation_id,
                    details=intent.details,
                )
