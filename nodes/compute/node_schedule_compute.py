"""When a schedule is due, pure: the fire times of a cron line or an interval in a time zone,
and the coalescing of missed windows into one run.

Coalescing: a schedule whose ``next_due_at`` lies in the past may have missed several fire
times (no worker ran, the database was down). Replaying each would run the same pattern on the
same data in a burst, so only the latest passed fire time runs; the rest are counted as
``missed``. Cron fire times come from ``cronsim`` on the local wall clock of the schedule's
zone: a time skipped by a spring-forward change fires once at the first valid moment after it,
one repeated by a fall-back change fires once (as cron(8) does), not twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice, takewhile
from zoneinfo import ZoneInfo

from cronsim import CronSim
from pydantic import AwareDatetime

from contracts.model_schedule import (
    ModelDueRun,
    ModelScheduleAdvance,
    ModelScheduleSpec,
    ModelScheduleTick,
)

# Missed cron fire times are counted, for the log, up to this many (a minutely schedule
# idle for a year would otherwise be walked half a million times).
_MISSED_COUNT_CAP = 10_000


class NodeScheduleCompute:
    """Stateless: the same tick gives the same answer in every worker."""

    def advance(self, tick: ModelScheduleTick) -> ModelScheduleAdvance:
        """Nothing due before ``next_due_at``; at or after it, the latest fire time not after
        ``now`` is due and the next one after ``now`` follows."""
        if tick.next_due_at > tick.now:
            return ModelScheduleAdvance(due=None, next_due_at=tick.next_due_at, missed=0)
        if tick.spec.interval is not None:
            periods = (tick.now - tick.next_due_at) // tick.spec.interval
            due_at = tick.next_due_at + periods * tick.spec.interval
            return ModelScheduleAdvance(
                due=ModelDueRun.of(tick.pattern_id, due_at),
                next_due_at=due_at + tick.spec.interval,
                missed=periods,
            )
        due_at = _previous_fire(tick.spec, tick.now)
        return ModelScheduleAdvance(
            due=ModelDueRun.of(tick.pattern_id, due_at),
            next_due_at=self.first_due(tick.spec, tick.now),
            missed=_missed_fires(tick.spec, tick.next_due_at, due_at),
        )

    def first_due(self, spec: ModelScheduleSpec, after: AwareDatetime) -> AwareDatetime:
        """A cron schedule's first fire time strictly after ``after``; an interval's is
        ``after`` itself (it starts now, or at the start it was given)."""
        if spec.cron is None:
            return after
        return next(_fires(spec, after))


def _local(spec: ModelScheduleSpec, at: AwareDatetime) -> AwareDatetime:
    return at.astimezone(ZoneInfo(spec.timezone))


def _fires(spec: ModelScheduleSpec, after: AwareDatetime) -> Iterator[AwareDatetime]:
    """Fire times strictly after ``after``, lazily (cronsim starts after it)."""
    assert spec.cron is not None
    return iter(CronSim(spec.cron, _local(spec, after)))


def _missed_fires(spec: ModelScheduleSpec, first: AwareDatetime, due_at: AwareDatetime) -> int:
    """Fire times from ``first`` (one itself) up to, not including, ``due_at``: coalesced."""
    if first >= due_at:
        return 0
    later = takewhile(lambda at: at < due_at, islice(_fires(spec, first), _MISSED_COUNT_CAP))
    return 1 + sum(1 for _ in later)


def _previous_fire(spec: ModelScheduleSpec, now: AwareDatetime) -> AwareDatetime:
    """The latest fire time at or before ``now``."""
    assert spec.cron is not None
    later = next(_fires(spec, now))
    at: AwareDatetime = next(iter(CronSim(spec.cron, later, reverse=True)))
    return at
