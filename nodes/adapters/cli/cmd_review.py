"""``feedback-loop improvements`` / ``approve|reject IMPROVEMENT_ID``: the review queue."""

from __future__ import annotations

import argparse
import getpass
from typing import Any
from uuid import UUID

from contracts.enum_loop import EnumImprovementStatus
from contracts.model_pattern_improvement import ModelPatternImprovement
from nodes.adapters.cli.context import CliContext


def _improvement_id(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an improvement id (a UUID): {text!r}") from None


def register(commands: Any) -> None:
    listing = commands.add_parser(
        "improvements",
        help="list improvements (default: the ones waiting for review or in testing)",
        description="List improvements with their ids (for approve/reject), status, numbers of "
        "the last look and the reason of the last decision. Default: validated (waiting for "
        "a human) and testing, over every pattern.",
    )
    listing.add_argument("--pattern", metavar="ID", help="one pattern only")
    listing.add_argument(
        "--status",
        action="append",
        choices=[s.value for s in EnumImprovementStatus],
        help="repeatable (default: validated and testing)",
    )
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(handler=_list)
    for name, text in (
        ("approve", "make a validated candidate the active version"),
        ("reject", "reject a candidate in testing or waiting for review"),
    ):
        cmd = commands.add_parser(name, help=text, description=text.capitalize() + ".")
        cmd.add_argument("improvement_id", type=_improvement_id, metavar="IMPROVEMENT_ID")
        cmd.add_argument("--actor", default=getpass.getuser(), help="who (default: OS user)")
        cmd.add_argument("--reason", default="", help="why, for the audit log")
        cmd.set_defaults(handler=_decide, decision=name)


async def _decide(args: argparse.Namespace, ctx: CliContext) -> int:
    reason = args.reason or f"{args.decision}d by {args.actor}"
    done = await ctx.service().review(
        args.improvement_id, approve=args.decision == "approve", actor=args.actor, reason=reason
    )
    if args.decision == "approve":
        print(f"approved: {done.candidate_version_id} is now active (was {done.base_version_id})")
    else:
        print(f"rejected: {done.candidate_version_id}")
    return 0


def _row(i: ModelPatternImprovement) -> str:
    p = f"{i.p_value:.3g}" if i.p_value is not None else "-"
    delta = f"{i.performance_delta:+.1%}" if i.performance_delta is not None else "-"
    return (
        f"{i.improvement_id}  {i.status.value:<9} {i.candidate_version_id or '-':<28} "
        f"{i.metric.value:<13} {p:>8} {delta:>7}  {i.description}"
        + (f"\n{'':<38}{i.decision_reason}" if i.decision_reason else "")
    )


async def _list(args: argparse.Namespace, ctx: CliContext) -> int:
    statuses = [EnumImprovementStatus(s) for s in args.status or ("validated", "testing")]
    found = await ctx.service().improvements(args.pattern, statuses)
    if args.json:
        for improvement in found:
            print(improvement.model_dump_json())
        return 0
    print(
        f"{'IMPROVEMENT':<36}  {'STATUS':<9} {'CANDIDATE':<28} {'METRIC':<13} {'P':>8} "
        f"{'DELTA':>7}  DESCRIPTION"
    )
    for improvement in found:
        print(_row(improvement))
    print(f"{len(found)} improvement(s)")
    return 0
