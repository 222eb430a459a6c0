"""``feedback-loop register`` and ``feedback-loop assign``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from contracts.enum_error_code import EnumErrorCode
from contracts.model_onex_error import ModelOnexError
from contracts.model_register import ModelRegisterInput
from nodes.adapters.cli.arg_types import PATTERN_ID, add_actor
from nodes.adapters.cli.context import CliContext


def register(commands: Any) -> None:
    reg = commands.add_parser(
        "register", help="register a pattern with its initial config (version 1.0.0, active)"
    )
    reg.add_argument("pattern_id", type=PATTERN_ID, metavar="PATTERN")
    reg.add_argument(
        "--config",
        type=_config_option,
        required=True,
        help="the config as a JSON object, or @FILE to read it from a file",
    )
    add_actor(reg, ModelRegisterInput)
    reg.set_defaults(handler=_register)
    assign = commands.add_parser(
        "assign", help="which version a unit (user, request, tenant) runs: stable allocation"
    )
    assign.add_argument("pattern_id", type=PATTERN_ID, metavar="PATTERN")
    assign.add_argument("unit_key", metavar="UNIT_KEY", nargs="+")
    assign.set_defaults(handler=_assign)


def _json_object(raw: str) -> dict[str, Any]:
    """``raw`` as a JSON object; ``ValueError`` says why it is none."""
    config = json.loads(raw)
    if not isinstance(config, dict):
        raise ValueError("JSON, but not an object")
    return config


def _config_option(text: str) -> dict[str, Any] | Path:
    """``--config``: an inline config is checked as the option is parsed (a usage error); a
    file's is read when the command runs, so a missing or bad file fails like any file."""
    if text.startswith("@"):
        return Path(text[1:])
    try:
        return _json_object(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"must be a JSON object or @FILE, got {text!r} ({exc})"
        ) from None


def _config_file(path: Path) -> dict[str, Any]:
    try:
        return _json_object(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ModelOnexError(
            EnumErrorCode.INVALID_INPUT, f"{path}: not a JSON object ({exc})"
        ) from None


async def _register(args: argparse.Namespace, ctx: CliContext) -> int:
    config = _config_file(args.config) if isinstance(args.config, Path) else args.config
    version = await ctx.service().register(args.pattern_id, config, actor=args.actor)
    print(f"registered {version.version_id} (active)")
    return 0


async def _assign(args: argparse.Namespace, ctx: CliContext) -> int:
    service = ctx.service()
    for unit in args.unit_key:
        print(f"{unit}\t{await service.assign(args.pattern_id, unit)}")
    return 0
