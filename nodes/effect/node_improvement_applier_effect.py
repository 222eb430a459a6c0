"""Apply: carries out the validate stage's decisions, all in one transaction (the store's
own transactions nest as savepoints), so a failure leaves none of them half-done.

A promotion is done last: it rejects the pattern's other candidates as superseded, so the
other decisions of the same run must already be recorded by then.
"""

from __future__ import annotations

from uuid import UUID

import asyncpg

from contracts.enum_loop import EnumDecision
from contracts.model_apply import ModelApplyInput, ModelApplyOutput
from nodes.effect.node_improvement_store_effect import NodeImprovementStoreEffect


class NodeImprovementApplierEffect:
    def __init__(self, store: NodeImprovementStoreEffect) -> None:
        self._store = store

    async def apply(self, conn: asyncpg.Connection, contract: ModelApplyInput) -> ModelApplyOutput:
        out: dict[str, list[UUID]] = {
            "applied": [],
            "validated": [],
            "rejected": [],
            "continuing": [],
        }
        touched: list[str] = []
        active: str | None = None
        async with conn.transaction():
            for result in sorted(contract.results, key=lambda r: r.decision is EnumDecision.APPLY):
                if result.decision is EnumDecision.APPLY:
                    improvement = await self._store.promote(
                        conn,
                        result.improvement_id,
                        action="apply",
                        actor=contract.actor,
                        reason=result.reason,
                        correlation_id=contract.correlation_id,
                        p_value=result.p_value,
                        confidence=result.confidence,
                        performance_delta=result.performance_delta,
                    )
                    out["applied"].append(result.improvement_id)
                    active = result.candidate_version_id
                    touched += [improvement.base_version_id, result.candidate_version_id]
                elif result.decision is EnumDecision.REVIEW:
                    await self._store.mark_validated(
                        conn,
                        result.improvement_id,
                        actor=contract.actor,
                        reason=result.reason,
                        correlation_id=contract.correlation_id,
                        p_value=result.p_value,
                        confidence=result.confidence,
                        performance_delta=result.performance_delta,
                    )
                    out["validated"].append(result.improvement_id)
                    touched.append(result.candidate_version_id)
                elif result.decision is EnumDecision.REJECT:
                    await self._store.reject(
                        conn,
                        result.improvement_id,
                        actor=contract.actor,
                        reason=result.reason,
                        candidate_traffic=contract.candidate_traffic,
                        correlation_id=contract.correlation_id,
                        p_value=result.p_value,
                        confidence=result.confidence,
                        performance_delta=result.performance_delta,
                    )
                    out["rejected"].append(result.improvement_id)
                    touched.append(result.candidate_version_id)
                else:
                    await self._store.record_look(
                        conn,
                        result.improvement_id,
                        reason=result.reason,
                        correlation_id=contract.correlation_id,
                        p_value=result.p_value,
                        confidence=result.confidence,
                        performance_delta=result.performance_delta,
                    )
                    out["continuing"].append(result.improvement_id)
        return ModelApplyOutput(
            **out, versions_touched=list(dict.fromkeys(touched)), active_version_id=active
        )
