"""``feedback-loop rollback PATTERN --to VERSION``: restore an older config as a new version."""

from __future__ import annotations

import argparse
from typing import Any

from contracts.model_rollback import ModelRollbackInput
from nodes.adapters.cli.arg_types import (
    PATTERN_ID,
    OptionValue,
    add_actor,
    check_usage,
    split_version,
)
from nodes.adapters.cli.context import CliContext


def register(commands: Any) -> None:
    cmd = commands.add_parser(
        "rollback",
        help="make an older version's config active again (as a new version)",
        description="Restore the config of PATTERN@VERSION as a new active version (next "
        "version number, a rolled_back_to edge from VERSION). The current active version is "
        "archived, open candidates are rejected as superseded (they were tested against the "
        "old control) and the restored version takes all traffic. Recorded in the audit log.",
    )
    cmd.add_argument("pattern_id", type=PATTERN_ID, metavar="PATTERN")
    cmd.add_argument(
        "--to",
        dest="to_version",
        type=_TO_VERSION,
        required=True,
        metavar="VERSION",
        help="e.g. 1.2.0 or p@1.2.0",
    )
    cmd.add_argument("--reason", default="", help="why, for the audit log")
    add_actor(cmd, ModelRollbackInput)
    cmd.set_defaults(handler=_rollback)
    check_usage(cmd, _of_another_pattern)


_TO_VERSION = OptionValue(split_version, "x.y.z or PATTERN@x.y.z")


def _of_another_pattern(args: argparse.Namespace) -> str | None:
    """``--to`` naming a pattern must name PATTERN: a rollback never crosses patterns."""
    pattern, version = args.to_version
    if pattern is None or pattern == args.pattern_id:
        return None
    return f"--to {pattern}@{version} is a version of {pattern!r}, not of {args.pattern_id!r}"


async def _rollback(args: argparse.Namespace, ctx: CliContext) -> int:
    _, version = args.to_version
    request = ModelRollbackInput(
        pattern_id=args.pattern_id,
        to_version=version,
        actor=args.actor,
        reason=args.reason or f"rollback to {version} by {args.actor}",
    )
    done = await ctx.service().rollback(request)
    if not done.changed:
        print(
            f"nothing to do: {done.version.version_id}, the active version, already runs the "
            f"config of {done.restored_from}"
        )
        return 0
    print(f"rolled back {args.pattern_id}: {done.version.version_id} is now active")
    print(f"restored from: {done.restored_from}")
    print(f"archived: {done.archived or '-'}")
    if done.retired_improvements:
        ids = ", ".join(str(i) for i in done.retired_improvements)
        print(f"rejected as superseded: {len(done.retired_improvements)} improvement(s): {ids}")
    print(f"correlation id: {done.correlation_id}")
    return 0
