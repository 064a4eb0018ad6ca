"""Statistics of a method comparison (the paper's Table 5): bootstrap confidence intervals of mean
test scores and the paired comparison of two methods. Pure functions of numpy arrays.

A score matrix has one row per seed and one column per task (NaN where a run is missing). The
bootstrap resamples seeds and tasks with replacement (with one seed, tasks only), with a fixed
resampling seed, so a table is reproducible to the last digit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_RESAMPLES = 10_000
DEFAULT_RESAMPLING_SEED = 0
TIE_TOLERANCE = 1e-12
MIN_PAIRS_FOR_CLAIM = 3  # fewer paired differences: no "above 0" claim, whatever the interval


@dataclass(frozen=True)
class Interval:
    """A mean with its confidence interval (``low == high == mean`` when nothing varies)."""

    mean: float
    low: float
    high: float
    n_values: int  # finite values behind the mean


@dataclass(frozen=True)
class PairedComparison:
    """Method A against method B over paired runs (same task, same seed)."""

    wins: int
    ties: int
    losses: int
    mean_difference: float  # mean of A - B
    p_value: float  # two-sided paired bootstrap p-value (1.0 with no pair)
    low: float = float("nan")  # 95% paired bootstrap interval of the mean difference
    high: float = float("nan")

    @property
    def n_pairs(self) -> int:
        return self.wins + self.ties + self.losses

    @property
    def above_zero(self) -> bool:
        """Whether the whole 95% interval of A - B lies above zero, on at least
        ``MIN_PAIRS_FOR_CLAIM`` pairs (the interval of one or two pairs cannot show how much the
        differences vary: one positive pair gives an interval of a single point)."""
        return bool(self.n_pairs >= MIN_PAIRS_FOR_CLAIM and self.low > 0)


def percentile_interval(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The central ``level`` interval of bootstrap samples (numpy's linear percentile)."""
    alpha = (1.0 - level) / 2.0
    low, high = np.percentile(samples, [100 * alpha, 100 * (1 - alpha)])
    return float(low), float(high)


def resampled_means(
    matrices: Sequence[np.ndarray], seed_idx: np.ndarray, task_idx: Sequence[np.ndarray]
) -> np.ndarray:
    """Mean over groups of each group's mean over the resampled seeds x tasks.

    ``seed_idx`` is (B, n_seeds), shared by every group (a seed is one run of every task);
    ``task_idx[g]`` is (B, n_tasks_g), tasks resampled within group g (a dataset). One matrix
    gives the plain resampled mean of that matrix.
    """
    per_group = []
    for m, t_idx in zip(matrices, task_idx):
        picked = m[seed_idx[:, :, None], t_idx[:, None, :]]  # (B, n_seeds, n_tasks)
        flat = picked.reshape(picked.shape[0], -1)
        per_group.append(_nanmean_rows(flat))
    return _nanmean_rows(np.stack(per_group, axis=1))


def _nanmean_rows(a: np.ndarray) -> np.ndarray:
    finite = np.isfinite(a)
    counts = finite.sum(axis=1)
    sums = np.where(finite, a, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def bootstrap_interval(
    matrices: Sequence[np.ndarray],
    n_resamples: int = DEFAULT_RESAMPLES,
    resampling_seed: int = DEFAULT_RESAMPLING_SEED,
    level: float = 0.95,
) -> Interval:
    """Mean of the group means (a dataset's mean over its seeds x tasks) with a bootstrap interval.

    Every matrix is seeds x tasks and all share the same number of seeds (rows). Seeds are
    resampled once per replicate for all groups; tasks within each group. With one seed only tasks
    vary. NaN entries (missing runs) are left out of every mean.
    """
    matrices = [np.asarray(m, dtype=float) for m in matrices]
    if not matrices or not all(np.isfinite(m).any() for m in matrices):
        return Interval(float("nan"), float("nan"), float("nan"), 0)
    n_seeds = {m.shape[0] for m in matrices}
    if len(n_seeds) != 1:
        raise ValueError(f"every matrix needs the same number of seeds, got {sorted(n_seeds)}")
    [s] = n_seeds
    point = float(np.mean([np.nanmean(m) for m in matrices]))
    n_values = int(sum(np.isfinite(m).sum() for m in matrices))
    rng = np.random.default_rng(resampling_seed)
    seed_idx = (
        rng.integers(0, s, size=(n_resamples, s)) if s > 1 else np.zeros((n_resamples, 1), int)
    )
    task_idx = [rng.integers(0, m.shape[1], size=(n_resamples, m.shape[1])) for m in matrices]
    means = resampled_means(matrices, seed_idx, task_idx)
    means = means[np.isfinite(means)]
    low, high = percentile_interval(means, level) if means.size else (point, point)
    return Interval(point, low, high, n_values)


def paired_bootstrap_p_value(
    differences: np.ndarray,
    n_resamples: int = DEFAULT_RESAMPLES,
    resampling_seed: int = DEFAULT_RESAMPLING_SEED,
) -> float:
    """Two-sided p-value of "mean difference = 0" by the paired bootstrap.

    Pairs are resampled with replacement; the bootstrap distribution of the mean difference,
    shifted to mean zero, is the null distribution:
    ``p = (1 + #{|mean* - mean| >= |mean|}) / (1 + B)``.
    """
    d = np.asarray(differences, dtype=float)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return 1.0
    observed = float(d.mean())
    rng = np.random.default_rng(resampling_seed)
    idx = rng.integers(0, d.size, size=(n_resamples, d.size))
    means = d[idx].mean(axis=1)
    extreme = np.abs(means - observed) >= abs(observed) - TIE_TOLERANCE
    return float((1 + int(extreme.sum())) / (1 + n_resamples))


def paired_difference_interval(
    differences: np.ndarray,
    n_resamples: int = DEFAULT_RESAMPLES,
    resampling_seed: int = DEFAULT_RESAMPLING_SEED,
    level: float = 0.95,
) -> tuple[float, float]:
    """The percentile bootstrap interval of the mean paired difference (pairs resampled with
    replacement; NaN, NaN without a pair)."""
    d = np.asarray(differences, dtype=float)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(resampling_seed)
    means = d[rng.integers(0, d.size, size=(n_resamples, d.size))].mean(axis=1)
    return percentile_interval(means, level)


def compare_paired(
    a: np.ndarray,
    b: np.ndarray,
    n_resamples: int = DEFAULT_RESAMPLES,
    resampling_seed: int = DEFAULT_RESAMPLING_SEED,
) -> PairedComparison:
    """Wins / ties / losses of A over B on the pairs where both exist, the mean difference with
    its 95% paired bootstrap interval, and the paired p-value."""
    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    both = np.isfinite(a) & np.isfinite(b)
    d = a[both] - b[both]
    ties = np.abs(d) <= TIE_TOLERANCE
    low, high = paired_difference_interval(d, n_resamples, resampling_seed)
    return PairedComparison(
        wins=int(((d > 0) & ~ties).sum()),
        ties=int(ties.sum()),
        losses=int(((d < 0) & ~ties).sum()),
        mean_difference=float(d.mean()) if d.size else float("nan"),
        p_value=paired_bootstrap_p_value(d, n_resamples, resampling_seed),
        low=low,
        high=high,
    )
