"""Analyze: turns per-version aggregates into readings and threshold flags. Pure."""

from __future__ import annotations

from contracts.enum_loop import EnumMetric
from contracts.model_analysis import ModelAnalysisThresholds, ModelAnalyzeInput, ModelAnalyzeOutput
from contracts.model_pattern_feedback import ModelArmStats, ModelIssue, ModelPatternFeedback
from contracts.model_reward import ModelRewardConfig


def _reward_issues(stats: ModelArmStats, reward: ModelRewardConfig) -> list[ModelIssue]:
    """Below the minimum acceptable: flagged. Below retrain: flagged too, and the reward's
    largest loss is named as its ordinary issue (slow, failing) even under that issue's own
    threshold, so the generators that fix it propose something: a pattern to retrain gets new
    proposals. Cost has no built-in generator; its loss is named in the detail."""
    limits, w, b = reward.thresholds, reward.weights, reward.bounds
    if stats.reward_mean >= limits.minimum_acceptable:
        return []
    retrain = stats.reward_mean < limits.retrain
    losses = {
        "slow": w.latency * min(stats.duration_mean / b.max_latency_ms, 1.0),
        "failing": (1.0 - stats.success_rate) * (w.success + w.error),
        "costly": w.cost * min(stats.cost_mean / b.max_cost_usd, 1.0) if stats.cost_n else 0.0,
    }
    largest = max(losses, key=lambda kind: losses[kind])
    found = [
        ModelIssue(
            kind="retrain" if retrain else "low_reward",
            metric=EnumMetric.REWARD,
            observed=stats.reward_mean,
            threshold=limits.retrain if retrain else limits.minimum_acceptable,
            detail=f"mean composite reward below the "
            f"{'retrain threshold' if retrain else 'minimum acceptable'}; largest loss: "
            f"{largest} ({losses[largest]:.2f})",
        )
    ]
    if retrain and largest == "slow":
        found.append(_issue("slow", EnumMetric.DURATION_MS, stats.duration_p50, 0.0, "retrain"))
    elif retrain and largest == "failing":
        found.append(_issue("failing", EnumMetric.SUCCESS_RATE, stats.success_rate, 1.0, "retrain"))
    return found


def _issue(
    kind: str, metric: EnumMetric, observed: float, threshold: float, detail: str = ""
) -> ModelIssue:
    return ModelIssue(
        kind=kind, metric=metric, observed=observed, threshold=threshold, detail=detail
    )


def _issues(
    stats: ModelArmStats,
    limits: ModelAnalysisThresholds,
    reward: ModelRewardConfig | None,
) -> list[ModelIssue]:
    if stats.n < limits.min_executions:
        return []
    found = [] if reward is None else _reward_issues(stats, reward)
    flagged = {issue.kind for issue in found}
    rate, timeout_rate = stats.success_rate, stats.timeouts / stats.n
    if rate < limits.min_success_rate and "failing" not in flagged:
        found.append(_issue("failing", EnumMetric.SUCCESS_RATE, rate, limits.min_success_rate))
    if timeout_rate > limits.max_timeout_rate:
        found.append(
            _issue("timeouts", EnumMetric.SUCCESS_RATE, timeout_rate, limits.max_timeout_rate)
        )
    if stats.duration_p50 > limits.slow_p50_ms and "slow" not in flagged:
        found.append(_issue("slow", EnumMetric.DURATION_MS, stats.duration_p50, limits.slow_p50_ms))
    if stats.quality_n and stats.quality_mean < limits.min_quality:
        found.append(
            _issue("low_quality", EnumMetric.QUALITY_SCORE, stats.quality_mean, limits.min_quality)
        )
    if stats.rating_n and stats.rating_mean < limits.min_rating:
        found.append(
            _issue("low_rating", EnumMetric.USER_RATING, stats.rating_mean, limits.min_rating)
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
