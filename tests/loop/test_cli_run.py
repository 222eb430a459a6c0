"""``feedback-loop run`` as cron would call it: exit codes and output."""

from __future__ import annotations

import json
import subprocess
import sys

import asyncpg

from tests.loop.scenario import Scenario


def cli(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nodes.cli.main", "--dsn", dsn, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_run_exit_codes_and_summary(pool: asyncpg.Pool, db_dsn: str) -> None:
    s = Scenario(pool, "api_debug")
    await s.register()
    await s.traffic(200)
    await s.close()

    ok = cli(db_dsn, "run", "--pattern", "api_debug", "--json")
    assert ok.returncode == 0, ok.stderr
    (line,) = ok.stdout.splitlines()
    result = json.loads(line)
    assert result["success"] and result["data"]["improvements_identified"] == 1

    mixed = cli(db_dsn, "run", "--pattern", "api_debug", "--pattern", "ghost")
    assert mixed.returncode == 1
    assert (
        "ghost" in mixed.stdout
        and "FAILED" in mixed.stdout
        and "1 succeeded, 1 failed" in mixed.stdout
    )

    every = cli(db_dsn, "run", "--all", "--monitor-only")
    assert every.returncode == 0 and "api_debug" in every.stdout

    bad = cli(db_dsn, "run", "--pattern", "api_debug", "--significance-level", "0.7")
    assert bad.returncode != 0 and "significance_level" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_run_help_explains_itself() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "nodes.cli.main", "run", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "exits 0 when every run succeeded" in " ".join(shown.stdout.split())
