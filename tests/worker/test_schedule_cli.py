"""``feedback-loop schedule``: set, list, pause, resume, remove; bad values are usage errors."""

from __future__ import annotations

import json

import asyncpg
import pytest

from nodes.adapters.cli.main import main
from nodes.service import FeedbackLoopService
from tests.cli_in_process import run_cli as _cli


async def test_schedule_commands(
    db_dsn: str, pool: asyncpg.Pool, capsys: pytest.CaptureFixture[str]
) -> None:
    async with FeedbackLoopService(pool=pool) as service:
        await service.register("nightly", {})
    out = await _cli(
        db_dsn,
        capsys,
        "schedule",
        "set",
        "nightly",
        "--cron",
        "30 2 * * *",
        "--tz",
        "Europe/Berlin",
    )
    assert out.split()[:4] == ["nightly", "active", "30", "2"]
    assert "Europe/Berlin" in out and out.rstrip().endswith(("+01:00", "+02:00"))
    assert (await _cli(db_dsn, capsys, "schedule", "pause", "nightly")).split()[1] == "paused"
    listed = await _cli(db_dsn, capsys, "schedule", "list", "--json")
    assert json.loads(listed)["paused"] is True
    assert (await _cli(db_dsn, capsys, "schedule", "resume", "nightly")).split()[1] == "active"
    await _cli(db_dsn, capsys, "schedule", "set", "nightly", "--every", "15m")
    assert "every 900s" in await _cli(db_dsn, capsys, "schedule", "list")
    await _cli(db_dsn, capsys, "schedule", "remove", "nightly")
    err = await _cli(db_dsn, capsys, "schedule", "remove", "nightly", code=1)
    assert err == "error: pattern 'nightly' has no schedule\n"
    err = await _cli(db_dsn, capsys, "schedule", "set", "ghost", "--every", "1h", code=1)
    assert "not registered" in err


@pytest.mark.parametrize(
    "args",
    [
        ["schedule", "set", "p", "--cron", "61 * * * *"],
        ["schedule", "set", "p", "--every", "0s"],
        ["schedule", "set", "p", "--every", "soon"],
        ["schedule", "set", "p", "--every", "1h", "--tz", "Mars/Olympus"],
        ["schedule", "set", "p", "--every", "1h", "--start", "2026-01-01T00:00:00"],
        ["schedule", "set", "p", "--cron", "* * * * *", "--every", "1h"],
        ["worker", "--concurrency", "0"],
        ["worker", "--grace", "-1"],
    ],
)
def test_bad_values_are_usage_errors(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.splitlines()) == 1
