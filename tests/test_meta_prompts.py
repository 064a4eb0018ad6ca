"""Golden tests of every optimizer meta-prompt (GPO_REFERENCE 5.4-5.6): exact full texts."""

# ruff: noqa: E501  (golden texts keep their real, long lines)

from __future__ import annotations

import dataclasses

import pytest

from gpo.data.base import Example
from gpo.errors import ConfigError
from gpo.optimization import meta_prompts as mp

EX = (Example(0, "What is 2 + 3?", 5),)
KL = mp.k_list_string(
    [
        mp.ScoredPrompt("Let's think step by step.", 0.3541666666666667),
        mp.ScoredPrompt("Be careful.", 0.5),
    ]
)
RT = mp.ScoredPrompt("Check each step.", 0.42)
U = "Let's think step by step."
U_SCORE = 0.3541666666666667

EDIT_KLIST = """\
Your job is to modify the current prompt so that it can be put in place of <Prompt> in the task examples below.

Here are some earlier prompts, each with its score. Scores go from 0 to 100; the higher the score, the better the prompt.

Prompt: Let's think step by step.
Score: 0.3541666666666667

Prompt: Be careful.
Score: 0.5

The current prompt is:
Let's think step by step.

The current prompt has the following problems:

It ignores units.

The examples below show how the prompt is used: <Prompt> in each input is replaced with your new prompt, the input is read, and an output is produced. An output that differs from the given output counts as wrong, and an output that matches it counts as correct.

Input:
What is 2 + 3?
<Prompt>
Output:
5

Look carefully at the previous prompts and their scores, then modify the current prompt into a better one to put in place of <Prompt> at the end of the question in the task examples.
Put the modified prompt between <START> and <END>."""

EDIT_NONE = """\
Your job is to modify the current prompt so that it can be put in place of <Prompt> in the task examples below.

Here is the current prompt with its score. Scores go from 0 to 100; the higher the score, the better the prompt.
Prompt: Let's think step by step.
Score: 0.35

The current prompt is:
Let's think step by step.

The current prompt has the following problems:

It ignores units.

The examples below show how the prompt is used: <Prompt> in each input is replaced with your new prompt, the input is read, and an output is produced. An output that differs from the given output counts as wrong, and an output that matches it counts as correct.

Input:
What is 2 + 3?
<Prompt>
Output:
5

Modify the current prompt into a better one to put in place of <Prompt> at the end of the question in the task examples.
Put the modified prompt between <START> and <END>."""

EDIT_REALTIME = """\
Your job is to modify the current prompt so that it can be put in place of <Prompt> in the task examples below.

Here is the previous prompt with its score. Scores go from 0 to 100; the higher the score, the better the prompt.
Prompt: Check each step.
Score: 0.42

The current prompt is:
Let's think step by step.

The current prompt has the following problems:

It ignores units.

The examples below show how the prompt is used: <Prompt> in each input is replaced with your new prompt, the input is read, and an output is produced. An output that differs from the given output counts as wrong, and an output that matches it counts as correct.

Input:
What is 2 + 3?
<Prompt>
Output:
5

Look carefully at the previous prompt and its score, then modify the current prompt into a better one to put in place of <Prompt> at the end of the question in the task examples.
Put the modified prompt between <START> and <END>."""

GENERATE_KLIST = """\
Your job is to write a prompt that will be put in place of <Prompt> in the task examples below.

Here are some earlier prompts, each with its score. Scores go from 0 to 100; the higher the score, the better the prompt.

Prompt: Let's think step by step.
Score: 0.3541666666666667

Prompt: Be careful.
Score: 0.5

The current prompt is:
Let's think step by step.

The current prompt has the following problems:

It ignores units.

The examples below show how the prompt is used: <Prompt> in each input is replaced with your new prompt, the input is read, and an output is produced. An output that differs from the given output counts as wrong, and an output that matches it counts as correct.

Input:
What is 2 + 3?
<Prompt>
Output:
5

Look carefully at the previous prompts and their scores, then write a new, better prompt to put in place of <Prompt> at the end of the question in the task examples.
Put the new prompt between <START> and <END>."""

GENERATE_NONE = """\
Your job is to write a prompt that will be put in place of <Prompt> in the task examples below.

Here is the current prompt with its score. Scores go from 0 to 100; the higher the score, the better the prompt.
Prompt: Let's think step by step.
Score: 0.35

The current prompt is:
Let's think step by step.

The current prompt has the following problems:

It ignores units.

The examples below show how the prompt is used: <Prompt> in each input is replaced with your new prompt, the input is read, and an output is produced. An output that differs from the given output counts as wrong, and an output that matches it counts as correct.

Input:
What is 2 + 3?
<Prompt>
Output:
5

Write a new, better prompt to put in place of <Prompt> at the end of the question in the task examples.
Put the new prompt between <START> and <END>."""

GENERATE_REALTIME = """\
Your job is to write a prompt that will be put in place of <Prompt> in the task examples below.

Here is the previous prompt with its score. Scores go from 0 to 100; the higher the score, the better the prompt.
Prompt: Check each step.
Score: 0.42

The current prompt is:
Let's think step by step.

The current prompt has the following problems:

It ignores units.

The examples below show how the prompt is used: <Prompt> in each input is replaced with your new prompt, the input is read, and an output is produced. An output that differs from the given output counts as wrong, and an output that matches it counts as correct.

Input:
What is 2 + 3?
<Prompt>
Output:
5

Look carefully at the previous prompt and its score, then write a new, better prompt to put in place of <Prompt> at the end of the question in the task examples.
Put the new prompt between <START> and <END>."""

EDIT_WITHOUT_KLIST = """\
Your job is to modify the current prompt so that it can be put in place of <Prompt> in the task examples below.

Here are some earlier prompts, each with its score. Scores go from 0 to 100; the higher the score, the better the prompt.

Prompt: Let's think step by step.
Score: 0.3541666666666667

Prompt: Be careful.
Score: 0.5

The current prompt is:
Let's think step by step.

The examples below show how the prompt is used: <Prompt> in each input is replaced with your text, the input is read, and an output is produced. An output that differs from the given output counts as wrong, and an output that matches it counts as correct.

Input:
What is 2 + 3?
<Prompt>
Output:
5

Look carefully at the previous prompts and their scores, then modify the current prompt into a better one to put in place of <Prompt> at the end of the question in the task examples.
Put the modified prompt between <START> and <END>."""

EDIT_WITHOUT_NONE = """\
Your job is to modify the current prompt so that it can be put in place of <Prompt> in the task examples below.

Here is the current prompt with its score. Scores go from 0 to 100; the higher the score, the better the prompt.
Prompt: Let's think step by step.
Score: 0.35

The current prompt is:
Let's think step by step.

The examples below show how the prompt is used: <Prompt> in each input is replaced with your new prompt, the input is read, and an output is produced. An output that differs from the given output counts as wrong, and an output that matches it counts as correct.

Input:
What is 2 + 3?
<Prompt>
Output:
5

Modify the current prompt into a better one to put in place of <Prompt> at the end of the question in the task examples.
Put the modified prompt between <START> and <END>."""

EDIT_WITHOUT_REALTIME = """\
Your job is to modify the current prompt so that it can be put in place of <Prompt> in the task examples below.

Here is the previous prompt with its score. Scores go from 0 to 100; the higher the score, the better the prompt.
Prompt: Check each step.
Score: 0.42

The current prompt is:
Let's think step by step.

The examples below show how the prompt is used: <Prompt> in each input is replaced with your text, the input is read, and an output is produced. An output that differs from the given output counts as wrong, and an output that matches it counts as correct.

Input:
What is 2 + 3?
<Prompt>
Output:
5

Look carefully at the previous prompt and its score, then modify the current prompt into a better one to put in place of <Prompt> at the end of the question in the task examples.
Put the modified prompt between <START> and <END>."""

GENERATE_WITHOUT_KLIST = """\
Your job is to write a prompt that will be put in place of <Prompt> in the task examples below.

Here are some earlier prompts, each with its score. Scores go from 0 to 100; the higher the score, the better the prompt.

Prompt: Let's think step by step.
Score: 0.3541666666666667

Prompt: Be careful.
Score: 0.5

The current prompt is:
Let's think step by step.

The examples below show how the prompt is used: <Prompt> in each input is replaced with your new prompt, the input is read, and an output is produced. An output that differs from the given output counts as wrong, and an output that matches it counts as correct.

Input:
What is 2 + 3?
<Prompt>
Output:
5

Look carefully at the previous prompts and their scores, then write a new, better prompt to put in place of <Prompt> at the end of the question in the task examples.
Put the new prompt between <START> and <END>."""

GENERATE_WITHOUT_NONE = """\
Your job is to write a prompt that will be put in place of <Prompt> in the task examples below.

Here is the current prompt with its score. Scores go from 0 to 100; the higher the score, the better the prompt.
Prompt: Let's think step by step.
Score: 0.35

The current prompt is:
Let's think step by step.

The examples below show how the prompt is used: <Prompt> in each input is replaced with your new prompt, the input is read, and an output is produced. An output that differs from the given output counts as wrong, and an output that matches it counts as correct.

Input:
What is 2 + 3?
<Prompt>
Output:
5

Write a new, better prompt to put in place of <Prompt> at the end of the question in the task examples.
Put the new prompt between <START> and <END>."""

GENERATE_WITHOUT_REALTIME = """\
Your job is to write a prompt that will be put in place of <Prompt> in the task examples below.

Here is the previous prompt with its score. Scores go from 0 to 100; the higher the score, the better the prompt.
Prompt: Check each step.
Score: 0.42

The current prompt is:
Let's think step by step.

The examples below show how the prompt is used: <Prompt> in each input is replaced with your new prompt, the input is read, and an output is produced. An output that differs from the given output counts as wrong, and an output that matches it counts as correct.

Input:
What is 2 + 3?
<Prompt>
Output:
5

Look carefully at the previous prompt and its score, then write a new, better prompt to put in place of <Prompt> at the end of the question in the task examples.
Put the new prompt between <START> and <END>."""


GOLDEN = {
    ("edit", "k-list"): EDIT_KLIST,
    ("edit", "none"): EDIT_NONE,
    ("edit", "real-time"): EDIT_REALTIME,
    ("generate", "k-list"): GENERATE_KLIST,
    ("generate", "none"): GENERATE_NONE,
    ("generate", "real-time"): GENERATE_REALTIME,
    ("edit_without", "k-list"): EDIT_WITHOUT_KLIST,
    ("edit_without", "none"): EDIT_WITHOUT_NONE,
    ("edit_without", "real-time"): EDIT_WITHOUT_REALTIME,
    ("generate_without", "k-list"): GENERATE_WITHOUT_KLIST,
    ("generate_without", "none"): GENERATE_WITHOUT_NONE,
    ("generate_without", "real-time"): GENERATE_WITHOUT_REALTIME,
}


def _inputs(builder: str, variant: str, **extra: object) -> mp.CandidateInputs:
    momentum: dict[str, object] = {
        "k-list": {"k_list": KL},
        "none": {},
        "real-time": {"realtime": RT},
    }[variant]
    gradient = "It ignores units." if builder in ("edit", "generate") else None
    return mp.CandidateInputs(
        current_prompt=U,
        current_score=U_SCORE,
        exemplars=EX,
        instruction_pos="Q_end",
        gradient=gradient,
        **momentum,  # type: ignore[arg-type]
        **extra,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(("builder", "variant"), sorted(GOLDEN))
def test_candidate_meta_prompt_golden(builder: str, variant: str) -> None:
    text = getattr(mp, builder)(_inputs(builder, variant))
    assert text == GOLDEN[(builder, variant)]
    assert text.splitlines()[-1].endswith("between <START> and <END>.")


def test_without_builders_ignore_the_gradient() -> None:
    # Quirk 10.11 kept: *_without never shows feedback, even when one is computed (PE2).
    inputs = _inputs("generate_without", "k-list")
    with_gradient = dataclasses.replace(inputs, gradient="It ignores units.")
    assert mp.generate_without(with_gradient) == GENERATE_WITHOUT_KLIST
    assert mp.edit_without(with_gradient) == EDIT_WITHOUT_KLIST


def test_k_list_wins_over_real_time() -> None:
    both = _inputs("generate_without", "k-list", realtime=RT)
    assert mp.generate_without(both) == GENERATE_WITHOUT_KLIST


def test_real_time_momentum_with_an_empty_summary_keeps_the_previous_prompt_variant() -> None:
    # The original tests the momentum buffer, not its text. (This test used to pin the
    # no-momentum variant for an empty summary.)
    empty = _inputs("generate_without", "none", realtime=mp.ScoredPrompt("", 0.0))
    text = mp.generate_without(empty)
    assert text != GENERATE_WITHOUT_NONE
    assert f"{mp.PREVIOUS_WITH_SCORE}\nPrompt: \nScore: 0.0\n\n" in text
    assert mp.STUDY_PREVIOUS_PROMPT in text
    assert text == GENERATE_WITHOUT_REALTIME.replace(
        f"Prompt: {RT.prompt}\nScore: {RT.score}", "Prompt: \nScore: 0.0"
    )


def test_gradient_builders_need_a_gradient() -> None:
    inputs = mp.CandidateInputs(U, U_SCORE, EX, "Q_end")
    with pytest.raises(ConfigError, match="--gradient_name=feedback"):
        mp.generate(inputs)
    with pytest.raises(ConfigError, match="--gradient_name=feedback"):
        mp.edit(inputs)


def test_before_q_is_refused_by_every_builder() -> None:
    inputs = mp.CandidateInputs(U, U_SCORE, EX, "before_Q", gradient="g")
    for name in mp.BUILDER_NAMES:
        with pytest.raises(ConfigError, match="before_Q"):
            getattr(mp, name)(inputs)


def test_edit_without_layouts() -> None:
    qa_q_end = mp.CandidateInputs(U, U_SCORE, EX, "Q_end", include_qa=True)
    with pytest.raises(ConfigError, match="A_begin"):
        mp.edit_without(qa_q_end)
    no_qa_a_begin = mp.CandidateInputs(U, U_SCORE, EX, "A_begin", include_qa=False)
    with pytest.raises(ConfigError, match="include_qa=true"):
        mp.edit_without(no_qa_a_begin)
    # The other builders ignore include_qa.
    assert mp.generate_without(qa_q_end) == GENERATE_WITHOUT_NONE
    qa_a_begin = mp.CandidateInputs(U, U_SCORE, EX, "A_begin", include_qa=True)
    assert "Q: What is 2 + 3?\nA: <Prompt>\n" in mp.edit_without(qa_a_begin)


EXEMPLARS = (Example(3, "Sort: pear apple", ["apple pear"]), Example(4, "Count: a b c", 3))


def test_exemplar_block_q_end() -> None:
    assert (
        mp.exemplar_block(EXEMPLARS, "Q_end")
        == """\
Input:
Sort: pear apple
<Prompt>
Output:
['apple pear']

Input:
Count: a b c
<Prompt>
Output:
3"""
    )


def test_exemplar_block_q_begin() -> None:
    assert (
        mp.exemplar_block(EXEMPLARS, "Q_begin")
        == """\
Input:
<Prompt>
Sort: pear apple
Output:
['apple pear']

Input:
<Prompt>
Count: a b c
Output:
3"""
    )


def test_exemplar_block_a_begin() -> None:
    assert (
        mp.exemplar_block(EXEMPLARS, "A_begin")
        == """\
Input:
Q: Sort: pear apple
A: <Prompt>
Output:
['apple pear']

Input:
Q: Count: a b c
A: <Prompt>
Output:
3"""
    )


@pytest.mark.parametrize(
    ("pos", "phrase"),
    [
        ("Q_end", "at the end of the question"),
        ("Q_begin", "at the beginning of the question"),
        ("A_begin", "at the beginning of the answer"),
    ],
)
def test_position_phrase_in_closing_line(pos: str, phrase: str) -> None:
    text = mp.generate_without(mp.CandidateInputs(U, U_SCORE, EX, pos))
    assert text.splitlines()[-2] == (
        f"Write a new, better prompt to put in place of <Prompt> {phrase} in the task examples."
    )


def test_k_list_string_raw_scores_full_precision() -> None:
    # Quirk 10.4 kept: the header says 0-100 but the raw fraction is printed in full.
    assert (
        KL
        == """\
Here are some earlier prompts, each with its score. Scores go from 0 to 100; the higher the score, the better the prompt.

Prompt: Let's think step by step.
Score: 0.3541666666666667

Prompt: Be careful.
Score: 0.5

"""
    )


def test_k_list_string_scores_as_percent() -> None:
    text = mp.k_list_string([mp.ScoredPrompt("A.", 0.3541666666666667)], scores_as_percent=True)
    assert text == (
        "Here are some earlier prompts, each with its score. Scores go from 0 to 100; the higher "
        "the score, the better the prompt.\n\nPrompt: A.\nScore: 35.42\n\n"
    )


def test_k_list_string_empty_selection_is_header_and_four_newlines() -> None:
    # The original joins the (empty) list of blocks and then always appends "\n\n".
    assert mp.k_list_string([]) == mp.K_LIST_HEADER + "\n\n\n\n"
    text = mp.generate_without(
        mp.CandidateInputs(U, U_SCORE, EX, "Q_end", k_list=mp.k_list_string([]))
    )
    assert f"{mp.K_LIST_HEADER}\n\n\n\nThe current prompt is:\n{U}\n\n" in text


def test_current_score_as_percent_in_no_momentum_variant() -> None:
    text = mp.generate_without(mp.CandidateInputs(U, U_SCORE, EX, "Q_end", scores_as_percent=True))
    assert f"Prompt: {U}\nScore: 35.42\n\nThe current prompt is:" in text


def test_format_score() -> None:
    assert mp.format_score(0.3541666666666667) == "0.3541666666666667"
    assert mp.format_score(0.3541666666666667, ndigits=2) == "0.35"
    assert mp.format_score(1.0, ndigits=2) == "1.0"
    assert mp.format_score(0.5, as_percent=True) == "50.00"


def test_word_budget_line() -> None:
    assert mp.word_budget_line(49) == "You may change at most 49 words of the current prompt."


def test_feedback_gradient_prompt_golden() -> None:
    wrong = [mp.WrongExample("Q1?", "(A)", "(B)"), mp.WrongExample("Q2?", "7", "8")]
    assert (
        mp.feedback_gradient_prompt("Think.", wrong)
        == """\
Your job is to find out what is wrong with the current prompt by looking at the examples it gets wrong.

The current prompt is:
Think.

With this prompt, the examples below are answered wrongly. Compare each wrong prediction with its ground-truth answer, and think about why the prompt led to these mistakes.

Each example below lists the question, the wrong prediction and the ground-truth answer.

Question: Q1?
Wrong prediction: (A)
Ground truth answer: (B)

Question: Q2?
Wrong prediction: 7
Ground truth answer: 8

Give one reason why the prompt could lead to these wrong answers, and put it between <START> and <END>."""
    )


def test_feedback_gradient_prompt_without_wrong_examples_has_three_blank_lines() -> None:
    # Quirk 10.14: the request is still built (and sent) when nothing is wrong. The empty
    # examples block keeps its separators, as in the original: three blank lines before the
    # request (this test used to pin one).
    assert (
        mp.feedback_gradient_prompt("Think.", [])
        == """\
Your job is to find out what is wrong with the current prompt by looking at the examples it gets wrong.

The current prompt is:
Think.

With this prompt, the examples below are answered wrongly. Compare each wrong prediction with its ground-truth answer, and think about why the prompt led to these mistakes.

Each example below lists the question, the wrong prediction and the ground-truth answer.



Give one reason why the prompt could lead to these wrong answers, and put it between <START> and <END>."""
    )


def test_realtime_gradient_momentum_prompt_golden() -> None:
    assert (
        mp.realtime_gradient_momentum_prompt("Too vague.", "Ignores units.")
        == """\
Your job is to combine the problems of the previous prompts with the problems of the current prompt.

The problems of the previous prompts are:
Too vague.

The problems of the current prompt are:
Ignores units.

Merge the two sets of problems into one summary of problems.
Put the merged problems between <START> and <END>."""
    )


def test_realtime_para_momentum_prompt_golden() -> None:
    text = mp.realtime_para_momentum_prompt(
        mp.ScoredPrompt("A.", 0.42), mp.ScoredPrompt("B.", 0.35)
    )
    assert (
        text
        == """\
Your job is to summarise the previous prompt and the current prompt, taking their scores into account, and to create a new prompt from them. Scores go from 0 to 100; the higher the score, the better the prompt.

The previous prompt with its score:
Prompt: A.
Score: 0.42

The current prompt with its score:
Prompt: B.
Score: 0.35

Using both prompts and their scores, create a new prompt.
Put the new prompt between <START> and <END>."""
    )


def test_realtime_para_momentum_prompt_percent() -> None:
    text = mp.realtime_para_momentum_prompt(
        mp.ScoredPrompt("A.", 0.42), mp.ScoredPrompt("B.", 0.35), scores_as_percent=True
    )
    assert "Prompt: A.\nScore: 42.00\n\n" in text
    assert "Prompt: B.\nScore: 35.00\n\n" in text
