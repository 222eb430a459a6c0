"""Contracts of trends: a pattern's statistics per hour or day and version, read from the
execution buckets (so months cost what a day costs, and days past retention still show)."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.model_execution_record import PatternId

_FROZEN = ConfigDict(extra="forbid", frozen=True)

TrendWidth = Literal["hour", "day"]


class ModelTrendInput(BaseModel):
    model_config = _FROZEN

    pattern_id: PatternId
    by: TrendWidth = "day"
    days: int = Field(default=7, ge=1, le=3660, description="periods ending now, this far back")


class ModelTrendPoint(BaseModel):
    """One period of one version ('' for executions logged without a version). Durations'
    percentiles are within 0.1 % (their histogram bin); ``reward_mean`` is None where the
    buckets' reward sums are not the objective's (``feedback-loop db doctor --fix``)."""

    model_config = _FROZEN

    start: AwareDatetime
    version_id: str
    n: int
    success_rate: float
    duration_mean: float
    duration_p50: float
    duration_p95: float
    duration_p99: float
    reward_mean: float | None


class ModelTrend(BaseModel):
    model_config = _FROZEN

    pattern_id: str
    by: TrendWidth
    points: list[ModelTrendPoint]
