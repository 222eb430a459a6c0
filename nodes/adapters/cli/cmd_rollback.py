"""``feedback-loop rollback PATTERN --to VERSION``: restore an older config as a new version."""

from __future__ import annotations

import argparse
import getpass
from typing import Any

from contracts.enum_error_code import EnumErrorCode
from contracts.model_onex_error import ModelOnexError
from contracts.model_rollback import ModelRollbackInput
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
    cmd.add_argument("pattern_id", metavar="PATTERN")
    cmd.add_argument(
        "--to", dest="to_version", required=True, metavar="VERSION", help="e.g. 1.2.0 or p@1.2.0"
    )
    cmd.add_argument("--reason", default="", help="why, for the audit log")
    cmd.add_argument("--actor", default=getpass.getuser(), help="who (default: OS user)")
    cmd.set_defaults(handler=_rollback)


def _semver(pattern_id: str, to_version: str) -> str:
    """``--to`` takes ``1.2.0`` or the full ``PATTERN@1.2.0``, which must name PATTERN."""
    pattern, at, version = to_version.rpartition("@")
    if at and pattern != pattern_id:
        raise ModelOnexError(
            EnumErrorCode.INVALID_INPUT,
            f"--to {to_version} is a version of {pattern!r}, not of {pattern_id!r}",
        )
    return version


async def _rollback(args: argparse.Namespace, ctx: CliContext) -> int:
    version = _semver(args.pattern_id, args.to_version)
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
