"""``feedback-loop worker``: run due loop runs from the shared PostgreSQL job queue."""

from __future__ import annotations

import argparse
from typing import Any

from nodes.adapters.cli.arg_types import OptionValue, at_least
from nodes.adapters.cli.context import CliContext
from nodes.adapters.worker import LoopWorker, WorkerSettings, with_liveness_checks
from nodes.service import FeedbackLoopService, resolve_dsn

_DEFAULTS = WorkerSettings()


def _positive_seconds(text: str) -> float:
    value = float(text)
    if not value > 0 or value == float("inf"):
        raise ValueError(text)
    return value


SECONDS = OptionValue(_positive_seconds, "a number of seconds > 0")


def register(commands: Any) -> None:
    cmd = commands.add_parser(
        "worker",
        help="run scheduled loop runs from the job queue until SIGTERM",
        description="Enqueue due schedules and run their loop runs, each (pattern, due time) "
        "once however many workers share the database. On SIGTERM: stop claiming, let running "
        "runs finish within --grace, roll back and re-queue the rest, exit 143.",
    )
    _count(cmd, "--concurrency", _DEFAULTS.concurrency, "runs at once in this process")
    _seconds(cmd, "--grace", _DEFAULTS.grace_s, "time running runs get to finish on SIGTERM")
    _seconds(
        cmd,
        "--heartbeat",
        _DEFAULTS.heartbeat_s,
        "a job whose worker sent no heartbeat for this long is run by another worker",
    )
    _seconds(cmd, "--poll", _DEFAULTS.poll_s, "scheduler pass and queue poll interval")
    _seconds(cmd, "--retry-base", _DEFAULTS.retry_base_s, "first retry delay, doubled each time")
    _seconds(
        cmd,
        "--retention-every",
        _DEFAULTS.retention_every_s,
        "how often executions past the retention horizon are dropped (feedback-loop db retention)",
    )
    _count(cmd, "--max-attempts", _DEFAULTS.max_attempts, "attempts of a run failing transiently")
    cmd.set_defaults(handler=_worker)


def _count(cmd: argparse.ArgumentParser, flag: str, default: int, text: str) -> None:
    cmd.add_argument(
        flag, type=at_least(1), default=default, metavar="N", help=f"{text} (default {default})"
    )


def _seconds(cmd: argparse.ArgumentParser, flag: str, default: float, text: str) -> None:
    cmd.add_argument(flag, type=SECONDS, default=default, metavar="S", help=f"{text} ({default:g})")


async def _worker(args: argparse.Namespace, ctx: CliContext) -> int:
    settings = WorkerSettings(
        concurrency=args.concurrency,
        heartbeat_s=args.heartbeat,
        poll_s=args.poll,
        grace_s=args.grace,
        retry_base_s=args.retry_base,
        max_attempts=args.max_attempts,
        retention_every_s=args.retention_every,
    )
    dsn = resolve_dsn(ctx.dsn)
    service = FeedbackLoopService(
        dsn=None if dsn is None else with_liveness_checks(dsn, settings.heartbeat_s),
        pool_size=settings.concurrency + 4,  # the runs, the queue, the scheduler, the listener
    )
    try:
        await LoopWorker(service, settings).run()
    finally:
        await service.close()
    return 0
