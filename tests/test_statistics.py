"""Bootstrap intervals and the paired comparison against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gpo.reports.statistics import (
    bootstrap_interval,
    compare_paired,
    paired_bootstrap_p_value,
    percentile_interval,
    resampled_means,
)


def test_resampled_means_with_given_indices():
    # seeds x tasks: seed 0 = [1, 2], seed 1 = [3, 4]
    m = np.array([[1.0, 2.0], [3.0, 4.0]])
    seed_idx = np.array([[0, 0], [1, 1], [0, 1]])
    task_idx = [np.array([[1, 1], [0, 0], [0, 1]])]
    # replicate 0: rows (0,0), cols (1,1): all 2 -> 2
    # replicate 1: rows (1,1), cols (0,0): all 3 -> 3
    # replicate 2: the matrix itself -> 2.5
    assert resampled_means([m], seed_idx, task_idx).tolist() == [2.0, 3.0, 2.5]


def test_resampled_means_average_the_dataset_means():
    a = np.array([[0.0, 10.0]])  # dataset A: one seed, two tasks
    b = np.array([[40.0]])  # dataset B: one task
    seed_idx = np.zeros((2, 1), int)
    task_idx = [np.array([[0, 1], [1, 1]]), np.array([[0], [0]])]
    # (5 + 40) / 2 and (10 + 40) / 2: datasets weigh equally, not their task counts
    assert resampled_means([a, b], seed_idx, task_idx).tolist() == [22.5, 25.0]


def test_percentile_interval_by_hand():
    samples = np.arange(101, dtype=float)  # 0..100
    assert percentile_interval(samples, 0.95) == pytest.approx((2.5, 97.5))
    assert percentile_interval(samples, 0.5) == pytest.approx((25.0, 75.0))


def test_constant_scores_give_a_point_interval():
    iv = bootstrap_interval([np.full((3, 4), 37.5)], n_resamples=500)
    assert (iv.mean, iv.low, iv.high, iv.n_values) == (37.5, 37.5, 37.5, 12)


def test_two_tasks_one_seed_by_hand():
    # Resampling 2 tasks from [0, 100]: means 0 (p=1/4), 50 (1/2), 100 (1/4). The 2.5% and 97.5%
    # quantiles of that distribution are 0 and 100; the point estimate is 50.
    iv = bootstrap_interval([np.array([[0.0, 100.0]])], n_resamples=4000)
    assert iv.mean == 50.0 and iv.low == 0.0 and iv.high == 100.0


def test_three_tasks_interval_matches_the_exact_bootstrap_distribution():
    # All 27 resamples of [0, 30, 60] with their means, enumerated by hand-style brute force:
    values = [0.0, 30.0, 60.0]
    exact = sorted(
        (values[i] + values[j] + values[k]) / 3
        for i in range(3)
        for j in range(3)
        for k in range(3)
    )
    # exact distribution: 0 (1/27), 10 (3/27), 20 (6/27), 30 (7/27), 40 (6/27), 50 (3/27),
    # 60 (1/27); 2.5% falls on 0 (1/27 = 3.7% > 2.5%), 97.5% on 60
    assert exact[0] == 0.0 and exact.count(30.0) == 7
    iv = bootstrap_interval([np.array([values])], n_resamples=20000)
    assert iv.mean == 30.0
    assert iv.low == 0.0 and iv.high == 60.0
    narrow = bootstrap_interval([np.array([values])], n_resamples=20000, level=0.5)
    # the 25% and 75% quantiles of the exact distribution: 20 and 40
    assert narrow.low == 20.0 and narrow.high == 40.0


def test_seeds_are_resampled_too():
    # Two seeds that disagree completely, one task: only seed resampling can move the mean.
    m = np.array([[0.0], [100.0]])
    iv = bootstrap_interval([m], n_resamples=4000)
    assert iv.mean == 50.0 and iv.low == 0.0 and iv.high == 100.0


def test_one_seed_resamples_tasks_only_and_is_reproducible():
    m = np.array([[10.0, 20.0, 30.0, 90.0]])
    a = bootstrap_interval([m], n_resamples=1000, resampling_seed=7)
    b = bootstrap_interval([m], n_resamples=1000, resampling_seed=7)
    assert a == b
    assert a.mean == 37.5 and 10.0 <= a.low < a.mean < a.high <= 90.0


def test_missing_runs_are_left_out():
    m = np.array([[50.0, math.nan], [70.0, math.nan]])
    iv = bootstrap_interval([m], n_resamples=200)
    assert iv.mean == 60.0 and iv.n_values == 2
    empty = bootstrap_interval([np.full((1, 2), math.nan)])
    assert math.isnan(empty.mean) and empty.n_values == 0


def test_matrices_need_the_same_seeds():
    with pytest.raises(ValueError, match="same number of seeds"):
        bootstrap_interval([np.zeros((2, 2)), np.zeros((1, 2))])


def test_paired_comparison_counts_by_hand():
    a = np.array([50.0, 40.0, 30.0, 20.0, math.nan])
    b = np.array([40.0, 40.0, 35.0, 10.0, 99.0])
    c = compare_paired(a, b, n_resamples=100)
    # differences 10, 0, -5, 10 (the NaN pair is dropped): 2 wins, 1 tie, 1 loss, mean 3.75
    assert (c.wins, c.ties, c.losses) == (2, 1, 1)
    assert c.mean_difference == 3.75


def test_p_value_when_every_pair_agrees():
    # d = [1, 1, 1]: every resample has mean 1, never as far from 1 as 0 is: p = 1 / (B + 1)
    assert paired_bootstrap_p_value(np.array([1.0, 1.0, 1.0]), n_resamples=999) == 1 / 1000


def test_p_value_of_no_difference_is_one():
    assert paired_bootstrap_p_value(np.zeros(4), n_resamples=100) == 1.0
    assert paired_bootstrap_p_value(np.array([1.0, -1.0]), n_resamples=100) == 1.0
    assert paired_bootstrap_p_value(np.array([])) == 1.0


def test_p_value_of_two_pairs_by_hand():
    # d = [2, 0], mean 1. Resampled means: 2 (p=1/4), 1 (1/2), 0 (1/4); |mean* - 1| >= 1 for 0
    # and 2: probability 1/2, so p is about 0.5.
    p = paired_bootstrap_p_value(np.array([2.0, 0.0]), n_resamples=20000)
    assert p == pytest.approx(0.5, abs=0.015)


def test_paired_interval_of_the_mean_difference():
    a = np.array([50.0, 40.0, 30.0, 20.0, math.nan])
    b = np.array([40.0, 40.0, 35.0, 10.0, 99.0])
    c = compare_paired(a, b, n_resamples=2000)
    # resampled means of (10, 0, -5, 10) lie within [-5, 10] and around 3.75
    assert -5.0 <= c.low < c.mean_difference < c.high <= 10.0
    assert not c.above_zero
    sure = compare_paired(np.array([60.0, 70.0, 80.0]), np.array([50.0, 50.0, 50.0]))
    assert (sure.low, sure.high) == (10.0, 30.0) and sure.above_zero
    # one or two positive pairs: a point-like interval above zero, but no claim
    for n in (1, 2):
        few = compare_paired(np.full(n, 60.0), np.full(n, 50.0))
        assert few.low == 10.0 and few.n_pairs == n and not few.above_zero
    none = compare_paired(np.array([math.nan]), np.array([1.0]))
    assert math.isnan(none.low) and math.isnan(none.high)
