"""``feedback-loop db upgrade|status``."""

from __future__ import annotations

import argparse
from typing import Any

from nodes.adapters.cli.context import CliContext


def register(commands: Any) -> None:
    db = commands.add_parser("db", help="database schema: upgrade, status")
    actions = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = actions.add_parser(
        "upgrade", help="apply pending migrations (safe to run twice or concurrently)"
    )
    up.set_defaults(handler=_upgrade)
    st = actions.add_parser("status", help="list migrations and whether each is applied")
    st.set_defaults(handler=_status)


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
        print(f"{state.version:04d}_{state.name:<30} {mark}")
    pending = sum(not s.applied for s in states)
    print(f"{len(states) - pending} applied, {pending} pending")
    return 0
