"""Format-exemplar sampling: the worked examples shown in the meta-prompt (GPO_REFERENCE 2.4).

The original seeds NumPy's legacy global generator with 0 and then, for every task in processing
order and before any optimisation, makes four draws: a sorted permutation of the train indices, the
same for eval and test (all sampling ratios are 1, so these are just 0..n-1 but they consume the
generator's state), and finally ``sort(choice(n_format, format_data_num, replace=False))``, the
format exemplars. We replay that exact sequence on a ``numpy.random.RandomState`` passed in (never
the global generator), so the same tasks in the same order give the original's exemplars.

With ``max_examples`` the draws use the capped split sizes (the sizes of the ``TaskData`` actually
loaded), so capped runs are self-consistent but their format exemplars can differ from a full run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gpo.data.base import TaskData
from gpo.errors import ConfigError

DEFAULT_SEED = 0  # the original's np.random.seed(0)


@dataclass(frozen=True)
class SplitSizes:
    """The split sizes of one task that drive its draws."""

    task: str
    train: int
    eval: int
    test: int
    format: int

    @classmethod
    def of(cls, data: TaskData) -> SplitSizes:
        return cls(
            data.spec.task, len(data.train), len(data.eval), len(data.test), len(data.format)
        )


def _sorted_choice(rng: np.random.RandomState, n: int, k: int) -> tuple[int, ...]:
    # legacy choice without replacement = a permutation of range(n), then the first k
    return tuple(int(i) for i in np.sort(rng.choice(n, k, replace=False)))


def sample_format_indices(
    tasks: Sequence[SplitSizes], format_data_num: int, rng: np.random.RandomState
) -> dict[str, tuple[int, ...]]:
    """Replay the original's draws for ``tasks`` in order; return each task's format indices."""
    if format_data_num < 0:
        raise ConfigError(f"--format_data_num must be >= 0, got {format_data_num}")
    for sizes in tasks:
        if format_data_num > sizes.format:
            raise ConfigError(
                f"--format_data_num={format_data_num} exceeds the {sizes.format} format "
                f"exemplars of task {sizes.task}; lower --format_data_num"
            )
    chosen: dict[str, tuple[int, ...]] = {}
    for sizes in tasks:
        for n in (sizes.train, sizes.eval, sizes.test):
            _sorted_choice(rng, n, n)  # consumed for parity; the result is always 0..n-1
        chosen[sizes.task] = _sorted_choice(rng, sizes.format, format_data_num)
    return chosen


class FormatSampler:
    """Chooses the format exemplars of every task of a run, as the original does."""

    def __init__(self, rng: np.random.RandomState) -> None:
        self._rng = rng

    @classmethod
    def seeded(cls, seed: int = DEFAULT_SEED) -> FormatSampler:
        """A sampler on a fresh legacy generator (the original uses seed 0)."""
        return cls(np.random.RandomState(seed))

    def sample(self, tasks: Sequence[TaskData], format_data_num: int) -> dict[str, tuple[int, ...]]:
        """Format-exemplar indices per task label, drawn in the order of ``tasks``."""
        sizes = [SplitSizes.of(data) for data in tasks]
        return sample_format_indices(sizes, format_data_num, self._rng)
