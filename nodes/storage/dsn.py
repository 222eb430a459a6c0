"""Where the database is, and how to name it in messages without leaking a password."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, urlencode, urlsplit

DSN_ENV_VAR = "FEEDBACK_LOOP_DSN"

_PASSWORD_IN_URL = re.compile(
    r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@\s]*)(?P<tail>@)", re.I
)
_PASSWORD_KV = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<pw>'[^']*'|\S+)", re.I)


def redact_dsn(text: str) -> str:
    """Replace every password in a DSN (URL or key=value form, query string too) with ***."""
    text = _PASSWORD_IN_URL.sub(lambda m: f"{m['head']}***{m['tail']}", text)
    return _PASSWORD_KV.sub(lambda m: f"{m['head']}***", text)


_KEYWORD = re.compile(r"\s*(?P<key>[A-Za-z_]+)\s*=\s*")


def parse_keyword_dsn(dsn: str) -> dict[str, str] | None:
    """libpq's ``key=value`` form (values may be single-quoted, with backslash escapes) as a
    dict; None when ``dsn`` is a URL or not of that form."""
    if "://" in dsn or "=" not in dsn:
        return None
    found: dict[str, str] = {}
    i = 0
    while i < len(dsn):
        if dsn[i:].strip() == "":
            break
        m = _KEYWORD.match(dsn, i)
        if m is None:
            return None
        i = m.end()
        if i < len(dsn) and dsn[i] == "'":
            value, i = [], i + 1
            while i < len(dsn) and dsn[i] != "'":
                if dsn[i] == "\\" and i + 1 < len(dsn):
                    i += 1
                value.append(dsn[i])
                i += 1
            if i >= len(dsn):
                return None  # an unterminated quote
            i += 1
            found[m["key"].lower()] = "".join(value)
        else:
            end = i
            while end < len(dsn) and not dsn[end].isspace():
                end += 1
            found[m["key"].lower()] = dsn[i:end]
            i = end
    return found


def normalize_dsn(dsn: str) -> str:
    """The DSN as the driver takes it: a URL. A ``key=value`` DSN is rewritten (quoted), so
    both forms work; anything else is passed through for the driver to judge."""
    keywords = parse_keyword_dsn(dsn)
    if keywords is None:
        return dsn
    user, password = keywords.pop("user", ""), keywords.pop("password", "")
    host, port = keywords.pop("host", ""), keywords.pop("port", "")
    database = keywords.pop("dbname", "")
    auth = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
    if host.startswith("/"):  # a unix socket directory goes in the query
        keywords["host"], host = host, ""
    netloc = (f"{auth}@" if auth else "") + host + (f":{port}" if port else "")
    query = urlencode(keywords)
    return f"postgresql://{netloc}/{quote(database, safe='')}" + (f"?{query}" if query else "")


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
    """Host, port, database and user, from a URL or a ``key=value`` DSN: never the password,
    and never the raw string (it may hold one)."""
    keywords = parse_keyword_dsn(dsn)
    if keywords is not None:
        return DsnTarget(
            host=keywords.get("host") or os.environ.get("PGHOST", "localhost"),
            port=keywords.get("port") or os.environ.get("PGPORT", "5432"),
            database=keywords.get("dbname") or "postgres",
            user=keywords.get("user") or os.environ.get("PGUSER", "postgres"),
        )
    if "://" not in dsn:
        return DsnTarget(host="?", port="?", database="?", user="?")
    try:
        parts = urlsplit(dsn)
        port_number = parts.port
    except ValueError:
        return DsnTarget(host="?", port="?", database="?", user="?")
    query = parse_qs(parts.query)
    host = parts.hostname or (query.get("host") or [os.environ.get("PGHOST", "localhost")])[0]
    port = str(port_number or (query.get("port") or [os.environ.get("PGPORT", "5432")])[0])
    database = parts.path.lstrip("/") or (query.get("dbname") or [""])[0] or "postgres"
    user = parts.username or (query.get("user") or [os.environ.get("PGUSER", "postgres")])[0]
    return DsnTarget(host=host, port=port, database=database, user=user)
