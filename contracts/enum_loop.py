"""Enums of the feedback loop's contracts."""

from enum import StrEnum


class EnumFeedbackType(StrEnum):
    """Which metrics a run judges: performance -> duration_ms, quality -> quality score,
    usage -> success rate and user rating, all -> each of them (Holm-corrected)."""

    PERFORMANCE = "performance"
    QUALITY = "quality"
    USAGE = "usage"
    ALL = "all"


class EnumMetric(StrEnum):
    DURATION_MS = "duration_ms"  # lower is better
    QUALITY_SCORE = "quality_score"  # higher is better
    SUCCESS_RATE = "success_rate"  # higher is better
    USER_RATING = "user_rating"  # higher is better


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
    REJECT = "reject"  # significantly worse, a guardrail regressed, or futile
    CONTINUE = "continue"  # not enough evidence yet: keep testing


METRIC_OF_TYPE: dict[EnumImprovementType, EnumMetric] = {
    EnumImprovementType.PERFORMANCE: EnumMetric.DURATION_MS,
    EnumImprovementType.QUALITY: EnumMetric.QUALITY_SCORE,
    EnumImprovementType.RELIABILITY: EnumMetric.SUCCESS_RATE,
    EnumImprovementType.USAGE: EnumMetric.USER_RATING,
}

LOWER_IS_BETTER: frozenset[EnumMetric] = frozenset({EnumMetric.DURATION_MS})
