"""The bandit maths against closed forms and scipy: propensities are the probabilities the
policies actually choose with, posteriors are the conjugate ones."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from contracts.enum_routing import EnumRewardKind, EnumRoutingPolicy
from contracts.model_routing import (
    ModelArmState,
    ModelBanditSelectInput,
    ModelBanditSettings,
    ModelRoutingContext,
)
from nodes import EpsilonGreedyBandit, LinTSDiagPolicy, ThompsonSamplingBandit, UCBBandit
from nodes.compute.node_bandit_compute import (
    NodeBanditCompute,
    epsilon_greedy,
    gaussian_posterior,
    lints_diag,
    thompson,
    ucb1,
)

BATCH = 40_000


def _frequencies(arms: np.ndarray, k: int) -> np.ndarray:
    return np.bincount(arms, minlength=k) / arms.size


def _within_binomial_noise(observed: np.ndarray, expected: np.ndarray, n: int) -> None:
    """Each frequency within 5 standard errors of its probability."""
    se = np.sqrt(expected * (1 - expected) / n)
    assert np.all(np.abs(observed - expected) <= 5 * se + 1e-12), (observed, expected)


def test_epsilon_greedy_chooses_with_its_logged_propensity() -> None:
    rng = np.random.default_rng(1)
    pulls = np.tile([10.0, 10.0, 10.0, 0.0], (BATCH, 1))
    sums = np.tile([7.0, 7.0, 2.0, 0.0], (BATCH, 1))  # two best arms tied
    choice = epsilon_greedy(pulls, sums, 0.1, rng)
    expected = np.array([0.9 / 2 + 0.025, 0.9 / 2 + 0.025, 0.025, 0.025])
    assert np.allclose(choice.propensities, expected[choice.arms])
    _within_binomial_noise(_frequencies(choice.arms, 4), expected, BATCH)


def test_ucb1_tries_cold_arms_first_then_takes_the_largest_bound() -> None:
    rng = np.random.default_rng(2)
    cold = ucb1(np.array([[3.0, 0.0, 0.0]]), np.array([[3.0, 0.0, 0.0]]), 1.0, rng)
    assert cold.arms[0] in (1, 2) and cold.propensities[0] == 0.5
    pulls, sums = np.array([[10.0, 2.0]]), np.array([[6.0, 1.0]])
    bounds = sums / pulls + np.sqrt(2 * np.log(12) / pulls)  # 0.6 + 0.705, 0.5 + 1.576
    choice = ucb1(pulls, sums, 1.0, rng)
    assert choice.arms[0] == int(bounds.argmax()) == 1 and choice.propensities[0] == 1.0


def _p_best_beta(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """P(arm i's Beta draw is the largest), by numerical integration."""
    dists = [stats.beta(ai, bi) for ai, bi in zip(a, b, strict=True)]

    def p_best(i: int) -> float:
        def density(x: float) -> float:
            others = np.prod([d.cdf(x) for j, d in enumerate(dists) if j != i])
            return float(dists[i].pdf(x) * others)

        return float(integrate.quad(density, 0, 1)[0])

    return np.array([p_best(i) for i in range(len(dists))])


def test_thompson_beta_propensity_is_the_probability_of_being_best() -> None:
    rng = np.random.default_rng(3)
    pulls, sums = np.array([20.0, 15.0, 4.0]), np.array([8.0, 9.0, 1.0])
    exact = _p_best_beta(1 + sums, 1 + pulls - sums)
    settings = ModelBanditSettings(propensity_draws=256)
    n = 10_000  # x 256 draws x 3 arms
    choice = thompson(np.tile(pulls, (n, 1)), np.tile(sums, (n, 1)), settings, rng)
    _within_binomial_noise(_frequencies(choice.arms, 3), exact, n)
    for arm in range(3):  # the estimate is unbiased up to the decision's own draw
        logged = choice.propensities[choice.arms == arm]
        assert logged.mean() == pytest.approx(exact[arm], abs=0.01)
        assert logged.std() <= 0.5 / np.sqrt(256) * 1.5


def test_thompson_gaussian_posterior_is_the_conjugate_one() -> None:
    rng = np.random.default_rng(4)
    rewards = rng.normal(0.3, 0.5, size=50)
    m0, s0, noise = 0.5, 1.0, 0.5
    # One observation at a time (the textbook update) against the closed form over sums.
    mean, var = m0, s0**2
    for r in rewards:
        mean, var = (
            (mean / var + r / noise**2) / (1 / var + 1 / noise**2),
            1 / (1 / var + 1 / noise**2),
        )
    closed_mean, closed_sd = gaussian_posterior(
        np.array([50.0]), np.array([rewards.sum()]), (m0, s0), noise
    )
    assert closed_mean[0] == pytest.approx(mean) and closed_sd[0] == pytest.approx(np.sqrt(var))
    # Two arms: P(first draw > second) = Phi((m1 - m2) / sqrt(s1^2 + s2^2)).
    pulls, sums = np.array([[40.0, 10.0]]), np.array([[22.0, 4.0]])
    means, sds = gaussian_posterior(pulls, sums, (m0, s0), noise)
    exact_first = stats.norm.cdf((means[0, 0] - means[0, 1]) / np.hypot(sds[0, 0], sds[0, 1]))
    settings = ModelBanditSettings(reward_kind=EnumRewardKind.CONTINUOUS, propensity_draws=0)
    choice = thompson(np.tile(pulls, (BATCH, 1)), np.tile(sums, (BATCH, 1)), settings, rng)
    _within_binomial_noise(
        _frequencies(choice.arms, 2), np.array([exact_first, 1 - exact_first]), BATCH
    )


def test_lints_scores_are_normal_around_the_ridge_estimate() -> None:
    rng = np.random.default_rng(5)
    x = np.array([1.0, 2.0])
    a = np.array([[4.0, 1.0], [1.0, 9.0]])  # sums of x^2 per arm and feature
    b = np.array([[2.0, 0.5], [0.2, 3.0]])  # sums of r x
    settings = ModelBanditSettings(lints_lambda=1.0, lints_v=0.5, propensity_draws=0)
    precision = 1.0 + a
    means = (x * b / precision).sum(axis=1)
    sds = 0.5 * np.sqrt((x**2 / precision).sum(axis=1))
    exact_first = stats.norm.cdf((means[0] - means[1]) / np.hypot(*sds))
    choice = lints_diag(
        np.tile(a, (BATCH, 1, 1)), np.tile(b, (BATCH, 1, 1)), np.tile(x, (BATCH, 1)), settings, rng
    )
    _within_binomial_noise(
        _frequencies(choice.arms, 2), np.array([exact_first, 1 - exact_first]), BATCH
    )


async def test_policy_objects_learn_the_best_arm() -> None:
    truth = {"a": 0.2, "b": 0.5, "c": 0.8}
    world = np.random.default_rng(6)
    for cls in (EpsilonGreedyBandit, UCBBandit, ThompsonSamplingBandit):
        policy = cls(list(truth), rng=np.random.default_rng(7))
        for _ in range(2_000):
            arm = await policy.select_arm()
            await policy.update_reward(arm, float(world.random() < truth[arm]))
        assert policy.best_arm() == "c", cls.__name__
        pulls = {s.arm: s.pulls for s in policy.state()}
        assert pulls["c"] > 1_000, (cls.__name__, pulls)


async def test_lints_policy_learns_a_linear_reward_with_one_update_per_feature() -> None:
    policy = LinTSDiagPolicy(["left", "right"], rng=np.random.default_rng(8))
    world = np.random.default_rng(9)
    for _ in range(1_500):
        side = float(world.integers(2))
        context = ModelRoutingContext(features=(1.0, side))
        arm = await policy.select_arm(context)
        # "right" pays when side is 1, "left" when it is 0.
        good = (arm == "right") == (side == 1.0)
        await policy.update_reward(arm, float(world.random() < (0.8 if good else 0.2)), context)
    chosen = [policy.choose(None, ModelRoutingContext(features=(1.0, s)))[0] for s in (0.0, 1.0)]
    assert chosen == ["left", "right"]
    state = {s.arm: s for s in policy.state()}
    assert len(state["left"].lints_a) == 2  # O(d) state per arm: d sums of x^2 and of r x


def test_the_node_entrypoint_takes_typed_states() -> None:
    request = ModelBanditSelectInput(
        policy=EnumRoutingPolicy.UCB1,
        arms=[ModelArmState(arm="a", pulls=5, reward_sum=1), ModelArmState(arm="b", pulls=0)],
    )
    choice = NodeBanditCompute().select(request, np.random.default_rng(10))
    assert (choice.arm, choice.propensity) == ("b", 1.0)


@pytest.mark.parametrize(
    ("cls", "batch_rule"),
    [
        (EpsilonGreedyBandit, lambda n, s, rng: epsilon_greedy(n, s, 0.1, rng)),
        (UCBBandit, lambda n, s, rng: ucb1(n, s, 1.0, rng)),
    ],
)
def test_one_state_rules_choose_like_the_batch_functions(cls: type, batch_rule: object) -> None:
    """The policies decide one state in plain Python: same probabilities as the arrays' rule."""
    # Tied best means; a clear best; cold arms.
    cases = [
        ([5.0, 5.0, 3.0], [4.0, 4.0, 1.0]),
        ([9.0, 3.0, 1.0], [3.0, 2.0, 0.9]),
        ([2.0, 0.0, 0.0], [1.0, 0.0, 0.0]),
    ]
    for pulls, sums in cases:
        policy = cls(["a", "b", "c"], rng=np.random.default_rng(13))
        policy.load(
            ModelArmState(arm=arm, pulls=n, reward_sum=s)
            for arm, n, s in zip("abc", pulls, sums, strict=True)
        )
        picks = [policy.choose() for _ in range(20_000)]
        index = {"a": 0, "b": 1, "c": 2}
        chosen = np.array([index[arm] for arm, _ in picks])
        batch = batch_rule(  # type: ignore[operator]
            np.tile(pulls, (20_000, 1)), np.tile(sums, (20_000, 1)), np.random.default_rng(14)
        )
        expected = _frequencies(batch.arms, 3)
        _within_binomial_noise(_frequencies(chosen, 3), expected, 20_000)
        for arm in range(3):  # one propensity per arm for a fixed state, the same on both sides
            logged = {round(p, 12) for name, p in picks if index[name] == arm}
            rule = {round(float(p), 12) for p in batch.propensities[batch.arms == arm]}
            assert logged == rule


async def test_binary_thompson_refuses_a_reward_outside_0_1() -> None:
    policy = ThompsonSamplingBandit(["a"], rng=np.random.default_rng(15))
    with pytest.raises(ValueError, match=r"binary reward must be in \[0, 1\], got 1.5"):
        await policy.update_reward("a", 1.5)
    assert policy.state()[0].pulls == 0  # nothing learned from it
    continuous = ThompsonSamplingBandit(
        ["a"],
        rng=np.random.default_rng(15),
        settings=ModelBanditSettings(reward_kind=EnumRewardKind.CONTINUOUS),
    )
    await continuous.update_reward("a", 1.5)
    assert continuous.state()[0].reward_sum == 1.5
