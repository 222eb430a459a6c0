"""Fire times of cron lines and intervals in a time zone, and coalescing of missed windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from contracts.model_schedule import ModelDueRun, ModelScheduleSpec, ModelScheduleTick
from nodes.compute.node_schedule_compute import NodeScheduleCompute

BERLIN = ZoneInfo("Europe/Berlin")
COMPUTE = NodeScheduleCompute()


def _fires(spec: ModelScheduleSpec, start: datetime, n: int) -> list[datetime]:
    """The first ``n`` due times, each run on time."""
    at = COMPUTE.first_due(spec, start)
    found = [at]
    while len(found) < n:
        tick = ModelScheduleTick(pattern_id="p", spec=spec, next_due_at=at, now=at)
        at = COMPUTE.advance(tick).next_due_at
        found.append(at)
    return found


def test_a_daily_cron_keeps_its_local_time_across_both_dst_changes() -> None:
    spec = ModelScheduleSpec(cron="30 2 * * *", timezone="Europe/Berlin")
    spring = _fires(spec, datetime(2026, 3, 28, 12, tzinfo=BERLIN), 3)
    # 02:30 does not exist on 29 March: it fires once, at the first valid moment after.
    assert [f.astimezone(BERLIN).strftime("%d %H:%M") for f in spring] == [
        "29 03:00",
        "30 02:30",
        "31 02:30",
    ]
    autumn = _fires(spec, datetime(2026, 10, 24, 12, tzinfo=BERLIN), 3)
    # 02:30 happens twice on 25 October: it fires once, not twice.
    assert [f.astimezone(UTC).strftime("%d %H:%M") for f in autumn] == [
        "25 00:30",
        "26 01:30",
        "27 01:30",
    ]


def test_missed_cron_windows_coalesce_into_the_latest() -> None:
    spec = ModelScheduleSpec(cron="0 * * * *", timezone="UTC")
    now = datetime(2026, 1, 2, 10, 20, tzinfo=UTC)
    tick = ModelScheduleTick(
        pattern_id="p", spec=spec, next_due_at=datetime(2026, 1, 2, 3, tzinfo=UTC), now=now
    )
    advance = COMPUTE.advance(tick)
    assert advance.due == ModelDueRun.of("p", datetime(2026, 1, 2, 10, tzinfo=UTC))
    assert advance.missed == 7  # 03:00 ... 09:00
    assert advance.next_due_at == datetime(2026, 1, 2, 11, tzinfo=UTC)


def test_missed_interval_windows_coalesce_and_keep_the_phase() -> None:
    spec = ModelScheduleSpec(interval=timedelta(hours=1))
    start = datetime(2026, 1, 2, 0, 15, tzinfo=UTC)
    now = start + timedelta(hours=10, minutes=30)
    advance = COMPUTE.advance(
        ModelScheduleTick(pattern_id="p", spec=spec, next_due_at=start, now=now)
    )
    assert advance.due is not None and advance.due.due_at == start + timedelta(hours=10)
    assert advance.missed == 10
    assert advance.next_due_at == start + timedelta(hours=11)


def test_nothing_is_due_before_its_time() -> None:
    spec = ModelScheduleSpec(interval=timedelta(minutes=5))
    at = datetime(2026, 1, 1, tzinfo=UTC)
    tick = ModelScheduleTick(
        pattern_id="p", spec=spec, next_due_at=at, now=at - timedelta(seconds=1)
    )
    assert COMPUTE.advance(tick).due is None


def test_the_correlation_id_names_pattern_and_due_time_in_any_zone() -> None:
    utc = datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert ModelDueRun.of("p", utc) == ModelDueRun.of("p", utc.astimezone(BERLIN)).model_copy(
        update={"due_at": utc}
    )
    assert ModelDueRun.of("p", utc).correlation_id != ModelDueRun.of("q", utc).correlation_id


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"cron": "61 * * * *"}, "bad cron expression"),
        ({"interval": timedelta(0)}, "at least 1 s"),
        ({"cron": "* * * * *", "interval": timedelta(hours=1)}, "exactly one"),
        ({"cron": "* * * * *", "timezone": "Mars/Olympus"}, "unknown time zone"),
    ],
)
def test_bad_schedules_are_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ModelScheduleSpec.model_validate(fields)
