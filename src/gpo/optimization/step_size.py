"""Step-size schedules: the word budget K_t of the learning rate (GPO_REFERENCE 5.3 step 4).

GPO controls how far one update may move the prompt by a word budget ("change at most K
words"). Like a learning-rate scheduler it decays over the run: ``fixed``, ``linear`` or
cosine (``consine`` is the original spelling; ``cosine`` is accepted too), with an optional
linear warm-up from 0.

``t`` is the trajectory length when the step starts: 1 at the first step, T at the last, so K
never equals ``initial`` without warm-up. The formulas and the ``int()`` truncation are kept
exactly (10.12), including linear-without-warm-up still dividing by (T - W), which can push
the budget below ``final`` or even below 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gpo.errors import ConfigError
from gpo.names import choose

# --decay_strategy: the original's spellings are canonical; ``cosine`` is accepted for ``consine``.
SCHEDULE_NAMES = ("fixed", "linear", "consine")
SCHEDULE_SPELLINGS = {"cosine": "consine"}


def canonical_schedule(name: str) -> str:
    """The original's spelling of a schedule name; ConfigError for unknown names."""
    return choose("decay_strategy", name, SCHEDULE_NAMES, SCHEDULE_SPELLINGS)


def _span(total: int, warmup_steps: int) -> int:
    span = total - warmup_steps
    if span == 0:
        raise ConfigError(
            f"--warmup_steps={warmup_steps} equals the number of steps ({total}); "
            "set a smaller --warmup_steps"
        )
    return span


def schedule(
    name: str,
    t: int,
    total: int,
    initial: int,
    final: int,
    warmup: bool,
    warmup_steps: int,
) -> int:
    """The word budget at trajectory length ``t`` of ``total`` steps."""
    kind = canonical_schedule(name)
    w = warmup_steps
    if warmup and t < w:
        return int(initial * t / w)
    if kind == "fixed":
        return initial
    if kind == "linear":
        rate = (initial - final) / _span(total, w)
        # Quirk 10.12 kept: without warm-up the rate still uses (T - W), and t is not shifted.
        return int(initial - rate * (t - w)) if warmup else int(initial - rate * t)
    # The original's expression exactly: the fraction first, then times pi, pi * (t / T). The
    # float rounding decides int() at exact halves: T = 39, t = 26 gives cos = -0.4999999999999998
    # and K = 20, where pi * t / T would give 19 (the reference's old table was wrong there).
    fraction = (t - w) / _span(total, w) if warmup else t / total
    return int(final + (initial - final) * 0.5 * (1 + math.cos(math.pi * fraction)))


@dataclass(frozen=True)
class StepSizeSchedule:
    """A configured schedule; ``step_size(t, total)`` gives K_t."""

    name: str
    initial: int
    final: int = 0
    warmup: bool = False
    warmup_steps: int = 5

    def __post_init__(self) -> None:
        canonical_schedule(self.name)

    def step_size(self, t: int, total: int) -> int:
        return schedule(
            self.name, t, total, self.initial, self.final, self.warmup, self.warmup_steps
        )
