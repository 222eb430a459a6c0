"""Smaller promises of the CLI: ``versions --json`` prints what ``--format json`` prints, and
``--help`` names the embedded server's default data directory the way the code picks it."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import pytest

from nodes.adapters.cli.main import main
from nodes.service import FeedbackLoopService
from nodes.storage.embedded import PG_MAJOR


async def _out(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    capsys.readouterr()
    assert await asyncio.to_thread(main, list(args)) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return out


async def test_json_flag_prints_what_format_json_prints(
    db_dsn: str, pool: asyncpg.Pool, capsys: pytest.CaptureFixture[str]
) -> None:
    async with FeedbackLoopService(pool=pool) as service:
        await service.register("p", {"timeout_ms": 800})
    for which in (["p"], ["--all"]):
        flag = await _out(capsys, "--dsn", db_dsn, "versions", *which, "--json")
        assert flag == await _out(capsys, "--dsn", db_dsn, "versions", *which, "--format", "json")
        document = json.loads(flag)
        assert isinstance(document, list) and len(document) == 1
    assert json.loads(flag) == [
        {"pattern_id": "p", "active": "p@1.0.0", "versions": 1, "testing": 0}
    ]
    history = json.loads(await _out(capsys, "--dsn", db_dsn, "versions", "p", "--json"))
    assert history[0]["version_id"] == "p@1.0.0" and history[0]["active"] is True
    assert history[0]["config"] == {"timeout_ms": 800}


def test_help_names_the_default_data_dir(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    where = f"onex-feedback-loop/pg{PG_MAJOR}"
    assert (
        f"by default $XDG_STATE_HOME/{where} (default ~/.local/state/{where}), "
        f"as root /var/lib/{where}."
    ) in text
