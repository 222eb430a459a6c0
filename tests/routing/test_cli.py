"""``feedback-loop routing stats|reset|freeze|unfreeze``: against what engines shared."""

from __future__ import annotations

import json

import asyncpg
import pytest

from contracts.model_routing import ModelLearningSettings
from nodes import LearningEngine
from nodes.adapters.cli.main import main
from tests.worker.test_schedule_cli import _cli


async def test_routing_commands(
    db_dsn: str, pool: asyncpg.Pool, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = ModelLearningSettings(enable_experiment_harness=False, enable_rl_lints=False)
    async with LearningEngine(pool=pool, settings=settings) as engine:
        for _ in range(4):
            await engine.record_outcome("chat", "gpt-small", 0.25)
            await engine.record_outcome("chat", "gpt-large", 0.75)
        await engine.select_model("chat", ["gpt-small", "gpt-large"])
    table = await _cli(db_dsn, capsys, "routing", "stats", "chat")
    lines = table.splitlines()
    assert lines[0] == "chat: policy epsilon_greedy, learning, epoch 0, 1 decisions logged"
    assert lines[1].split() == [
        "POLICY",
        "ARM",
        "PULLS",
        "REWARD",
        "SUM",
        "MEAN",
        "REWARD",
        "REGRET",
        "SUM",
    ]
    # The first outcome of an arm adds no regret; then large (0.75) is best: small adds 0.5 each.
    assert lines[2].split() == ["epsilon_greedy", "gpt-large", "4", "3", "0.7500", "0"]
    assert lines[3].split() == ["epsilon_greedy", "gpt-small", "4", "1", "0.2500", "1.5"]
    document = json.loads(await _cli(db_dsn, capsys, "routing", "stats", "chat", "--json"))
    assert document["decisions"] == 1 and len(document["variants"]) == 2

    assert await _cli(db_dsn, capsys, "routing", "freeze", "chat") == "chat: frozen on gpt-large\n"
    assert "frozen on gpt-large" in (await _cli(db_dsn, capsys, "routing", "stats", "chat"))
    assert await _cli(db_dsn, capsys, "routing", "unfreeze", "chat") == "chat: learning again\n"
    out = await _cli(db_dsn, capsys, "routing", "reset", "chat")
    assert out == "chat: reset, epoch 1; every process starts over from cold\n"
    assert await pool.fetchval("SELECT count(*) FROM routing_arm_totals") == 0

    err = await _cli(db_dsn, capsys, "routing", "reset", "nowhere", code=1)
    assert err == (
        "error: routing domain 'nowhere' is unknown (it is created by its first decision)\n"
    )


@pytest.mark.parametrize(
    "args", [["routing", "stats", ""], ["routing", "melt", "chat"], ["routing"]]
)
def test_routing_usage_errors_are_one_line_and_exit_2(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")
