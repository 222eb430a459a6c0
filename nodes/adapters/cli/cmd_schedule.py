"""``feedback-loop schedule set|list|remove|pause|resume``: when patterns run by themselves."""

from __future__ import annotations

import argparse
import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from contracts.model_schedule import ModelSchedule, ModelScheduleSetInput, ModelScheduleSpec
from nodes.adapters.cli.arg_types import PATTERN_ID, OptionValue
from nodes.adapters.cli.context import CliContext

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^(?P<n>\d+(?:\.\d+)?)(?P<unit>[smhd]?)$")


def _duration(text: str) -> timedelta:
    match = _DURATION.match(text.strip())
    if match is None:
        raise ValueError(text)
    seconds = float(match["n"]) * _UNITS[match["unit"] or "s"]
    return ModelScheduleSpec(interval=timedelta(seconds=seconds)).interval or timedelta()


def _aware(text: str) -> datetime:
    at = datetime.fromisoformat(text)
    if at.tzinfo is None:
        raise ValueError(text)
    return at


CRON = OptionValue(lambda t: str(ModelScheduleSpec(cron=t).cron), "a cron line of five fields")
EVERY = OptionValue(_duration, "a duration of at least 1 s, e.g. 90s, 15m, 2h, 1d")
ZONE = OptionValue(
    lambda t: ModelScheduleSpec(cron="* * * * *", timezone=t).timezone,
    "an IANA time zone, e.g. Europe/Berlin",
)
START = OptionValue(_aware, "an ISO date-time with an offset, e.g. 2026-01-01T00:00:00+00:00")


def register(commands: Any) -> None:
    cmd = commands.add_parser(
        "schedule",
        help="run patterns by themselves: a cron line or an interval per pattern",
        description="Schedules are read by `feedback-loop worker`; a change takes effect at "
        "the workers' next pass, without restarting them. Missed runs coalesce into one.",
    )
    actions = cmd.add_subparsers(dest="action", metavar="ACTION", required=True)
    set_cmd = actions.add_parser("set", help="create or replace a pattern's schedule")
    set_cmd.add_argument("pattern_id", type=PATTERN_ID, metavar="PATTERN")
    when = set_cmd.add_mutually_exclusive_group(required=True)
    when.add_argument("--cron", type=CRON, metavar="EXPR", help="e.g. '30 2 * * *'")
    when.add_argument("--every", type=EVERY, metavar="DURATION", help="e.g. 15m")
    set_cmd.add_argument(
        "--tz", type=ZONE, default="UTC", metavar="ZONE", help="time zone (default UTC)"
    )
    set_cmd.add_argument(
        "--start",
        type=START,
        metavar="AT",
        help="first due time of --every (default now); --cron: first fire time after it",
    )
    set_cmd.set_defaults(handler=_set)
    list_cmd = actions.add_parser("list", help="every schedule and when it is next due")
    list_cmd.add_argument("--json", action="store_true", help="one JSON object per line")
    list_cmd.set_defaults(handler=_list)
    for name, handler, text in (
        ("remove", _remove, "delete a pattern's schedule"),
        ("pause", _pause, "no runs come due until resumed"),
        ("resume", _resume, "runs come due again; missed ones run once, coalesced"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("pattern_id", type=PATTERN_ID, metavar="PATTERN")
        action.set_defaults(handler=handler)


def _line(schedule: ModelSchedule) -> str:
    """One schedule; its next due time on the wall clock of its own zone."""
    state = "paused" if schedule.paused else "active"
    next_due = schedule.next_due_at.astimezone(ZoneInfo(schedule.spec.timezone))
    return (
        f"{schedule.pattern_id:<24} {state:<7} {schedule.spec.expression:<20} "
        f"{schedule.spec.timezone:<16} {next_due.isoformat()}"
    )


async def _set(args: argparse.Namespace, ctx: CliContext) -> int:
    spec = ModelScheduleSpec(cron=args.cron, interval=args.every, timezone=args.tz)
    request = ModelScheduleSetInput(pattern_id=args.pattern_id, spec=spec, start=args.start)
    print(_line(await ctx.service().set_schedule(request)))
    return 0


async def _list(args: argparse.Namespace, ctx: CliContext) -> int:
    schedules = await ctx.service().schedules()
    if args.json:
        for schedule in schedules:
            print(schedule.model_dump_json())
        return 0
    print(f"{'pattern':<24} {'state':<7} {'schedule':<20} {'time zone':<16} next due")
    for schedule in schedules:
        print(_line(schedule))
    return 0


async def _remove(args: argparse.Namespace, ctx: CliContext) -> int:
    await ctx.service().remove_schedule(args.pattern_id)
    return 0


async def _pause(args: argparse.Namespace, ctx: CliContext) -> int:
    print(_line(await ctx.service().pause_schedule(args.pattern_id, paused=True)))
    return 0


async def _resume(args: argparse.Namespace, ctx: CliContext) -> int:
    print(_line(await ctx.service().pause_schedule(args.pattern_id, paused=False)))
    return 0
