"""Measured feedback on pattern versions: SQL aggregates (collect) and their reading (analyze)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from contracts.enum_loop import EnumMetric

_FROZEN = ConfigDict(extra="forbid", frozen=True)


class ModelErrorCount(BaseModel):
    model_config = _FROZEN

    message: str
    count: int = Field(ge=1)


TAIL_FRACTIONS: tuple[float, ...] = tuple(round(0.85 + i / 1000, 3) for i in range(141))
"""Fractions 0.850 .. 0.990 at which an experiment's arms report their duration order
statistics (``percentile_disc``: the first value at or past the fraction). Always-valid bounds
on the 95th percentile are order statistics whose ranks depend on n; reading them off this grid,
rounded outwards, keeps the SQL independent of the decision's significance level."""

BUCKET_SUMS: tuple[str, ...] = (
    "n",
    "successes",
    "timeouts",
    "duration_sum",
    "duration_sq",
    "log_duration_sum",
    "log_duration_sq",
    "quality_n",
    "quality_sum",
    "quality_sq",
    "rating_n",
    "rating_sum",
    "rating_sq",
    "cost_n",
    "cost_sum",
    "cost_sq",
    "reward_sum",
    "reward_sq",
)
"""The columns of an ``execution_buckets`` row that add up across buckets: counts, sums and
sums of squares, from which an arm's means and variances follow."""


class ModelArmStats(BaseModel):
    """Summary statistics of one version's executions, aggregated in SQL (no rows shipped)."""

    model_config = _FROZEN

    version_id: str
    n: int = Field(ge=0)
    successes: int = Field(ge=0)
    timeouts: int = Field(default=0, ge=0)
    duration_mean: float = 0.0
    duration_var: float = Field(default=0.0, ge=0)
    log_duration_mean: float = 0.0
    log_duration_var: float = Field(default=0.0, ge=0)
    duration_p50: float = 0.0
    duration_p95: float = 0.0
    duration_p99: float = 0.0
    quality_n: int = Field(default=0, ge=0)
    quality_mean: float = 0.0
    quality_var: float = Field(default=0.0, ge=0)
    rating_n: int = Field(default=0, ge=0)
    rating_mean: float = 0.0
    rating_var: float = Field(default=0.0, ge=0)
    cost_n: int = Field(default=0, ge=0)
    cost_mean: float = 0.0
    cost_var: float = Field(default=0.0, ge=0)
    reward_mean: float = Field(default=0.0, ge=0, le=1, description="composite reward, mean")
    reward_var: float = Field(default=0.0, ge=0)
    duration_tail: tuple[float, ...] = Field(
        default=(),
        description="duration order statistics at TAIL_FRACTIONS (experiments only); read "
        "from buckets, a value at or below each",
    )
    duration_tail_upper: tuple[float, ...] = Field(
        default=(),
        description="read from buckets: a value at or above each order statistic of "
        "duration_tail (its histogram bin's upper edge); empty when duration_tail is exact",
    )
    top_errors: list[ModelErrorCount] = Field(default_factory=list)

    @property
    def success_rate(self) -> float:
        return self.successes / self.n if self.n else 0.0


class ModelIssue(BaseModel):
    """A threshold the version crosses, which generators may turn into proposals."""

    model_config = _FROZEN

    kind: str = Field(
        description="slow | failing | timeouts | low_quality | low_rating | low_reward | retrain"
    )
    metric: EnumMetric
    observed: float
    threshold: float
    detail: str = ""


class ModelPatternFeedback(BaseModel):
    """The analysis of one version."""

    model_config = _FROZEN

    pattern_id: str
    version_id: str
    n: int = Field(ge=0)
    success_rate: float = Field(ge=0, le=1)
    duration_p50: float
    duration_p95: float
    duration_p99: float
    mean_quality: float | None = None
    mean_rating: float | None = None
    mean_reward: float | None = None
    top_errors: list[ModelErrorCount] = Field(default_factory=list)
    issues: list[ModelIssue] = Field(default_factory=list)
