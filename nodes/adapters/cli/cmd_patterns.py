"""``feedback-loop register`` and ``feedback-loop assign``."""

from __future__ import annotations

import argparse
import getpass
import json
from pathlib import Path
from typing import Any

from contracts.enum_error_code import EnumErrorCode
from contracts.model_onex_error import ModelOnexError
from nodes.adapters.cli.context import CliContext


def register(commands: Any) -> None:
    reg = commands.add_parser(
        "register", help="register a pattern with its initial config (version 1.0.0, active)"
    )
    reg.add_argument("pattern_id", metavar="PATTERN")
    reg.add_argument(
        "--config",
        required=True,
        help="the config as a JSON object, or @FILE to read it from a file",
    )
    reg.add_argument("--actor", default=getpass.getuser())
    reg.set_defaults(handler=_register)
    assign = commands.add_parser(
        "assign", help="which version a unit (user, request, tenant) runs: stable allocation"
    )
    assign.add_argument("pattern_id", metavar="PATTERN")
    assign.add_argument("unit_key", metavar="UNIT_KEY", nargs="+")
    assign.set_defaults(handler=_assign)


def _config(text: str) -> dict[str, Any]:
    raw = Path(text[1:]).read_text(encoding="utf-8") if text.startswith("@") else text
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ModelOnexError(EnumErrorCode.INVALID_INPUT, f"--config is not JSON: {exc}") from None
    if not isinstance(config, dict):
        raise ModelOnexError(EnumErrorCode.INVALID_INPUT, "--config must be a JSON object")
    return config


async def _register(args: argparse.Namespace, ctx: CliContext) -> int:
    version = await ctx.service().register(args.pattern_id, _config(args.config), actor=args.actor)
    print(f"registered {version.version_id} (active)")
    return 0


async def _assign(args: argparse.Namespace, ctx: CliContext) -> int:
    service = ctx.service()
    for unit in args.unit_key:
        print(f"{unit}\t{await service.assign(args.pattern_id, unit)}")
    return 0
