"""``feedback-loop versions PATTERN | --all``: a pattern's version history, or every pattern's
active version, so an operator can see what runs now and what to roll back to."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from contracts.enum_error_code import EnumErrorCode
from contracts.enum_version_status import EnumVersionStatus
from contracts.model_onex_error import ModelOnexError
from contracts.model_pattern_version import ModelPatternVersion
from lineage.export import format_time, text_table
from nodes.adapters.cli.arg_types import PATTERN_ID
from nodes.adapters.cli.context import CliContext

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def register(commands: Any) -> None:
    cmd = commands.add_parser(
        "versions",
        help="a pattern's version history (or --all: every pattern's active version)",
        description="A pattern's versions in creation order with status, traffic weight and "
        "the last metric snapshot (executions, success rate, median duration); the active "
        "version is starred. With --all: every pattern with its active version.",
    )
    which = cmd.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "pattern_id", type=PATTERN_ID, metavar="PATTERN", nargs="?", help="the pattern to list"
    )
    which.add_argument("--all", action="store_true", help="list every pattern instead")
    cmd.add_argument("--format", choices=("table", "json"), default="table")
    cmd.add_argument(
        "--json",
        dest="format",
        action="store_const",
        const="json",
        help="print JSON (the same as --format json, the flag other commands take)",
    )
    cmd.set_defaults(handler=_versions)


def _number(value: object, fmt: str) -> str:
    return format(value, fmt) if isinstance(value, int | float) else "-"


def _in_time_order(versions: list[ModelPatternVersion]) -> list[ModelPatternVersion]:
    return sorted(versions, key=lambda v: (v.created_at or _EPOCH, v.semver))


def _history_row(version: ModelPatternVersion) -> list[str]:
    m = version.metrics
    active = version.status is EnumVersionStatus.ACTIVE
    return [
        version.version_id + (" *" if active else ""),
        version.status.value,
        f"{version.traffic_weight:g}",
        format_time(version.created_at),
        _number(m.get("n"), ","),
        _number(m.get("success_rate"), ".1%"),
        _number(m.get("duration_p50"), ".1f"),
    ]


async def _versions(args: argparse.Namespace, ctx: CliContext) -> int:
    service = ctx.service()
    if args.all:
        patterns = {p: await service.versions(p) for p in await service.patterns()}
    else:
        patterns = {args.pattern_id: await service.versions(args.pattern_id)}
        if not patterns[args.pattern_id]:
            raise ModelOnexError(EnumErrorCode.NOT_FOUND, f"no pattern {args.pattern_id!r}")
    if args.all:
        summary = [_pattern_summary(p, vs) for p, vs in patterns.items()]
        if args.format == "json":
            print(json.dumps(summary, indent=2))
        else:
            rows = [["PATTERN", "ACTIVE", "VERSIONS", "TESTING"]]
            rows += [
                [s["pattern_id"], s["active"] or "-", str(s["versions"]), str(s["testing"])]
                for s in summary
            ]
            print(text_table(rows), end="")
        return 0
    history = _in_time_order(patterns[args.pattern_id])
    if args.format == "json":
        document = [
            {
                "version_id": v.version_id,
                "active": v.status is EnumVersionStatus.ACTIVE,
                **v.model_dump(mode="json"),
            }
            for v in history
        ]
        print(json.dumps(document, indent=2))
    else:
        header = ["VERSION", "STATUS", "TRAFFIC", "CREATED", "N", "SUCCESS", "P50 MS"]
        print(text_table([header, *(_history_row(v) for v in history)]), end="")
    return 0


def _pattern_summary(pattern_id: str, versions: list[ModelPatternVersion]) -> dict[str, Any]:
    active = next((v for v in versions if v.status is EnumVersionStatus.ACTIVE), None)
    return {
        "pattern_id": pattern_id,
        "active": active.version_id if active is not None else None,
        "versions": len(versions),
        "testing": sum(v.status is EnumVersionStatus.TESTING for v in versions),
    }
