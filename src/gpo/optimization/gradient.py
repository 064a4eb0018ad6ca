"""The feedback "gradient" (GPO_REFERENCE 5.3 step 2, 5.4).

In the paper's analogy the gradient is a textual error analysis: the optimizer LLM is shown the
train-batch examples the current prompt got wrong and asked why. The request is greedy
(temperature 0, max 512 tokens) and sent once (n = 1; the original asked for n = N and kept one).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from gpo.data.base import Example
from gpo.evaluation.report import ScoredExample, ScoreReport
from gpo.llm.base import LLM, GenerationParams
from gpo.optimization.meta_prompts import WrongExample, feedback_gradient_prompt
from gpo.optimization.proposal import ask, parse_candidate

log = logging.getLogger(__name__)

__all__ = ["GRADIENT_NAMES", "FeedbackGradient", "WrongExample", "wrong_examples"]

GRADIENT_NAMES = ("feedback",)  # --gradient_name (or - for none)


def wrong_prediction(row: ScoredExample) -> str:
    """The second-round raw answer when a second round happened, else the parsed answer."""
    if row.raw_answer_second_round is not None:
        return row.raw_answer_second_round
    return row.parsed_answer


def wrong_examples(report: ScoreReport, batch: Sequence[Example]) -> tuple[WrongExample, ...]:
    """The rows with accuracy exactly 0.0, in file order (fix 10.8: the original iterates a
    ``set()`` of row indices), each with its train question and ground truth (``str()``)."""
    questions = {ex.index: ex.question for ex in batch}
    return tuple(
        WrongExample(questions[row.index], wrong_prediction(row), str(row.true_answer))
        for row in report.wrong()
    )


@dataclass(frozen=True)
class FeedbackGradient:
    """Error-analysis gradient of the current prompt.

    ``skip_without_errors`` (default False keeps quirk 10.14: the request is sent even when the
    batch has no wrong example, as in the original; this matters for WebNLG, where ROUGE rarely
    gives exactly 0). When True and nothing is wrong, no request is sent and the text is "".
    """

    params: GenerationParams = GenerationParams(temperature=0.0, max_tokens=512)
    skip_without_errors: bool = False

    def compute(
        self, llm: LLM, current_prompt: str, wrong_rows: Sequence[WrongExample]
    ) -> tuple[str, str]:
        """Return ``(meta_prompt, gradient_text)``: the request sent ("" if none) and the reply
        extracted between the tags and polished."""
        if self.skip_without_errors and not wrong_rows:
            log.info("feedback gradient skipped: no wrong example in the batch")
            return "", ""
        meta_prompt = feedback_gradient_prompt(current_prompt, wrong_rows)
        text = parse_candidate(ask(llm, meta_prompt, self.params))
        return meta_prompt, text
