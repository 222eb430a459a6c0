"""The loop's output and envelope: original API key access, and both stored shapes of stages."""

from __future__ import annotations

import re
import warnings
from typing import Any
from uuid import uuid4

import pytest
from pydantic import ValidationError

from contracts.enum_loop import EnumStageStatus
from contracts.model_feedback_loop_output import ModelFeedbackLoopOutput
from contracts.model_result import ModelResult
from contracts.model_stage_report import ModelStageReport


def _fields(**overrides: Any) -> dict[str, Any]:
    return {
        "success": True,
        "pattern_id": "api_debug",
        "correlation_id": uuid4(),
        "feedback_collected": 200,
        "improvements_identified": 1,
        "improvements_validated": 1,
        "improvements_applied": 1,
        "performance_delta": 0.5,
        "confidence_score": 0.99,
        "statistically_significant": True,
        "workflow_stages": {"collect": "completed"},
        **overrides,
    }


def test_output_is_read_by_key_as_dicts_were() -> None:
    out = ModelFeedbackLoopOutput(**_fields(improvements_applied=3))
    assert out["improvements_applied"] == 3 == out.improvements_applied
    assert out["workflow_stages"] == {"collect": "completed"}
    assert out["p_value"] is None
    for missing in ("improvements", "monitor_only_", "model_dump", "__class__"):
        with pytest.raises(KeyError):
            out[missing]


def test_result_is_read_by_key_as_dicts_were() -> None:
    out = ModelFeedbackLoopOutput(**_fields())
    result = ModelResult(success=True, data=out)
    assert result["success"] is True
    assert result["data"] == out
    assert result["data"]["improvements_applied"] == 1
    assert result["error"] is None
    failed = ModelResult(success=False, error={"code": "NOT_FOUND"})
    assert failed["error"] == {"code": "NOT_FOUND"} and failed["data"] is None
    with pytest.raises(KeyError):
        failed["message"]


def test_new_shape_status_strings_and_details() -> None:
    out = ModelFeedbackLoopOutput(
        **_fields(
            workflow_stages={"collect": "completed", "generate": "skipped"},
            stage_details={"generate": {"status": "skipped", "reason": "monitor-only"}},
        )
    )
    assert out.workflow_stages == {"collect": "completed", "generate": "skipped"}
    assert all(type(status) is str for status in out.workflow_stages.values())
    assert out.stage_details == {
        "generate": ModelStageReport(status=EnumStageStatus.SKIPPED, reason="monitor-only")
    }
    assert ModelFeedbackLoopOutput(**_fields()).stage_details == {}
    assert ModelFeedbackLoopOutput.model_validate_json(out.model_dump_json()) == out


def test_old_shape_with_reports_in_workflow_stages_still_validates() -> None:
    stored = {
        **_fields(),
        "correlation_id": str(uuid4()),
        "workflow_stages": {
            "collect": {"status": "completed", "reason": "", "duration_ms": 1.2},
            "generate": {"status": "skipped", "reason": "monitor-only", "duration_ms": 0.0},
            "validate": {"status": "failed", "reason": "boom", "duration_ms": 3.5},
        },
    }
    out = ModelFeedbackLoopOutput.model_validate(stored)
    assert list(out.workflow_stages.items()) == [
        ("collect", "completed"),
        ("generate", "skipped"),
        ("validate", "failed"),
    ]
    assert out.stage_details["collect"].duration_ms == 1.2
    assert out.stage_details["generate"].reason == "monitor-only"
    assert out.stage_details["validate"].status is EnumStageStatus.FAILED
    # Report objects (as a builder of the old shape passes them) are converted the same way.
    again = ModelFeedbackLoopOutput(
        **_fields(
            correlation_id=out.correlation_id,
            workflow_stages=dict(out.stage_details),
        )
    )
    assert again == out


def test_copy_given_reports_is_brought_to_the_new_shape() -> None:
    """``model_copy(update=...)`` skips validation; wrapping or serializing the copy does not."""
    report = ModelStageReport(status=EnumStageStatus.COMPLETED, duration_ms=2.0)
    copy = ModelFeedbackLoopOutput(**_fields()).model_copy(
        update={"workflow_stages": {"collect": report, "track": report}}
    )
    wrapped = ModelResult(success=True, data=copy).data
    assert wrapped is not None
    assert wrapped.workflow_stages == {"collect": "completed", "track": "completed"}
    assert wrapped.stage_details == {"collect": report, "track": report}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "serialized value may not be as expected"
        dumped = copy.model_dump(mode="json")
    assert dumped["workflow_stages"] == {"collect": "completed", "track": "completed"}
    assert dumped["stage_details"]["track"] == {
        "status": "completed",
        "reason": "",
        "duration_ms": 2.0,
    }
    assert ModelFeedbackLoopOutput.model_validate(dumped) == wrapped


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"workflow_stages": {"collect": "done"}}, "unknown status 'done'"),
        (
            {
                "workflow_stages": {"collect": "completed"},
                "stage_details": {"collect": {"status": "failed"}},
            },
            "stage_details['collect'] is 'failed' but workflow_stages says 'completed'",
        ),
        (
            {"stage_details": {"apply": {"status": "completed"}}},
            "workflow_stages says None",
        ),
        ({"workflow_stages": {"collect": {"reason": "no status"}}}, "status"),
    ],
)
def test_inconsistent_stages_are_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        ModelFeedbackLoopOutput(**_fields(**overrides))
