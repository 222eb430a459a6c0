"""``QLearningRouter``: tabular Q-learning over routing actions, its table in PostgreSQL.

A task is discretised into a state (``get_state``: task type, complexity, size and recent
success, see ``nodes/compute/node_q_learning_compute.py``); ``select_action`` is epsilon-greedy
on the table; ``update_q_value`` takes the temporal-difference step
``Q(s, a) += learning_rate * (reward + discount_factor * max_a' Q(s', a') - Q(s, a))`` (no
``next_state``: the episode ended, the future is worth 0) and writes the row through, so a
restarted router continues where it stopped. ``learn_from_execution`` scores an execution with
the composite reward (or takes the caller's feedback) and learns from it; with an experience
replay buffer it also replays that many past transitions, chosen uniformly, in one write.

The table is read once, on first use. Several processes may share a router name: update counts
add up, and a Q-value is the latest one written (each process learns on its own copy between
restarts). ``save_q_table(path)`` / ``load_q_table(path)`` move the table as JSON.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contracts.enum_error_code import EnumErrorCode
from contracts.model_onex_error import ModelOnexError
from contracts.model_reward import DEFAULT_REWARD_CONFIG, ModelRewardConfig
from contracts.model_routing import (
    ModelQEntry,
    ModelQTableWrite,
    ModelQUpdateInput,
    ModelRoutedExecution,
    ModelRoutingFeedback,
    ModelRoutingTask,
)
from nodes.compute.node_q_learning_compute import NodeQLearningCompute
from nodes.compute.node_reward_compute import NodeRewardCompute
from nodes.effect.node_q_table_store_effect import NodeQTableStoreEffect
from nodes.runtime.runtime import FeedbackLoopRuntime
from nodes.service.runtime_client import RuntimeClient

DEFAULT_ACTIONS = ("small", "medium", "large")
Transition = tuple[str, str, float, str | None]


class _QTableFile(BaseModel):
    """What ``save_q_table`` writes and ``load_q_table`` accepts."""

    model_config = ConfigDict(extra="forbid")

    format: int = Field(ge=1, le=1)
    router: str
    entries: list[ModelQEntry]


class QLearningRouter(RuntimeClient):
    def __init__(
        self,
        learning_rate: float = 0.1,
        discount_factor: float = 0.9,
        epsilon: float = 0.1,
        *,
        actions: Sequence[str] = DEFAULT_ACTIONS,
        router: str = "default",
        replay_capacity: int = 0,
        replay_batch: int = 32,
        seed: int | None = None,
        reward_config: ModelRewardConfig = DEFAULT_REWARD_CONFIG,
        runtime: FeedbackLoopRuntime | None = None,
        **runtime_options: Any,
    ) -> None:
        """``replay_capacity`` > 0 keeps that many past transitions and replays
        ``replay_batch`` of them after each ``learn_from_execution``."""
        ModelQUpdateInput(  # the rates' ranges, checked once
            q_value=0,
            reward=0,
            next_max=0,
            learning_rate=learning_rate,
            discount_factor=discount_factor,
        )
        if not 0 <= epsilon <= 1 or not actions:
            raise ValueError("epsilon must be in [0, 1] and actions not empty")
        self.learning_rate = learning_rate
        self.discount_factor = discount_factor
        self.epsilon = epsilon
        self.actions = list(actions)
        self.router = router
        self.replay_batch = replay_batch
        self._replay: deque[Transition] | None = (
            deque(maxlen=replay_capacity) if replay_capacity > 0 else None
        )
        self._reward_config = reward_config
        self._rng = np.random.default_rng(seed)
        self._compute = NodeQLearningCompute()
        self._rewards = NodeRewardCompute()
        self._store = NodeQTableStoreEffect()
        super().__init__(runtime, **runtime_options)
        self._table: dict[str, dict[str, tuple[float, int]]] | None = None

    async def _q(self) -> dict[str, dict[str, tuple[float, int]]]:
        if self._table is None:
            async with self.runtime.connection() as conn:
                entries = await self._store.load(conn, self.router)
            self._table = {}
            for e in entries:
                self._table.setdefault(e.state, {})[e.action] = (e.q_value, e.update_count)
        return self._table

    async def q_values(self, state: str) -> dict[str, float]:
        """The state's Q-value per action (0 for an action never updated)."""
        row = (await self._q()).get(state, {})
        return {a: row.get(a, (0.0, 0))[0] for a in self.actions}

    async def get_state(self, task: ModelRoutingTask) -> str:
        return self._compute.state_of(task)

    async def select_action(self, state: str) -> str:
        return self._compute.choose(
            await self.q_values(state), self.actions, self.epsilon, self._rng
        )

    async def update_q_value(
        self, state: str, action: str, reward: float, next_state: str | None
    ) -> float:
        """One TD step, written through; returns the new Q-value."""
        return (await self._learn([(state, action, reward, next_state)]))[0]

    async def _learn(self, transitions: Sequence[Transition]) -> list[float]:
        table = await self._q()
        changed: dict[tuple[str, str], int] = {}
        values = []
        for state, action, reward, next_state in transitions:
            q, count = table.get(state, {}).get(action, (0.0, 0))
            next_max = (
                0.0 if next_state is None else max((await self.q_values(next_state)).values())
            )
            step = self._compute.update(
                ModelQUpdateInput(
                    q_value=q,
                    reward=reward,
                    next_max=next_max,
                    learning_rate=self.learning_rate,
                    discount_factor=self.discount_factor,
                )
            )
            table.setdefault(state, {})[action] = (step.q_value, count + 1)
            changed[(state, action)] = changed.get((state, action), 0) + 1
            values.append(step.q_value)
        entries = [
            ModelQEntry(state=s, action=a, q_value=table[s][a][0], update_count=n)
            for (s, a), n in changed.items()
        ]
        async with self.runtime.connection() as conn:
            await self._store.write(conn, ModelQTableWrite(router=self.router, entries=entries))
        return values

    async def learn_from_execution(
        self, execution: ModelRoutedExecution, feedback: ModelRoutingFeedback | None = None
    ) -> float:
        """Learn from what happened: the feedback's reward, else the composite reward of the
        execution. Returns the reward used."""
        if feedback is not None:
            reward = feedback.reward
        else:
            reward = self._rewards.score(self._reward_config, execution.execution).score
        state = self._compute.state_of(execution.task)
        next_task = execution.next_task
        transition = (
            state,
            execution.action,
            reward,
            None if next_task is None else self._compute.state_of(next_task),
        )
        batch = [transition]
        if self._replay is not None:
            if self._replay:
                picks = self._rng.integers(len(self._replay), size=self.replay_batch)
                batch += [self._replay[int(i)] for i in picks]
            self._replay.append(transition)
        await self._learn(batch)
        return reward

    async def save_q_table(self, path: str | Path) -> None:
        table = await self._q()
        entries = [
            ModelQEntry(state=s, action=a, q_value=q, update_count=n)
            for s, row in sorted(table.items())
            for a, (q, n) in sorted(row.items())
        ]
        document = _QTableFile(format=1, router=self.router, entries=entries)
        Path(path).write_text(document.model_dump_json(indent=2) + "\n", encoding="utf-8")

    async def load_q_table(self, path: str | Path) -> None:
        """Replace the table (in memory and in PostgreSQL) by a saved one; a file that is not
        one is refused in one line naming the problem, and nothing changes."""
        document = _read_q_table(Path(path))
        async with self.runtime.connection() as conn:
            await self._store.replace(
                conn, ModelQTableWrite(router=self.router, entries=document.entries)
            )
        self._table = None


def _read_q_table(path: Path) -> _QTableFile:
    def refused(problem: str) -> ModelOnexError:
        return ModelOnexError(EnumErrorCode.INVALID_INPUT, f"{path}: not a Q-table file: {problem}")

    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise refused(exc.strerror or str(exc)) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise refused(f"invalid JSON ({exc})") from None
    try:
        return _QTableFile.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "top level"
        raise refused(f"{where}: {first['msg']}") from None
