"""The best constant answer: what a reply that never reads the input scores on a split.

A reference for every score table, with no model: on a label task, a prompt that only makes the
scorer say one label scores that label's share of the split. On the 4-team routing task
(``examples/support_ticket``) "billing" every time scores 31.2 on test, "account" 34.4, so a
chosen prompt at 31-40 may route nothing. The candidates are the split's own gold answers (the
``MAX_CANDIDATES`` most frequent), each graded as a reply against every record with the task's
own grading; ROUGE-L tasks have no such reference (``None``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from gpo.data.base import TaskData
from gpo.evaluation.metrics import accepted_answers, grade_example

MAX_CANDIDATES = 20


@dataclass(frozen=True)
class ConstantAnswer:
    answer: str
    score: float  # mean over the split's records, in [0, 1]


def best_constant_answer(data: TaskData, split: str = "test") -> ConstantAnswer | None:
    """The gold answer of ``split`` that, given as the reply to every record, scores highest
    (the most frequent first on ties); None for ROUGE-L tasks and empty splits."""
    spec = data.spec
    examples = getattr(data, split)
    if not examples or spec.treat_as_rouge or spec.metric == "rouge_l":
        return None
    counts = Counter(accepted_answers(ex.answer)[0] for ex in examples)
    best: ConstantAnswer | None = None
    for answer, _ in counts.most_common(MAX_CANDIDATES):
        score = sum(grade_example(spec, answer, ex).accuracy for ex in examples) / len(examples)
        if best is None or score > best.score:
            best = ConstantAnswer(answer, score)
    return best
