"""Improvement lifecycle writes: proposals become candidates; decisions move them on.

Every method runs in ONE transaction on the caller's connection, under the pattern's lock,
and writes the versions, lineage edges, improvement rows, traffic weights and audit rows of
one change together. Shared by the loop (actor: the loop) and the CLI (approve/reject).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from uuid import UUID

import asyncpg

from contracts.enum_error_code import EnumErrorCode
from contracts.enum_lineage_relation import EnumLineageRelation
from contracts.enum_loop import EnumImprovementStatus
from contracts.enum_version_status import EnumVersionStatus
from contracts.model_onex_error import ModelOnexError
from contracts.model_pattern_improvement import ModelPatternImprovement, ModelProposal
from contracts.model_pattern_version import ModelPatternVersion
from nodes.compute.allocation import split_weights
from nodes.effect.node_lineage_store_effect import NodeLineageStoreEffect
from nodes.storage import sql_improvements
from nodes.storage.channels import notify_versions_changed
from nodes.storage.locks import pattern_lock_key
from nodes.storage.sql_audit import AuditAction, write_audit


class NodeImprovementStoreEffect:
    def __init__(self, lineage_store: NodeLineageStoreEffect) -> None:
        self._lineage = lineage_store

    async def list_by_status(
        self,
        conn: asyncpg.Connection,
        pattern_id: str | None,
        statuses: Sequence[EnumImprovementStatus] | None = None,
    ) -> list[ModelPatternImprovement]:
        """``pattern_id=None``: every pattern's (the review queue)."""
        return await sql_improvements.list_improvements(conn, pattern_id, statuses)

    async def rebalance(
        self, conn: asyncpg.Connection, pattern_id: str, candidate_traffic: float
    ) -> None:
        """Active + candidates in testing share the traffic (with none in testing the active
        version takes it all); tells allocators to refresh. Call inside the changing
        transaction."""
        versions = await self._lineage.list_versions(conn, pattern_id)
        active = next(v for v in versions if v.status is EnumVersionStatus.ACTIVE)
        testing = [v.version_id for v in versions if v.status is EnumVersionStatus.TESTING]
        weights = split_weights(active.version_id, testing, candidate_traffic)
        for version in versions:
            weight = weights.get(version.version_id, 0.0)
            if version.traffic_weight != weight:
                await self._lineage.set_traffic_weight(conn, version.version_id, weight)
        await notify_versions_changed(conn, pattern_id)

    async def start_candidates(
        self,
        conn: asyncpg.Connection,
        base: ModelPatternVersion,
        proposals: Sequence[ModelProposal],
        *,
        candidate_traffic: float,
        correlation_id: UUID,
        actor: str,
    ) -> list[ModelPatternImprovement]:
        """Each proposal becomes a testing version derived from ``base``, with its improvement."""
        started = []
        async with conn.transaction():
            for proposal in proposals:
                version = ModelPatternVersion(
                    pattern_id=base.pattern_id,
                    version=await self._lineage.next_version(conn, base.pattern_id),
                    status=EnumVersionStatus.TESTING,
                    config=proposal.apply_to(base.config),
                    correlation_id=correlation_id,
                )
                await self._lineage.create_version(
                    conn,
                    version,
                    parents=[(base.version_id, EnumLineageRelation.DERIVED_FROM)],
                    correlation_id=correlation_id,
                )
                improvement = ModelPatternImprovement(
                    improvement_id=uuid.uuid4(),
                    pattern_id=base.pattern_id,
                    base_version_id=base.version_id,
                    candidate_version_id=version.version_id,
                    generator=proposal.generator,
                    improvement_type=proposal.improvement_type,
                    description=proposal.description,
                    config_diff=proposal.config_diff,
                    expected_delta=proposal.expected_delta,
                    risk=proposal.risk,
                    status=EnumImprovementStatus.TESTING,
                    correlation_id=correlation_id,
                )
                await sql_improvements.insert_improvement(conn, improvement)
                await write_audit(
                    conn,
                    actor=actor,
                    action="propose",
                    pattern_id=base.pattern_id,
                    version_id=version.version_id,
                    improvement_id=improvement.improvement_id,
                    correlation_id=correlation_id,
                    reason=proposal.description,
                    details={"generator": proposal.generator, "risk": proposal.risk.value},
                )
                started.append(improvement)
            await self.rebalance(conn, base.pattern_id, candidate_traffic)
        return started

    async def record_look(
        self,
        conn: asyncpg.Connection,
        improvement_id: UUID,
        *,
        p_value: float | None,
        confidence: float,
        performance_delta: float,
        reason: str,
        correlation_id: UUID,
    ) -> None:
        """Keep testing, remembering this look's numbers (the next look starts from them)."""
        await sql_improvements.update_improvement(
            conn,
            improvement_id,
            status=EnumImprovementStatus.TESTING,
            p_value=p_value,
            confidence=confidence,
            performance_delta=performance_delta,
            decision_reason=reason,
            correlation_id=correlation_id,
        )

    async def _load(
        self, conn: asyncpg.Connection, improvement_id: UUID, allowed: set[EnumImprovementStatus]
    ) -> ModelPatternImprovement:
        improvement = await sql_improvements.get_improvement(conn, improvement_id, for_update=True)
        if improvement is None:
            raise ModelOnexError(EnumErrorCode.NOT_FOUND, f"no improvement {improvement_id}")
        if improvement.status not in allowed:
            raise ModelOnexError(
                EnumErrorCode.CONFLICT,
                f"improvement {improvement_id} is {improvement.status.value}; expected "
                + " or ".join(sorted(s.value for s in allowed)),
            )
        return improvement

    async def mark_validated(
        self,
        conn: asyncpg.Connection,
        improvement_id: UUID,
        *,
        p_value: float | None,
        confidence: float,
        performance_delta: float,
        reason: str,
        correlation_id: UUID,
        actor: str,
    ) -> ModelPatternImprovement:
        """Significant but below the auto-apply threshold: waits for a human."""
        async with conn.transaction():
            improvement = await self._load(conn, improvement_id, {EnumImprovementStatus.TESTING})
            await sql_improvements.update_improvement(
                conn,
                improvement_id,
                status=EnumImprovementStatus.VALIDATED,
                p_value=p_value,
                confidence=confidence,
                performance_delta=performance_delta,
                decision_reason=reason,
                correlation_id=correlation_id,
            )
            await write_audit(
                conn,
                actor=actor,
                action="validate",
                pattern_id=improvement.pattern_id,
                version_id=improvement.candidate_version_id,
                improvement_id=improvement_id,
                correlation_id=correlation_id,
                reason=reason,
                details={
                    "p_value": p_value,
                    "confidence": confidence,
                    "performance_delta": performance_delta,
                },
            )
        return improvement

    async def promote(
        self,
        conn: asyncpg.Connection,
        improvement_id: UUID,
        *,
        action: AuditAction,
        actor: str,
        reason: str,
        correlation_id: UUID | None,
        p_value: float | None = None,
        confidence: float | None = None,
        performance_delta: float | None = None,
    ) -> ModelPatternImprovement:
        """The candidate becomes active, the old active is archived (``improved_version``
        edge), and other candidates are rejected as superseded: they were tested against a
        control that is no longer active."""
        allowed = (
            {EnumImprovementStatus.VALIDATED}
            if action == "approve"
            else {EnumImprovementStatus.TESTING, EnumImprovementStatus.VALIDATED}
        )
        async with conn.transaction():
            improvement = await self._load(conn, improvement_id, allowed)
            candidate_id = improvement.candidate_version_id
            assert candidate_id is not None
            versions = await self._lineage.list_versions(conn, improvement.pattern_id)
            old = next(v for v in versions if v.status is EnumVersionStatus.ACTIVE)
            await self._lineage.set_status(conn, old.version_id, EnumVersionStatus.ARCHIVED)
            await self._lineage.set_status(conn, candidate_id, EnumVersionStatus.ACTIVE)
            await self._lineage.add_edge(
                conn,
                old.version_id,
                candidate_id,
                EnumLineageRelation.IMPROVED_VERSION,
                correlation_id=correlation_id,
            )
            await sql_improvements.update_improvement(
                conn,
                improvement_id,
                status=EnumImprovementStatus.APPLIED,
                p_value=p_value,
                confidence=confidence,
                performance_delta=performance_delta,
                decision_reason=reason,
                correlation_id=correlation_id,
            )
            await write_audit(
                conn,
                actor=actor,
                action=action,
                pattern_id=improvement.pattern_id,
                version_id=candidate_id,
                improvement_id=improvement_id,
                correlation_id=correlation_id,
                reason=reason,
                details={
                    "replaced": old.version_id,
                    "p_value": p_value,
                    "confidence": confidence,
                    "performance_delta": performance_delta,
                },
            )
            await write_audit(
                conn,
                actor=actor,
                action="archive",
                pattern_id=improvement.pattern_id,
                version_id=old.version_id,
                correlation_id=correlation_id,
                reason=f"replaced by {candidate_id}",
            )
            await self.retire_open(
                conn,
                improvement.pattern_id,
                actor=actor,
                reason=f"superseded: {candidate_id} became active",
                correlation_id=correlation_id,
            )
            await self.rebalance(conn, improvement.pattern_id, candidate_traffic=0.0)
        return improvement

    async def reject(
        self,
        conn: asyncpg.Connection,
        improvement_id: UUID,
        *,
        actor: str,
        reason: str,
        correlation_id: UUID | None,
        p_value: float | None = None,
        confidence: float | None = None,
        performance_delta: float | None = None,
        candidate_traffic: float = 0.5,
    ) -> ModelPatternImprovement:
        async with conn.transaction():
            improvement = await self._load(
                conn,
                improvement_id,
                {EnumImprovementStatus.TESTING, EnumImprovementStatus.VALIDATED},
            )
            await self._retire(
                conn,
                improvement,
                actor=actor,
                correlation_id=correlation_id,
                reason=reason,
                p_value=p_value,
                confidence=confidence,
                performance_delta=performance_delta,
            )
            await self.rebalance(conn, improvement.pattern_id, candidate_traffic)
        return improvement

    async def retire_open(
        self,
        conn: asyncpg.Connection,
        pattern_id: str,
        *,
        actor: str,
        reason: str,
        correlation_id: UUID | None,
    ) -> list[ModelPatternImprovement]:
        """Reject every improvement still in testing or validated: once the active version
        changes, their A/B results were measured against a control that is gone. Call inside
        the transaction (under the pattern's lock) that changes the active version."""
        open_ = await sql_improvements.list_improvements(
            conn, pattern_id, [EnumImprovementStatus.TESTING, EnumImprovementStatus.VALIDATED]
        )
        for improvement in open_:
            await self._retire(
                conn, improvement, actor=actor, correlation_id=correlation_id, reason=reason
            )
        return open_

    async def _retire(
        self,
        conn: asyncpg.Connection,
        improvement: ModelPatternImprovement,
        *,
        actor: str,
        correlation_id: UUID | None,
        reason: str,
        p_value: float | None = None,
        confidence: float | None = None,
        performance_delta: float | None = None,
    ) -> None:
        await sql_improvements.update_improvement(
            conn,
            improvement.improvement_id,
            status=EnumImprovementStatus.REJECTED,
            p_value=p_value,
            confidence=confidence,
            performance_delta=performance_delta,
            decision_reason=reason,
            correlation_id=correlation_id,
        )
        if improvement.candidate_version_id is not None:
            await self._lineage.set_status(
                conn, improvement.candidate_version_id, EnumVersionStatus.REJECTED
            )
        await write_audit(
            conn,
            actor=actor,
            action="reject",
            pattern_id=improvement.pattern_id,
            version_id=improvement.candidate_version_id,
            improvement_id=improvement.improvement_id,
            correlation_id=correlation_id,
            reason=reason,
        )

    async def review(
        self,
        conn: asyncpg.Connection,
        improvement_id: UUID,
        *,
        approve: bool,
        actor: str,
        reason: str,
    ) -> ModelPatternImprovement:
        """A human's approve/reject, serialised with loop runs by the pattern's lock."""
        found = await sql_improvements.get_improvement(conn, improvement_id)
        if found is None:
            raise ModelOnexError(EnumErrorCode.NOT_FOUND, f"no improvement {improvement_id}")
        async with conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock($1)", pattern_lock_key(found.pattern_id)
            )
            if approve:
                return await self.promote(
                    conn,
                    improvement_id,
                    action="approve",
                    actor=actor,
                    reason=reason,
                    correlation_id=None,
                )
            return await self.reject(
                conn, improvement_id, actor=actor, reason=reason, correlation_id=None
            )
