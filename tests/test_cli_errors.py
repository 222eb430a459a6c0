"""Every way the CLI fails is one line on stderr, ``error: ...``: exit 2 for a usage error (bad
option values included), 1 for anything else, no traceback unless ``--debug``, no password.

Most cases call ``main()`` in-process (fast); the ones whose point is what a real process
prints (stderr as a whole, the exit status, the environment) run the CLI as a subprocess.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import ValidationError

from contracts.model_register import ModelRegisterInput
from contracts.model_rollback import ModelRollbackInput
from nodes.adapters.cli import cmd_db
from nodes.adapters.cli.arg_types import PATTERN_ID
from nodes.adapters.cli.main import main

SECRET = "S3cret-cli-errors"
NOT_A_PATTERN = "must be a pattern id (no '@', no whitespace, 1 to 200 characters)"
NOT_A_VERSION = "PATTERN@x.y.z (PATTERN: no '@', no whitespace, 1 to 200 characters)"
LONG_ID = "x" * 201


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("FEEDBACK_LOOP_", "PG"))}
    return subprocess.run(
        [sys.executable, "-m", "nodes.adapters.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**base, **(env or {})},
        check=False,
    )


def one_line(stderr: str) -> str:
    """The one line of ``stderr``; fails when there are more (or none)."""
    lines = stderr.splitlines()
    assert len(lines) == 1 and stderr.endswith("\n"), stderr
    assert lines[0].startswith("error: "), stderr
    return lines[0]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------ bad option values
def _see(command: str) -> str:
    return f" (see `feedback-loop {command} --help`)"


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["run", "--all", "--concurrency", "0"],
            "error: argument --concurrency: must be a whole number >= 1, got '0'" + _see("run"),
        ),
        (
            ["--log-level", "LOUD", "db", "status"],
            "error: argument --log-level: invalid choice: 'LOUD' (choose from 'DEBUG', 'INFO', "
            "'WARNING', 'ERROR', 'CRITICAL') (see `feedback-loop --help`)",
        ),
        (
            ["demo", "--cycles", "many"],
            "error: argument --cycles: must be a whole number >= 1, got 'many'" + _see("demo"),
        ),
        (
            ["demo", "--tag", "no-dashes"],
            "error: argument --tag: must be 1-32 letters, digits or underscores: 'no-dashes'"
            + _see("demo"),
        ),
        (
            ["lineage", "ancestors", "p@1.0.0", "--depth", "-1"],
            "error: argument --depth: must be a whole number >= 0, got '-1'"
            + _see("lineage ancestors"),
        ),
        (
            ["lineage", "descendants", "p", "--sql", "--format", "mermaid"],
            "error: --sql lists version ids: use --format table or json"
            + _see("lineage descendants"),
        ),
        (
            ["lineage", "export", "p", "--format", "png"],
            "error: --format png needs --output FILE" + _see("lineage export"),
        ),
        (
            ["run", "--all", "--significance-level", "low"],
            "error: argument --significance-level: must be a number > 0 and <= 0.5, got 'low'"
            + _see("run"),
        ),
        (
            ["run", "--all", "--time-window-days", "0"],
            "error: argument --time-window-days: must be a whole number >= 1 and <= 3650, "
            "got '0'" + _see("run"),
        ),
        (
            ["run", "--all", "--min-sample-size", "1"],
            "error: argument --min-sample-size: must be a whole number >= 2 and <= 10000000, "
            "got '1'" + _see("run"),
        ),
        (
            ["run", "--all", "--auto-apply-threshold", "1.5"],
            "error: argument --auto-apply-threshold: must be a number >= 0 and <= 1, got '1.5'"
            + _see("run"),
        ),
        (
            ["run", "--pattern", "a@b"],
            f"error: argument --pattern: {NOT_A_PATTERN}, got 'a@b'" + _see("run"),
        ),
        (
            ["objective", "p", "--margin", "latency=0.1"],
            "error: argument --margin: unknown metric 'latency' in 'latency=0.1': METRIC is one "
            "of success_rate, duration_mean, duration_p95, quality_score, user_rating, cost_usd"
            + _see("objective"),
        ),
        (
            ["objective", "p", "--margin", "cost_usd=lots"],
            "error: argument --margin: the margin of cost_usd must be a number > 0 and <= 10, "
            "got 'lots'" + _see("objective"),
        ),
        (
            ["objective", "p", "--horizon", "soon"],
            "error: argument --horizon: must be 'auto' or a whole number >= 2 and <= 10000, "
            "got 'soon'" + _see("objective"),
        ),
        (
            ["objective", "p", "--horizon-days", "366"],
            "error: argument --horizon-days: must be a whole number >= 1 and <= 365, got '366'"
            + _see("objective"),
        ),
        (
            ["objective", "p", "--watch-days", "-1"],
            "error: argument --watch-days: must be a whole number >= 0 and <= 90, got '-1'"
            + _see("objective"),
        ),
        (
            ["objective", "p", "--drop", "cost_usd", "--optional", "cost_usd"],
            "error: cost_usd: --drop removes a guardrail, it cannot also be changed"
            + _see("objective"),
        ),
        (
            ["versions"],
            "error: one of the arguments PATTERN --all is required" + _see("versions"),
        ),
        (
            ["versions", "p", "--all"],
            "error: argument --all: not allowed with argument PATTERN" + _see("versions"),
        ),
        (
            ["rollback", "p", "--to", "q@1.0.0"],
            "error: --to q@1.0.0 is a version of 'q', not of 'p'" + _see("rollback"),
        ),
        (
            ["rollback", "p", "--to", "p@"],
            "error: argument --to: must be x.y.z or PATTERN@x.y.z, got 'p@'" + _see("rollback"),
        ),
        (
            ["rollback", "p", "--to", "1.0"],
            "error: argument --to: must be x.y.z or PATTERN@x.y.z, got '1.0'" + _see("rollback"),
        ),
        (
            ["rollback", "p", "--to", "a b@1.0.0"],
            "error: argument --to: must be x.y.z or PATTERN@x.y.z, got 'a b@1.0.0'"
            + _see("rollback"),
        ),
        (
            ["rollback", "p", "--to", "1.0.0", "--actor", ""],
            "error: argument --actor: must be text of at least 1 character, got ''"
            + _see("rollback"),
        ),
        (
            ["register", "p", "--config", "[1]"],
            "error: argument --config: must be a JSON object or @FILE, got '[1]' (JSON, but not "
            "an object)" + _see("register"),
        ),
        (
            ["register", "p", "--config", "{'a': 1}"],
            "error: argument --config: must be a JSON object or @FILE, got \"{'a': 1}\" "
            "(Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"
            + _see("register"),
        ),
        (
            ["approve", "not-a-uuid"],
            "error: argument IMPROVEMENT_ID: not an improvement id (a UUID): 'not-a-uuid'"
            + _see("approve"),
        ),
        (
            ["resume", "00000000-0000-0000-0000-000000000000"],
            "error: the following arguments are required: --ack-srm" + _see("resume"),
        ),
        ([], "error: the following arguments are required: COMMAND (see `feedback-loop --help`)"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_a_bad_option_value_is_a_one_line_usage_error(
    args: list[str], line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 2
    out, err = capsys.readouterr()
    assert out == "" and one_line(err) == line


def test_a_usage_error_of_a_real_process_is_exit_2_and_one_line() -> None:
    done = cli("versions", "p", "--format", "yaml")
    assert done.returncode == 2 and done.stdout == ""
    assert one_line(done.stderr) == (
        "error: argument --format: invalid choice: 'yaml' (choose from 'table', 'json') "
        "(see `feedback-loop versions --help`)"
    )


# ------------------------------------------------------------------- bad pattern ids
@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["register", "a@b", "--config", "{}"], f"argument PATTERN: {NOT_A_PATTERN}, got 'a@b'"),
        (["register", "a b", "--config", "{}"], f"argument PATTERN: {NOT_A_PATTERN}, got 'a b'"),
        (["register", "", "--config", "{}"], f"argument PATTERN: {NOT_A_PATTERN}, got ''"),
        (
            ["register", "a\x00b", "--config", "{}"],
            f"argument PATTERN: {NOT_A_PATTERN}, got 'a\\x00b'",
        ),
        (
            ["register", LONG_ID, "--config", "{}"],
            f"argument PATTERN: {NOT_A_PATTERN}, got '{LONG_ID}'",
        ),
        (["rollback", "x y", "--to", "1.0.0"], f"argument PATTERN: {NOT_A_PATTERN}, got 'x y'"),
        (["versions", "a b"], f"argument PATTERN: {NOT_A_PATTERN}, got 'a b'"),
        (["objective", "a@b"], f"argument PATTERN: {NOT_A_PATTERN}, got 'a@b'"),
        (["assign", "a b", "u1"], f"argument PATTERN: {NOT_A_PATTERN}, got 'a b'"),
        (["improvements", "--pattern", ""], f"argument --pattern: {NOT_A_PATTERN}, got ''"),
        (["run", "--pattern", "a\nb"], f"argument --pattern: {NOT_A_PATTERN}, got 'a\\nb'"),
        (
            ["lineage", "show", "a b"],
            f"argument VERSION: must be PATTERN or {NOT_A_VERSION}, got 'a b'",
        ),
        (
            ["lineage", "path", "a@b"],
            f"argument VERSION: must be PATTERN or {NOT_A_VERSION}, got 'a@b'",
        ),
        (
            ["lineage", "ancestors", "p@1.0", "--sql"],
            f"argument VERSION: must be PATTERN or {NOT_A_VERSION}, got 'p@1.0'",
        ),
        (
            ["lineage", "export", f"{LONG_ID}@1.0.0"],
            f"argument VERSION: must be PATTERN or {NOT_A_VERSION}, got '{LONG_ID}@1.0.0'",
        ),
        (
            ["lineage", "diff", "p@1.0.0", "p"],
            f"argument VERSION2: must be {NOT_A_VERSION}, got 'p'",
        ),
        (
            ["lineage", "diff", "a b@1.0.0", "p@1.0.0"],
            f"argument VERSION: must be {NOT_A_VERSION}, got 'a b@1.0.0'",
        ),
    ],
    ids=lambda v: " ".join(v)[:60] if isinstance(v, list) else None,
)
def test_a_malformed_id_is_a_usage_error(
    args: list[str], line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Checked as the arguments are parsed, so nothing runs and nothing is stored (no --dsn
    is given: the database is never reached); a well-formed id the database does not know is a
    failure instead (tests/lineage/test_cli.py, tests/loop/test_objective.py)."""
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 2
    out, err = capsys.readouterr()
    command = " ".join(args[: 2 if args[0] == "lineage" else 1])
    assert out == "" and one_line(err) == f"error: {line}" + _see(command)


def _accepts(check: Callable[[], object]) -> bool:
    try:
        check()
    except (ValidationError, argparse.ArgumentTypeError):
        return False
    return True


@pytest.mark.parametrize(
    ("pattern_id", "valid"),
    [
        ("p", True),
        ("api_debug.v2-β", True),
        ("x" * 200, True),
        ("a@b", False),
        ("a b", False),
        ("", False),
        ("a\x00", False),
        (LONG_ID, False),
    ],
    ids=lambda v: repr(v)[:20],
)
def test_the_cli_and_the_contracts_share_one_pattern_id_rule(pattern_id: str, valid: bool) -> None:
    """What ``register`` and ``rollback`` would refuse is what the CLI refuses as it parses."""
    assert [
        _accepts(lambda: PATTERN_ID(pattern_id)),
        _accepts(lambda: ModelRegisterInput(pattern_id=pattern_id, config={})),
        _accepts(
            lambda: ModelRollbackInput(
                pattern_id=pattern_id, to_version="1.0.0", actor="a", reason="r"
            )
        ),
    ] == [valid] * 3


# ------------------------------------------------------------------------ bad DSNs
@pytest.mark.parametrize(
    ("dsn", "line"),
    [
        (
            f"postgresql://u:{SECRET}@[::1/db",
            "error: cannot connect to PostgreSQL at host=[::1 port=5432 database=db user=u: "
            "Invalid IPv6 URL",
        ),
        (
            f"postgresql://u:{SECRET}@127.0.0.1:99999/db",
            "error: cannot connect to PostgreSQL at host=127.0.0.1 port=99999 database=db "
            "user=u: connect(): port must be 0-65535.",
        ),
        (
            f"host=127.0.0.1 port=notaport user=u password='{SECRET}' dbname=x",
            "error: cannot connect to PostgreSQL at host=127.0.0.1 port=notaport database=x "
            "user=u: invalid literal for int() with base 10: 'notaport'",
        ),
        (
            f"user=u password={SECRET} host=[::1 dbname=x",
            "error: cannot connect to PostgreSQL at host=[::1 port=5432 database=x user=u: "
            "Invalid IPv6 URL",
        ),
    ],
    ids=["url-ipv6", "url-port-range", "keyword-port", "keyword-ipv6"],
)
def test_a_bad_dsn_is_one_line_without_its_password(dsn: str, line: str) -> None:
    done = cli("--dsn", dsn, "db", "status")
    assert done.returncode == 1 and done.stdout == ""
    assert one_line(done.stderr) == line
    assert SECRET not in done.stderr


def test_pg_variables_fill_in_the_target_and_pgpassword_is_never_printed() -> None:
    """A DSN that names nothing: PGHOST, PGPORT, PGUSER and PGDATABASE are what the driver
    uses, so the message names them; PGPASSWORD appears nowhere, not even with --debug."""
    port = _closed_port()
    env = {
        "PGHOST": "127.0.0.1",
        "PGPORT": str(port),
        "PGUSER": "ann",
        "PGDATABASE": "things",
        "PGPASSWORD": SECRET,
    }
    done = cli("--dsn", "postgresql://", "db", "status", env=env)
    assert done.returncode == 1
    assert one_line(done.stderr).startswith(
        f"error: cannot connect to PostgreSQL at host=127.0.0.1 port={port} database=things "
        "user=ann: "
    )
    debug = cli(
        "--debug", "--log-level", "DEBUG", "--dsn", "postgresql://", "db", "status", env=env
    )
    assert debug.returncode == 1 and "Traceback" in debug.stderr
    assert SECRET not in done.stdout + done.stderr + debug.stdout + debug.stderr


# ------------------------------------------------------------------- bad data dirs
@pytest.mark.parametrize("data_dir", ["/etc/passwd/x", "/proc/x", "FILE"])
def test_a_data_dir_the_embedded_server_cannot_use_is_one_line(
    data_dir: str, tmp_path: Path
) -> None:
    if data_dir == "FILE":
        data_dir = str(tmp_path / "a-file")
        Path(data_dir).write_text("not a directory")
    done = cli("db", "status", env={"FEEDBACK_LOOP_DATA_DIR": data_dir})
    assert done.returncode == 1 and done.stdout == ""
    assert data_dir in one_line(done.stderr)


# --------------------------------------------------------------- unexpected errors
@pytest.fixture
def failing_status(monkeypatch: pytest.MonkeyPatch) -> None:
    """``db status`` raising what no handler expects: a bug, as the CLI would meet one. Its
    message holds a DSN and the PGPASSWORD secret, which must be blanked out either way."""

    async def broken(*_args: object) -> int:
        raise RuntimeError(f"lost postgresql://u:{SECRET}@h/db\nwhile holding {SECRET}")

    monkeypatch.setattr(cmd_db, "_status", broken)
    monkeypatch.setenv("PGPASSWORD", SECRET)


EXPECTED_INTERNAL = (
    "error: internal error: RuntimeError: lost postgresql://u:***@h/db / while holding *** "
    "(--debug prints the traceback)"
)


@pytest.mark.usefixtures("failing_status")
def test_an_unexpected_exception_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "status"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and one_line(err) == EXPECTED_INTERNAL


@pytest.mark.usefixtures("failing_status")
def test_debug_prints_the_traceback_then_the_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--debug", "db", "status"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("Traceback (most recent call last):")
    assert "in broken" in err and err.splitlines()[-1] == EXPECTED_INTERNAL
    assert SECRET not in err


def test_a_missing_config_file_is_one_line(db_dsn: str, tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    done = cli("--dsn", db_dsn, "register", "p", "--config", f"@{missing}")
    assert done.returncode == 1
    assert one_line(done.stderr) == f"error: {missing}: No such file or directory"
