"""structlog, configured once: readable on a terminal, JSON lines otherwise, secrets redacted."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from nodes.storage.dsn import redact_dsn

_SECRET_KEYS = ("password", "passwd", "secret", "token", "api_key", "apikey", "authorization")


def _redact_value(key: str, value: Any) -> Any:
    if any(marker in key.lower() for marker in _SECRET_KEYS):
        return "***"
    if isinstance(value, str):
        return redact_dsn(value)
    if isinstance(value, dict):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redact_value(key, v) for v in value)
    return value


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Last line of defence: no DSN password or secret-named field reaches a log line."""
    for key in list(event_dict):
        event_dict[key] = _redact_value(key, event_dict[key])
    return event_dict


class _CurrentStderrLogger:
    """Writes each line to whatever ``sys.stderr`` is *now*: a logger bound to the stream of
    configuration time breaks once a test harness or a daemon swaps and closes that stream."""

    def msg(self, message: str) -> None:
        stream = sys.stderr
        stream.write(message + "\n")
        stream.flush()

    log = debug = info = warning = warn = error = critical = exception = fatal = msg


def _current_stderr_logger(*_args: Any) -> _CurrentStderrLogger:
    return _CurrentStderrLogger()


def configure_logging(*, json_output: bool | None = None, level: str = "INFO") -> None:
    """``json_output=None`` picks by stderr: console on a TTY, JSON lines elsewhere."""
    if json_output is None:
        json_output = not sys.stderr.isatty()
    numeric_level = logging.getLevelName(level.upper())
    if not isinstance(numeric_level, int):
        raise ValueError(f"unknown log level: {level!r}")
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json_output
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=_current_stderr_logger,
        cache_logger_on_first_use=False,
    )
