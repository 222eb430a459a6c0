"""``feedback-loop run --pattern ID ... | --all``: scheduled loop runs, cron-friendly exit code."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from contracts.enum_loop import EnumFeedbackType
from contracts.model_feedback_loop_input import PRESETS, ModelFeedbackLoopInput
from contracts.model_result import ModelResult
from nodes.adapters.cli.arg_types import PATTERN_ID, OptionValue, at_least, contract_value
from nodes.adapters.cli.context import CliContext


def register(commands: Any) -> None:
    run = commands.add_parser(
        "run",
        help="run the loop once for some patterns or all (exit 0 only if every run succeeded)",
        description="Collect, analyze, propose, validate, apply and track, once per pattern. "
        "Prints one row per pattern; exits 0 when every run succeeded, 1 otherwise, so cron "
        "and Kubernetes CronJobs can alert on it.",
    )
    which = run.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--pattern",
        action="append",
        type=PATTERN_ID,
        metavar="ID",
        help="a pattern (repeatable)",
    )
    which.add_argument("--all", action="store_true", help="every pattern with an active version")
    run.add_argument(
        "--concurrency", type=at_least(1), default=8, help="patterns at once (default 8)"
    )
    run.add_argument(
        "--preset",
        choices=list(PRESETS),
        help="start from a usage profile; the flags below override it. "
        + "; ".join(f"{name}: {_describe(values)}" for name, values in PRESETS.items()),
    )
    run.add_argument(
        "--feedback-type",
        choices=[t.value for t in EnumFeedbackType],
        help=f"which metric family to improve (default {_default('feedback_type')})",
    )
    run.add_argument(
        "--time-window-days",
        type=_field("time_window_days"),
        help=f"collection window (default {_default('time_window_days')})",
    )
    run.add_argument(
        "--auto-apply-threshold",
        type=_field("auto_apply_threshold"),
        help="apply without review when confidence > this "
        f"(default {_default('auto_apply_threshold')})",
    )
    run.add_argument(
        "--min-sample-size",
        type=_field("min_sample_size"),
        help=f"executions per arm (default {_default('min_sample_size')})",
    )
    run.add_argument(
        "--significance-level",
        type=_field("significance_level"),
        help=f"alpha (default {_default('significance_level')})",
    )
    run.add_argument(
        "--monitor-only",
        action="store_true",
        help="observe and report; create, decide and apply nothing",
    )
    run.add_argument("--json", action="store_true", help="print the full results as JSON lines")
    run.set_defaults(handler=_run)


_FLAGS = (
    "feedback_type",
    "time_window_days",
    "auto_apply_threshold",
    "min_sample_size",
    "significance_level",
)


def _field(field: str) -> OptionValue[Any]:
    return contract_value(ModelFeedbackLoopInput, field)


def _default(field: str) -> object:
    default = ModelFeedbackLoopInput.model_fields[field].default
    return getattr(default, "value", default)


def _describe(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{field}={getattr(value, 'value', value)}" for field, value in values.items())


def _contracts(args: argparse.Namespace, patterns: list[str]) -> list[ModelFeedbackLoopInput]:
    """One contract per pattern: the preset (or the defaults), then the flags given."""
    overrides: dict[str, Any] = {
        f: getattr(args, f) for f in _FLAGS if getattr(args, f) is not None
    }
    if args.monitor_only:
        overrides["enable_ab_testing"] = False
    overrides["actor"] = "feedback-loop run"
    if args.preset:
        return [ModelFeedbackLoopInput.preset(args.preset, p, **overrides) for p in patterns]
    return [ModelFeedbackLoopInput(pattern_id=p, **overrides) for p in patterns]


def _row(pattern: str, result: ModelResult) -> str:
    if not result.success or result.data is None:
        message = (result.error or {}).get("message", "failed")
        return f"{pattern:<24} FAILED  {message}"
    d = result.data
    p = f"{d.p_value:.4f}" if d.p_value is not None else "-"
    return (
        f"{pattern:<24} ok      {d.feedback_collected:>8} {d.improvements_identified:>4} "
        f"{d.improvements_validated:>4} {d.improvements_applied:>4} "
        f"{d.performance_delta:>+8.3f} {p:>8}  {d.active_version_id}"
    )


async def _run(args: argparse.Namespace, ctx: CliContext) -> int:
    service = ctx.service(pool_size=max(args.concurrency + 2, 4))
    if args.all:
        patterns = await service.patterns()
    else:
        patterns = list(dict.fromkeys(args.pattern))
    results = await service.run_many(_contracts(args, patterns), concurrency=args.concurrency)
    if args.json:
        for result in results:
            print(result.model_dump_json())
    else:
        print(
            f"{'pattern':<24} status  {'executions':>8} {'new':>4} {'val':>4} {'app':>4} "
            f"{'delta':>8} {'p':>8}  active"
        )
        for pattern, result in zip(patterns, results, strict=True):
            print(_row(pattern, result))
        failed = sum(not r.success for r in results)
        print(f"{len(results) - failed} succeeded, {failed} failed")
    return 0 if all(r.success for r in results) else 1
