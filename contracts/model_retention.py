"""Contracts of retention: which day partitions of ``hook_executions`` are dropped, and why the
others are kept.

A day is dropped once it ends at or before the horizon (now minus ``retention_days``), its
rows are all counted in its hour buckets (which are then rolled up into one day bucket and
kept), and no running experiment or watch after an apply may still read it.
"""

from __future__ import annotations

from datetime import date

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

_FROZEN = ConfigDict(extra="forbid", frozen=True)

DEFAULT_RETENTION_DAYS = 30
MAX_RETENTION_DAYS = 1000
"""Raw executions are kept at most this long (a partition per day); their buckets forever."""


class ModelDayPartition(BaseModel):
    """One UTC day's partition and the moment it ends (the next day's midnight, UTC)."""

    model_config = _FROZEN

    day: date
    ends_at: AwareDatetime


class ModelRetentionInput(BaseModel):
    """What the plan decides on: the partitions, the horizon, and the earliest time a running
    experiment or watch still reads (None when there is none)."""

    model_config = _FROZEN

    partitions: tuple[ModelDayPartition, ...]
    horizon: AwareDatetime
    experiments_need_from: AwareDatetime | None = None


class ModelRetentionPlan(BaseModel):
    """Days to drop, oldest first, and days past the horizon kept for an experiment."""

    model_config = _FROZEN

    drop: tuple[date, ...] = ()
    kept_for_experiments: tuple[date, ...] = ()


class ModelRetentionRequest(BaseModel):
    """``retention_days`` changes the setting first (it stays for later runs); ``dry_run``
    reports the plan and changes nothing."""

    model_config = _FROZEN

    retention_days: int | None = Field(default=None, ge=1, le=MAX_RETENTION_DAYS)
    dry_run: bool = False


class ModelRetentionReport(BaseModel):
    """What a retention pass did (or, dry, would do)."""

    model_config = _FROZEN

    retention_days: int
    horizon: AwareDatetime
    dropped: tuple[date, ...] = ()
    rows_dropped: int = 0
    kept_for_experiments: tuple[date, ...] = ()
    not_aggregated: tuple[date, ...] = Field(
        default=(),
        description="days past the horizon whose rows are not all in their buckets: kept, "
        "for `feedback-loop db doctor --fix` to rebuild their buckets",
    )
    dry_run: bool = False
