"""Scorer prompt assembly: GPO_REFERENCE 3.1 (zero-shot), 8 (few-shot) and the 3.2 second round."""

from __future__ import annotations

import pytest

from gpo.data.base import Example
from gpo.errors import ConfigError
from gpo.evaluation.prompts import (
    build_few_shot_prompt,
    build_user_text,
    demo_answer_text,
    render_prompt,
    second_round_conversation,
    validate_scoring_settings,
)
from gpo.llm.base import ChatMessage

Q = "What is 2+3?"
I = "Think step by step."  # noqa: E741

# (instruction_pos, include_qa, instruction, expected user text)
USER_TEXT_CASES = [
    ("Q_begin", False, I, "Think step by step.\nWhat is 2+3?"),
    ("Q_begin", False, "", "What is 2+3?"),
    ("Q_end", False, I, "What is 2+3?\nThink step by step."),
    ("Q_end", False, "", "What is 2+3?"),
    ("before_Q", True, I, "Think step by step.\nQ: What is 2+3?\nA: "),
    ("before_Q", True, "", "Q: What is 2+3?\nA: "),
    ("Q_begin", True, I, "Q: Think step by step. What is 2+3?\nA: "),
    ("Q_begin", True, "", "Q: What is 2+3?\nA: "),
    ("Q_end", True, I, "Q: What is 2+3? Think step by step.\nA: "),
    ("Q_end", True, "", "Q: What is 2+3?\nA: "),
    ("A_begin", True, I, "Q: What is 2+3?\nA: Think step by step. "),
    ("A_begin", True, "", "Q: What is 2+3?\nA:"),
]


@pytest.mark.parametrize(("pos", "qa", "instruction", "expected"), USER_TEXT_CASES)
def test_build_user_text(pos: str, qa: bool, instruction: str, expected: str) -> None:
    assert build_user_text(Q, instruction, pos, qa) == expected


@pytest.mark.parametrize("pos", ["before_Q", "A_begin"])
def test_without_qa_only_q_begin_and_q_end(pos: str) -> None:
    with pytest.raises(ConfigError, match="include_qa"):
        build_user_text(Q, I, pos, include_qa=False)


def test_unknown_position_names_the_choices() -> None:
    with pytest.raises(ConfigError, match="Q_end"):
        build_user_text(Q, I, "after_A", include_qa=True)


# (instruction_pos, include_qa, few_shot, is_chat, allowed)
VALIDATION_CASES = [
    ("Q_begin", False, False, True, True),
    ("Q_end", False, False, True, True),
    ("before_Q", False, False, False, False),
    ("A_begin", False, False, True, False),
    ("before_Q", True, False, True, True),
    ("A_begin", True, False, False, True),
    ("Q_end", False, True, True, True),
    ("Q_end", False, True, False, True),
    ("Q_begin", False, True, False, True),
    ("Q_begin", False, True, True, False),  # the original built an empty prompt
    ("before_Q", False, True, False, False),
    ("A_begin", False, True, False, False),
    ("A_begin", True, True, False, True),
    ("A_begin", True, True, True, True),  # fixed: sent as one user message
    ("Q_end", True, True, False, False),  # the original built an empty prompt
    ("Q_begin", True, True, False, False),
    ("before_Q", True, True, False, False),
    ("nowhere", False, False, False, False),
]


@pytest.mark.parametrize(("pos", "qa", "few_shot", "is_chat", "allowed"), VALIDATION_CASES)
def test_validate_scoring_settings(
    pos: str, qa: bool, few_shot: bool, is_chat: bool, allowed: bool
) -> None:
    if allowed:
        validate_scoring_settings(pos, qa, few_shot, is_chat)
    else:
        with pytest.raises(ConfigError, match="instruction_pos"):
            validate_scoring_settings(pos, qa, few_shot, is_chat)


DEMOS = (Example(0, "1+1?", "2"), Example(1, "2+2?", "4"))


def test_few_shot_q_end_non_chat() -> None:
    prompt = build_few_shot_prompt(Q, I, DEMOS, "Q_end", False, is_chat=False)
    assert prompt == (
        "1+1?\nThink step by step.\n2\n\n2+2?\nThink step by step.\n4\n\n"
        "What is 2+3?\nThink step by step."
    )


def test_few_shot_q_end_non_chat_empty_instruction() -> None:
    prompt = build_few_shot_prompt(Q, "", DEMOS, "Q_end", False, is_chat=False)
    assert prompt == "1+1?\n2\n\n2+2?\n4\n\nWhat is 2+3?"


def test_few_shot_q_end_chat_final_turn_is_question_only() -> None:
    prompt = build_few_shot_prompt(Q, I, DEMOS, "Q_end", False, is_chat=True)
    assert prompt == (
        ChatMessage("user", "1+1?\nThink step by step."),
        ChatMessage("assistant", "2"),
        ChatMessage("user", "2+2?\nThink step by step."),
        ChatMessage("assistant", "4"),
        ChatMessage("user", "What is 2+3?"),  # kept quirk: no instruction here
    )


def test_few_shot_q_end_chat_empty_instruction() -> None:
    prompt = build_few_shot_prompt(Q, "", DEMOS[:1], "Q_end", False, is_chat=True)
    assert prompt == (
        ChatMessage("user", "1+1?"),
        ChatMessage("assistant", "2"),
        ChatMessage("user", "What is 2+3?"),
    )


def test_few_shot_q_begin_non_chat() -> None:
    prompt = build_few_shot_prompt(Q, I, DEMOS, "Q_begin", False, is_chat=False)
    assert prompt == (
        "Think step by step.\n1+1?\n2\n\nThink step by step.\n2+2?\n4\n\n"
        "Think step by step.\nWhat is 2+3?"
    )


def test_few_shot_q_begin_non_chat_empty_instruction_starts_demos_with_a_newline() -> None:
    # The original writes the instruction and a newline before every demonstration, also when
    # the instruction is empty; the test question gets no newline.
    prompt = build_few_shot_prompt(Q, "", DEMOS, "Q_begin", False, is_chat=False)
    assert prompt == "\n1+1?\n2\n\n\n2+2?\n4\n\nWhat is 2+3?"


def test_few_shot_a_begin_with_qa() -> None:
    prompt = build_few_shot_prompt(Q, I, DEMOS, "A_begin", True, is_chat=False)
    assert prompt == (
        "Q: 1+1?\nA: Think step by step. 2\n\nQ: 2+2?\nA: Think step by step. 4\n\n"
        "Q: What is 2+3?\nA: Think step by step. "
    )
    empty = build_few_shot_prompt(Q, "", DEMOS[:1], "A_begin", True, is_chat=False)
    assert empty == "Q: 1+1?\nA: 2\n\nQ: What is 2+3?\nA:"


def test_few_shot_a_begin_chat_is_one_user_message() -> None:
    text = build_few_shot_prompt(Q, I, DEMOS, "A_begin", True, is_chat=False)
    assert build_few_shot_prompt(Q, I, DEMOS, "A_begin", True, is_chat=True) == (
        ChatMessage("user", text),
    )


def test_few_shot_stringifies_int_and_list_answers() -> None:
    demos = (Example(0, "How many?", 18), Example(1, "Triples: a | b | c", ["first ref", "second"]))
    prompt = build_few_shot_prompt("Q?", "", demos, "Q_end", False, is_chat=False)
    assert prompt == "How many?\n18\n\nTriples: a | b | c\nfirst ref\n\nQ?"
    assert demo_answer_text(110) == "110"
    assert demo_answer_text(["x", "y"]) == "x"
    assert demo_answer_text([]) == ""


def test_second_round_conversation_plain() -> None:
    conv = second_round_conversation("user text", "It is 5. Q: next", "Just the number.", False)
    assert conv == (
        ChatMessage("user", "user text"),
        ChatMessage("assistant", "It is 5. Q: next"),
        ChatMessage("user", "Just the number."),
    )


def test_second_round_conversation_cuts_before_first_q_with_qa() -> None:
    conv = second_round_conversation("Q: x\nA: ", "It is 5.\nQ: y\nA: 6 Q: z", "Number?", True)
    assert conv[1] == ChatMessage("assistant", "It is 5.\n")
    assert [m.role for m in conv] == ["user", "assistant", "user"]


def test_render_prompt() -> None:
    assert render_prompt("plain") == "plain"
    msgs = (ChatMessage("user", "hi"), ChatMessage("assistant", "it's"))
    assert render_prompt(msgs) == (
        "[{'role': 'user', 'content': 'hi'}, {'role': 'assistant', 'content': \"it's\"}]"
    )
