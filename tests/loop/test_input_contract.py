"""Invalid loop contracts are rejected with messages that name the field."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from contracts.enum_loop import EnumFeedbackType
from contracts.model_feedback_loop_input import PRESETS, ModelFeedbackLoopInput


def test_original_defaults() -> None:
    contract = ModelFeedbackLoopInput(pattern_id="api_debug")
    assert contract.feedback_type is EnumFeedbackType.PERFORMANCE
    assert (contract.time_window_days, contract.auto_apply_threshold) == (7, 0.95)
    assert (contract.min_sample_size, contract.significance_level) == (30, 0.05)
    assert contract.enable_ab_testing is True and not contract.monitor_only
    assert ModelFeedbackLoopInput(pattern_id="x").correlation_id != contract.correlation_id


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("significance_level", 0.7, "less than or equal to 0.5"),
        ("significance_level", 0.0, "greater than 0"),
        ("min_sample_size", 1, "greater than or equal to 2"),
        ("feedback_type", "speed", "unknown feedback_type 'speed'"),
        ("pattern_id", "", "at least 1 character"),
        ("pattern_id", "   ", "non-blank"),
        ("time_window_days", 0, "greater than or equal to 1"),
        ("auto_apply_threshold", 1.5, "less than or equal to 1"),
        ("surprise", 1, "Extra inputs are not permitted"),
    ],
)
def test_invalid_contracts(field: str, value: Any, message: str) -> None:
    values: dict[str, Any] = {"pattern_id": "api_debug", field: value}
    with pytest.raises(ValidationError) as caught:
        ModelFeedbackLoopInput(**values)
    text = str(caught.value)
    assert field in text and message in text


@pytest.mark.parametrize(
    ("values", "monitor"),
    [
        ({"enable_ab_testing": False}, True),
        ({"auto_apply_threshold": 1.0}, True),
        ({"auto_apply_threshold": 0.99}, False),
    ],
)
def test_monitor_only_profile(values: dict[str, Any], monitor: bool) -> None:
    assert ModelFeedbackLoopInput(pattern_id="p", **values).monitor_only is monitor


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "conservative",
            {
                "time_window_days": 30,
                "auto_apply_threshold": 0.99,
                "min_sample_size": 100,
                "significance_level": 0.01,
                "feedback_type": EnumFeedbackType.PERFORMANCE,
                "enable_ab_testing": True,
            },
        ),
        (
            "aggressive",
            {
                "time_window_days": 3,
                "auto_apply_threshold": 0.85,
                "min_sample_size": 20,
                "significance_level": 0.10,
                "feedback_type": EnumFeedbackType.PERFORMANCE,
            },
        ),
        (
            "quality",
            {
                "feedback_type": EnumFeedbackType.QUALITY,
                "time_window_days": 14,
                "auto_apply_threshold": 0.90,
                "min_sample_size": 50,
                "significance_level": 0.05,
            },
        ),
        (
            "monitor-only",
            {"enable_ab_testing": False, "auto_apply_threshold": 1.0, "time_window_days": 7},
        ),
    ],
)
def test_presets(name: str, expected: dict[str, Any]) -> None:
    contract = ModelFeedbackLoopInput.preset(name, "api_debug")
    assert contract.pattern_id == "api_debug"
    assert {field: getattr(contract, field) for field in expected} == expected
    assert contract.monitor_only is (name == "monitor-only")


def test_preset_names_are_exported_for_a_cli() -> None:
    assert list(PRESETS) == ["conservative", "aggressive", "quality", "monitor-only"]
    with pytest.raises(TypeError):
        PRESETS["conservative"]["time_window_days"] = 1  # type: ignore[index]
    assert ModelFeedbackLoopInput.preset("conservative", "p").time_window_days == 30


def test_preset_overrides_win() -> None:
    contract = ModelFeedbackLoopInput.preset(
        "aggressive", "api_debug", time_window_days=5, max_candidates=2
    )
    assert (contract.time_window_days, contract.max_candidates) == (5, 2)
    assert (contract.auto_apply_threshold, contract.min_sample_size) == (0.85, 20)
    monitored = ModelFeedbackLoopInput.preset("monitor-only", "p", enable_ab_testing=True)
    assert monitored.enable_ab_testing and monitored.monitor_only  # threshold 1.0 still holds


def test_preset_overrides_are_validated() -> None:
    with pytest.raises(ValidationError, match="time_window_days"):
        ModelFeedbackLoopInput.preset("quality", "p", time_window_days=0)
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        ModelFeedbackLoopInput.preset("quality", "p", surprise=1)
    with pytest.raises(ValidationError, match="non-blank"):
        ModelFeedbackLoopInput.preset("quality", "p@1.0.0")


def test_unknown_preset_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown preset 'yolo'") as caught:
        ModelFeedbackLoopInput.preset("yolo", "p")
    assert not isinstance(caught.value, ValidationError)
    for name in PRESETS:
        assert name in str(caught.value)
