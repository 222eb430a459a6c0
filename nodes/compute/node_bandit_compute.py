"""Bandit maths: which arm each policy serves, with its propensity, over a batch of states. Pure.

Every function takes the arms' sufficient statistics as arrays with a leading batch axis
(``pulls`` and ``reward_sums`` of shape ``(B, K)``: B independent states of K arms each) and a
numpy ``Generator``, and returns one arm index and one propensity per state. A single decision
is the batch of one; a simulation of 300 seeds is one call per round.

- **epsilon-greedy**: with probability epsilon a uniformly random arm, else the best empirical
  mean (an arm without pulls counts 0; ties broken uniformly). Propensity, exactly:
  ``epsilon / K + (1 - epsilon) / ties`` for a best arm, ``epsilon / K`` for any other.
- **UCB1**: every arm without pulls first (uniformly among them), then the largest
  ``mean + alpha * sqrt(2 ln N / n)``. Deterministic up to ties: propensity ``1 / ties``.
- **Thompson**: one draw per arm from its posterior, the largest wins. Binary rewards:
  ``Beta(a0 + S, b0 + n - S)`` (a reward r in [0, 1] counts as r of a success); continuous:
  a Normal with known noise sd ``s`` and prior ``N(m0, s0^2)``, posterior precision
  ``1 / s0^2 + n / s^2`` and mean ``(m0 / s0^2 + S / s^2) / precision``.
- **LinTS (diagonal)**: per arm, ``A = lambda + sum x^2`` and ``b = sum r x`` per feature
  (O(d) per update); theta ~ N(b / A, v^2 / A) coordinate-wise, so the arm's score for context
  x is Normal with mean ``x . b / A`` and variance ``v^2 sum(x^2 / A)``; the largest draw wins.

The propensity of a Thompson or LinTS decision, P(this arm's draw is the largest), has no closed
form; it is estimated from ``draws`` posterior draws (the decision's own draw among them), so its
standard error is at most ``0.5 / sqrt(draws)`` (0.031 at the default 256).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple, TypeAlias

import numpy as np
from numpy.typing import NDArray

from contracts.enum_routing import EnumRewardKind, EnumRoutingPolicy
from contracts.model_routing import (
    ModelBanditChoice,
    ModelBanditSelectInput,
    ModelBanditSettings,
)

FloatArray: TypeAlias = NDArray[np.float64]
IntArray: TypeAlias = NDArray[np.intp]
Sampler: TypeAlias = Callable[[int], FloatArray]


class Choices(NamedTuple):
    """One arm index and its propensity per state of the batch."""

    arms: IntArray
    propensities: FloatArray


def _best(scores: FloatArray, rng: np.random.Generator) -> tuple[IntArray, FloatArray]:
    """Row-wise argmax with ties broken uniformly; also the number of tied arms."""
    top = scores.max(axis=1, keepdims=True)
    ties = scores == top
    keys = np.where(ties, rng.random(scores.shape), -1.0)
    return keys.argmax(axis=1), ties.sum(axis=1).astype(np.float64)


def empirical_means(pulls: FloatArray, reward_sums: FloatArray) -> FloatArray:
    """Mean reward per arm; NaN for an arm without pulls."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pulls > 0, reward_sums / np.where(pulls > 0, pulls, 1.0), np.nan)


def epsilon_greedy(
    pulls: FloatArray, reward_sums: FloatArray, epsilon: float, rng: np.random.Generator
) -> Choices:
    batch, k = pulls.shape
    means = np.nan_to_num(empirical_means(pulls, reward_sums), nan=0.0)
    greedy, ties = _best(means, rng)
    explore = rng.random(batch) < epsilon
    arms = np.where(explore, rng.integers(k, size=batch), greedy)
    rows = np.arange(batch)
    is_best = means[rows, arms] == means.max(axis=1)
    propensities = epsilon / k + np.where(is_best, (1.0 - epsilon) / ties, 0.0)
    return Choices(arms, propensities)


def ucb1(
    pulls: FloatArray, reward_sums: FloatArray, alpha: float, rng: np.random.Generator
) -> Choices:
    total = pulls.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        bonus = alpha * np.sqrt(2.0 * np.log(np.maximum(total, 1.0)) / pulls)
    scores = np.where(pulls > 0, empirical_means(pulls, reward_sums) + bonus, np.inf)
    arms, ties = _best(scores, rng)
    return Choices(arms, 1.0 / ties)


def _matched(sample: Sampler, draws: int) -> Choices:
    """Thompson's rule on draws of shape (max(draws, 1), B, K): the first draw decides, all of
    them estimate how often each decided arm wins (NaN when ``draws`` is 0)."""
    scores = sample(max(draws, 1))
    winners = scores.argmax(axis=2)
    arms = winners[0]
    if draws == 0:
        return Choices(arms, np.full(arms.shape, np.nan))
    return Choices(arms, (winners == arms).mean(axis=0))


def beta_posterior(
    pulls: FloatArray, reward_sums: FloatArray, prior: tuple[float, float]
) -> tuple[FloatArray, FloatArray]:
    a0, b0 = prior
    return a0 + reward_sums, b0 + np.maximum(pulls - reward_sums, 0.0)


def gaussian_posterior(
    pulls: FloatArray, reward_sums: FloatArray, prior: tuple[float, float], noise_sd: float
) -> tuple[FloatArray, FloatArray]:
    """Posterior mean and sd of each arm's mean reward (Normal prior, known noise sd)."""
    m0, s0 = prior
    precision = 1.0 / s0**2 + pulls / noise_sd**2
    mean = (m0 / s0**2 + reward_sums / noise_sd**2) / precision
    return mean, 1.0 / np.sqrt(precision)


def thompson(
    pulls: FloatArray,
    reward_sums: FloatArray,
    settings: ModelBanditSettings,
    rng: np.random.Generator,
) -> Choices:
    draws = settings.propensity_draws
    if settings.reward_kind is EnumRewardKind.BINARY:
        a, b = beta_posterior(pulls, reward_sums, settings.beta_prior)
        return _matched(lambda n: rng.beta(a, b, size=(n, *a.shape)), draws)
    mean, sd = gaussian_posterior(pulls, reward_sums, settings.gaussian_prior, settings.noise_sd)
    return _matched(lambda n: rng.normal(mean, sd, size=(n, *mean.shape)), draws)


def lints_diag(
    lints_a: FloatArray,
    lints_b: FloatArray,
    contexts: FloatArray,
    settings: ModelBanditSettings,
    rng: np.random.Generator,
) -> Choices:
    """``lints_a``, ``lints_b``: (B, K, d) sums of x^2 and r x; ``contexts``: (B, d)."""
    precision = settings.lints_lambda + lints_a
    x = contexts[:, None, :]
    mean = (x * lints_b / precision).sum(axis=2)
    sd = settings.lints_v * np.sqrt((x**2 / precision).sum(axis=2))
    return _matched(
        lambda n: rng.normal(mean, sd, size=(n, *mean.shape)), settings.propensity_draws
    )


def posterior_means(
    policy: EnumRoutingPolicy,
    pulls: FloatArray,
    reward_sums: FloatArray,
    settings: ModelBanditSettings,
) -> FloatArray:
    """Each arm's current estimate of its mean reward under ``policy``'s model; NaN for an arm
    without pulls (no evidence yet, so it is nobody's best and has no regret)."""
    if policy is EnumRoutingPolicy.THOMPSON:
        if settings.reward_kind is EnumRewardKind.BINARY:
            a, b = beta_posterior(pulls, reward_sums, settings.beta_prior)
            mean = a / (a + b)
        else:
            mean = gaussian_posterior(
                pulls, reward_sums, settings.gaussian_prior, settings.noise_sd
            )[0]
        return np.where(pulls > 0, mean, np.nan)
    return empirical_means(pulls, reward_sums)


class NodeBanditCompute:
    def select(
        self, request: ModelBanditSelectInput, rng: np.random.Generator
    ) -> ModelBanditChoice:
        """One decision from typed arm states (the policies call the array functions directly)."""
        states, settings = request.arms, request.settings
        pulls = np.array([[s.pulls for s in states]])
        sums = np.array([[s.reward_sum for s in states]])
        if request.policy is EnumRoutingPolicy.EPSILON_GREEDY:
            choice = epsilon_greedy(pulls, sums, settings.epsilon, rng)
        elif request.policy is EnumRoutingPolicy.UCB1:
            choice = ucb1(pulls, sums, settings.ucb_alpha, rng)
        elif request.policy is EnumRoutingPolicy.THOMPSON:
            choice = thompson(pulls, sums, settings, rng)
        else:
            if request.context is None:
                raise ValueError("lints: a context (feature vector) is required")
            d = len(request.context.features)
            a = np.array([[_features(s.lints_a, d) for s in states]])
            b = np.array([[_features(s.lints_b, d) for s in states]])
            x = np.array([request.context.features])
            choice = lints_diag(a, b, x, settings, rng)
        arm = int(choice.arms[0])
        return ModelBanditChoice(arm=states[arm].arm, propensity=float(choice.propensities[0]))


def _features(values: tuple[float, ...], d: int) -> tuple[float, ...]:
    """An arm's LinTS sums, zeros for an arm never pulled with a context."""
    if not values:
        return (0.0,) * d
    if len(values) != d:
        raise ValueError(f"lints: the context has {d} features, the arm's state {len(values)}")
    return values
