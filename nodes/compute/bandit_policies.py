"""The bandit policies as objects: arms' statistics in memory, decisions by the bandit maths.

``EpsilonGreedyBandit``, ``UCBBandit``, ``ThompsonSamplingBandit`` and ``LinTSDiagPolicy`` keep
their arms' sufficient statistics (pulls, reward sum; LinTS also its per-feature sums) and answer
``await select_arm(context)`` / ``await update_reward(arm, reward, context)``. They hold no
connection and draw randomness only from the numpy ``Generator`` they are given: the
``LearningEngine`` keeps one per domain and variant, persists what they learn and merges what
other processes learned (``load``). Used alone they are plain in-memory bandits.

Arms: ``add_arm`` starts an arm cold (no pulls); ``remove_arm`` forgets it. ``choose`` may be
restricted to some of the known arms (unknown ones are added cold), which is how a caller's
candidate list comes and goes without losing the statistics of an arm left out for a while.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar

import numpy as np

from contracts.enum_routing import EnumRoutingPolicy
from contracts.model_routing import ModelArmState, ModelBanditSettings, ModelRoutingContext
from nodes.compute.node_bandit_compute import (
    Choices,
    FloatArray,
    epsilon_greedy,
    lints_diag,
    posterior_means,
    regret_increment,
    thompson,
    ucb1,
)


class BanditPolicy:
    """What every policy shares; subclasses say how a batch of one state decides."""

    policy: ClassVar[EnumRoutingPolicy]

    def __init__(
        self,
        arms: Sequence[str] = (),
        *,
        rng: np.random.Generator,
        settings: ModelBanditSettings | None = None,
    ) -> None:
        self.settings = settings or ModelBanditSettings()
        self._rng = rng
        self._index: dict[str, int] = {}
        self._names: list[str] = []
        self._pulls: FloatArray = np.zeros(0)
        self._sums: FloatArray = np.zeros(0)
        for arm in arms:
            self.add_arm(arm)

    @property
    def arms(self) -> list[str]:
        return list(self._names)

    def add_arm(self, arm: str) -> None:
        """A new arm starts cold; adding a known arm changes nothing."""
        if arm not in self._index:
            self._index[arm] = len(self._names)
            self._names.append(arm)
            self._pulls = np.append(self._pulls, 0.0)
            self._sums = np.append(self._sums, 0.0)

    def remove_arm(self, arm: str) -> None:
        """Forget an arm and its statistics (it starts cold if added again)."""
        i = self._index.pop(arm)
        del self._names[i]
        self._index = {name: j for j, name in enumerate(self._names)}
        self._pulls = np.delete(self._pulls, i)
        self._sums = np.delete(self._sums, i)

    def _rows(self, candidates: Sequence[str] | None) -> list[int]:
        if candidates is None:
            if not self._names:
                raise ValueError(f"{self.policy}: no arms to choose from")
            return list(range(len(self._names)))
        if not candidates:
            raise ValueError(f"{self.policy}: no candidates to choose from")
        for arm in candidates:
            self.add_arm(arm)
        return [self._index[arm] for arm in candidates]

    def choose(
        self, candidates: Sequence[str] | None = None, context: ModelRoutingContext | None = None
    ) -> tuple[str, float]:
        """The arm to serve among ``candidates`` (default: every arm) and its propensity."""
        rows = self._rows(candidates)
        choice = self._decide(rows, context)
        return self._names[rows[int(choice.arms[0])]], float(choice.propensities[0])

    def _decide(self, rows: list[int], context: ModelRoutingContext | None) -> Choices:
        raise NotImplementedError

    def means(self) -> FloatArray:
        """Each arm's posterior mean reward (NaN without pulls), in ``arms`` order."""
        means: FloatArray = posterior_means(
            self.policy, self._pulls[None, :], self._sums[None, :], self.settings
        )[0]
        return means

    def best_arm(self, candidates: Sequence[str] | None = None) -> str:
        """The arm with the best posterior mean among ``candidates`` (an arm without pulls only
        when none has any; the first such candidate then)."""
        rows = self._rows(candidates)
        means = self.means()[rows]
        if np.isnan(means).all():
            return self._names[rows[0]]
        return self._names[rows[int(np.nanargmax(means))]]

    def learn(self, arm: str, reward: float, context: ModelRoutingContext | None = None) -> float:
        """Apply one outcome; returns what it adds to the arm's regret_sum (measured against the
        posterior means just before it)."""
        self.add_arm(arm)
        i = self._index[arm]
        regret = regret_increment(self.means(), i)
        self._pulls[i] += 1.0
        self._sums[i] += reward
        return regret

    def state(self) -> list[ModelArmState]:
        return [
            ModelArmState(arm=name, pulls=float(self._pulls[i]), reward_sum=float(self._sums[i]))
            for i, name in enumerate(self._names)
        ]

    def load(self, states: Iterable[ModelArmState]) -> None:
        """Replace the statistics of the arms given (others keep theirs)."""
        for s in states:
            self.add_arm(s.arm)
            i = self._index[s.arm]
            self._pulls[i] = s.pulls
            self._sums[i] = s.reward_sum

    async def select_arm(self, context: ModelRoutingContext | None = None) -> str:
        return self.choose(None, context)[0]

    async def update_reward(
        self, arm: str, reward: float, context: ModelRoutingContext | None = None
    ) -> None:
        self.learn(arm, reward, context)


class EpsilonGreedyBandit(BanditPolicy):
    """With probability ``settings.epsilon`` (0.1) a random arm, else the best mean."""

    policy = EnumRoutingPolicy.EPSILON_GREEDY

    def _decide(self, rows: list[int], context: ModelRoutingContext | None) -> Choices:
        return epsilon_greedy(
            self._pulls[None, rows], self._sums[None, rows], self.settings.epsilon, self._rng
        )


class UCBBandit(BanditPolicy):
    """UCB1: each arm once, then the largest upper confidence bound."""

    policy = EnumRoutingPolicy.UCB1

    def _decide(self, rows: list[int], context: ModelRoutingContext | None) -> Choices:
        return ucb1(
            self._pulls[None, rows], self._sums[None, rows], self.settings.ucb_alpha, self._rng
        )


class ThompsonSamplingBandit(BanditPolicy):
    """Thompson sampling: Beta posteriors (binary rewards) or Gaussian (continuous)."""

    policy = EnumRoutingPolicy.THOMPSON

    def _decide(self, rows: list[int], context: ModelRoutingContext | None) -> Choices:
        return thompson(self._pulls[None, rows], self._sums[None, rows], self.settings, self._rng)


class LinTSDiagPolicy(BanditPolicy):
    """Linear Thompson sampling with a diagonal covariance per arm: O(d) per update. Every
    decision and update needs a context of the same dimension ``d`` (fixed by the first)."""

    policy = EnumRoutingPolicy.LINTS

    def __init__(
        self,
        arms: Sequence[str] = (),
        *,
        rng: np.random.Generator,
        settings: ModelBanditSettings | None = None,
        dims: int | None = None,
    ) -> None:
        self.dims = dims
        self._a: FloatArray = np.zeros((0, dims or 0))
        self._b: FloatArray = np.zeros((0, dims or 0))
        super().__init__(arms, rng=rng, settings=settings)

    def _x(self, context: ModelRoutingContext | None) -> FloatArray:
        if context is None:
            raise ValueError("lints: a context (feature vector) is required")
        x = np.asarray(context.features, dtype=np.float64)
        if self.dims is None:
            self.dims = x.size
            self._a = np.zeros((len(self._names), x.size))
            self._b = np.zeros((len(self._names), x.size))
        if x.size != self.dims:
            raise ValueError(f"lints: the context has {x.size} features, expected {self.dims}")
        return x

    def add_arm(self, arm: str) -> None:
        if arm not in self._index:
            super().add_arm(arm)
            width = self._a.shape[1]
            self._a = np.vstack([self._a, np.zeros((1, width))])
            self._b = np.vstack([self._b, np.zeros((1, width))])

    def remove_arm(self, arm: str) -> None:
        i = self._index[arm]
        super().remove_arm(arm)
        self._a = np.delete(self._a, i, axis=0)
        self._b = np.delete(self._b, i, axis=0)

    def _decide(self, rows: list[int], context: ModelRoutingContext | None) -> Choices:
        x = self._x(context)
        return lints_diag(
            self._a[None, rows], self._b[None, rows], x[None, :], self.settings, self._rng
        )

    def learn(self, arm: str, reward: float, context: ModelRoutingContext | None = None) -> float:
        x = self._x(context)
        regret = super().learn(arm, reward, context)
        i = self._index[arm]
        self._a[i] += x * x
        self._b[i] += reward * x
        return regret

    def state(self) -> list[ModelArmState]:
        return [
            s.model_copy(update={"lints_a": tuple(self._a[i]), "lints_b": tuple(self._b[i])})
            for i, s in enumerate(super().state())
        ]

    def load(self, states: Iterable[ModelArmState]) -> None:
        states = list(states)
        super().load(states)
        for s in states:
            if s.lints_a:
                self._x(ModelRoutingContext(features=s.lints_a))  # fixes or checks d
                i = self._index[s.arm]
                self._a[i] = s.lints_a
                self._b[i] = s.lints_b


POLICY_CLASSES: dict[EnumRoutingPolicy, type[BanditPolicy]] = {
    cls.policy: cls
    for cls in (EpsilonGreedyBandit, UCBBandit, ThompsonSamplingBandit, LinTSDiagPolicy)
}
