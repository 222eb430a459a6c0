"""Connecting: clear one-line errors, no password anywhere, and the embedded server."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest
import structlog

from nodes.adapters.cli.main import main
from nodes.runtime.logging_setup import configure_logging
from nodes.storage.dsn import describe_dsn, normalize_dsn, parse_keyword_dsn, redact_dsn
from tests.pg_server import traversable_temp_dir

SECRET = "s3cr3t-Pa55"


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nodes.adapters.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env or dict(os.environ),
        check=False,
    )


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_server_is_one_line_without_password() -> None:
    port = _closed_port()
    dsn = f"postgresql://loop_user:{SECRET}@127.0.0.1:{port}/feedback"
    done = cli("--dsn", dsn, "db", "status")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"host=127.0.0.1 port={port} database=feedback user=loop_user" in lines[0]
    assert SECRET not in done.stderr + done.stdout and "Traceback" not in done.stderr


def test_missing_database_on_a_real_server(pg_admin_dsn: str) -> None:
    parts = urlsplit(pg_admin_dsn)
    dsn = parts._replace(path="/no_such_database").geturl()
    done = cli("--dsn", dsn, "db", "status")
    assert done.returncode == 1
    assert "database=no_such_database" in done.stderr and "does not exist" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_outdated_schema_is_refused_with_the_fix(empty_db_dsn: str) -> None:
    done = cli("--dsn", empty_db_dsn, "run", "--all")
    assert done.returncode == 1 and "run `feedback-loop db upgrade` first" in done.stderr


@pytest.mark.parametrize(
    "text",
    [
        f"postgresql://u:{SECRET}@h:5432/db",
        f"postgres://u:{SECRET}@h/db?sslmode=require",
        f"host=h user=u password={SECRET} dbname=db",
    ],
)
def test_redact_dsn(text: str) -> None:
    redacted = redact_dsn(text)
    assert SECRET not in redacted and "***" in redacted


def test_describe_dsn_names_the_target_only() -> None:
    target = describe_dsn(f"postgresql://u:{SECRET}@db.example:6543/loop")
    assert target.describe() == "host=db.example port=6543 database=loop user=u"


def test_logs_are_json_and_never_carry_secrets(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(json_output=True, level="INFO")
    try:
        structlog.get_logger("t").info(
            "connecting",
            dsn=f"postgresql://u:{SECRET}@h/db",
            api_token=SECRET,
            nested={"password": SECRET, "ok": 1},
        )
        line = capsys.readouterr().err.strip().splitlines()[-1]
    finally:
        configure_logging(json_output=True, level="WARNING")
    event = json.loads(line)
    assert event["event"] == "connecting" and event["level"] == "info"
    assert SECRET not in line and event["nested"]["ok"] == 1


def test_first_run_without_dsn_starts_the_embedded_server() -> None:
    """No DSN at all: the wheel's PostgreSQL is started in the data dir, migrated, reused.

    Not in ``tmp_path``: as root the server account must traverse the data dir's parents,
    and pytest's are 0700 (the tool refuses them rather than opening them up).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDBACK_LOOP_")}
    with traversable_temp_dir("feedback-loop-test-first-run-") as base:
        env["FEEDBACK_LOOP_DATA_DIR"] = str(base / "pg")
        env["FEEDBACK_LOOP_RUNTIME_DIR"] = str(base / "runtime")  # root's copy of the binaries
        first = cli("db", "upgrade", env=env)
        assert first.returncode == 0, first.stderr
        again = cli("db", "status", env=env)
        assert again.returncode == 0, again.stderr
        assert "0 pending" in again.stdout
        assert (base / "pg" / "PG_VERSION").read_text().strip() == "18"


def _keyword_form(url: str) -> str:
    """The same target as a libpq key=value DSN."""
    parts = urlsplit(url)
    query = dict(p.split("=", 1) for p in parts.query.split("&") if p)
    pairs = {
        "host": parts.hostname or query.get("host", ""),
        "port": str(parts.port or query.get("port", "")),
        "user": parts.username or query.get("user", ""),
        "dbname": parts.path.lstrip("/"),
    }
    return " ".join(f"{k}='{v}'" for k, v in pairs.items() if v)


def test_a_keyword_dsn_connects(db_dsn: str) -> None:
    done = cli("--dsn", _keyword_form(db_dsn), "db", "status")
    assert done.returncode == 0, done.stderr
    assert "applied" in done.stdout


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """``main()`` configures logging for the process: put the session's back afterwards."""
    yield
    configure_logging(json_output=True, level="WARNING")


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize("log_format", ["auto", "console", "json"])
def test_no_bad_dsn_prints_its_password(
    log_format: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """In process (the CLI's main): by flag, by environment and with the password only in
    PGPASSWORD; every log format at DEBUG, with and without --debug's traceback."""
    port = _closed_port()
    bad = [
        f"host=127.0.0.1 port={port} user=u password={SECRET} dbname=x",
        f"host=127.0.0.1 port=notaport user=u password='{SECRET}' dbname=x",
        f"host=127.0.0.1 port={port} user=u password='{SECRET} with space' dbname=x",
        f"user=u password={SECRET} host=[::1 dbname=x",
        f"password={SECRET} host='unterminated",
        f"postgresql://u:{SECRET}@127.0.0.1:{port}/x",
        f"postgresql://u:{SECRET}@127.0.0.1:99999/x",
        f"postgresql://u:{SECRET}@[::1/x",
        f"postgres://u:{SECRET}@127.0.0.1:notaport/x",
    ]
    password_from_environment = [
        f"host=127.0.0.1 port={port} user=u dbname=x",
        f"postgresql://u@127.0.0.1:{port}/x",
        "postgresql://u@[::1/x",
    ]
    cases = [(dsn, how) for dsn in bad for how in ("flag", "env")]
    cases += [(dsn, "PGPASSWORD") for dsn in password_from_environment]
    for dsn, how in cases:
        for debug in ([], ["--debug"]):
            monkeypatch.delenv("FEEDBACK_LOOP_DSN", raising=False)
            monkeypatch.delenv("PGPASSWORD", raising=False)
            args = [*debug, "--log-format", log_format, "--log-level", "DEBUG"]
            if how == "env":
                monkeypatch.setenv("FEEDBACK_LOOP_DSN", dsn)
            else:
                args += ["--dsn", dsn]
            if how == "PGPASSWORD":
                monkeypatch.setenv("PGPASSWORD", SECRET)
            code = main([*args, "db", "status"])
            out, err = capsys.readouterr()
            assert code == 1, (dsn, out, err)
            assert SECRET not in out + err, (dsn, how, debug)
            assert err.strip().splitlines()[-1].startswith("error: "), err


def _with_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        pytest.skip("the test server's DSN has a password of its own")
    user, _, host = parts.netloc.rpartition("@")
    return parts._replace(netloc=f"{user or 'postgres'}:{SECRET}@{host}").geturl()


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize("form", ["url", "keyword"])
async def test_a_password_in_a_good_dsn_is_never_printed_nor_stored(
    form: str,
    db_dsn: str,
    pool: asyncpg.Pool,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """Commands that write (register, objective, run, doctor) through a DSN carrying a
    password, in every log format at DEBUG with --debug: the password is in no output and in
    no row of any table (loop_runs.input, audit_log, ...). A trust-auth test server ignores
    the password, which changes nothing about what the CLI prints and stores."""
    monkeypatch.setenv("FEEDBACK_LOOP_DATA_DIR", str(tmp_path / "no-embedded-server"))
    dsn = _with_password(db_dsn) if form == "url" else f"{_keyword_form(db_dsn)} password={SECRET}"
    printed = ""
    for log_format in ("auto", "console", "json"):
        pattern = f"p_{log_format}"
        for command in (
            ["register", pattern, "--config", '{"timeout_ms": 800}'],
            ["objective", pattern, "--margin", "cost_usd=0.3"],
            ["run", "--pattern", pattern],
            ["versions", "--all"],
            ["db", "doctor"],
        ):
            args = ["--debug", "--log-format", log_format, "--log-level", "DEBUG", "--dsn", dsn]
            code = await asyncio.to_thread(main, [*args, *command])
            out, err = capsys.readouterr()
            assert code == 0, (command, out, err)
            printed += out + err
    assert SECRET not in printed
    assert await pool.fetchval("SELECT count(*) FROM loop_runs") == 3
    tables = await pool.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    for table in (row["tablename"] for row in tables):
        holding = await pool.fetchval(
            f'SELECT count(*) FROM "{table}" AS r WHERE r::text LIKE $1', f"%{SECRET}%"
        )
        assert holding == 0, table


def test_keyword_dsns_are_parsed_like_libpq() -> None:
    assert parse_keyword_dsn("host=h port=5 user='a b' password='it\\'s' dbname=d") == {
        "host": "h",
        "port": "5",
        "user": "a b",
        "password": "it's",
        "dbname": "d",
    }
    assert parse_keyword_dsn("postgresql://u@h/d") is None
    assert parse_keyword_dsn("host='never closed") is None
    url = normalize_dsn("host=/var/run/pg user=me password='p@ss w' dbname=db sslmode=disable")
    assert url == "postgresql://me:p%40ss%20w@/db?sslmode=disable&host=%2Fvar%2Frun%2Fpg"
    target = describe_dsn(f"host=db.example port=6543 user=ann password={SECRET} dbname=prod")
    assert target.describe() == "host=db.example port=6543 database=prod user=ann"
