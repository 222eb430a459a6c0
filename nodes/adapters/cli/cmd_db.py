"""``feedback-loop db upgrade|status|doctor``."""

from __future__ import annotations

import argparse
from typing import Any

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
