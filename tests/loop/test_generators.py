"""Analyzer flags and generator plug-ins: pure, so tested without a database."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from contracts.enum_loop import EnumFeedbackType, EnumImprovementType, EnumRiskLevel
from contracts.model_analysis import ModelAnalysisThresholds, ModelAnalyzeInput, ModelGenerateInput
from contracts.model_pattern_feedback import ModelArmStats, ModelErrorCount, ModelPatternFeedback
from contracts.model_pattern_improvement import ModelConfigChange, ModelProposal
from contracts.model_reward import DEFAULT_REWARD_CONFIG
from nodes.compute.generators import GeneratorRegistry, ModelGeneratorContext, default_registry
from nodes.compute.node_feedback_analyzer_compute import NodeFeedbackAnalyzerCompute
from nodes.compute.node_improvement_generator_compute import NodeImprovementGeneratorCompute


def _arm(**overrides: Any) -> ModelArmStats:
    values: dict[str, Any] = dict(
        version_id="p@1.0.0",
        n=1000,
        successes=990,
        timeouts=0,
        duration_mean=50.0,
        duration_var=100.0,
        duration_p50=40.0,
        duration_p95=90.0,
        duration_p99=120.0,
        quality_n=1000,
        quality_mean=0.9,
        quality_var=0.01,
        rating_n=100,
        rating_mean=4.5,
        rating_var=0.5,
    )
    values.update(overrides)
    return ModelArmStats(**values)


def _feedback(**overrides: Any) -> ModelPatternFeedback:
    analysis = NodeFeedbackAnalyzerCompute().analyze(
        ModelAnalyzeInput(pattern_id="p", stats=[_arm(**overrides)])
    )
    return analysis.feedback[0]


def _kinds(feedback: ModelPatternFeedback) -> set[str]:
    return {issue.kind for issue in feedback.issues}


def test_healthy_version_has_no_issues() -> None:
    assert _kinds(_feedback()) == set()


@pytest.mark.parametrize(
    ("overrides", "kind"),
    [
        ({"successes": 900}, "failing"),
        ({"timeouts": 50, "successes": 950}, "timeouts"),
        ({"duration_p50": 400.0}, "slow"),
        ({"quality_mean": 0.5}, "low_quality"),
        ({"rating_mean": 2.0}, "low_rating"),
    ],
)
def test_analyzer_flags(overrides: dict[str, Any], kind: str) -> None:
    assert kind in _kinds(_feedback(**overrides))


def test_too_few_executions_raise_no_flags() -> None:
    stats = _arm(n=5, successes=0, duration_p50=9999.0)
    analysis = NodeFeedbackAnalyzerCompute().analyze(
        ModelAnalyzeInput(
            pattern_id="p", stats=[stats], thresholds=ModelAnalysisThresholds(min_executions=20)
        )
    )
    assert analysis.feedback[0].issues == []


def _generate(
    config: dict[str, Any],
    feedback: ModelPatternFeedback,
    feedback_type: EnumFeedbackType = EnumFeedbackType.ALL,
    slots: int = 5,
    known: Sequence[dict[str, Any]] = (),
    registry: GeneratorRegistry | None = None,
) -> list[ModelProposal]:
    node = NodeImprovementGeneratorCompute(registry)
    return node.generate(
        ModelGenerateInput(
            pattern_id="p",
            base_version_id="p@1.0.0",
            base_config=config,
            feedback=feedback,
            feedback_type=feedback_type,
            slots=slots,
            known_configs=list(known),
        )
    ).proposals


def test_cache_proposed_for_slow_pattern_only() -> None:
    slow = _feedback(duration_p50=400.0)
    proposals = _generate({"cache_enabled": False}, slow)
    assert [p.generator for p in proposals] == ["cache_for_latency"]
    assert proposals[0].apply_to({"cache_enabled": False}) == {"cache_enabled": True}
    assert _generate({"cache_enabled": False}, _feedback()) == []
    assert _generate({"cache_enabled": True}, slow) == []


def test_timeout_headroom_uses_p99() -> None:
    feedback = _feedback(timeouts=80, successes=920, duration_p99=1000.0)
    [proposal] = _generate({"timeout_ms": 1000}, feedback)
    assert proposal.config_diff["timeout_ms"] == ModelConfigChange(old=1000, new=1500)
    assert proposal.improvement_type is EnumImprovementType.RELIABILITY
    assert proposal.risk is EnumRiskLevel.LOW


def test_retries_only_for_transient_errors() -> None:
    transient = _feedback(
        successes=850, top_errors=[ModelErrorCount(message="503 upstream unavailable", count=150)]
    )
    permanent = _feedback(
        successes=850,
        top_errors=[ModelErrorCount(message="invalid input: schema mismatch", count=150)],
    )
    [proposal] = _generate({"max_retries": 0}, transient)
    assert proposal.apply_to({"max_retries": 0}) == {"max_retries": 1}
    assert _generate({"max_retries": 0}, permanent) == []
    assert _generate({"max_retries": 5}, transient) == []


def test_lower_temperature_for_low_quality() -> None:
    [proposal] = _generate({"temperature": 0.9}, _feedback(quality_mean=0.5))
    assert proposal.config_diff["temperature"].new == pytest.approx(0.6)
    assert proposal.improvement_type is EnumImprovementType.QUALITY


def test_feedback_type_filters_and_slots_limit() -> None:
    feedback = _feedback(duration_p50=400.0, quality_mean=0.5)
    config = {"cache_enabled": False, "temperature": 0.9}
    assert {p.generator for p in _generate(config, feedback)} == {
        "cache_for_latency",
        "lower_temperature",
    }
    perf = _generate(config, feedback, EnumFeedbackType.PERFORMANCE)
    assert [p.generator for p in perf] == ["cache_for_latency"]
    quality = _generate(config, feedback, EnumFeedbackType.QUALITY)
    assert [p.generator for p in quality] == ["lower_temperature"]
    assert len(_generate(config, feedback, slots=1)) == 1
    assert _generate(config, feedback, slots=0) == []


def test_configs_already_tried_are_not_proposed_again() -> None:
    feedback = _feedback(duration_p50=400.0)
    tried = {"cache_enabled": True}
    assert _generate({"cache_enabled": False}, feedback, known=[tried]) == []


def test_custom_plugin_and_broken_plugin() -> None:
    def always_batch(ctx: ModelGeneratorContext) -> list[ModelProposal]:
        return [
            ModelProposal(
                generator="always_batch",
                improvement_type=EnumImprovementType.PERFORMANCE,
                description="try batch 2",
                expected_delta=0.05,
                risk=EnumRiskLevel.HIGH,
                config_diff={
                    "batch_size": ModelConfigChange(old=ctx.config.get("batch_size"), new=2)
                },
            )
        ]

    def broken(ctx: ModelGeneratorContext) -> list[ModelProposal]:
        raise RuntimeError("boom")

    registry = default_registry()
    registry.register("always_batch", always_batch)
    registry.register("broken", broken)
    node = NodeImprovementGeneratorCompute(registry)
    out = node.generate(
        ModelGenerateInput(
            pattern_id="p",
            base_version_id="p@1.0.0",
            base_config={},
            feedback=_feedback(),
            feedback_type=EnumFeedbackType.PERFORMANCE,
            slots=3,
        )
    )
    assert [p.generator for p in out.proposals] == ["always_batch"]
    assert out.generator_errors == ["broken: RuntimeError: boom"]
    with pytest.raises(ValueError, match="unique"):
        registry.register("broken", broken)


def test_performance_covers_reliability_and_nothing_is_dropped_silently() -> None:
    """A slow, failing, low-quality pattern under feedback type performance: the latency and
    the reliability fixes are kept, the quality one is set aside with its reason, and so is
    whatever finds no slot or repeats a tried config."""
    feedback = _feedback(
        duration_p50=400.0,
        quality_mean=0.5,
        successes=850,
        top_errors=[ModelErrorCount(message="503 upstream unavailable", count=150)],
    )
    config = {"cache_enabled": False, "temperature": 0.9, "max_retries": 0}
    out = NodeImprovementGeneratorCompute().generate(
        ModelGenerateInput(
            pattern_id="p",
            base_version_id="p@1.0.0",
            base_config=config,
            feedback=feedback,
            feedback_type=EnumFeedbackType.PERFORMANCE,
            slots=1,
            known_configs=[{**config, "cache_enabled": True}],
        )
    )
    assert [p.improvement_type for p in out.proposals] == [EnumImprovementType.RELIABILITY]
    assert out.considered == 3 and len(out.set_aside) == 2
    reasons = " | ".join(out.set_aside)
    assert "(a quality change, not performance)" in reasons
    assert "(its config was tried before)" in reasons


@pytest.mark.parametrize(
    ("reward", "kind"),
    [(0.80, None), (0.55, None), (0.549, "low_reward"), (0.40, "low_reward"), (0.399, "retrain")],
)
def test_reward_thresholds_flag_a_version(reward: float, kind: str | None) -> None:
    """Minimum acceptable 0.55 and retrain 0.40 (the defaults): a value on a threshold meets it."""
    analysis = NodeFeedbackAnalyzerCompute().analyze(
        ModelAnalyzeInput(
            pattern_id="p",
            stats=[_arm(reward_mean=reward)],
            reward=DEFAULT_REWARD_CONFIG,
        )
    )
    (feedback,) = analysis.feedback
    assert feedback.mean_reward == reward
    flagged = {i.kind for i in feedback.issues} & {"low_reward", "retrain"}
    assert flagged == ({kind} if kind else set())


def test_a_pattern_to_retrain_gets_a_proposal_for_its_largest_loss() -> None:
    """p50 of 90 ms is under the 100 ms slow threshold, so no ordinary flag fires; but the mean
    of 3.5 s costs most of the reward and puts it under retrain: the latency loss is named
    'slow' and the cache generator proposes its fix."""
    stats = _arm(duration_p50=90.0, duration_mean=3500.0, reward_mean=0.35)
    plain = NodeFeedbackAnalyzerCompute().analyze(ModelAnalyzeInput(pattern_id="p", stats=[stats]))
    assert _kinds(plain.feedback[0]) == set()
    (feedback,) = (
        NodeFeedbackAnalyzerCompute()
        .analyze(ModelAnalyzeInput(pattern_id="p", stats=[stats], reward=DEFAULT_REWARD_CONFIG))
        .feedback
    )
    assert _kinds(feedback) == {"retrain", "slow"}
    assert "largest loss: slow" in next(i.detail for i in feedback.issues if i.kind == "retrain")
    proposals = _generate({"cache_enabled": False}, feedback)
    assert [p.generator for p in proposals] == ["cache_for_latency"]
