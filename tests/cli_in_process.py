"""The CLI run in this process (in a thread, as a user's shell would block): exit code checked,
the output it printed returned."""

from __future__ import annotations

import asyncio

import pytest

from nodes.adapters.cli.main import main


async def run_cli(dsn: str, capsys: pytest.CaptureFixture[str], *args: str, code: int = 0) -> str:
    """stdout when ``code`` is 0, else stderr."""
    capsys.readouterr()
    got = await asyncio.to_thread(main, ["--dsn", dsn, *args])
    out, err = capsys.readouterr()
    assert got == code, (out, err)
    return out if code == 0 else err
