"""Where the database is, and how to name it in messages without leaking a password."""

from __future__ import annotations

import getpass
import os
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, unquote, urlencode

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


def _url_keywords(dsn: str) -> dict[str, str] | None:
    """A URL's parts under libpq's keyword names, split by hand rather than by ``urlsplit``:
    a URL the driver rejects (a broken IPv6 host, a port that is not a number or out of range)
    must still name its host and user in the message. The userinfo ends at the *last* ``@``,
    so a password holding ``/`` or ``@`` is never mistaken for the host."""
    _, separator, rest = dsn.partition("://")
    if not separator:
        return None
    rest, _, query = rest.partition("?")
    userinfo, _, hostpath = rest.rpartition("@")
    hostport, _, path = hostpath.partition("/")
    if hostport.startswith("["):  # [IPv6]:port, or a bracket never closed: all host
        host, closed, port = hostport[1:].partition("]")
        host, port = (host, port.removeprefix(":")) if closed else (hostport, "")
    else:
        host, _, port = hostport.partition(":")
    found = {key: values[-1] for key, values in parse_qs(query).items()}
    user, _, password = userinfo.partition(":")
    given = {
        "host": unquote(host),
        "port": port,
        "user": unquote(user),
        "password": unquote(password),
        "dbname": unquote(path),
    }
    found.update({key: value for key, value in given.items() if value})
    return found


def _keywords(dsn: str) -> dict[str, str] | None:
    return parse_keyword_dsn(dsn) or _url_keywords(dsn)


def redact_known_secrets(text: str, dsn: str | None) -> str:
    """``redact_dsn``, then every literal copy of the password ``dsn`` or ``PGPASSWORD`` holds
    (also percent-encoded, as a rewritten keyword DSN carries it): for text from anywhere, a
    driver's message or a traceback, about to be printed."""
    secrets = {os.environ.get("PGPASSWORD", "")}
    if dsn:
        secrets.add((_keywords(dsn) or {}).get("password", ""))
    secrets |= {quote(secret, safe="") for secret in secrets}
    text = redact_dsn(text)
    for secret in sorted(secrets - {""}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def describe_dsn(dsn: str) -> DsnTarget:
    """Host, port, database and user, from a URL or a ``key=value`` DSN: never the password,
    and never the raw string (it may hold one). What the DSN leaves out is filled in the way
    the driver fills it: ``PGHOST``, ``PGPORT``, ``PGUSER`` and ``PGDATABASE``, then localhost,
    5432, the OS user and a database named after the user."""
    keywords = _keywords(dsn)
    if keywords is None:
        return DsnTarget(host="?", port="?", database="?", user="?")
    user = keywords.get("user") or os.environ.get("PGUSER") or getpass.getuser()
    return DsnTarget(
        host=keywords.get("host") or os.environ.get("PGHOST") or "localhost",
        port=keywords.get("port") or os.environ.get("PGPORT") or "5432",
        database=keywords.get("dbname") or os.environ.get("PGDATABASE") or user,
        user=user,
    )
