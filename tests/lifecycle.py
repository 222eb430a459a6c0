"""Drive the improvement lifecycle in tests the way the loop and the CLI do: events through the
lifecycle effect, in one transaction each."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from uuid import UUID

import asyncpg

from contracts.enum_loop import EnumImprovementStatus
from contracts.model_improvement_lifecycle import (
    EnumLifecycleEvent,
    ModelDecisionEvidence,
    ModelLifecycleEvent,
    ModelLifecycleRequest,
)
from contracts.model_pattern_improvement import ModelPatternImprovement, ModelProposal
from contracts.model_pattern_version import ModelPatternVersion
from contracts.model_rollback import ModelRollbackInput
from nodes.effect.node_improvement_lifecycle_effect import NodeImprovementLifecycleEffect
from nodes.effect.node_lineage_store_effect import NodeLineageStoreEffect
from nodes.effect.node_version_rollback_effect import NodeVersionRollbackEffect
from nodes.reducer.node_improvement_lifecycle_reducer import NodeImprovementLifecycleReducer
from nodes.storage import sql_improvements

STORE = NodeLineageStoreEffect()
LIFECYCLE = NodeImprovementLifecycleEffect(STORE, NodeImprovementLifecycleReducer())
ROLLBACK = NodeVersionRollbackEffect(STORE, LIFECYCLE)


async def propose(
    conn: asyncpg.Connection,
    pattern_id: str,
    proposals: Sequence[ModelProposal],
    *,
    candidate_traffic: float = 0.5,
) -> list[ModelPatternImprovement]:
    done = await LIFECYCLE.execute_effect(
        conn,
        ModelLifecycleRequest(
            pattern_id=pattern_id,
            events=(
                ModelLifecycleEvent(event=EnumLifecycleEvent.PROPOSE, proposals=tuple(proposals)),
            ),
            actor="t",
            correlation_id=uuid.uuid4(),
            candidate_traffic=candidate_traffic,
        ),
    )
    return list(done.improvements)


async def decide(
    conn: asyncpg.Connection,
    pattern_id: str,
    improvement_id: UUID,
    event: EnumLifecycleEvent,
    **evidence: object,
) -> ModelPatternImprovement:
    done = await LIFECYCLE.execute_effect(
        conn,
        ModelLifecycleRequest(
            pattern_id=pattern_id,
            events=(
                ModelLifecycleEvent(
                    event=event,
                    improvement_id=improvement_id,
                    evidence=ModelDecisionEvidence.model_validate(
                        {"reason": str(event.value), **evidence}
                    ),
                ),
            ),
            actor="t",
        ),
    )
    return next(i for i in done.improvements if i.improvement_id == improvement_id)


async def improvements(
    conn: asyncpg.Connection,
    pattern_id: str | None,
    statuses: Sequence[EnumImprovementStatus] | None = None,
) -> list[ModelPatternImprovement]:
    return await sql_improvements.list_improvements(conn, pattern_id, statuses)


async def rollback(
    conn: asyncpg.Connection,
    pattern_id: str,
    to_version: str,
    *,
    actor: str,
    reason: str,
    correlation_id: UUID | None = None,
) -> ModelPatternVersion:
    request = ModelRollbackInput(
        pattern_id=pattern_id,
        to_version=to_version,
        actor=actor,
        reason=reason,
        correlation_id=correlation_id,
    )
    return (await ROLLBACK.execute_effect(conn, request)).version
