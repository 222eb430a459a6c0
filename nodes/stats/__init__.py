"""Statistics engine of the feedback loop: pure, vectorised tests on per-arm summary stats."""

from nodes.stats.bayes import (
    BetaPosterior,
    beta_posteriors,
    expected_loss,
    probability_to_be_best,
)
from nodes.stats.continuous import ContinuousTestResult, compare_means, compare_means_from_stats
from nodes.stats.errors import StatsInputError
from nodes.stats.guards import (
    SampleRatioResult,
    benjamini_hochberg,
    holm,
    sample_ratio_mismatch,
)
from nodes.stats.planning import (
    mde_means,
    mde_proportions,
    required_n_means,
    required_n_proportions,
    sample_size_means,
    sample_size_proportions,
)
from nodes.stats.proportions import ProportionTestResult, compare_proportions
from nodes.stats.sequential import (
    DEFAULT_TAU,
    always_valid_p_value,
    always_valid_p_value_proportions,
)

__all__ = [
    "DEFAULT_TAU",
    "BetaPosterior",
    "ContinuousTestResult",
    "ProportionTestResult",
    "SampleRatioResult",
    "StatsInputError",
    "always_valid_p_value",
    "always_valid_p_value_proportions",
    "benjamini_hochberg",
    "beta_posteriors",
    "compare_means",
    "compare_means_from_stats",
    "compare_proportions",
    "expected_loss",
    "holm",
    "mde_means",
    "mde_proportions",
    "probability_to_be_best",
    "required_n_means",
    "required_n_proportions",
    "sample_ratio_mismatch",
    "sample_size_means",
    "sample_size_proportions",
]
