"""Per-example scoring results of one instruction on one split (the original's CSV rows)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gpo.data.base import Answer


@dataclass(frozen=True)
class ScoredExample:
    index: int  # index_in_raw_dataset
    raw_prompt: str  # the user text (or a rendering of the message list)
    raw_answer: str
    raw_prompt_second_round: str | None  # None when no second round happened
    raw_answer_second_round: str | None
    parsed_answer: str
    true_answer: Answer
    accuracy: float  # int 0/1, or ROUGE-L F1 for WebNLG


@dataclass(frozen=True)
class ScoreReport:
    instruction: str
    split: str
    rows: tuple[ScoredExample, ...]

    @property
    def score(self) -> float:
        """Unweighted mean over the examples (a fraction in [0, 1]); 0.0 for an empty split.

        numpy's mean, as in the original: its pairwise summation can differ from ``sum() / n`` in
        the last digit for ROUGE-L floats, and the k-list prints scores at full precision.
        """
        if not self.rows:
            return 0.0
        return float(np.mean([r.accuracy for r in self.rows]))

    def wrong(self) -> tuple[ScoredExample, ...]:
        """Rows with accuracy exactly 0.0, in file order (the feedback gradient's examples)."""
        return tuple(r for r in self.rows if r.accuracy == 0.0)
