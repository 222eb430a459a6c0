"""Contracts of the improvement lifecycle: its events, the evidence of a decision, the state a
reducer reads and the intents it returns for one effect to apply in one transaction."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.enum_lineage_relation import EnumLineageRelation
from contracts.enum_loop import EnumImprovementStatus
from contracts.enum_version_status import EnumVersionStatus
from contracts.model_pattern_improvement import ModelPatternImprovement, ModelProposal
from contracts.model_pattern_version import ModelPatternVersion

_FROZEN = ConfigDict(extra="forbid", frozen=True)

AuditAction = Literal[
    "register",
    "propose",
    "validate",
    "apply",
    "approve",
    "reject",
    "rollback",
    "archive",
    "inconclusive",
    "objective",
    "block",
    "resume",
    "hold",
]


class EnumLifecycleEvent(StrEnum):
    """What can happen to an improvement (the transitions' events)."""

    PROPOSE = "propose"  # a generator's proposal becomes a candidate version in testing
    CONTINUE = "continue"  # a look without a decision: remember its numbers
    REVIEW = "review"  # significantly better, below the auto-apply threshold
    APPLY = "apply"  # significantly better and confident: the candidate becomes active
    APPROVE = "approve"  # a human makes a validated candidate active
    REJECT = "reject"  # worse, futile, a guardrail regressed, or a human said no
    SUPERSEDE = "supersede"  # the active version changed under an open improvement
    CONCLUDE = "conclude"  # the horizon came without a decision: inconclusive
    BLOCK = "block"  # the arms stopped being comparable: no traffic until a person looks
    HOLD = "hold"  # an applied change was watched to the end without regressing
    REGRESS = "regress"  # an applied change shows itself worse than a margin: roll it back
    RESUME = "resume"  # a person acknowledged the flag: testing again, checks start anew


class ModelDecisionEvidence(BaseModel):
    """The numbers of the look that decided, kept with the improvement and the audit row."""

    model_config = _FROZEN

    reason: str = ""
    p_value: float | None = Field(default=None, ge=0, le=1)
    confidence: float | None = Field(default=None, ge=0, le=1)
    performance_delta: float | None = None
    significant: bool = False
    look: dict[str, Any] | None = Field(
        default=None,
        description="the whole look as the validator saw it (each metric's estimate, bound, "
        "margin, verdict), stored as one evidence record per look",
    )

    def numbers(self) -> dict[str, float | None]:
        return {
            "p_value": self.p_value,
            "confidence": self.confidence,
            "performance_delta": self.performance_delta,
        }


class ModelLifecycleEvent(BaseModel):
    """One event: on an improvement (by id), on proposals (PROPOSE) or on the pattern (SUPERSEDE
    rejects every open improvement)."""

    model_config = _FROZEN

    event: EnumLifecycleEvent
    improvement_id: UUID | None = None
    evidence: ModelDecisionEvidence = ModelDecisionEvidence()
    proposals: tuple[ModelProposal, ...] = ()

    @model_validator(mode="after")
    def _subject(self) -> ModelLifecycleEvent:
        pattern_level = self.event in (EnumLifecycleEvent.PROPOSE, EnumLifecycleEvent.SUPERSEDE)
        if pattern_level == (self.improvement_id is not None):
            raise ValueError(
                f"{self.event.value}: "
                + ("takes no improvement_id" if pattern_level else "needs an improvement_id")
            )
        if self.proposals and self.event is not EnumLifecycleEvent.PROPOSE:
            raise ValueError(f"{self.event.value}: proposals belong to propose")
        return self


class ModelLifecycleState(BaseModel):
    """A pattern's versions and the improvements the events may touch, read under its lock."""

    model_config = _FROZEN

    pattern_id: str
    versions: tuple[ModelPatternVersion, ...]
    improvements: tuple[ModelPatternImprovement, ...] = ()

    def active(self) -> ModelPatternVersion | None:
        return next((v for v in self.versions if v.status is EnumVersionStatus.ACTIVE), None)

    def improvement(self, improvement_id: UUID) -> ModelPatternImprovement | None:
        return next((i for i in self.improvements if i.improvement_id == improvement_id), None)


class _LifecycleEvents(BaseModel):
    """What the reducer is asked, apart from the state: events in order, who and why, and how
    traffic is split afterwards (candidates' share, a watched change's holdback)."""

    model_config = _FROZEN

    events: tuple[ModelLifecycleEvent, ...]
    actor: str = Field(min_length=1)
    correlation_id: UUID | None = None
    candidate_traffic: float = Field(default=0.5, gt=0, lt=1)
    holdback: float = Field(
        default=0.0, ge=0, lt=0.5, description="share the previous version keeps after apply"
    )
    watch_days: int = Field(default=0, ge=0, description="how long an apply is watched")
    as_of: datetime | None = Field(
        default=None, description="the deciding run's window end: a watch starts there"
    )


class ModelLifecycleInput(_LifecycleEvents):
    """Events are reduced in order, each on the state the previous one left."""

    model_config = _FROZEN

    state: ModelLifecycleState


class ModelIntentCreateVersion(BaseModel):
    model_config = _FROZEN
    kind: Literal["create_version"] = "create_version"
    version: ModelPatternVersion
    parent_id: str
    relation: EnumLineageRelation


class ModelIntentInsertImprovement(BaseModel):
    model_config = _FROZEN
    kind: Literal["insert_improvement"] = "insert_improvement"
    improvement: ModelPatternImprovement


class ModelIntentUpdateImprovement(BaseModel):
    """``None`` numbers keep what is stored."""

    model_config = _FROZEN
    kind: Literal["update_improvement"] = "update_improvement"
    improvement_id: UUID
    status: EnumImprovementStatus
    evidence: ModelDecisionEvidence
    correlation_id: UUID | None = None
    new_check_epoch: bool = Field(
        default=False, description="restart the sample-ratio and completeness checks from now"
    )
    watch_days: int | None = Field(
        default=None, ge=1, description="applied: watch the change this many days from now"
    )
    watch_from: datetime | None = Field(
        default=None, description="applied: compare executions from then on (default: now)"
    )
    watch_outcome: str | None = Field(default=None, description="'held' or 'rolled_back'")


class ModelIntentSetVersionStatus(BaseModel):
    model_config = _FROZEN
    kind: Literal["set_version_status"] = "set_version_status"
    version_id: str
    status: EnumVersionStatus


class ModelIntentAddEdge(BaseModel):
    model_config = _FROZEN
    kind: Literal["add_edge"] = "add_edge"
    parent_id: str
    child_id: str
    relation: EnumLineageRelation
    correlation_id: UUID | None = None


class ModelIntentSetTrafficWeight(BaseModel):
    model_config = _FROZEN
    kind: Literal["set_traffic_weight"] = "set_traffic_weight"
    version_id: str
    weight: float = Field(ge=0, le=1)


class ModelIntentNotifyVersionsChanged(BaseModel):
    model_config = _FROZEN
    kind: Literal["notify_versions_changed"] = "notify_versions_changed"
    pattern_id: str


class ModelIntentWriteAudit(BaseModel):
    model_config = _FROZEN
    kind: Literal["write_audit"] = "write_audit"
    actor: str
    action: AuditAction
    pattern_id: str
    reason: str
    version_id: str | None = None
    improvement_id: UUID | None = None
    correlation_id: UUID | None = None
    details: dict[str, Any] = Field(default_factory=dict)


ModelIntent = Annotated[
    ModelIntentCreateVersion
    | ModelIntentInsertImprovement
    | ModelIntentUpdateImprovement
    | ModelIntentSetVersionStatus
    | ModelIntentAddEdge
    | ModelIntentSetTrafficWeight
    | ModelIntentNotifyVersionsChanged
    | ModelIntentWriteAudit,
    Field(discriminator="kind"),
]


class ModelLifecycleOutput(BaseModel):
    """The intents, in the order to apply them, and the state they lead to."""

    model_config = _FROZEN

    state: ModelLifecycleState
    intents: tuple[ModelIntent, ...]
    improvements: tuple[ModelPatternImprovement, ...] = Field(
        default=(), description="each event's improvement(s) as they are afterwards"
    )


class ModelLifecycleRequest(_LifecycleEvents):
    """What the lifecycle effect is asked to do: events on one pattern, in one transaction."""

    model_config = _FROZEN

    pattern_id: str = Field(min_length=1)


class ModelLifecycleResult(BaseModel):
    model_config = _FROZEN

    pattern_id: str
    versions: tuple[ModelPatternVersion, ...] = Field(description="the pattern's versions after")
    improvements: tuple[ModelPatternImprovement, ...]
    intents_applied: int = Field(ge=0)

    def active(self) -> ModelPatternVersion | None:
        return next((v for v in self.versions if v.status is EnumVersionStatus.ACTIVE), None)
