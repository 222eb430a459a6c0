"""``feedback-loop approve|reject IMPROVEMENT_ID``: the human side of the review queue."""

from __future__ import annotations

import argparse
import getpass
from typing import Any
from uuid import UUID

from lineage import NodeLineageStoreEffect
from nodes.cli.context import CliContext
from nodes.node_improvement_store_effect import NodeImprovementStoreEffect


def _improvement_id(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an improvement id (a UUID): {text!r}") from None


def register(commands: Any) -> None:
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
    pool = await ctx.migrated_pool()
    store = NodeImprovementStoreEffect(NodeLineageStoreEffect())
    reason = args.reason or f"{args.decision}d by {args.actor}"
    async with pool.acquire() as conn:
        done = await store.review(
            conn,
            args.improvement_id,
            approve=args.decision == "approve",
            actor=args.actor,
            reason=reason,
        )
    if args.decision == "approve":
        print(f"approved: {done.candidate_version_id} is now active (was {done.base_version_id})")
    else:
        print(f"rejected: {done.candidate_version_id}")
    return 0
