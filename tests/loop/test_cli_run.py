"""``feedback-loop run`` as cron would call it: exit codes and output."""

from __future__ import annotations

import json
import subprocess
import sys

import asyncpg

from tests.loop.scenario import Scenario


def cli(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nodes.adapters.cli.main", "--dsn", dsn, *args],
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
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr == (
        "error: argument --significance-level: must be a number > 0 and <= 0.5, got '0.7' "
        "(see `feedback-loop run --help`)\n"
    )


def test_run_help_explains_itself() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "nodes.adapters.cli.main", "run", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "exits 0 when every run succeeded" in " ".join(shown.stdout.split())


async def test_review_queue_listing_and_reject(pool: asyncpg.Pool, db_dsn: str) -> None:
    s = Scenario(pool, "api_debug")
    await s.register()
    await s.traffic(200)
    await s.close()
    assert cli(db_dsn, "run", "--pattern", "api_debug").returncode == 0

    listed = cli(db_dsn, "improvements", "--json")
    assert listed.returncode == 0, listed.stderr
    (improvement,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert improvement["status"] == "testing"
    assert improvement["candidate_version_id"] == "api_debug@1.1.0"

    rejected = cli(db_dsn, "reject", improvement["improvement_id"], "--reason", "not now")
    assert rejected.returncode == 0 and "rejected: api_debug@1.1.0" in rejected.stdout
    again = cli(db_dsn, "reject", improvement["improvement_id"])
    assert again.returncode == 1 and "is rejected" in again.stderr
    table = cli(db_dsn, "improvements", "--status", "rejected")
    assert "api_debug@1.1.0" in table.stdout and "1 improvement(s)" in table.stdout
    assert cli(db_dsn, "improvements").stdout.strip().endswith("0 improvement(s)")


async def test_run_preset_and_flags_that_override_it(pool: asyncpg.Pool, db_dsn: str) -> None:
    s = Scenario(pool, "api_debug")
    await s.register()
    await s.traffic(200)
    await s.close()

    ran = cli(db_dsn, "run", "--pattern", "api_debug", "--preset", "conservative")
    assert ran.returncode == 0, ran.stderr
    overridden = cli(
        db_dsn, "run", "--pattern", "api_debug", "--preset", "quality", "--time-window-days", "9"
    )
    assert overridden.returncode == 0, overridden.stderr
    plain = cli(db_dsn, "run", "--pattern", "api_debug", "--min-sample-size", "40")
    assert plain.returncode == 0, plain.stderr
    inputs = [
        row["input"] for row in await pool.fetch("SELECT input FROM loop_runs ORDER BY started_at")
    ]
    fields = ("feedback_type", "time_window_days", "auto_apply_threshold", "min_sample_size")
    assert [tuple(i[f] for f in (*fields, "significance_level")) for i in inputs] == [
        ("performance", 30, 0.99, 100, 0.01),
        ("quality", 9, 0.90, 50, 0.05),
        ("performance", 7, 0.95, 40, 0.05),
    ]

    unknown = cli(db_dsn, "run", "--pattern", "api_debug", "--preset", "yolo")
    assert unknown.returncode == 2 and "invalid choice: 'yolo'" in unknown.stderr
    bad = cli(db_dsn, "run", "--all", "--preset", "aggressive", "--time-window-days", "0")
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr == (
        "error: argument --time-window-days: must be a whole number >= 1 and <= 3650, got '0' "
        "(see `feedback-loop run --help`)\n"
    )
    assert await pool.fetchval("SELECT count(*) FROM loop_runs") == len(inputs)
