"""Names of the learned-routing policies and of the reward kinds Thompson sampling models."""

from enum import StrEnum


class EnumRoutingPolicy(StrEnum):
    """A bandit policy of a routing domain (also the variant name under the experiment harness)."""

    EPSILON_GREEDY = "epsilon_greedy"
    UCB1 = "ucb1"
    THOMPSON = "thompson"
    LINTS = "lints"  # contextual; behind the ENABLE_RL_LINTS flag


class EnumRewardKind(StrEnum):
    """What Thompson sampling assumes of rewards: Beta posteriors for success / failure (a
    reward in [0, 1] counts as that fraction of a success), Gaussian for continuous values."""

    BINARY = "binary"
    CONTINUOUS = "continuous"
