"""Where the database is, and how to name it in messages without leaking a password."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

DSN_ENV_VAR = "FEEDBACK_LOOP_DSN"

_PASSWORD_IN_URL = re.compile(
    r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@\s]*)(?P<tail>@)", re.I
)
_PASSWORD_KV = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<pw>'[^']*'|\S+)", re.I)


def redact_dsn(text: str) -> str:
    """Replace every password in a DSN (URL or key=value form, query string too) with ***."""
    text = _PASSWORD_IN_URL.sub(lambda m: f"{m['head']}***{m['tail']}", text)
    return _PASSWORD_KV.sub(lambda m: f"{m['head']}***", text)


def resolve_dsn(explicit: str | None = None) -> str | None:
    """An explicit DSN wins over the environment; ``None`` means: use the embedded server."""
    if explicit:
        return explicit
    return os.environ.get(DSN_ENV_VAR) or None


@dataclass(frozen=True)
class DsnTarget:
    """The parts of a DSN worth naming when a connection fails."""

    host: str
    port: str
    database: str
    user: str

    def describe(self) -> str:
        return f"host={self.host} port={self.port} database={self.database} user={self.user}"


def describe_dsn(dsn: str) -> DsnTarget:
    parts = urlsplit(dsn)
    query = parse_qs(parts.query)
    host = parts.hostname or (query.get("host") or [os.environ.get("PGHOST", "localhost")])[0]
    port = str(parts.port or (query.get("port") or [os.environ.get("PGPORT", "5432")])[0])
    database = parts.path.lstrip("/") or (query.get("dbname") or [""])[0] or "postgres"
    user = parts.username or (query.get("user") or [os.environ.get("PGUSER", "postgres")])[0]
    return DsnTarget(host=host, port=port, database=database, user=user)
