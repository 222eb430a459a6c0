"""Contracts of schedules: when a pattern's loop runs by itself, and the runs that come due.

A schedule is a cron expression or a fixed interval, read in an IANA time zone (so "every day
at 02:30 Europe/Berlin" stays 02:30 local across daylight-saving changes). Missed windows are
coalesced: a worker that finds several fire times passed runs the latest of them once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from uuid import UUID, uuid5
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from contracts.model_execution_record import PatternId

_FROZEN = ConfigDict(extra="forbid", frozen=True)

# Names the due runs: uuid5(namespace, "pattern@due time") is the run's correlation id, the
# same in every worker on every machine, so the run ledger replays a second delivery.
DUE_RUN_NAMESPACE = UUID("6f9d3c1e-3a47-5d0b-9a55-2f6b8e0c4d11")
MIN_INTERVAL = timedelta(seconds=1)
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # any aware moment: to parse cron lines against


class EnumScheduleKind(StrEnum):
    CRON = "cron"
    INTERVAL = "interval"


class ModelScheduleSpec(BaseModel):
    """What fires: exactly one of ``cron`` (five fields, cron(8) syntax) or ``interval``,
    in ``timezone``; an interval counts from ``anchor`` (its first due time)."""

    model_config = _FROZEN

    cron: str | None = Field(default=None, min_length=1, max_length=200)
    interval: timedelta | None = None
    timezone: str = Field(default="UTC", min_length=1, max_length=64)

    @property
    def kind(self) -> EnumScheduleKind:
        return EnumScheduleKind.CRON if self.cron is not None else EnumScheduleKind.INTERVAL

    @property
    def expression(self) -> str:
        """How people read it: the cron line, or the interval in seconds (``every 900s``)."""
        if self.cron is not None:
            return self.cron
        assert self.interval is not None
        return f"every {self.interval.total_seconds():g}s"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (an IANA name, e.g. Europe/Berlin)"
            ) from None
        return value

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                CronSim(value, _EPOCH)
            except CronSimError as exc:
                raise ValueError(f"bad cron expression {value!r}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> ModelScheduleSpec:
        if (self.cron is None) == (self.interval is None):
            raise ValueError("give exactly one of a cron expression or an interval")
        if self.interval is not None and self.interval < MIN_INTERVAL:
            raise ValueError(f"an interval must be at least {MIN_INTERVAL.total_seconds():g} s")
        return self


class ModelScheduleSetInput(BaseModel):
    """Create or replace a pattern's schedule. ``start``: an interval's first due time
    (default: now, so it runs at once); a cron schedule's first due time is its next fire
    time after now."""

    model_config = _FROZEN

    pattern_id: PatternId
    spec: ModelScheduleSpec
    start: AwareDatetime | None = None


class ModelSchedule(BaseModel):
    """A stored schedule; ``next_due_at`` is the next fire time not yet run."""

    model_config = _FROZEN

    pattern_id: str
    spec: ModelScheduleSpec
    paused: bool
    next_due_at: AwareDatetime
    last_due_at: AwareDatetime | None
    updated_at: AwareDatetime


class ModelScheduleTick(BaseModel):
    """A schedule as stored, at a moment: is it due, and when next?"""

    model_config = _FROZEN

    pattern_id: str
    spec: ModelScheduleSpec
    next_due_at: AwareDatetime
    now: AwareDatetime


class ModelDueRun(BaseModel):
    """One (pattern, due time): the payload of its queue job, and the run's identity."""

    model_config = _FROZEN

    pattern_id: str
    due_at: AwareDatetime
    correlation_id: UUID

    @classmethod
    def of(cls, pattern_id: str, due_at: AwareDatetime) -> ModelDueRun:
        """The due run of ``pattern_id`` at ``due_at``; the correlation id is derived from
        both (in UTC), so every worker names it alike."""
        utc_iso = due_at.astimezone(UTC).isoformat()
        return cls(
            pattern_id=pattern_id,
            due_at=due_at,
            correlation_id=uuid5(DUE_RUN_NAMESPACE, f"{pattern_id}@{utc_iso}"),
        )


class ModelScheduleAdvance(BaseModel):
    """``due``: the run to enqueue now (the latest passed fire time: missed ones coalesce
    into it), None when nothing is due; ``next_due_at``: the first fire time after now."""

    model_config = _FROZEN

    due: ModelDueRun | None
    next_due_at: AwareDatetime
    missed: int = Field(ge=0, description="earlier fire times coalesced into ``due``")


class ModelEnqueueDue(BaseModel):
    """One scheduler pass: at most ``limit`` due schedules, each locked by one worker."""

    model_config = _FROZEN

    limit: int = Field(default=500, ge=1, le=100_000)


class ModelEnqueued(BaseModel):
    model_config = _FROZEN

    runs: tuple[ModelDueRun, ...]
    missed: int = Field(ge=0, description="fire times coalesced away in this pass")
