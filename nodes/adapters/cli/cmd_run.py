"""``feedback-loop run --pattern ID ... | --all``: scheduled loop runs, cron-friendly exit code."""

from __future__ import annotations

import argparse
from typing import Any

from pydantic import ValidationError

from contracts.enum_loop import EnumFeedbackType
from contracts.model_feedback_loop_input import ModelFeedbackLoopInput
from contracts.model_result import ModelResult
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
    which.add_argument("--pattern", action="append", metavar="ID", help="a pattern (repeatable)")
    which.add_argument("--all", action="store_true", help="every pattern with an active version")
    run.add_argument("--concurrency", type=int, default=8, help="patterns at once (default 8)")
    run.add_argument(
        "--feedback-type", choices=[t.value for t in EnumFeedbackType], default="performance"
    )
    run.add_argument("--time-window-days", type=int, default=7)
    run.add_argument("--auto-apply-threshold", type=float, default=0.95)
    run.add_argument("--min-sample-size", type=int, default=30)
    run.add_argument("--significance-level", type=float, default=0.05)
    run.add_argument(
        "--monitor-only",
        action="store_true",
        help="observe and report; create, decide and apply nothing",
    )
    run.add_argument("--json", action="store_true", help="print the full results as JSON lines")
    run.set_defaults(handler=_run)


def _contracts(args: argparse.Namespace, patterns: list[str]) -> list[ModelFeedbackLoopInput]:
    return [
        ModelFeedbackLoopInput(
            pattern_id=pattern,
            feedback_type=args.feedback_type,
            time_window_days=args.time_window_days,
            auto_apply_threshold=args.auto_apply_threshold,
            min_sample_size=args.min_sample_size,
            significance_level=args.significance_level,
            enable_ab_testing=not args.monitor_only,
            actor="feedback-loop run",
        )
        for pattern in patterns
    ]


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
    if args.concurrency < 1:
        raise SystemExit("error: --concurrency must be >= 1")
    service = ctx.service(pool_size=max(args.concurrency + 2, 4))
    if args.all:
        patterns = await service.patterns()
    else:
        patterns = list(dict.fromkeys(args.pattern))
    try:
        contracts = _contracts(args, patterns)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise SystemExit(f"error: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    results = await service.run_many(contracts, concurrency=args.concurrency)
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
