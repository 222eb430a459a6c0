"""``feedback-loop``: the command line. Each subcommand lives in its own ``cmd_*`` module."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from collections.abc import Sequence

import structlog
from pydantic import ValidationError

from contracts.model_onex_error import ModelOnexError
from nodes.adapters.cli.context import CliContext
from nodes.service import DRIVER_ERRORS, DSN_ENV_VAR, configure_logging, redact_dsn

COMMAND_MODULES = (
    "nodes.adapters.cli.cmd_db",
    "nodes.adapters.cli.cmd_ingest",
    "nodes.adapters.cli.cmd_patterns",
    "nodes.adapters.cli.cmd_run",
    "nodes.adapters.cli.cmd_review",
    "nodes.adapters.cli.cmd_lineage",
    "nodes.adapters.cli.cmd_versions",
    "nodes.adapters.cli.cmd_rollback",
    "nodes.adapters.cli.cmd_objective",
    "nodes.adapters.cli.cmd_demo",
)

EXIT_FAILED = 1

_DESCRIPTION = """\
Close the learning loop on versioned patterns: collect executions from PostgreSQL, analyze
them, propose improved versions, validate them by A/B test, apply the winners, and keep the
lineage of every version.

Database: --dsn or the FEEDBACK_LOOP_DSN environment variable. With neither, an embedded
PostgreSQL is started from the installed wheel (data under FEEDBACK_LOOP_DATA_DIR, by default
~/.local/state/onex-feedback-loop, or /var/lib/onex-feedback-loop as root).
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="feedback-loop",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--dsn",
        help=f"PostgreSQL DSN (default: ${DSN_ENV_VAR}, else the embedded server)",
    )
    parser.add_argument("--log-level", default="WARNING", help="DEBUG, INFO, WARNING (default)")
    parser.add_argument(
        "--log-format",
        choices=("auto", "console", "json"),
        default="auto",
        help="auto: console on a terminal, JSON lines otherwise",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(commands)
    return parser


async def _run(args: argparse.Namespace) -> int:
    context = CliContext(dsn=args.dsn)
    try:
        code: int = await args.handler(args, context)
        return code
    finally:
        await context.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    json_output = {"auto": None, "console": False, "json": True}[args.log_format]
    try:
        configure_logging(json_output=json_output, level=args.log_level)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        return asyncio.run(_run(args))
    except ModelOnexError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return EXIT_FAILED
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        print(f"error: {where + ': ' if where else ''}{first['msg']}", file=sys.stderr)
        return EXIT_FAILED
    except DRIVER_ERRORS as exc:
        structlog.get_logger(__name__).error("database_error", error=str(exc))
        print(f"error: database: {redact_dsn(str(exc))}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
