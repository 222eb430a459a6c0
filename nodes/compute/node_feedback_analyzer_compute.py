"""Analyze: turns per-version aggregates into readings and threshold flags. Pure."""

from __future__ import annotations

from contracts.enum_loop import EnumMetric
from contracts.model_analysis import ModelAnalysisThresholds, ModelAnalyzeInput, ModelAnalyzeOutput
from contracts.model_pattern_feedback import ModelArmStats, ModelIssue, ModelPatternFeedback
from contracts.model_reward import ModelRewardThresholds


def _issues(
    stats: ModelArmStats,
    limits: ModelAnalysisThresholds,
    reward: ModelRewardThresholds | None,
) -> list[ModelIssue]:
    if stats.n < limits.min_executions:
        return []
    found = []
    if reward is not None and stats.reward_mean < reward.minimum_acceptable:
        retrain = stats.reward_mean < reward.retrain
        found.append(
            ModelIssue(
                kind="retrain" if retrain else "low_reward",
                metric=EnumMetric.REWARD,
                observed=stats.reward_mean,
                threshold=reward.retrain if retrain else reward.minimum_acceptable,
                detail="mean composite reward below the "
                + ("retrain threshold" if retrain else "minimum acceptable"),
            )
        )
    if stats.success_rate < limits.min_success_rate:
        found.append(
            ModelIssue(
                kind="failing",
                metric=EnumMetric.SUCCESS_RATE,
                observed=stats.success_rate,
                threshold=limits.min_success_rate,
            )
        )
    timeout_rate = stats.timeouts / stats.n
    if timeout_rate > limits.max_timeout_rate:
        found.append(
            ModelIssue(
                kind="timeouts",
                metric=EnumMetric.SUCCESS_RATE,
                observed=timeout_rate,
                threshold=limits.max_timeout_rate,
            )
        )
    if stats.duration_p50 > limits.slow_p50_ms:
        found.append(
            ModelIssue(
                kind="slow",
                metric=EnumMetric.DURATION_MS,
                observed=stats.duration_p50,
                threshold=limits.slow_p50_ms,
            )
        )
    if stats.quality_n and stats.quality_mean < limits.min_quality:
        found.append(
            ModelIssue(
                kind="low_quality",
                metric=EnumMetric.QUALITY_SCORE,
                observed=stats.quality_mean,
                threshold=limits.min_quality,
            )
        )
    if stats.rating_n and stats.rating_mean < limits.min_rating:
        found.append(
            ModelIssue(
                kind="low_rating",
                metric=EnumMetric.USER_RATING,
                observed=stats.rating_mean,
                threshold=limits.min_rating,
            )
        )
    return found


class NodeFeedbackAnalyzerCompute:
    """Reads each version's numbers against the thresholds; no I/O, no clock."""

    def analyze(self, contract: ModelAnalyzeInput) -> ModelAnalyzeOutput:
        return ModelAnalyzeOutput(
            feedback=[
                ModelPatternFeedback(
                    pattern_id=contract.pattern_id,
                    version_id=s.version_id,
                    n=s.n,
                    success_rate=s.success_rate,
                    duration_p50=s.duration_p50,
                    duration_p95=s.duration_p95,
                    duration_p99=s.duration_p99,
                    mean_quality=s.quality_mean if s.quality_n else None,
                    mean_rating=s.rating_mean if s.rating_n else None,
                    mean_reward=s.reward_mean if s.n else None,
                    top_errors=s.top_errors,
                    issues=_issues(s, contract.thresholds, contract.reward),
                )
                for s in contract.stats
            ]
        )
