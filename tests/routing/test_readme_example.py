"""The README's learned-routing example runs as written (top-level ``await``, as in a notebook
or ``python -m asyncio``) on the test database, and learns what it says it learns."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from tests.test_usage_snippets import run_snippet

README = Path(__file__).resolve().parents[2] / "README.md"


def _example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Learned routing\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert len(blocks) == 1
    return str(blocks[0])


async def test_the_readme_router_learns_the_best_model(
    db_dsn: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FEEDBACK_LOOP_DSN", db_dsn)
    for flag in ("ENABLE_EXPERIMENT_HARNESS", "ENABLE_RL_LINTS"):
        monkeypatch.delenv(flag, raising=False)
    random.seed(1)  # the example's simulated models
    await run_snippet(_example(), {})
    lines = capsys.readouterr().out.splitlines()
    pulls = {line.split()[0]: int(line.split()[2]) for line in lines}
    assert set(pulls) == {"small", "medium", "large"} and sum(pulls.values()) == 2_000
    assert max(pulls, key=pulls.__getitem__) == "medium"
