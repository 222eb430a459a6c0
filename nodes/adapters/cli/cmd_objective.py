"""``feedback-loop objective PATTERN [changes]``: show or change what a pattern's decisions
optimise and guard (a new stored version per change, audit-logged)."""

from __future__ import annotations

import argparse
from typing import Any

from contracts.enum_error_code import EnumErrorCode
from contracts.enum_loop import EnumMetric
from contracts.model_objective import (
    RELATIVE_MARGIN,
    EnumGuardedMetric,
    ModelGuardrail,
    ModelObjective,
)
from contracts.model_objective_store import ModelObjectiveSetInput
from contracts.model_onex_error import ModelOnexError
from nodes.adapters.cli.arg_types import (
    PATTERN_ID,
    add_actor,
    check_usage,
    contract_value,
    keyword_or,
)
from nodes.adapters.cli.context import CliContext

_GUARDED = [m.value for m in EnumGuardedMetric]
_MARGIN = contract_value(ModelGuardrail, "margin")
_SCALARS = {
    "min_relative_effect": ("--min-effect", "smallest relative improvement worth it"),
    "horizon_per_arm": (
        "--horizon",
        "executions per arm before an undecided test ends, or 'auto' (planned)",
    ),
    "horizon_days": ("--horizon-days", "days before an undecided test ends"),
    "holdback": ("--holdback", "share kept on the old version after apply"),
    "watch_days": ("--watch-days", "how long an applied change is watched"),
}
"""The objective's fields set by a flag of their own: field -> (flag, help)."""


def register(commands: Any) -> None:
    cmd = commands.add_parser(
        "objective",
        help="show or change a pattern's objective: winning metric and guardrail margins",
        description="A candidate is applied only when it wins on its metric AND every "
        "guardrail shows it no worse than its margin (always-valid bounds at the run's "
        "significance level). Margins: points for success_rate (0.02 = 2 points), absolute "
        "for quality_score and user_rating, a fraction of the control for duration_mean, "
        "duration_p95 and cost_usd (0.10 = 10 % more). Tighter margins need more traffic; "
        "`feedback-loop improvements --show ID` prints per guardrail the sample it still "
        "needs. With no change flags, prints the objective. Every change is a new version.",
    )
    cmd.add_argument("pattern_id", type=PATTERN_ID, metavar="PATTERN")
    cmd.add_argument(
        "--margin",
        action="append",
        default=[],
        type=_metric_margin,
        metavar="METRIC=VALUE",
        help=f"set a guardrail's margin (adds the guardrail if absent); METRIC in {_GUARDED}",
    )
    cmd.add_argument(
        "--drop", action="append", default=[], choices=_GUARDED, help="remove a guardrail"
    )
    cmd.add_argument(
        "--required",
        action="append",
        default=[],
        choices=_GUARDED,
        help="block decisions while this metric is not measured",
    )
    cmd.add_argument(
        "--optional", action="append", default=[], choices=_GUARDED, help="undo --required"
    )
    cmd.add_argument(
        "--primary",
        choices=["target", *[m.value for m in EnumMetric]],
        help="what every proposal must win on; 'target' = each proposal's own metric",
    )
    for field, (flag, text) in _SCALARS.items():
        value = contract_value(ModelObjective, field)
        cmd.add_argument(
            flag,
            dest=field,
            type=keyword_or("auto", value) if field == "horizon_per_arm" else value,
            default=argparse.SUPPRESS,  # absent unless given, as 'auto' sets the field to None
            metavar=flag.removeprefix("--").replace("-", "_").upper(),
            help=text,
        )
    cmd.add_argument("--history", action="store_true", help="list every stored version")
    cmd.add_argument("--json", action="store_true", help="print JSON")
    cmd.add_argument("--reason", default="", help="why, for the audit log")
    add_actor(cmd, ModelObjectiveSetInput)
    cmd.set_defaults(handler=_objective)
    check_usage(cmd, _dropped_and_changed)


def _metric_margin(text: str) -> tuple[EnumGuardedMetric, float]:
    """``--margin METRIC=VALUE``: a guarded metric's name, and a margin the guardrail
    contract allows."""
    name, equals, value = text.partition("=")
    if not equals:
        raise argparse.ArgumentTypeError(f"must be METRIC=VALUE, got {text!r}")
    if name not in _GUARDED:
        raise argparse.ArgumentTypeError(
            f"unknown metric {name!r} in {text!r}: METRIC is one of {', '.join(_GUARDED)}"
        )
    try:
        return EnumGuardedMetric(name), _MARGIN(value)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"the margin of {name} {exc}") from None


def _dropped_and_changed(args: argparse.Namespace) -> str | None:
    changed = {metric.value for metric, _ in args.margin} | {*args.required, *args.optional}
    both = sorted(set(args.drop) & changed)
    if both:
        return f"{', '.join(both)}: --drop removes a guardrail, it cannot also be changed"
    return None


def _changed(current: ModelObjective, args: argparse.Namespace) -> dict[str, Any] | None:
    """The fields the flags change, or None when no change flag was given."""
    guardrails = {g.metric: g for g in current.guardrails}
    touched = False
    for metric, margin in args.margin:
        old = guardrails.get(metric)
        guardrails[metric] = ModelGuardrail(
            metric=metric, margin=margin, required=old.required if old else False
        )
        touched = True
    for name, required in [(n, True) for n in args.required] + [(n, False) for n in args.optional]:
        metric = EnumGuardedMetric(name)
        if metric not in guardrails:
            raise ModelOnexError(
                EnumErrorCode.INVALID_INPUT,
                f"{name} has no guardrail: give it a margin with --margin {name}=VALUE",
            )
        guardrails[metric] = guardrails[metric].model_copy(update={"required": required})
        touched = True
    for name in args.drop:
        touched = guardrails.pop(EnumGuardedMetric(name), None) is not None or touched
    changes: dict[str, Any] = {}
    if touched:
        changes["guardrails"] = tuple(guardrails[m] for m in EnumGuardedMetric if m in guardrails)
    if args.primary is not None:
        changes["primary_metric"] = None if args.primary == "target" else args.primary
    changes.update({f: getattr(args, f) for f in _SCALARS if hasattr(args, f)})
    return changes or None


def _show(objective: ModelObjective) -> str:
    primary = objective.primary_metric.value if objective.primary_metric else "each proposal's own"
    horizon = objective.horizon_per_arm or "planned (80 % power at min effect, capped 10,000)"
    lines = [
        f"objective of {objective.pattern_id} (version {objective.version})",
        f"  wins on:           {primary} metric",
        f"  min effect:        {objective.min_relative_effect:.1%}",
        f"  horizon:           {horizon} per arm, or {objective.horizon_days} days",
        f"  after apply:       {objective.holdback:.0%} holdback, watched "
        f"{objective.watch_days} days",
        "  guardrails (no worse than):",
    ]
    for g in objective.guardrails:
        margin = (f"+{g.margin:.0%}" if g.metric in RELATIVE_MARGIN else f"-{g.margin:g}") + (
            " (required)" if g.required else ""
        )
        lines.append(f"    {g.metric.value:<15} {margin}")
    return "\n".join(lines)


async def _objective(args: argparse.Namespace, ctx: CliContext) -> int:
    service = ctx.service()
    if args.history:
        history = await service.objective_history(args.pattern_id)
        for objective in history:
            print(objective.model_dump_json() if args.json else _show(objective))
        if not history and not args.json:
            print(f"{args.pattern_id} has no stored objective: the defaults apply")
        return 0
    current = await service.objective(args.pattern_id)
    changes = _changed(current, args)
    if changes is None:
        print(current.model_dump_json(indent=2) if args.json else _show(current))
        return 0
    updated = ModelObjective.model_validate(
        {**current.model_dump(), **changes, "version": current.version}
    )
    done = await service.set_objective(
        ModelObjectiveSetInput(
            objective=updated,
            actor=args.actor,
            reason=args.reason or f"objective changed by {args.actor}",
        )
    )
    if args.json:
        print(done.objective.model_dump_json(indent=2))
    else:
        print(_show(done.objective))
        if not done.changed:
            print("(unchanged: it already was this objective)")
    return 0
