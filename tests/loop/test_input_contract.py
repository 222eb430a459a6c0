"""Invalid loop contracts are rejected with messages that name the field."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from contracts.enum_loop import EnumFeedbackType
from contracts.model_feedback_loop_input import ModelFeedbackLoopInput


def test_seed_defaults() -> None:
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
