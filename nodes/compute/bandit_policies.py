"""The bandit policies as objects: arms' statistics in memory, decisions by the bandit maths.

``EpsilonGreedyBandit``, ``UCBBandit``, ``ThompsonSamplingBandit`` and ``LinTSDiagPolicy`` keep
their arms' sufficient statistics (pulls, reward sum; LinTS also its per-feature sums) and answer
``await select_arm(context)`` / ``await update_reward(arm, reward, context)``. They hold no
connection and draw randomness only from the numpy ``Generator`` they are given: the
``LearningEngine`` keeps one per domain and variant, persists what they learn and merges what
other processes learned (``load``). Used alone they are plain in-memory bandits.

One decision is a batch of one for the array functions, except for epsilon-greedy and UCB1:
their rule for a single state is a few float operations, which plain Python does several times
faster than numpy's per-call overhead allows (tests check both give the same probabilities).
Statistics are kept as Python lists for the same reason.

Arms: ``add_arm`` starts an arm cold (no pulls); ``remove_arm`` forgets it. ``choose`` may be
restricted to some of the known arms (unknown ones are added cold), which is how a caller's
candidate list comes and goes without losing the statistics of an arm left out for a while.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import ClassVar

import numpy as np

from contracts.enum_routing import EnumRewardKind, EnumRoutingPolicy
from contracts.model_routing import ModelArmState, ModelBanditSettings, ModelRoutingContext
from nodes.compute.node_bandit_compute import (
    Choices,
    FloatArray,
    lints_diag,
    posterior_means,
    thompson,
)

_UNIFORM_BLOCK = 4096  # uniforms drawn from the Generator at once, used one by one


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
        self._pulls: list[float] = []
        self._sums: list[float] = []
        self._uniforms: list[float] = []
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
            self._pulls.append(0.0)
            self._sums.append(0.0)

    def remove_arm(self, arm: str) -> None:
        """Forget an arm and its statistics (it starts cold if added again)."""
        i = self._index.pop(arm)
        del self._names[i]
        self._index = {name: j for j, name in enumerate(self._names)}
        del self._pulls[i], self._sums[i]

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
        position, propensity = self._decide(rows, context)
        return self._names[rows[position]], propensity

    def _decide(self, rows: list[int], context: ModelRoutingContext | None) -> tuple[int, float]:
        """The position in ``rows`` of the arm to serve, and its propensity."""
        raise NotImplementedError

    def _arrays(self, rows: list[int]) -> tuple[FloatArray, FloatArray]:
        """Pulls and reward sums of ``rows`` as a batch of one, for the array functions."""
        return np.array([[self._pulls[i] for i in rows]]), np.array([[self._sums[i] for i in rows]])

    def _uniform(self) -> float:
        if not self._uniforms:
            self._uniforms = self._rng.random(_UNIFORM_BLOCK).tolist()
        return self._uniforms.pop()

    def _pick(self, positions: list[int]) -> int:
        """One of ``positions``, uniformly."""
        return (
            positions[int(self._uniform() * len(positions))] if len(positions) > 1 else positions[0]
        )

    def means(self) -> FloatArray:
        """Each arm's posterior mean reward (NaN without pulls), in ``arms`` order."""
        pulls, sums = self._arrays(list(range(len(self._names))))
        means: FloatArray = posterior_means(self.policy, pulls, sums, self.settings)[0]
        return means

    def _estimate(self, i: int) -> float:
        """Arm ``i``'s posterior mean reward (it has pulls): here the empirical mean."""
        return self._sums[i] / self._pulls[i]

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
        regret = 0.0
        if self._pulls[i]:
            best = max(self._estimate(j) for j, n in enumerate(self._pulls) if n)
            regret = best - self._estimate(i)
        self._pulls[i] += 1.0
        self._sums[i] += reward
        return regret

    def state(self) -> list[ModelArmState]:
        return [
            ModelArmState(arm=name, pulls=self._pulls[i], reward_sum=self._sums[i])
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
    """With probability ``settings.epsilon`` (0.1) a random arm, else the best mean (the rule
    of ``node_bandit_compute.epsilon_greedy`` for one state)."""

    policy = EnumRoutingPolicy.EPSILON_GREEDY

    def _decide(self, rows: list[int], context: ModelRoutingContext | None) -> tuple[int, float]:
        pulls, sums, epsilon = self._pulls, self._sums, self.settings.epsilon
        means = [sums[i] / pulls[i] if pulls[i] else 0.0 for i in rows]
        top = max(means)
        best = [j for j, m in enumerate(means) if m == top]
        explore = self._uniform() < epsilon
        position = int(self._uniform() * len(rows)) if explore else self._pick(best)
        greedy = (1.0 - epsilon) / len(best) if means[position] == top else 0.0
        return position, epsilon / len(rows) + greedy


class UCBBandit(BanditPolicy):
    """UCB1: each arm once, then the largest upper confidence bound (the rule of
    ``node_bandit_compute.ucb1`` for one state)."""

    policy = EnumRoutingPolicy.UCB1

    def _decide(self, rows: list[int], context: ModelRoutingContext | None) -> tuple[int, float]:
        pulls, sums = self._pulls, self._sums
        cold = [j for j, i in enumerate(rows) if not pulls[i]]
        if cold:
            return self._pick(cold), 1.0 / len(cold)
        log_total = 2.0 * math.log(max(sum(pulls[i] for i in rows), 1.0))
        alpha = self.settings.ucb_alpha
        bounds = [sums[i] / pulls[i] + alpha * math.sqrt(log_total / pulls[i]) for i in rows]
        top = max(bounds)
        best = [j for j, b in enumerate(bounds) if b == top]
        return self._pick(best), 1.0 / len(best)


class ThompsonSamplingBandit(BanditPolicy):
    """Thompson sampling: Beta posteriors (binary rewards) or Gaussian (continuous)."""

    policy = EnumRoutingPolicy.THOMPSON

    def _decide(self, rows: list[int], context: ModelRoutingContext | None) -> tuple[int, float]:
        pulls, sums = self._arrays(rows)
        return _one(thompson(pulls, sums, self.settings, self._rng))

    def _estimate(self, i: int) -> float:
        pulls, sums = self._arrays([i])
        return float(posterior_means(self.policy, pulls, sums, self.settings)[0, 0])

    def learn(self, arm: str, reward: float, context: ModelRoutingContext | None = None) -> float:
        if self.settings.reward_kind is EnumRewardKind.BINARY and not 0.0 <= reward <= 1.0:
            raise ValueError(
                f"thompson: a binary reward must be in [0, 1], got {reward} "
                "(reward_kind='continuous' takes any finite value)"
            )
        return super().learn(arm, reward, context)


def _one(choice: Choices) -> tuple[int, float]:
    return int(choice.arms[0]), float(choice.propensities[0])


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

    def _decide(self, rows: list[int], context: ModelRoutingContext | None) -> tuple[int, float]:
        x = self._x(context)
        return _one(
            lints_diag(
                self._a[None, rows], self._b[None, rows], x[None, :], self.settings, self._rng
            )
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
