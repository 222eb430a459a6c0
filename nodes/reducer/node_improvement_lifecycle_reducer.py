"""The improvement lifecycle as a reducer: (state, events) -> intents. Pure.

Its states, transitions and guards are data (``IMPROVEMENT_LIFECYCLE``); this module only says
what each transition means for the pattern: which rows change, which edge and audit rows are
written, and how traffic is split afterwards (the traffic policy). One effect applies the
intents in one transaction, in the order given (archive before activate: the database allows
one active version per pattern).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from uuid import UUID

from contracts.enum_error_code import EnumErrorCode
from contracts.enum_lineage_relation import EnumLineageRelation
from contracts.enum_loop import EnumDecision, EnumImprovementStatus
from contracts.enum_version_status import EnumVersionStatus
from contracts.model_fsm import ModelFsmDefinition, ModelFsmTransition
from contracts.model_improvement_lifecycle import (
    AuditAction,
    EnumLifecycleEvent,
    ModelDecisionEvidence,
    ModelIntent,
    ModelIntentAddEdge,
    ModelIntentCreateVersion,
    ModelIntentInsertImprovement,
    ModelIntentNotifyVersionsChanged,
    ModelIntentSetTrafficWeight,
    ModelIntentSetVersionStatus,
    ModelIntentUpdateImprovement,
    ModelIntentWriteAudit,
    ModelLifecycleEvent,
    ModelLifecycleInput,
    ModelLifecycleOutput,
    ModelLifecycleState,
)
from contracts.model_onex_error import ModelOnexError
from contracts.model_pattern_improvement import ModelPatternImprovement
from contracts.model_pattern_version import ModelPatternVersion, bump_minor
from contracts.model_traffic_policy import ModelTrafficPolicyInput
from contracts.model_validation import ModelValidationResult
from nodes.compute.node_traffic_policy_compute import NodeTrafficPolicyCompute
from nodes.reducer.fsm import fire

_S = EnumImprovementStatus
_E = EnumLifecycleEvent


def _t(source: _S, event: _E, target: _S, *guards: str) -> ModelFsmTransition:
    return ModelFsmTransition(
        source=source.value, event=event.value, target=target.value, guards=guards
    )


IMPROVEMENT_LIFECYCLE = ModelFsmDefinition(
    name="improvement",
    states=tuple(s.value for s in EnumImprovementStatus),
    initial=_S.PROPOSED.value,
    # applied is not terminal: a watched change can still be held or rolled back.
    terminal=(_S.REJECTED.value, _S.INCONCLUSIVE.value),
    transitions=(
        _t(_S.PROPOSED, _E.PROPOSE, _S.TESTING),
        _t(_S.TESTING, _E.CONTINUE, _S.TESTING),
        _t(_S.TESTING, _E.REVIEW, _S.VALIDATED, "significant"),
        _t(_S.TESTING, _E.APPLY, _S.APPLIED, "significant"),
        _t(_S.VALIDATED, _E.APPROVE, _S.APPLIED),
        _t(_S.TESTING, _E.REJECT, _S.REJECTED),
        _t(_S.TESTING, _E.CONCLUDE, _S.INCONCLUSIVE),
        _t(_S.TESTING, _E.BLOCK, _S.BLOCKED),
        _t(_S.BLOCKED, _E.RESUME, _S.TESTING),
        _t(_S.BLOCKED, _E.REJECT, _S.REJECTED),
        _t(_S.BLOCKED, _E.SUPERSEDE, _S.REJECTED),
        _t(_S.APPLIED, _E.CONTINUE, _S.APPLIED, "watching"),
        _t(_S.APPLIED, _E.HOLD, _S.APPLIED, "watching"),
        _t(_S.APPLIED, _E.REGRESS, _S.APPLIED, "watching"),
        _t(_S.VALIDATED, _E.REJECT, _S.REJECTED),
        _t(_S.TESTING, _E.SUPERSEDE, _S.REJECTED),
        _t(_S.VALIDATED, _E.SUPERSEDE, _S.REJECTED),
    ),
)

_EVENT_OF_DECISION = {
    EnumDecision.APPLY: _E.APPLY,
    EnumDecision.REVIEW: _E.REVIEW,
    EnumDecision.REJECT: _E.REJECT,
    EnumDecision.CONTINUE: _E.CONTINUE,
    EnumDecision.INCONCLUSIVE: _E.CONCLUDE,
    EnumDecision.BLOCK: _E.BLOCK,
    EnumDecision.HOLD: _E.HOLD,
    EnumDecision.ROLLBACK: _E.REGRESS,
}
_AUDIT_OF_EVENT: dict[_E, AuditAction] = {
    _E.REVIEW: "validate",
    _E.APPLY: "apply",
    _E.APPROVE: "approve",
    _E.REJECT: "reject",
    _E.SUPERSEDE: "reject",
    _E.CONCLUDE: "inconclusive",
    _E.BLOCK: "block",
    _E.RESUME: "resume",
    _E.HOLD: "hold",
}


def events_for_decisions(
    results: Iterable[ModelValidationResult],
) -> tuple[ModelLifecycleEvent, ...]:
    """The validate stage's decisions as lifecycle events, promotions last: a promotion
    supersedes the pattern's other candidates, so their own decisions must come first. A
    rollback comes alone: every other decision of the run measured its candidate against the
    version being rolled back, and the rollback supersedes those candidates anyway."""
    results = list(results)
    rollbacks = [r for r in results if r.decision is EnumDecision.ROLLBACK]
    if rollbacks:
        results = rollbacks[:1]
    events = [
        ModelLifecycleEvent(
            event=_EVENT_OF_DECISION[r.decision],
            improvement_id=r.improvement_id,
            evidence=ModelDecisionEvidence(
                reason=r.reason,
                # A watch look keeps the numbers that decided the apply.
                p_value=None if r.watch else r.p_value,
                confidence=None if r.watch else r.confidence,
                performance_delta=None if r.watch else r.performance_delta,
                significant=r.significant,
                look=r.model_dump(mode="json", exclude={"improvement_id"}),
            ),
        )
        for r in results
    ]
    return tuple(sorted(events, key=lambda e: e.event is _E.APPLY))


@dataclass
class _Fold:
    """The state while events are reduced: versions and improvements by id, plus intents."""

    pattern_id: str
    versions: dict[str, ModelPatternVersion]
    improvements: dict[UUID, ModelPatternImprovement]
    actor: str
    correlation_id: UUID | None
    intents: list[ModelIntent] = field(default_factory=list)
    touched: list[ModelPatternImprovement] = field(default_factory=list)
    reweigh: bool = False
    request: ModelLifecycleInput | None = None
    """Holdback, watch length and the run's window end, for a change applied now."""
    watching: dict[UUID, str] = field(default_factory=dict)
    """Applied improvements under watch -> the previous version that keeps the holdback."""

    def watch_days(self) -> int | None:
        """How long a change applied now is watched; None when there is no watch."""
        r = self.request
        return r.watch_days if r is not None and r.holdback > 0 and r.watch_days > 0 else None

    def active(self) -> ModelPatternVersion:
        for version in self.versions.values():
            if version.status is EnumVersionStatus.ACTIVE:
                return version
        raise ModelOnexError(
            EnumErrorCode.NOT_FOUND, f"pattern {self.pattern_id!r} has no active version"
        )

    def set_version_status(self, version_id: str, status: EnumVersionStatus) -> None:
        self.versions[version_id] = self.versions[version_id].model_copy(update={"status": status})
        self.intents.append(ModelIntentSetVersionStatus(version_id=version_id, status=status))

    def audit(
        self,
        action: AuditAction,
        reason: str,
        *,
        version_id: str | None = None,
        improvement_id: UUID | None = None,
        details: Mapping[str, object] | None = None,
    ) -> None:
        self.intents.append(
            ModelIntentWriteAudit(
                actor=self.actor,
                action=action,
                pattern_id=self.pattern_id,
                reason=reason,
                version_id=version_id,
                improvement_id=improvement_id,
                correlation_id=self.correlation_id,
                details=dict(details or {}),
            )
        )

    def state(self) -> ModelLifecycleState:
        return ModelLifecycleState(
            pattern_id=self.pattern_id,
            versions=tuple(self.versions.values()),
            improvements=tuple(self.improvements.values()),
        )


class NodeImprovementLifecycleReducer:
    def __init__(self, traffic_policy: NodeTrafficPolicyCompute | None = None) -> None:
        self._traffic = traffic_policy or NodeTrafficPolicyCompute()
        self.definition = IMPROVEMENT_LIFECYCLE

    def reduce(self, contract: ModelLifecycleInput) -> ModelLifecycleOutput:
        state = contract.state
        fold = _Fold(
            pattern_id=state.pattern_id,
            versions={v.version_id: v for v in state.versions},
            improvements={i.improvement_id: i for i in state.improvements},
            actor=contract.actor,
            correlation_id=contract.correlation_id,
            request=contract,
        )
        active_id = next(
            (v.version_id for v in state.versions if v.status is EnumVersionStatus.ACTIVE), None
        )
        fold.watching = {
            i.improvement_id: i.base_version_id
            for i in state.improvements
            if i.watching and i.candidate_version_id == active_id
        }
        weights_before = {v.version_id: v.traffic_weight for v in state.versions}
        for event in contract.events:
            if event.event is _E.PROPOSE:
                self._propose(fold, event)
            elif event.event is _E.SUPERSEDE:
                self._supersede_open(fold, event.evidence.reason)
            else:
                assert event.improvement_id is not None  # the event contract guarantees it
                self._decide(fold, event, event.improvement_id)
        self._rebalance(fold, weights_before, contract.candidate_traffic)
        return ModelLifecycleOutput(
            state=fold.state(), intents=tuple(fold.intents), improvements=tuple(fold.touched)
        )

    # ---------------------------------------------------------------- transitions
    def _transition(
        self, improvement: ModelPatternImprovement, event: _E, evidence: ModelDecisionEvidence
    ) -> _S:
        moved = fire(
            self.definition,
            improvement.status.value,
            event.value,
            guards={"significant": evidence.significant, "watching": improvement.watching},
            subject=f"improvement {improvement.improvement_id}",
        )
        return _S(moved.target)

    def _record(
        self,
        fold: _Fold,
        improvement: ModelPatternImprovement,
        status: _S,
        evidence: ModelDecisionEvidence,
        *,
        new_check_epoch: bool = False,
        watch_days: int | None = None,
        watch_outcome: str | None = None,
    ) -> ModelPatternImprovement:
        updates: dict[str, object] = {"status": status}
        if watch_outcome is not None:
            updates["watch_outcome"] = watch_outcome
        updates.update({k: v for k, v in evidence.numbers().items() if v is not None})
        if evidence.reason:
            updates["decision_reason"] = evidence.reason
        if fold.correlation_id is not None:
            updates["correlation_id"] = fold.correlation_id
        changed = improvement.model_copy(update=updates)
        fold.improvements[improvement.improvement_id] = changed
        fold.intents.append(
            ModelIntentUpdateImprovement(
                improvement_id=improvement.improvement_id,
                status=status,
                evidence=evidence,
                correlation_id=fold.correlation_id,
                new_check_epoch=new_check_epoch,
                watch_days=watch_days,
                watch_outcome=watch_outcome,
                watch_from=fold.request.as_of if fold.request and watch_days else None,
            )
        )
        if _S.BLOCKED in (improvement.status, status) and improvement.status is not status:
            fold.reweigh = True  # a blocked candidate gets no traffic; resumed, it gets it back
        fold.touched.append(changed)
        return changed

    def _decide(self, fold: _Fold, event: ModelLifecycleEvent, improvement_id: UUID) -> None:
        improvement = fold.improvements.get(improvement_id)
        if improvement is None:
            raise ModelOnexError(EnumErrorCode.NOT_FOUND, f"no improvement {improvement_id}")
        target = self._transition(improvement, event.event, event.evidence)
        if event.event in (_E.HOLD, _E.REGRESS):
            self._end_watch(fold, improvement, event)
            return
        if improvement.status is _S.APPLIED:  # a look at a change under watch
            self._record(fold, improvement, target, event.evidence)
            return
        watch = fold.watch_days()
        self._record(
            fold,
            improvement,
            target,
            event.evidence,
            new_check_epoch=event.event is _E.RESUME,
            watch_days=watch if target is _S.APPLIED else None,
        )
        action = _AUDIT_OF_EVENT.get(event.event)
        candidate = improvement.candidate_version_id
        if target is _S.APPLIED:
            self._promote(fold, improvement, action or "apply", event.evidence)
        elif target in (_S.REJECTED, _S.INCONCLUSIVE):
            self._retire_candidate(fold, improvement, action or "reject", event.evidence.reason)
        elif action is not None:
            fold.audit(
                action,
                event.evidence.reason,
                version_id=candidate,
                improvement_id=improvement_id,
                details=event.evidence.numbers(),
            )

    def _retire_candidate(
        self,
        fold: _Fold,
        improvement: ModelPatternImprovement,
        action: AuditAction,
        reason: str,
    ) -> None:
        """The candidate leaves testing: its version is rejected (no traffic, its slot free);
        the improvement's own status says why (rejected or inconclusive)."""
        candidate = improvement.candidate_version_id
        if candidate is not None and candidate in fold.versions:
            fold.set_version_status(candidate, EnumVersionStatus.REJECTED)
        fold.audit(action, reason, version_id=candidate, improvement_id=improvement.improvement_id)

    def _promote(
        self,
        fold: _Fold,
        improvement: ModelPatternImprovement,
        action: AuditAction,
        evidence: ModelDecisionEvidence,
    ) -> None:
        """The candidate becomes active, the old active is archived (``improved_version``
        edge), and the other open improvements are superseded: they were tested against a
        control that is no longer active."""
        candidate = improvement.candidate_version_id
        if candidate is None or candidate not in fold.versions:
            raise ModelOnexError(
                EnumErrorCode.CONFLICT,
                f"improvement {improvement.improvement_id} has no candidate version to promote",
            )
        old = fold.active()
        fold.set_version_status(old.version_id, EnumVersionStatus.ARCHIVED)
        fold.set_version_status(candidate, EnumVersionStatus.ACTIVE)
        fold.intents.append(
            ModelIntentAddEdge(
                parent_id=old.version_id,
                child_id=candidate,
                relation=EnumLineageRelation.IMPROVED_VERSION,
                correlation_id=fold.correlation_id,
            )
        )
        fold.audit(
            action,
            evidence.reason,
            version_id=candidate,
            improvement_id=improvement.improvement_id,
            details={"replaced": old.version_id, **evidence.numbers()},
        )
        fold.audit("archive", f"replaced by {candidate}", version_id=old.version_id)
        self._supersede_open(fold, f"superseded: {candidate} became active")
        for watched in list(fold.watching):
            self._end_watch(
                fold,
                fold.improvements[watched],
                ModelLifecycleEvent(
                    event=_E.HOLD,
                    improvement_id=watched,
                    evidence=ModelDecisionEvidence(
                        reason=f"watch ended: {candidate} was applied after it"
                    ),
                ),
            )
        if fold.watch_days() is not None:
            fold.watching[improvement.improvement_id] = old.version_id
            fold.reweigh = True

    def _end_watch(
        self, fold: _Fold, improvement: ModelPatternImprovement, event: ModelLifecycleEvent
    ) -> None:
        """HOLD: the change stays and its holdback ends. REGRESS: the change is rolled back,
        its previous config restored as a new active version (``rolled_back_to`` edge)."""
        outcome = "held" if event.event is _E.HOLD else "rolled_back"
        self._record(fold, improvement, _S.APPLIED, event.evidence, watch_outcome=outcome)
        fold.watching.pop(improvement.improvement_id, None)
        fold.reweigh = True
        if event.event is _E.HOLD:
            fold.audit(
                "hold",
                event.evidence.reason,
                version_id=improvement.candidate_version_id,
                improvement_id=improvement.improvement_id,
            )
            return
        base = fold.versions[improvement.base_version_id]
        regressed = fold.active()
        fold.set_version_status(regressed.version_id, EnumVersionStatus.ARCHIVED)
        latest = max(fold.versions.values(), key=lambda v: v.semver)
        restored = ModelPatternVersion(
            pattern_id=fold.pattern_id,
            version=bump_minor(latest.version),
            status=EnumVersionStatus.ACTIVE,
            config=base.config,
            correlation_id=fold.correlation_id,
        )
        fold.versions[restored.version_id] = restored
        fold.intents.append(
            ModelIntentCreateVersion(
                version=restored,
                parent_id=base.version_id,
                relation=EnumLineageRelation.ROLLED_BACK_TO,
            )
        )
        fold.audit(
            "rollback",
            event.evidence.reason,
            version_id=restored.version_id,
            improvement_id=improvement.improvement_id,
            details={"restored_from": base.version_id, "replaced": regressed.version_id},
        )
        fold.audit("archive", f"rolled back to {base.version_id}", version_id=regressed.version_id)
        self._supersede_open(fold, f"superseded: {regressed.version_id} was rolled back")

    def _supersede_open(self, fold: _Fold, reason: str) -> None:
        evidence = ModelDecisionEvidence(reason=reason)
        for improvement in list(fold.improvements.values()):
            if improvement.status in (_S.TESTING, _S.VALIDATED, _S.BLOCKED):
                target = self._transition(improvement, _E.SUPERSEDE, evidence)
                self._record(fold, improvement, target, evidence)
                self._retire_candidate(fold, improvement, "reject", reason)

    def _propose(self, fold: _Fold, event: ModelLifecycleEvent) -> None:
        """Each proposal becomes a testing version derived from the active one."""
        base = fold.active()
        for proposal in event.proposals:
            latest = max(fold.versions.values(), key=lambda v: v.semver)
            version = ModelPatternVersion(
                pattern_id=fold.pattern_id,
                version=bump_minor(latest.version),
                status=EnumVersionStatus.TESTING,
                config=proposal.apply_to(base.config),
                correlation_id=fold.correlation_id,
            )
            proposed = ModelPatternImprovement(
                improvement_id=uuid.uuid4(),
                pattern_id=fold.pattern_id,
                base_version_id=base.version_id,
                candidate_version_id=version.version_id,
                generator=proposal.generator,
                improvement_type=proposal.improvement_type,
                description=proposal.description,
                config_diff=proposal.config_diff,
                expected_delta=proposal.expected_delta,
                risk=proposal.risk,
                status=_S.PROPOSED,
                correlation_id=fold.correlation_id,
            )
            status = self._transition(proposed, _E.PROPOSE, event.evidence)
            improvement = proposed.model_copy(update={"status": status})
            fold.versions[version.version_id] = version
            fold.improvements[improvement.improvement_id] = improvement
            fold.touched.append(improvement)
            fold.intents += [
                ModelIntentCreateVersion(
                    version=version,
                    parent_id=base.version_id,
                    relation=EnumLineageRelation.DERIVED_FROM,
                ),
                ModelIntentInsertImprovement(improvement=improvement),
            ]
            fold.audit(
                "propose",
                proposal.description,
                version_id=version.version_id,
                improvement_id=improvement.improvement_id,
                details={"generator": proposal.generator, "risk": proposal.risk.value},
            )

    def _rebalance(
        self, fold: _Fold, weights_before: dict[str, float], candidate_traffic: float
    ) -> None:
        """Traffic as the policy says for the versions now in play; allocators are told when
        any weight changed."""
        if not fold.reweigh and not any(
            isinstance(i, ModelIntentSetVersionStatus | ModelIntentCreateVersion)
            for i in fold.intents
        ):
            return
        active = fold.active()
        held = tuple(
            version_id
            for version_id in fold.watching.values()
            if version_id in fold.versions and version_id != active.version_id
        )
        blocked = {
            i.candidate_version_id for i in fold.improvements.values() if i.status is _S.BLOCKED
        }
        testing = tuple(
            v.version_id
            for v in fold.versions.values()
            if v.status is EnumVersionStatus.TESTING and v.version_id not in blocked
        )
        weights = self._traffic.compute(
            ModelTrafficPolicyInput(
                active_version_id=active.version_id,
                testing_version_ids=testing,
                candidate_traffic=candidate_traffic,
                holdback_version_ids=held,
                holdback=fold.request.holdback if held and fold.request else 0.0,
            )
        ).weights
        for version_id, version in fold.versions.items():
            weight = weights.get(version_id, 0.0)
            if weights_before.get(version_id, 0.0) != weight:
                fold.versions[version_id] = version.model_copy(update={"traffic_weight": weight})
                fold.intents.append(
                    ModelIntentSetTrafficWeight(version_id=version_id, weight=weight)
                )
        fold.intents.append(ModelIntentNotifyVersionsChanged(pattern_id=fold.pattern_id))
