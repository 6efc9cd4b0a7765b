"""The rliable statistics beside IQM (Agarwal et al. 2021): probability of improvement,
performance profiles and IQM over frames, against values worked out by hand and against
the definitions rliable implements (its package is not a dependency)."""

import math

import numpy as np
import pytest
import scipy.stats

from dormant.experiments.stats import (
    improvement_bootstrap,
    iqm,
    iqm_curve,
    mean_std,
    performance_profile,
    probability_of_improvement,
    profile_bootstrap,
)


def test_probability_of_improvement_by_hand():
    # One task, X = [1, 1], Y = [1, 0]: pairs (1,1) ½, (1,0) 1, (1,1) ½, (1,0) 1 → 3/4.
    assert probability_of_improvement([np.array([1.0, 1.0])], [np.array([1.0, 0.0])]) == 0.75
    # Two tasks weigh equally: A: 2 > 1 → 1; B: X = [0, 1] vs Y = [1, 1] → (0 + 0 + ½ + ½) / 4 = ¼.
    assert (
        probability_of_improvement([np.array([2.0]), np.array([0.0, 1.0])], [np.array([1.0]), np.array([1.0, 1.0])])
        == 0.625
    )
    with pytest.raises(ValueError):
        probability_of_improvement([np.array([1.0])], [])


def test_probability_of_improvement_is_rliables_mann_whitney_definition():
    """rliable computes, per task, scipy's Mann–Whitney U of X against Y divided by n·m
    (ties ½), then averages over tasks; and P(X > Y) + P(Y > X) = 1."""
    rng = np.random.default_rng(3)
    x = [rng.integers(0, 5, size=n).astype(float) for n in (3, 5, 4)]  # small integers: many ties
    y = [rng.integers(0, 5, size=n).astype(float) for n in (4, 2, 6)]
    expected = np.mean(
        [
            scipy.stats.mannwhitneyu(a, b, alternative="greater").statistic / (len(a) * len(b))
            for a, b in zip(x, y, strict=True)
        ]
    )
    assert probability_of_improvement(x, y) == pytest.approx(expected, abs=1e-12)
    assert probability_of_improvement(x, y) + probability_of_improvement(y, x) == pytest.approx(1.0)


def test_probability_of_improvement_interval_is_the_exact_resampling_distribution():
    # X = [0, 1] vs Y = [0.5]: a resample of X is {0, 0} (P = 0, prob ¼), {0, 1} (½, prob ½)
    # or {1, 1} (1, prob ¼): the 2.5 % and 97.5 % quantiles are 0 and 1.
    ci = improvement_bootstrap([np.array([0.0, 1.0])], [np.array([0.5])], reps=20_000, seed=1)
    assert (ci.point, ci.low, ci.high) == (0.5, 0.0, 1.0)
    # X always beats Y whatever is resampled: a zero-width interval at 1.
    ci = improvement_bootstrap([np.array([1.0, 1.0, 1.0])], [np.array([0.0, 0.0])], reps=500)
    assert (ci.point, ci.low, ci.high) == (1.0, 1.0, 1.0)


def test_performance_profile_by_hand_and_like_rliable():
    taus = np.array([0.0, 0.1, 0.5, 0.9])
    per_task = [np.array([0.1, 0.5]), np.array([0.5, 0.9])]
    # Scores > τ (strictly): τ 0: 4 of 4; τ 0.1: 3; τ 0.5: 1 (0.9); τ 0.9: none.
    np.testing.assert_array_equal(performance_profile(per_task, taus), [1.0, 0.75, 0.25, 0.0])
    # rliable's run-score distribution on a (runs × tasks) matrix: mean(scores > τ).
    matrix = np.random.default_rng(0).beta(2, 2, size=(5, 3))
    grid = np.linspace(0, 1, 11)
    np.testing.assert_allclose(
        performance_profile([matrix[:, t] for t in range(3)], grid), [np.mean(matrix > tau) for tau in grid]
    )


def test_performance_profile_band_by_hand():
    # One task, runs [0, 1], τ = 0.5: a resample has 0, 1 or 2 runs above τ with
    # probabilities ¼, ½, ¼: band [0, 1] around the point 0.5. Below every score: always 1.
    point, low, high = profile_bootstrap([np.array([0.0, 1.0])], np.array([-1.0, 0.5]), reps=20_000, seed=2)
    np.testing.assert_array_equal(point, [1.0, 0.5])
    np.testing.assert_array_equal(low, [1.0, 0.0])
    np.testing.assert_array_equal(high, [1.0, 1.0])


def test_iqm_over_frames_by_hand():
    # Task A scores 0 then 0.2 on all four runs, task B 1 then 0.6: each stratified resample
    # keeps four runs of each, so the IQM over the eight runs is exactly (0 + 0 + 1 + 1) / 4
    # = 0.5 at the first frame and (0.2 + 0.2 + 0.6 + 0.6) / 4 = 0.4 at the second.
    a, b = np.tile([0.0, 0.2], (4, 1)), np.tile([1.0, 0.6], (4, 1))
    point, low, high = iqm_curve([a, b], reps=300)
    np.testing.assert_allclose(point, [0.5, 0.4])
    np.testing.assert_allclose(low, [0.5, 0.4])
    np.testing.assert_allclose(high, [0.5, 0.4])
    # One task, runs [[0, 10], [1, 11], [2, 12], [3, 13]]: ⌊4/4⌋ = 1 dropped at each end per frame.
    point, low, high = iqm_curve([np.array([[0.0, 10.0], [1.0, 11.0], [2.0, 12.0], [3.0, 13.0]])], reps=300)
    np.testing.assert_allclose(point, [1.5, 11.5])
    assert np.all(low <= point) and np.all(point <= high)


def test_iqm_over_frames_matches_iqm_at_each_frame():
    scores = [np.random.default_rng(s).random((n, 7)) for s, n in ((1, 3), (2, 5))]
    point, _, _ = iqm_curve(scores, reps=10)
    pooled = np.concatenate(scores)
    np.testing.assert_allclose(point, [scipy.stats.trim_mean(pooled[:, f], 0.25) for f in range(7)])
    np.testing.assert_allclose(point, [iqm(pooled[:, f]) for f in range(7)])


def test_mean_std_is_the_sample_std_with_its_count():
    mu, sd, n = mean_std([800.0, 700.0, 100.0])
    assert (round(mu, 1), round(sd, 1), n) == (533.3, 378.6, 3)  # √((266.7² + 166.7² + 433.3²) / 2)
    mu, sd, n = mean_std([5.0, float("nan")])
    assert mu == 5.0 and math.isnan(sd) and n == 1  # one seed: no spread
    assert mean_std([])[2] == 0
