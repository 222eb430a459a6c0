"""Builders of valid execution rows for tests (each test varies what it checks)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from contracts.enum_loop import EnumImprovementType
from contracts.model_pattern_improvement import ModelConfigChange, ModelProposal


def execution_rows(
    n: int,
    *,
    pattern_id: str = "api_debug",
    version_id: str | None = None,
    seed: int = 0,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    start = now or datetime.now(UTC)
    durations = rng.lognormal(5.0, 0.4, n)
    scores = rng.uniform(0, 1, n)
    # Hooks log executions as they happen: rows arrive oldest first, as in a real export.
    offsets = np.sort(rng.uniform(0, 3 * 24 * 3600, n))[::-1]
    return [
        {
            "execution_id": uuid.UUID(bytes=rng.bytes(16), version=4),
            "pattern_id": pattern_id,
            "version_id": version_id,
            "started_at": start - timedelta(seconds=float(offsets[i])),
            "duration_ms": float(durations[i]),
            "status": "success" if i % 10 else "failure",
            "quality_results": {"score": float(scores[i])},
            "user_rating": (i % 5) + 1,
            "metadata": {"i": i},
        }
        for i in range(n)
    ]


def proposal(
    key: str = "timeout_ms",
    old: Any = 100,
    new: Any = 200,
    improvement_type: EnumImprovementType = EnumImprovementType.PERFORMANCE,
) -> ModelProposal:
    """A one-key config change, as a generator would propose it."""
    return ModelProposal(
        generator="test",
        improvement_type=improvement_type,
        description=f"{key} {old} -> {new}",
        config_diff={key: ModelConfigChange(old=old, new=new)},
        expected_delta=0.2,
    )
