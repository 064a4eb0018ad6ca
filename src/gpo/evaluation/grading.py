"""Grading: the per-example score that makes up a prompt's score on a split (GPO_REFERENCE 3.4, 4).

``accuracy`` is the original's 0/1 comparison of a normalised prediction with the target (4.3),
``rouge_l`` the ROUGE-L F1 used for WebNLG (4.1), and ``grade`` applies the right one to a scorer
reply according to the task's scoring settings.
"""

from __future__ import annotations

import logging
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass

from gpo.data.base import Answer, AnswerKind, TaskSpec
from gpo.errors import BackendError
from gpo.evaluation.extraction import normalize_prediction

logger = logging.getLogger(__name__)

_CLOSING_BRACKETS = re.compile(r"[>\)\]}]+[ >\)\]}]*")
_BRACKETED_LETTER = re.compile(r"\(([a-z])\)")
_ALL_PUNCTUATION = str.maketrans("", "", string.punctuation)
_FALSE_WORDS = ("false", "no", "invalid")
_TRUE_WORDS = ("true", "yes", "valid")
_DIGIT_TO_BOOL = {"0": "false", "1": "true"}


@dataclass(frozen=True)
class Grade:
    """The parsed (normalised) answer of one reply and its score (int 0/1, or ROUGE-L F1)."""

    parsed_answer: str
    accuracy: float  # an int 0/1 for exact-match grading, a float for ROUGE-L


def _dyck_match(target: str, prediction: str) -> bool:
    """dyck_languages: the last run of closing brackets in the reply equals the target."""
    runs = [run.strip() for run in _CLOSING_BRACKETS.findall(prediction)]
    return bool(runs) and runs[-1] == target


def _word_sorting_match(target: str, prediction: str) -> bool:
    """word_sorting: the sorted word list appears one word per line, space-separated, or on one
    line of the reply (the original's three checks, in order)."""
    words = target.split(" ")
    # (a) the reply's lines without a space, each stripped ("apple\nbanana\ncherry")
    if [line.strip() for line in prediction.split("\n") if " " not in line] == words:
        return True
    # (b) the whole reply split on single spaces, each token stripped ("apple \nbanana cherry")
    if [token.strip() for token in prediction.split(" ")] == words:
        return True
    # (c) one line of the reply, split on single spaces
    return any(line.split(" ") == words for line in prediction.split("\n"))


def _reduce_letter(text: str) -> str:
    """Reduce an exact "(b)" to "b"; anything else is unchanged."""
    match = _BRACKETED_LETTER.fullmatch(text)
    return match.group(1) if match else text


def _strip_punctuation(text: str) -> str:
    return text.translate(_ALL_PUNCTUATION).strip()


def accuracy(true_answer: Answer, prediction: str, task: str) -> int:
    """1 if the normalised prediction matches the target, else 0 (GPO_REFERENCE 4.3).

    An int, as in the original, so the per-example CSVs show ``0``/``1`` (not ``0.0``/``1.0``).

    ``task`` selects the two special graders ("dyck_languages", "word_sorting"); any other name
    uses exact / punctuation-stripped / boolean matching.
    """
    target = str(true_answer).lower().strip()
    pred = str(prediction).lower().strip()
    if task == "dyck_languages":
        return int(_dyck_match(target, pred))
    if task == "word_sorting":
        return int(_word_sorting_match(target, pred))
    target, pred = _reduce_letter(target), _reduce_letter(pred)
    exact = pred == target or _strip_punctuation(pred) == _strip_punctuation(target)
    boolean = False
    if target in _FALSE_WORDS or target in _TRUE_WORDS:
        mapped = "false" if target in _FALSE_WORDS else "true"
        # So "true" is right for "yes" and "1" for "valid", while "yes" itself matches exactly.
        boolean = _DIGIT_TO_BOOL.get(pred, pred) == mapped
    return 1 if exact or boolean else 0


def rouge_l(prediction: str, references: str | Sequence[str]) -> float:
    """Mean ROUGE-L F1 (``rouge`` 1.0.1, summary level) of the prediction over the references.

    Fix: the package raises on an empty (or dots-only) prediction; such a reply scores 0.0.
    """
    refs = [references] if isinstance(references, str) else list(references)
    if not refs or not prediction.replace(".", "").strip():
        return 0.0
    try:
        from rouge import Rouge
    except ImportError as exc:
        raise BackendError(
            "ROUGE-L needs the rouge package; run: pip install rouge==1.0.1"
        ) from exc
    scorer = Rouge()
    total = 0.0
    for ref in refs:
        if not str(ref).replace(".", "").strip():
            continue  # an empty reference contributes 0
        try:
            total += scorer.get_scores(prediction, str(ref))[0]["rouge-l"]["f"]
        except (ValueError, ZeroDivisionError, RecursionError) as exc:
            logger.warning("ROUGE-L failed (%s); scoring this reference 0", exc)
    return total / len(refs)


def _grader_task(spec: TaskSpec) -> str:
    """The task name ``accuracy`` dispatches on, taken from the answer kind."""
    if spec.answer_kind is AnswerKind.DYCK:
        return "dyck_languages"
    if spec.answer_kind is AnswerKind.WORD_SORTING:
        return "word_sorting"
    return spec.task


def grade(spec: TaskSpec, answer_text: str, true_answer: Answer) -> Grade:
    """Normalise the reply and score it as the task's settings say.

    ``answer_text`` is the text to parse: the stripped second-round answer when there was one,
    else the stripped first-round answer. WebNLG is graded by ROUGE-L on the reply as is.
    """
    if spec.treat_as_rouge:
        parsed = answer_text.strip()
        refs = true_answer if isinstance(true_answer, list) else [str(true_answer)]
        return Grade(parsed, rouge_l(parsed, refs))
    parsed = normalize_prediction(
        answer_text,
        is_multiple_choice=spec.is_multiple_choice,
        treat_as_number=spec.treat_as_number,
        num_decimals=0,
        treat_as_bool=spec.treat_as_bool,
    )
    return Grade(parsed, accuracy(true_answer, parsed, _grader_task(spec)))
