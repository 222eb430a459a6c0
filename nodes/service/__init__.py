"""The service facade (every job) and what adapters need besides it."""

from nodes.runtime.logging_setup import configure_logging
from nodes.service.facade import FeedbackLoopService
from nodes.storage.dsn import DSN_ENV_VAR, normalize_dsn, redact_known_secrets, resolve_dsn
from nodes.storage.pool import DRIVER_ERRORS

__all__ = [
    "DRIVER_ERRORS",
    "DSN_ENV_VAR",
    "FeedbackLoopService",
    "configure_logging",
    "normalize_dsn",
    "redact_known_secrets",
    "resolve_dsn",
]
