"""``feedback-loop db upgrade|status|doctor|retention``."""

from __future__ import annotations

import argparse
from datetime import date
from typing import Any

from contracts.model_retention import (
    DEFAULT_RETENTION_DAYS,
    MAX_RETENTION_DAYS,
    ModelRetentionReport,
    ModelRetentionRequest,
)
from nodes.adapters.cli.arg_types import contract_value
from nodes.adapters.cli.context import CliContext


def register(commands: Any) -> None:
    db = commands.add_parser("db", help="database schema and health: upgrade, status, doctor")
    actions = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = actions.add_parser(
        "upgrade", help="apply pending migrations (safe to run twice or concurrently)"
    )
    up.set_defaults(handler=_upgrade)
    st = actions.add_parser("status", help="list migrations and whether each is applied")
    st.set_defaults(handler=_status)
    doctor = actions.add_parser(
        "doctor",
        help="find stale embedded servers, abandoned runs and schema drift (--fix: repair)",
        description="Checks what crashes and hand edits leave behind: an embedded server "
        "still running with no live process using it, loop runs left 'running' by a dead "
        "process, migrations edited after they were applied, pending migrations. One line per "
        "finding, then a summary. --fix stops a stale server (only once it is verified to be "
        "the postgres server of the data dir), marks abandoned runs abandoned and applies "
        "pending migrations; an edited migration is only reported. Exit 0 when healthy (or "
        "everything found was fixed), 1 otherwise.",
    )
    doctor.add_argument("--fix", action="store_true", help="repair what is safe to repair")
    doctor.set_defaults(handler=_doctor)
    retention = actions.add_parser(
        "retention",
        help="drop executions past the retention horizon (default 30 days; workers do it hourly)",
        description="Executions are stored in one partition per UTC day. A day is dropped "
        "once it ends before the horizon (now minus the retention days), its rows are all in "
        "its hour buckets (which become one day bucket, kept, so trends still show it) and no "
        "running experiment or watch after an apply reads it. New rows older than the horizon "
        "are refused. --days changes the setting for every later pass and for ingest.",
    )
    retention.add_argument(
        "--days",
        type=contract_value(ModelRetentionRequest, "retention_days"),
        metavar="N",
        help=f"keep N days of executions (1 .. {MAX_RETENTION_DAYS}; "
        f"default {DEFAULT_RETENTION_DAYS}, or what was set before)",
    )
    retention.add_argument(
        "--dry-run", action="store_true", help="say what would be dropped, change nothing"
    )
    retention.add_argument("--json", action="store_true", help="the report as one JSON object")
    retention.set_defaults(handler=_retention)


async def _upgrade(args: argparse.Namespace, ctx: CliContext) -> int:
    service = ctx.service()
    applied = await service.db_upgrade()
    if applied:
        for migration in applied:
            print(f"applied {migration.version:04d}_{migration.name}")
    else:
        print(f"up to date ({len(await service.db_status())} migrations)")
    return 0


async def _status(args: argparse.Namespace, ctx: CliContext) -> int:
    states = await ctx.service().db_status()
    for state in states:
        mark = f"applied {state.applied_at}" if state.applied else "pending"
        if state.changed:
            mark += " (file edited since: see feedback-loop db doctor)"
        print(f"{state.version:04d}_{state.name:<30} {mark}")
    pending = sum(not s.applied for s in states)
    print(f"{len(states) - pending} applied, {pending} pending")
    return 0


async def _doctor(args: argparse.Namespace, ctx: CliContext) -> int:
    report = await ctx.service().db_doctor(fix=args.fix)
    for finding in report.findings:
        print(finding.line())
    print(report.summary())
    return 0 if report.healthy else 1


def _days(days: tuple[date, ...]) -> str:
    if not days:
        return "none"
    if len(days) == 1:
        return days[0].isoformat()
    return f"{days[0].isoformat()} .. {days[-1].isoformat()} ({len(days)} days)"


def _retention_lines(report: ModelRetentionReport) -> list[str]:
    verb = "would drop" if report.dry_run else "dropped"
    lines = [
        f"retention {report.retention_days} days: executions before "
        f"{report.horizon.isoformat(timespec='seconds')} are not kept",
        f"{verb}: {_days(report.dropped)}, {report.rows_dropped:,} rows (their buckets stay)",
    ]
    if report.kept_for_experiments:
        lines.append(f"kept for running experiments: {_days(report.kept_for_experiments)}")
    if report.not_aggregated:
        lines.append(
            f"kept, rows missing from their buckets: {_days(report.not_aggregated)} "
            "(later days wait for it; see the README's Retention section)"
        )
    return lines


async def _retention(args: argparse.Namespace, ctx: CliContext) -> int:
    request = ModelRetentionRequest(retention_days=args.days, dry_run=args.dry_run)
    report = await ctx.service().apply_retention(request)
    if args.json:
        print(report.model_dump_json())
    else:
        print("\n".join(_retention_lines(report)))
    return 0
