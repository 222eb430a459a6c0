"""``feedback-loop improvements`` / ``approve|reject IMPROVEMENT_ID``: the review queue."""

from __future__ import annotations

import argparse
from collections import Counter
from typing import Any
from uuid import UUID

from contracts.enum_loop import EnumImprovementStatus
from contracts.model_improvement_lifecycle import ModelLifecycleRequest
from contracts.model_pattern_improvement import ModelPatternImprovement
from contracts.model_validation import ModelImprovementLook
from nodes.adapters.cli.arg_types import PATTERN_ID, add_actor
from nodes.adapters.cli.context import CliContext


def _improvement_id(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an improvement id (a UUID): {text!r}") from None


def register(commands: Any) -> None:
    listing = commands.add_parser(
        "improvements",
        help="list improvements (default: waiting for review, blocked, or in testing)",
        description="List improvements with their ids (for approve/reject/resume), status, "
        "numbers of the last look and the reason of the last decision (a blocked one says why "
        "it was blocked). Default: validated and blocked (waiting for a human) and testing, "
        "over every pattern. Listing applied ones (--status applied) also counts how many "
        "later regressed and were rolled back by their watch.",
    )
    listing.add_argument("--pattern", type=PATTERN_ID, metavar="ID", help="one pattern only")
    listing.add_argument(
        "--status",
        action="append",
        choices=[s.value for s in EnumImprovementStatus],
        help="repeatable (default: validated, blocked and testing)",
    )
    listing.add_argument(
        "--show",
        type=_improvement_id,
        metavar="ID",
        help="one improvement with the evidence of every look: the winning metric's estimate "
        "and always-valid CI, and per guardrail its bound, margin, verdict and the executions "
        "per arm it still needs",
    )
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(handler=_list)
    for name, text in (
        ("approve", "make a validated candidate the active version"),
        ("reject", "reject a candidate in testing or waiting for review"),
    ):
        cmd = commands.add_parser(name, help=text, description=text.capitalize() + ".")
        cmd.add_argument("improvement_id", type=_improvement_id, metavar="IMPROVEMENT_ID")
        add_actor(cmd, ModelLifecycleRequest)
        cmd.add_argument("--reason", default="", help="why, for the audit log")
        cmd.set_defaults(handler=_decide, decision=name)
    resume = commands.add_parser(
        "resume",
        help="give a blocked experiment its traffic back, after checking why it was blocked",
        description="An experiment is blocked when its arms stop being comparable: distinct "
        "units per arm do not match the traffic split, or one arm logs fewer executions per "
        "assign() call. Find the cause first (a broken hook, a crashing worker, a bad split); "
        "then --ack-srm confirms it, the candidate gets traffic again, and both checks start "
        "over from now. Or reject the improvement.",
    )
    resume.add_argument("improvement_id", type=_improvement_id, metavar="IMPROVEMENT_ID")
    resume.add_argument(
        "--ack-srm",
        action="store_true",
        required=True,
        help="required: you looked into the flag and want the test to go on",
    )
    add_actor(resume, ModelLifecycleRequest)
    resume.add_argument("--reason", default="", help="why, for the audit log")
    resume.set_defaults(handler=_resume)


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


async def _resume(args: argparse.Namespace, ctx: CliContext) -> int:
    done = await ctx.service().resume(
        args.improvement_id,
        ack_srm=args.ack_srm,
        actor=args.actor,
        reason=args.reason or f"resumed by {args.actor} (flag acknowledged)",
    )
    print(f"resumed: {done.candidate_version_id} is testing again; checks start over from now")
    return 0


def _row(i: ModelPatternImprovement) -> str:
    p = f"{i.p_value:.3g}" if i.p_value is not None else "-"
    delta = f"{i.performance_delta:+.1%}" if i.performance_delta is not None else "-"
    return (
        f"{i.improvement_id}  {i.status.value:<9} {i.candidate_version_id or '-':<28} "
        f"{i.metric.value:<13} {p:>8} {delta:>7}  {i.description}"
        + (f"\n{'':<38}{i.decision_reason}" if i.decision_reason else "")
    )


def _look_lines(look: ModelImprovementLook) -> list[str]:
    r = look.result
    lines = [
        f"look {look.look} at {look.at:%Y-%m-%d %H:%M:%S} UTC: {r.decision.value} "
        f"({r.n_control} control / {r.n_candidate} candidate executions"
        + (f", horizon {r.horizon_per_arm} per arm" if r.horizon_per_arm else "")
        + ")",
        f"  {r.reason}",
    ]
    if r.statistic:
        ci = (
            f" (always-valid CI {r.delta_ci_low:+.1%} to {r.delta_ci_high:+.1%})"
            if r.delta_ci_low is not None and r.delta_ci_high is not None
            else ""
        )
        p = f", p={r.p_value:.3g}" if r.p_value is not None else ""
        lines.append(f"  wins on {r.statistic}: {r.performance_delta:+.1%}{ci}{p}")
    if r.guardrails:
        lines.append(
            f"  {'guardrail':<15} {'worse by':>10} {'bound':>22} {'margin':>9}  "
            f"{'verdict':<13} needs/arm"
        )
    for g in r.guardrails:
        bound = (
            f"{g.amount(g.worse_by_low)} .. {g.amount(g.worse_by_high)}"
            if g.worse_by_low is not None or g.worse_by_high is not None
            else "-"
        )
        margin = g.amount(g.margin).lstrip("+")
        lines.append(
            f"  {g.metric.value:<15} {g.amount(g.worse_by):>10} {bound:>22} {margin:>9}  "
            f"{g.verdict.value + (' *' if g.required else ''):<13} "
            f"{g.needed_per_arm if g.needed_per_arm is not None else '-'}"
            + (f"  {g.note}" if g.note else "")
        )
    return lines


async def _show(args: argparse.Namespace, ctx: CliContext) -> int:
    improvement, looks = await ctx.service().improvement(args.show)
    if args.json:
        print(improvement.model_dump_json())
        for look in looks:
            print(look.model_dump_json())
        return 0
    print(_row(improvement))
    for look in looks:
        print("\n".join(_look_lines(look)))
    if not looks:
        print("no looks yet")
    return 0


async def _list(args: argparse.Namespace, ctx: CliContext) -> int:
    if args.show is not None:
        return await _show(args, ctx)
    statuses = [
        EnumImprovementStatus(s) for s in args.status or ("validated", "blocked", "testing")
    ]
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
    applied = [i for i in found if i.status is EnumImprovementStatus.APPLIED]
    if applied:
        outcomes = Counter(i.watch_outcome or ("watching" if i.watching else "not watched")
                           for i in applied)  # fmt: skip
        print(
            f"applied: {len(applied)}; later regressed and rolled back: "
            f"{outcomes['rolled_back']}; held after their watch: {outcomes['held']}; "
            f"still watched: {outcomes['watching']}; not watched: {outcomes['not watched']}"
        )
    return 0
