"""QLearningRouter: it reaches the optimal policy of a small known MDP (the optimum computed
here by value iteration), keeps its table in PostgreSQL, saves and loads it as JSON, and
learns from executions through the composite reward."""

from __future__ import annotations

import json
from pathlib import Path

import asyncpg
import numpy as np
import pytest

from contracts.enum_error_code import EnumErrorCode
from contracts.model_onex_error import ModelOnexError
from contracts.model_reward import ModelRewardExecution
from contracts.model_routing import ModelRoutedExecution, ModelRoutingFeedback, ModelRoutingTask
from nodes import QLearningRouter

# state -> action -> (next state or None when the episode ends, reward)
MDP: dict[str, dict[str, tuple[str | None, float]]] = {
    "s0": {"left": (None, 0.3), "right": ("s1", 0.0)},
    "s1": {"left": (None, 0.95), "right": ("s2", 0.0)},
    "s2": {"left": ("s1", 0.0), "right": (None, 1.0)},
}
GAMMA = 0.9


def _optimal_policy() -> dict[str, str]:
    """Value iteration to convergence, then the greedy action of Q*."""

    def q_star(values: dict[str, float], state: str, action: str) -> float:
        next_state, reward = MDP[state][action]
        return reward + (GAMMA * values[next_state] if next_state else 0.0)

    values = dict.fromkeys(MDP, 0.0)
    for _ in range(200):
        values = {s: max(q_star(values, s, a) for a in MDP[s]) for s in MDP}
    policy = {}
    for state, moves in MDP.items():
        policy[state] = max(moves, key=lambda action: q_star(values, state, action))
    return policy


async def _greedy(router: QLearningRouter) -> dict[str, str]:
    policy = {}
    for state in MDP:
        q = await router.q_values(state)
        policy[state] = max(q, key=q.__getitem__)
    return policy


async def test_q_learning_reaches_the_optimal_policy_of_a_known_mdp(pool: asyncpg.Pool) -> None:
    optimal = _optimal_policy()
    assert optimal == {"s0": "right", "s1": "left", "s2": "right"}  # not the myopic choice
    router = QLearningRouter(
        learning_rate=0.1,
        discount_factor=GAMMA,
        epsilon=0.1,
        actions=["left", "right"],
        router="mdp",
        seed=11,
        pool=pool,
    )
    starts = np.random.default_rng(12)
    for _ in range(400):
        state: str | None = list(MDP)[int(starts.integers(len(MDP)))]  # exploring starts
        while state is not None:
            action = await router.select_action(state)
            next_state, reward = MDP[state][action]
            await router.update_q_value(state, action, reward, next_state)
            state = next_state
    assert await _greedy(router) == optimal
    # Stored in PostgreSQL: a new router reads the same greedy policy back.
    again = QLearningRouter(actions=["left", "right"], router="mdp", pool=pool)
    assert await _greedy(again) == optimal
    rows = await pool.fetch("SELECT state, action, update_count FROM routing_q_table")
    assert {(r["state"], r["action"]) for r in rows} == {(s, a) for s in MDP for a in MDP[s]}


async def test_executions_teach_through_the_composite_reward_and_replay(
    pool: asyncpg.Pool,
) -> None:
    router = QLearningRouter(router="exec", replay_capacity=100, replay_batch=4, seed=1, pool=pool)
    task = ModelRoutingTask(
        task_type="summarize", complexity=0.5, size=1_500, recent_success_rate=0.9
    )
    state = await router.get_state(task)
    assert state == "summarize|medium|m|good"
    fast = ModelRewardExecution(status="success", duration_ms=0.0, cost_usd=0.0)
    executed = ModelRoutedExecution(task=task, action="small", execution=fast)
    assert await router.learn_from_execution(executed) == 1.0  # a fast, free success
    assert (await router.q_values(state))["small"] == pytest.approx(0.1)
    feedback = ModelRoutingFeedback(reward=-1.0)
    assert await router.learn_from_execution(executed, feedback) == -1.0
    # The second call learned once more and replayed the first transition 4 times: 6 updates.
    count = await pool.fetchval("SELECT update_count FROM routing_q_table WHERE router = 'exec'")
    assert count == 6


async def test_q_table_saved_and_loaded_as_json(pool: asyncpg.Pool, tmp_path: Path) -> None:
    router = QLearningRouter(actions=["a", "b"], router="files", pool=pool)
    await router.update_q_value("x", "a", 1.0, None)
    saved = tmp_path / "q.json"
    await router.save_q_table(saved)
    document = json.loads(saved.read_text())
    assert document["entries"] == [{"state": "x", "action": "a", "q_value": 0.1, "update_count": 1}]
    other = QLearningRouter(actions=["a", "b"], router="copy", pool=pool)
    await other.update_q_value("y", "b", 1.0, None)  # replaced by the loaded table
    await other.load_q_table(saved)
    assert await other.q_values("x") == {"a": 0.1, "b": 0.0}
    assert await other.q_values("y") == {"a": 0.0, "b": 0.0}


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "invalid JSON (Expecting property name enclosed in double quotes: line 1"),
        ("[]", "top level: Input should be a valid dictionary"),
        (
            '{"format": 1, "router": "r", "entries": [{"state": "s", "action": "a"}]}',
            "entries.0.q_value: Field required",
        ),
        (
            '{"format": 2, "router": "r", "entries": []}',
            "format: Input should be less than or equal to 1",
        ),
    ],
)
async def test_bad_q_table_files_are_refused_in_one_line(
    pool: asyncpg.Pool, tmp_path: Path, content: str, problem: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    router = QLearningRouter(router="bad", pool=pool)
    with pytest.raises(ModelOnexError) as refused:
        await router.load_q_table(path)
    assert refused.value.code is EnumErrorCode.INVALID_INPUT
    assert str(refused.value).startswith(f"{path}: not a Q-table file: {problem}")
    assert "\n" not in str(refused.value)
