"""``feedback-loop versions PATTERN | --all`` with ``--json``: the flag other commands take,
printing exactly what ``--format json`` prints."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import pytest

from nodes.adapters.cli.main import main
from nodes.service import FeedbackLoopService


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
