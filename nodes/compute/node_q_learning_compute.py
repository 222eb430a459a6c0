"""Q-learning maths: the task discretisation, the temporal-difference step and epsilon-greedy
action choice. Pure (randomness only from the numpy ``Generator`` handed in).

A state is the string ``"type|complexity|size|success"``:

- ``type``: the task type as given;
- ``complexity`` in [0, 1]: ``low`` below 1/3, ``medium`` below 2/3, ``high`` from there;
- ``size`` (tokens, files: whatever the caller counts): ``xs`` below 100, ``s`` below 1,000,
  ``m`` below 10,000, ``l`` from there (a decade each, so the table stays small);
- ``success`` (the type's recent success rate): ``poor`` below 0.5, ``fair`` below 0.8,
  ``good`` from there, ``unknown`` when not given.

So a task type has at most 3 x 4 x 4 = 48 states, and similar tasks share what was learned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from contracts.model_routing import ModelQUpdate, ModelQUpdateInput, ModelRoutingTask

_COMPLEXITY = ((1 / 3, "low"), (2 / 3, "medium"))
_SIZE = ((100, "xs"), (1_000, "s"), (10_000, "m"))
_SUCCESS = ((0.5, "poor"), (0.8, "fair"))


def _bucket(value: float, edges: Sequence[tuple[float, str]], top: str) -> str:
    for edge, name in edges:
        if value < edge:
            return name
    return top


class NodeQLearningCompute:
    def state_of(self, task: ModelRoutingTask) -> str:
        """The discretised state of a task (see the module docstring)."""
        success = task.recent_success_rate
        return "|".join(
            (
                task.task_type,
                _bucket(task.complexity, _COMPLEXITY, "high"),
                _bucket(task.size, _SIZE, "l"),
                "unknown" if success is None else _bucket(success, _SUCCESS, "good"),
            )
        )

    def update(self, step: ModelQUpdateInput) -> ModelQUpdate:
        """``q + lr * (reward + discount * next_max - q)``."""
        td_error = step.reward + step.discount_factor * step.next_max - step.q_value
        return ModelQUpdate(q_value=step.q_value + step.learning_rate * td_error, td_error=td_error)

    def choose(
        self,
        q_values: Mapping[str, float],
        actions: Sequence[str],
        epsilon: float,
        rng: np.random.Generator,
    ) -> str:
        """Epsilon-greedy over ``actions``: a uniformly random one with probability epsilon,
        else the largest Q (an action never tried counts 0; ties broken uniformly)."""
        if not actions:
            raise ValueError("q-learning: no actions to choose from")
        if rng.random() < epsilon:
            return actions[int(rng.integers(len(actions)))]
        values = np.array([q_values.get(a, 0.0) for a in actions])
        best = np.flatnonzero(values == values.max())
        return actions[int(best[rng.integers(best.size)])]
