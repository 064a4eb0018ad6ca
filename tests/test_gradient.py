"""The feedback gradient (GPO_REFERENCE 5.3 step 2, 5.4; fixes 10.7, 10.8; quirk 10.14)."""

from __future__ import annotations

from gpo.data.base import Example
from gpo.evaluation.report import ScoredExample, ScoreReport
from gpo.llm.base import GenerationParams, user_message
from gpo.llm.fake import FakeLLM, constant
from gpo.optimization.gradient import FeedbackGradient, WrongExample, wrong_examples
from gpo.optimization.meta_prompts import feedback_gradient_prompt


def _row(
    index: int, accuracy: float, parsed: str, second: str | None, gold: object
) -> ScoredExample:
    return ScoredExample(
        index=index,
        raw_prompt=f"q{index}\nThink.",
        raw_answer="long answer",
        raw_prompt_second_round=None if second is None else "conv",
        raw_answer_second_round=second,
        parsed_answer=parsed,
        true_answer=gold,  # type: ignore[arg-type]
        accuracy=accuracy,
    )


BATCH = tuple(Example(i, f"Question {i}?", "(A)") for i in range(8, 13))


def test_wrong_examples_in_file_order_with_second_round_answer() -> None:
    report = ScoreReport(
        "Think.",
        "train",
        (
            _row(8, 1.0, "(A)", " (A) ", "(A)"),
            _row(9, 0.0, "(B)", "The answer is (B).", "(A)"),
            _row(10, 0.5, "x", None, ["a"]),  # partial ROUGE credit: not "wrong"
            _row(11, 0.0, "12", None, 13),  # no second round: parsed answer
            _row(12, 0.0, "", "", "(A)"),  # empty second-round answer still wins
        ),
    )
    assert wrong_examples(report, BATCH) == (
        WrongExample("Question 9?", "The answer is (B).", "(A)"),
        WrongExample("Question 11?", "12", "13"),
        WrongExample("Question 12?", "", "(A)"),
    )


def test_compute_sends_one_greedy_request() -> None:
    llm = FakeLLM(constant("Analysis: <START>the prompt does not ask for a final letter.<END>"))
    wrong = [WrongExample("Q?", "(B)", "(A)")]
    meta, text = FeedbackGradient().compute(llm, "Think.", wrong)
    assert meta == feedback_gradient_prompt("Think.", wrong)
    assert text == "The prompt does not ask for a final letter."
    assert len(llm.calls) == 1
    assert llm.calls[0].prompts == (user_message(meta),)  # n = 1, never N copies
    assert llm.calls[0].params == GenerationParams(temperature=0.0, max_tokens=512)
    assert llm.calls[0].sample_indices == (0,)


def test_feedback_is_sent_even_without_errors_by_default() -> None:
    # Quirk 10.14 kept by default.
    llm = FakeLLM(constant("<START>nothing is wrong<END>"))
    meta, text = FeedbackGradient().compute(llm, "Think.", [])
    assert meta == feedback_gradient_prompt("Think.", [])
    assert text == "Nothing is wrong"
    assert llm.num_requests == 1


def test_feedback_can_be_skipped_without_errors() -> None:
    llm = FakeLLM(constant("<START>unused<END>"))
    assert FeedbackGradient(skip_without_errors=True).compute(llm, "Think.", []) == ("", "")
    assert llm.calls == []
    meta, text = FeedbackGradient(skip_without_errors=True).compute(
        llm, "Think.", [WrongExample("Q?", "1", "2")]
    )
    assert text == "Unused"
    assert llm.num_requests == 1
