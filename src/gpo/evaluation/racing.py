"""Racing: the scorer's evaluation of a step's candidates on a split, stopped early for losers.

Every GPO step scores N candidate prompts on the whole eval split, yet only the next prompt's
score decides the trajectory. Racing scores the candidates in rounds over the split (the same
example order for all) and stops scoring a candidate once it cannot become the next prompt:

- ``exact``: dropped only when, even with every remaining example right while every other
  candidate gets every remaining example wrong, the step's choice rule could not pick it
  (``rule.could_win``). The chosen prompt, its score and the trajectory are then identical to
  full evaluation.
- ``statistical``: also dropped when a Hoeffding-Serfling bound (sampling without replacement
  from the split) says, with probability ``confidence``, that it ends behind: unpaired against
  the fixed entries and every candidate, and paired (per-example differences) against the
  current leader. Saves more; may choose differently.

The choice rule is passed in (``ChoiceRule``: ``winner`` maps final scores of the raced
instructions, in candidate order since ties go to the earlier entry, to the chosen prompt;
``could_win`` is a necessary condition for being chosen), so racing knows nothing of the
optimizer. ``could_win`` must be monotone: raising one instruction's score and lowering the
others' never makes it false (``gpo.optimization.proposal.could_be_chosen``).

Per-example scores must lie in [0, 1] (0/1 accuracy, ROUGE-L F1); a value outside stops racing
and completes every candidate. A dropped candidate's report holds only the examples it was
scored on: its score is partial and must be completed (``complete_score``) before reuse.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from gpo.errors import ConfigError
from gpo.evaluation.report import ScoredExample, ScoreReport

log = logging.getLogger(__name__)

RACING_MODES = ("off", "exact", "statistical")
DEFAULT_ROUNDS = 8  # each round is one batched scorer call


class ChoiceRule(Protocol):
    """How the step picks the next prompt from the final scores of the raced instructions."""

    def winner(self, scores: Mapping[str, float]) -> str: ...

    def could_win(self, prompt: str, scores: Mapping[str, float]) -> bool: ...


@dataclass(frozen=True)
class RacingSettings:
    """``--eval_racing``, ``--racing_confidence`` and the number of examples per round
    (default: the split in ``DEFAULT_ROUNDS`` rounds, e.g. 6 of the paper's 48 eval examples)."""

    mode: str = "off"
    confidence: float = 0.95
    round_size: int | None = None

    def __post_init__(self) -> None:
        if self.mode not in RACING_MODES:
            raise ConfigError(
                f"--eval_racing={self.mode!r} is not valid; choose one of {', '.join(RACING_MODES)}"
            )
        if not 0.0 < self.confidence < 1.0:
            raise ConfigError(f"--racing_confidence={self.confidence} must be in (0, 1), e.g. 0.95")
        if self.round_size is not None and self.round_size < 1:
            raise ConfigError(f"racing round size {self.round_size} must be >= 1")

    @property
    def enabled(self) -> bool:
        return self.mode != "off"

    def examples_per_round(self, total: int) -> int:
        """Racing off: the whole split in one call (full evaluation, as the original)."""
        if not self.enabled:
            return max(total, 1)
        return self.round_size or max(1, math.ceil(total / DEFAULT_ROUNDS))


@dataclass(frozen=True)
class RaceDrop:
    """One racing decision: a candidate stopped after ``scored`` of ``total`` examples."""

    instruction: str
    scored: int
    total: int
    partial_score: float  # mean over the scored examples
    best_possible: float  # its final score with every remaining example right
    reason: str  # "exact", "hoeffding" or "paired"

    def to_dict(self) -> dict[str, object]:
        return {
            "prompt": self.instruction,
            "scored_examples": self.scored,
            "total_examples": self.total,
            "partial_score": self.partial_score,
            "best_possible": self.best_possible,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class RaceOutcome:
    """The reports of a race (partial for dropped candidates), in input order."""

    reports: tuple[ScoreReport, ...]
    total: int  # examples in the split
    drops: tuple[RaceDrop, ...]
    generations_saved: int  # scorer generations not made (per example: 1, or 2 with round two)

    def is_partial(self, instruction: str) -> bool:
        return any(d.instruction == instruction for d in self.drops)

    def ranking_scores(self) -> dict[str, float]:
        """Scores for the step's choice: complete scores, and for a dropped candidate its lower
        bound (every unscored example wrong), which never wins in exact mode."""
        return {r.instruction: lower_bound(_values(r), self.total) for r in self.reports}


def _values(report: ScoreReport) -> list[float]:
    return [row.accuracy for row in report.rows]


def final_score(values: Sequence[float]) -> float:
    """The split score exactly as ``ScoreReport.score`` computes it (numpy's mean: a fixed tree
    of additions for a given length, so it is monotone in every value)."""
    return float(np.mean(values)) if len(values) else 0.0


def upper_bound(values: Sequence[float], total: int) -> float:
    """The final score if every unscored example scores 1.0 (float rounding is monotone)."""
    return final_score([*values, *([1.0] * (total - len(values)))])


def lower_bound(values: Sequence[float], total: int) -> float:
    """The final score if every unscored example scores 0.0."""
    return final_score([*values, *([0.0] * (total - len(values)))])


def serfling_radius(r: int, total: int, value_range: float, confidence: float) -> float:
    """Hoeffding-Serfling half-width: the mean of r examples drawn without replacement from
    ``total`` differs from the mean of all by more than this with probability < 1 - confidence."""
    if r <= 0:
        return math.inf
    shrink = max(0.0, 1.0 - (r - 1) / total)
    return value_range * math.sqrt(shrink * math.log(1.0 / (1.0 - confidence)) / (2.0 * r))


class _Race:
    """The mutable bookkeeping of one race (rows so far, who is still running)."""

    def __init__(self, instructions: Sequence[str], total: int, settings: RacingSettings):
        self.order = list(dict.fromkeys(instructions))
        self.rows: dict[str, list[ScoredExample]] = {ins: [] for ins in self.order}
        self.total = total
        self.settings = settings
        self.alive = list(self.order)
        self.drops: dict[str, RaceDrop] = {}

    def values(self, ins: str) -> list[float]:
        return [row.accuracy for row in self.rows[ins]]

    def bounds(self, ins: str, statistical: bool) -> tuple[float, float]:
        v = self.values(ins)
        lo, hi = lower_bound(v, self.total), upper_bound(v, self.total)
        if statistical and v:
            mean = sum(v) / len(v)
            radius = serfling_radius(len(v), self.total, 1.0, self.settings.confidence)
            lo, hi = max(lo, mean - radius), min(hi, mean + radius)
        return lo, hi

    def loses(self, ins: str, rule: ChoiceRule, statistical: bool) -> bool:
        """Whether ``ins`` cannot be chosen at its best bound against everyone else's worst."""
        # built in candidate order: the choice breaks ties by insertion order
        case = {x: self.bounds(x, statistical)[x == ins] for x in self.order}
        return not rule.could_win(ins, case)

    def behind_leader(self, ins: str, rule: ChoiceRule) -> bool:
        """Paired test: the current leader (by partial means) beats ``ins`` with confidence."""
        means = {x: final_score(self.values(x)) for x in self.order}
        leader = rule.winner(means)
        if leader == ins or leader not in self.rows:
            return False
        r = min(len(self.rows[ins]), len(self.rows[leader]))
        diffs = [a - b for a, b in zip(self.values(leader)[:r], self.values(ins)[:r])]
        if not diffs:
            return False
        radius = serfling_radius(r, self.total, 2.0, self.settings.confidence)
        return sum(diffs) / r - radius > 0.0

    def decide(self, rule: ChoiceRule) -> None:
        """Drop every running candidate that cannot (or, statistically, will not) be chosen."""
        statistical = self.settings.mode == "statistical"
        dropped: list[tuple[str, str]] = []
        for ins in self.alive:
            if self.loses(ins, rule, statistical=False):
                dropped.append((ins, "exact"))
            elif statistical and self.loses(ins, rule, statistical=True):
                dropped.append((ins, "hoeffding"))
            elif statistical and self.behind_leader(ins, rule):
                dropped.append((ins, "paired"))
        for ins, reason in dropped:
            v = self.values(ins)
            self.drops[ins] = RaceDrop(
                ins, len(v), self.total, final_score(v), upper_bound(v, self.total), reason
            )
            self.alive.remove(ins)
            log.info(
                "racing (%s): dropped a candidate after %d/%d examples (partial score %.4f, "
                "best possible %.4f): %r",
                reason,
                len(v),
                self.total,
                final_score(v),
                upper_bound(v, self.total),
                ins[:60],
            )


ScoreMany = Callable[[Sequence[str], Sequence[int]], list[ScoreReport]]


def race(
    score_many: ScoreMany,
    instructions: Sequence[str],
    split: str,
    total: int,
    rule: ChoiceRule,
    settings: RacingSettings,
    generations_per_example: int = 1,
) -> RaceOutcome:
    """Score ``instructions`` on positions 0..total-1 of ``split`` in rounds, dropping losers.

    ``score_many(instructions, positions)`` scores instructions on the given split positions.
    With racing off, this is one call on every position (full evaluation).
    """
    state = _Race(instructions, total, settings)
    step = settings.examples_per_round(total)
    for start in range(0, total, step):
        if not state.alive:
            break
        positions = list(range(start, min(total, start + step)))
        for report in score_many(state.alive, positions):
            state.rows[report.instruction].extend(report.rows)
        if not all(0.0 <= x <= 1.0 for ins in state.alive for x in state.values(ins)):
            log.warning("racing stopped: a per-example score is outside [0, 1]; scoring all")
            _complete_all(state, score_many)
            break
        if settings.enabled and start + len(positions) < total:
            state.decide(rule)
    _resurrect(state, score_many, rule)
    skipped = sum(total - len(state.rows[ins]) for ins in state.order)
    reports = tuple(ScoreReport(ins, split, tuple(state.rows[ins])) for ins in instructions)
    drops = tuple(state.drops[ins] for ins in state.order if ins in state.drops)
    if settings.enabled:
        log.info(
            "racing (%s): %d of %d candidates stopped early, %d scorer generations saved",
            settings.mode,
            len(drops),
            len(state.order),
            skipped * generations_per_example,
        )
    return RaceOutcome(reports, total, drops, skipped * generations_per_example)


def _complete(state: _Race, ins: str, score_many: ScoreMany) -> None:
    positions = list(range(len(state.rows[ins]), state.total))
    if positions:
        (report,) = score_many([ins], positions)
        state.rows[ins].extend(report.rows)
    state.drops.pop(ins, None)


def _complete_all(state: _Race, score_many: ScoreMany) -> None:
    for ins in state.order:
        _complete(state, ins, score_many)
    state.alive = list(state.order)


def _resurrect(state: _Race, score_many: ScoreMany, rule: ChoiceRule) -> None:
    """Complete a dropped candidate that the choice would still pick at its lower bound (only
    possible in statistical mode), so the chosen prompt always has a complete score."""
    while True:
        scores = {x: lower_bound(state.values(x), state.total) for x in state.order}
        chosen = rule.winner(scores)
        if chosen not in state.drops:
            return
        log.info("racing: completing a dropped candidate that would be chosen: %r", chosen[:60])
        _complete(state, chosen, score_many)


def complete_score(prefix: Sequence[float], rest: Sequence[ScoredExample]) -> float:
    """The complete score of a partially scored prompt, as full evaluation computes it."""
    return final_score([*prefix, *(row.accuracy for row in rest)])
