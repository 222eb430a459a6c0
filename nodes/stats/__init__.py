"""Statistics engine of the feedback loop: pure, vectorised tests on per-arm summary stats."""

from nodes.stats.bayes import (
    BetaPosterior,
    beta_posteriors,
    expected_loss,
    probability_to_be_best,
)
from nodes.stats.confidence import (
    ConfidenceSequenceResult,
    QuantileRankBounds,
    contrast_confidence_sequence,
    one_sided_level,
    proportion_confidence_sequence,
    quantile_rank_bounds,
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
from nodes.stats.srm import DEFAULT_SRM_CONCENTRATION, SequentialSrmResult, sequential_srm

__all__ = [
    "DEFAULT_SRM_CONCENTRATION",
    "DEFAULT_TAU",
    "BetaPosterior",
    "ConfidenceSequenceResult",
    "ContinuousTestResult",
    "ProportionTestResult",
    "QuantileRankBounds",
    "SampleRatioResult",
    "SequentialSrmResult",
    "StatsInputError",
    "always_valid_p_value",
    "always_valid_p_value_proportions",
    "benjamini_hochberg",
    "beta_posteriors",
    "compare_means",
    "compare_means_from_stats",
    "compare_proportions",
    "contrast_confidence_sequence",
    "expected_loss",
    "holm",
    "mde_means",
    "mde_proportions",
    "one_sided_level",
    "probability_to_be_best",
    "proportion_confidence_sequence",
    "quantile_rank_bounds",
    "required_n_means",
    "required_n_proportions",
    "sample_ratio_mismatch",
    "sample_size_means",
    "sample_size_proportions",
    "sequential_srm",
]
