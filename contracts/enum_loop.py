"""Enums of the feedback loop's contracts."""

from enum import StrEnum


class EnumFeedbackType(StrEnum):
    """Which proposals a run generates: performance -> latency and reliability fixes (what
    users of a slow or failing pattern feel), quality -> quality score, usage -> success rate
    and user rating, all -> every kind. Each proposal is then judged on its own target metric
    with the objective's guardrails, whatever the feedback type."""

    PERFORMANCE = "performance"
    QUALITY = "quality"
    USAGE = "usage"
    ALL = "all"


class EnumMetric(StrEnum):
    DURATION_MS = "duration_ms"  # lower is better
    QUALITY_SCORE = "quality_score"  # higher is better
    SUCCESS_RATE = "success_rate"  # higher is better
    USER_RATING = "user_rating"  # higher is better
    REWARD = "reward"  # higher is better: the objective's composite reward per execution


class EnumImprovementType(StrEnum):
    PERFORMANCE = "performance"
    QUALITY = "quality"
    RELIABILITY = "reliability"
    USAGE = "usage"


class EnumImprovementStatus(StrEnum):
    PROPOSED = "proposed"
    TESTING = "testing"
    VALIDATED = "validated"
    APPLIED = "applied"
    REJECTED = "rejected"
    INCONCLUSIVE = "inconclusive"  # reached its horizon undecided: traffic 0, slot freed
    BLOCKED = "blocked"  # arms not comparable (sample ratio, logging): traffic 0 until a human


class EnumRiskLevel(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class EnumWorkflowStage(StrEnum):
    COLLECT = "collect"
    ANALYZE = "analyze"
    GENERATE = "generate"
    VALIDATE = "validate"
    APPLY = "apply"
    TRACK = "track"


class EnumStageStatus(StrEnum):
    COMPLETED = "completed"
    SKIPPED = "skipped"
    FAILED = "failed"


class EnumDecision(StrEnum):
    """What the validate stage concludes for one candidate."""

    APPLY = "apply"  # significant, confident, no guardrail regressed
    REVIEW = "review"  # significant but below auto_apply_threshold: wait for a human
    REJECT = "reject"  # significantly worse, worse than a guardrail's margin, or futile
    CONTINUE = "continue"  # not enough evidence yet: keep testing
    INCONCLUSIVE = "inconclusive"  # the horizon came without a decision: stop testing
    BLOCK = "block"  # the arms are not comparable: stop traffic until a person looks
    HOLD = "hold"  # an applied change was watched to its end without regressing
    ROLLBACK = "rollback"  # an applied change is worse than a guardrail's margin: undo it


class EnumGuardrailVerdict(StrEnum):
    NON_INFERIOR = "non_inferior"  # the bound shows the candidate within the margin
    INFERIOR = "inferior"  # the bound shows the candidate worse than the margin
    UNRESOLVED = "unresolved"  # the bound still straddles the margin
    NOT_MEASURED = "not_measured"  # too few values in an arm (blocks only when required)


METRIC_OF_TYPE: dict[EnumImprovementType, EnumMetric] = {
    EnumImprovementType.PERFORMANCE: EnumMetric.DURATION_MS,
    EnumImprovementType.QUALITY: EnumMetric.QUALITY_SCORE,
    EnumImprovementType.RELIABILITY: EnumMetric.SUCCESS_RATE,
    EnumImprovementType.USAGE: EnumMetric.USER_RATING,
}

LOWER_IS_BETTER: frozenset[EnumMetric] = frozenset({EnumMetric.DURATION_MS})
