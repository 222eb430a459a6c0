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
    ModelLifecycleOutput,
    ModelLifecycleRequest,
    ModelLifecycleResult,
    ModelLifecycleState,
)
from contracts.model_pattern_improvement import ModelPatternImprovement
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
        improvements: Sequence[ModelPatternImprovement] | None = None,
    ) -> ModelLifecycleResult:
        """``versions`` and ``improvements``: the pattern's versions and open improvements as
        the caller read them on ``conn`` while holding the pattern's session lock ever since
        (a loop run). Every writer of versions and improvements takes that lock, so they are
        still what a read here would return, and the lock is already held: the run saves the
        lock and the reads. A change of one statement (a look recorded, the usual outcome of
        a run) then needs no transaction of its own either. ``versions`` None takes the
        transaction's lock and reads them here; ``improvements`` None reads (and locks) them
        here."""
        named = {e.improvement_id for e in request.events if e.improvement_id is not None}
        if (
            versions is not None
            and improvements is not None
            and named <= {i.improvement_id for i in improvements}
        ):
            reduced = self._reduce(request, versions, improvements)
            if len(reduced.intents) == 1 and _one_statement(reduced.intents[0]):
                await self._apply(conn, reduced.intents[0])
            else:
                async with conn.transaction():
                    for intent in reduced.intents:
                        await self._apply(conn, intent)
            return _result(request, reduced)
        async with conn.transaction():
            if versions is None:
                await lock_pattern_for_transaction(conn, request.pattern_id)
                versions = await self._lineage.list_versions(conn, request.pattern_id)
            locked = await sql_improvements.lock_for_lifecycle(conn, request.pattern_id, [*named])
            reduced = self._reduce(request, versions, locked)
            for intent in reduced.intents:
                await self._apply(conn, intent)
        return _result(request, reduced)

    def _reduce(
        self,
        request: ModelLifecycleRequest,
        versions: Sequence[ModelPatternVersion],
        improvements: Sequence[ModelPatternImprovement],
    ) -> ModelLifecycleOutput:
        return self._reducer.reduce(
            ModelLifecycleInput(
                state=ModelLifecycleState(
                    pattern_id=request.pattern_id,
                    versions=tuple(versions),
                    improvements=tuple(improvements),
                ),
                events=request.events,
                actor=request.actor,
                correlation_id=request.correlation_id,
                candidate_traffic=request.candidate_traffic,
                holdback=request.holdback,
                watch_days=request.watch_days,
                as_of=request.as_of,
            )
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


def _one_statement(intent: ModelIntent) -> bool:
    """Intents carried out by one SQL statement (atomic without a transaction): an
    improvement's update with its look (``update_improvement``: one statement)."""
    return isinstance(intent, ModelIntentUpdateImprovement)


def _result(request: ModelLifecycleRequest, reduced: ModelLifecycleOutput) -> ModelLifecycleResult:
    return ModelLifecycleResult(
        pattern_id=request.pattern_id,
        versions=reduced.state.versions,
        improvements=reduced.improvements,
        intents_applied=len(reduced.intents),
    )
