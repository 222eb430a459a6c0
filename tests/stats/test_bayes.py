"""Beta posteriors, exact 2-arm probability to be best, Monte Carlo for k arms."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from nodes.stats import (
    BetaPosterior,
    StatsInputError,
    beta_posteriors,
    expected_loss,
    probability_to_be_best,
)


def test_posteriors_and_interval() -> None:
    (post,) = beta_posteriors([3], [10], prior_alpha=0.5, prior_beta=2.0)
    assert post == BetaPosterior(3.5, 9.0)
    assert post.mean == pytest.approx(3.5 / 12.5)
    lo, hi = post.interval(0.9)
    assert lo == pytest.approx(stats.beta.ppf(0.05, 3.5, 9.0), rel=1e-10)
    assert hi == pytest.approx(stats.beta.ppf(0.95, 3.5, 9.0), rel=1e-10)


def test_symmetric_two_arms_is_one_half() -> None:
    np.testing.assert_allclose(probability_to_be_best([40, 40], [400, 400]), [0.5, 0.5], atol=1e-12)


@pytest.mark.parametrize("prior", [1.0, 0.5])
def test_exact_two_arms_vs_monte_carlo(prior: float) -> None:
    s, n = np.array([30, 42]), np.array([300, 310])
    exact = probability_to_be_best(s, n, prior_alpha=prior, prior_beta=prior)
    rng = np.random.default_rng(2024)
    draws = rng.beta(s + prior, n - s + prior, size=(2_000_000, 2))
    mc = float(np.mean(draws[:, 1] > draws[:, 0]))
    assert exact[1] == pytest.approx(mc, abs=2e-3)
    assert exact.sum() == pytest.approx(1.0, abs=1e-12)


def test_closed_form_equals_quadrature() -> None:
    from nodes.stats.bayes import _prob_b_beats_a

    closed = _prob_b_beats_a(31.0, 271.0, 43.0, 269.0)
    # Shift alpha by a hair so neither closed form applies and quadrature is used.
    quad = _prob_b_beats_a(31.0 + 1e-9, 271.0, 43.0 + 1e-9, 269.0)
    assert closed == pytest.approx(quad, abs=1e-7)


def test_k_arms_monte_carlo_and_expected_loss() -> None:
    s, n = [100, 120, 110], [1000, 1000, 1000]
    p = probability_to_be_best(s, n, seed=1)
    assert p.sum() == pytest.approx(1.0)
    assert int(np.argmax(p)) == 1
    np.testing.assert_array_equal(p, probability_to_be_best(s, n, seed=1))
    loss = expected_loss(s, n, seed=1)
    assert loss.shape == (3,)
    assert np.all(loss >= 0)
    assert int(np.argmin(loss)) == 1


@pytest.mark.parametrize(
    ("successes", "trials", "kwargs", "argument"),
    [
        ([-1, 2], [10, 10], {}, "successes"),
        ([11, 2], [10, 10], {}, "successes"),
        ([1, 2], [10, -10], {}, "trials"),
        ([1, 2], [10, 10, 10], {}, "trials"),
        ([1], [10], {}, "successes"),
        ([1, 2], [10, 10], {"prior_alpha": 0.0}, "prior_alpha"),
        ([1, 2, 3], [10, 10, 10], {"samples": 0}, "samples"),
        ([1, float("nan")], [10, 10], {}, "successes"),
    ],
)
def test_bad_bayes_inputs(
    successes: list[float], trials: list[float], kwargs: dict[str, float], argument: str
) -> None:
    with pytest.raises(StatsInputError) as info:
        probability_to_be_best(successes, trials, **kwargs)  # type: ignore[arg-type]
    assert info.value.argument == argument
