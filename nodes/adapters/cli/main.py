"""``feedback-loop``: the command line. Each subcommand lives in its own ``cmd_*`` module.

Every way out is one line per error on stderr, because the reader is often a cron mail or a
Kubernetes event: ``error: ...`` and exit 1 for a failure, exit 2 for a usage error, never a
traceback unless ``--debug``, never a password. SIGTERM (what cron and Kubernetes send) is
handled like SIGINT: the running command is cancelled, its transaction rolls back, the database
(and the embedded server's handle) is released, and the exit code is 128 + the signal (143,
130).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import signal
import sys
import threading
import traceback
from collections.abc import Coroutine, Sequence
from types import FrameType, TracebackType
from typing import Any, NoReturn

from pydantic import ValidationError

from contracts.model_onex_error import ModelOnexError
from nodes.adapters.cli.context import CliContext
from nodes.service import (
    DRIVER_ERRORS,
    DSN_ENV_VAR,
    configure_logging,
    redact_known_secrets,
    resolve_dsn,
)

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
    "nodes.adapters.cli.cmd_trends",
    "nodes.adapters.cli.cmd_schedule",
    "nodes.adapters.cli.cmd_worker",
    "nodes.adapters.cli.cmd_routing",
)

EXIT_FAILED = 1
EXIT_USAGE = 2
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

_DESCRIPTION = """\
Close the learning loop on versioned patterns: collect executions from PostgreSQL, analyze
them, propose improved versions, validate them by A/B test, apply the winners, and keep the
lineage of every version.

Database: --dsn or the FEEDBACK_LOOP_DSN environment variable (a URL or libpq's key=value
form; the PGHOST, PGPORT, PGUSER, PGPASSWORD and PGDATABASE variables fill in what it leaves
out). With neither, an embedded PostgreSQL is started from the installed wheel, its data in
FEEDBACK_LOOP_DATA_DIR, by default $XDG_STATE_HOME/onex-feedback-loop/pg18 (default
~/.local/state/onex-feedback-loop/pg18), as root /var/lib/onex-feedback-loop/pg18.
"""

_EPILOG = """\
Exit codes: 0 success, 1 failure (one line on stderr), 2 usage error, 130 / 143 interrupted by
SIGINT / SIGTERM (the command is cancelled and its transaction rolled back).
"""


class _Parser(argparse.ArgumentParser):
    """argparse with its usage errors on one line (it prints the whole usage block first,
    which buries the message); subcommand parsers are made of this class too."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="feedback-loop",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--dsn",
        help=f"PostgreSQL DSN (default: ${DSN_ENV_VAR}, else the embedded server)",
    )
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=LOG_LEVELS,
        default="WARNING",
        metavar="LEVEL",
        help="DEBUG, INFO, WARNING (default), ERROR or CRITICAL",
    )
    parser.add_argument(
        "--log-format",
        choices=("auto", "console", "json"),
        default="auto",
        help="auto: console on a terminal, JSON lines otherwise",
    )
    parser.add_argument(
        "--debug", action="store_true", help="on a failure, print the traceback too"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(commands)
    return parser


class _Signals:
    """SIGINT and SIGTERM, handled alike while the CLI runs (in the main thread only: signal
    handlers cannot be set elsewhere, e.g. when a test calls ``main()`` in a worker thread).

    The first signal cancels the running command: its transaction rolls back as the
    cancellation unwinds, then the service is closed as on any other exit. A signal that comes
    while the service is closing is only recorded, so the close (which releases the embedded
    server) completes. A second signal gets the default behaviour: it ends the process now.
    """

    _HANDLED = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.received: signal.Signals | None = None
        self._command: asyncio.Task[int] | None = None
        self._previous: dict[signal.Signals, Any] = {}

    def __enter__(self) -> _Signals:
        if threading.current_thread() is threading.main_thread():
            for signum in self._HANDLED:
                self._previous[signum] = signal.signal(signum, self._on_signal)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.received = signal.Signals(signum)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        command = self._command
        if command is None:  # the event loop is not running the command yet
            raise KeyboardInterrupt
        if not command.done():
            command.get_loop().call_soon_threadsafe(command.cancel)

    async def run_cancellable(self, command: Coroutine[Any, Any, int]) -> int:
        """The command, as a task of its own: the first signal cancels it, not the caller
        that closes the service afterwards."""
        self._command = asyncio.get_running_loop().create_task(command)
        return await self._command


async def _run(args: argparse.Namespace, signals: _Signals) -> int:
    context = CliContext(dsn=args.dsn)
    try:
        return await signals.run_cancellable(args.handler(args, context))
    finally:
        await context.close()


def _message(exc: BaseException) -> str:
    """What went wrong, for people: the specific errors in their own words, anything else by
    its type, since it is a bug; on one line, except that a ``ModelOnexError`` keeps the lines
    its raiser chose, one per problem (ingestion lists every bad row of a file)."""
    if isinstance(exc, ModelOnexError):
        return "\n".join(line for line in exc.message.splitlines() if line.strip())
    return _one_line(_text(exc))


def _text(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return f"{where + ': ' if where else ''}{first['msg']}"
    if isinstance(exc, DRIVER_ERRORS):
        return f"database: {exc}"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    return f"internal error: {type(exc).__name__}: {exc} (--debug prints the traceback)"


def _one_line(text: str) -> str:
    return " / ".join(line.strip() for line in text.splitlines() if line.strip())


def _report(exc: BaseException, args: argparse.Namespace) -> int:
    """``error: ...`` on stderr (after the traceback with ``--debug``), with every password
    the DSN or the environment holds blanked out."""
    dsn = resolve_dsn(args.dsn)
    if args.debug:
        text = "".join(traceback.format_exception(exc))
        print(redact_known_secrets(text, dsn), file=sys.stderr, end="")
    print(f"error: {redact_known_secrets(_message(exc), dsn)}", file=sys.stderr)
    return EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if (check_usage := getattr(args, "check_usage", None)) is not None:
        check_usage(args)  # options valid alone but not together (arg_types.check_usage)
    json_output = {"auto": None, "console": False, "json": True}[args.log_format]
    configure_logging(json_output=json_output, level=args.log_level)
    with _Signals() as signals:
        try:
            code = asyncio.run(_run(args, signals))
        except (Exception, asyncio.CancelledError, KeyboardInterrupt) as exc:
            if signals.received is None:
                return _report(exc, args)
    if signals.received is not None:  # whatever failed on the way out was its consequence
        print(f"error: interrupted by {signals.received.name}", file=sys.stderr)
        return 128 + signals.received
    return code


if __name__ == "__main__":
    sys.exit(main())
