"""Scorer prompt assembly: where the task prompt (the thing GPO optimises) sits in the scorer input.

Implements GPO_REFERENCE 3.1 (zero-shot user text for every ``instruction_pos`` x ``include_qa``),
section 8 (few-shot prompts with demonstrations) and the second-round conversation of 3.2, in which
the scorer's first answer is followed by a request for the answer in the task's format.
"""

from __future__ import annotations

from collections.abc import Sequence

from gpo.data.base import Answer, Example
from gpo.errors import ConfigError
from gpo.llm.base import ChatMessage, Prompt, user_message
from gpo.vocabulary import INSTRUCTION_POSITIONS

_NO_QA_POSITIONS = ("Q_begin", "Q_end")


def _check_position(instruction_pos: str) -> None:
    if instruction_pos not in INSTRUCTION_POSITIONS:
        raise ConfigError(
            f"--instruction_pos={instruction_pos!r} is unknown; "
            f"use one of {', '.join(INSTRUCTION_POSITIONS)}"
        )


def validate_scoring_settings(
    instruction_pos: str, include_qa: bool, few_shot: bool, is_chat: bool
) -> None:
    """Reject scorer-prompt settings the original could not handle, before any model loads.

    Zero-shot without the Q/A layout only has Q_begin and Q_end (the original asserts). In few-shot
    mode the original built an empty prompt for every combination except (no Q/A, Q_end),
    (no Q/A, Q_begin, non-chat scorer) and (Q/A, A_begin); we refuse those up front instead.
    """
    _check_position(instruction_pos)
    if not few_shot:
        if not include_qa and instruction_pos not in _NO_QA_POSITIONS:
            raise ConfigError(
                f"--instruction_pos={instruction_pos} needs --include_qa=true; "
                "use --instruction_pos=Q_begin or Q_end, or set --include_qa"
            )
        return
    if include_qa:
        if instruction_pos != "A_begin":
            raise ConfigError(
                f"few-shot scoring with --include_qa supports only --instruction_pos=A_begin, "
                f"not {instruction_pos}; change --instruction_pos or turn off "
                "--evaluate_generated_ins_on_few_shot"
            )
        return
    if instruction_pos == "Q_end":
        return
    if instruction_pos == "Q_begin" and not is_chat:
        return
    with_chat = " with a chat scorer" if is_chat else ""
    raise ConfigError(
        f"few-shot scoring without --include_qa does not support --instruction_pos="
        f"{instruction_pos}{with_chat}; use --instruction_pos=Q_end"
    )


def build_user_text(question: str, instruction: str, instruction_pos: str, include_qa: bool) -> str:
    """The zero-shot scorer input: question ``Q`` and instruction ``I`` (GPO_REFERENCE 3.1)."""
    _check_position(instruction_pos)
    q, i = question, instruction
    if not include_qa:
        if instruction_pos == "Q_begin":
            return (i + "\n" if i else "") + q
        if instruction_pos == "Q_end":
            return q + ("\n" + i if i else "")
        raise ConfigError(
            f"--instruction_pos={instruction_pos} needs --include_qa=true; "
            "use --instruction_pos=Q_begin or Q_end, or set --include_qa"
        )
    if instruction_pos == "before_Q":
        return (i + "\n" if i else "") + "Q: " + q + "\nA: "
    if instruction_pos == "Q_begin":
        return "Q: " + (i + " " if i else "") + q + "\nA: "
    if instruction_pos == "Q_end":
        return "Q: " + q + (" " + i if i else "") + "\nA: "
    return "Q: " + q + "\nA:" + (" " + i + " " if i else "")  # A_begin


def demo_answer_text(answer: Answer) -> str:
    """A demonstration's answer as text.

    Fix of the original's few-shot crash: GSM8K answers are ints (stringified) and WebNLG answers
    are lists of references (the first reference is used).
    """
    if isinstance(answer, list):
        return str(answer[0]) if answer else ""
    return str(answer)


def _few_shot_string(
    question: str, instruction: str, demos: Sequence[Example], instruction_pos: str
) -> str:
    """The non-chat few-shot strings of GPO_REFERENCE 8 (no Q/A: Q_end, Q_begin; Q/A: A_begin)."""
    i = instruction
    parts = []
    for demo in demos:
        q, a = demo.question, demo_answer_text(demo.answer)
        if instruction_pos == "Q_end":
            parts.append(q + ("\n" + i if i else "") + "\n" + a + "\n\n")
        elif instruction_pos == "Q_begin":
            # As in the original: the instruction and a newline always precede a demonstration,
            # so with an empty instruction every demonstration starts with a newline.
            parts.append(i + "\n" + q + "\n" + a + "\n\n")
        else:  # A_begin with the Q/A layout
            parts.append("Q: " + q + "\nA: " + (i + " " if i else "") + a + "\n\n")
    if instruction_pos == "Q_end":
        parts.append(question + ("\n" + i if i else ""))
    elif instruction_pos == "Q_begin":
        parts.append((i + "\n" if i else "") + question)
    else:
        parts.append("Q: " + question + "\nA:" + (" " + i + " " if i else ""))
    return "".join(parts)


def build_few_shot_prompt(
    question: str,
    instruction: str,
    demos: Sequence[Example],
    instruction_pos: str,
    include_qa: bool,
    is_chat: bool,
) -> Prompt:
    """The few-shot scorer input (GPO_REFERENCE 8) for settings that ``validate_scoring_settings``
    accepted (the run's preflight checks them once, before any model loads)."""
    if is_chat and not include_qa and instruction_pos == "Q_end":
        messages: list[ChatMessage] = []
        for demo in demos:
            messages.append(
                ChatMessage("user", demo.question + ("\n" + instruction if instruction else ""))
            )
            messages.append(ChatMessage("assistant", demo_answer_text(demo.answer)))
        # Kept quirk (GPO_REFERENCE 8 / 10.15): the final user turn is the question only; the
        # instruction is shown with every demonstration but not repeated on the test question.
        messages.append(ChatMessage("user", question))
        return tuple(messages)
    text = _few_shot_string(question, instruction, demos, instruction_pos)
    # Fix: the original passed the A_begin string straight to the chat template (a crash); a
    # chat scorer receives it as one user message instead.
    return user_message(text) if is_chat else text


def second_round_conversation(
    user_text: str, first_answer: str, request: str, include_qa: bool
) -> tuple[ChatMessage, ChatMessage, ChatMessage]:
    """user text, the first answer (cut before its first "Q:" with the Q/A layout), the request."""
    answer = first_answer.split("Q:")[0] if include_qa else first_answer
    return (
        ChatMessage("user", user_text),
        ChatMessage("assistant", answer),
        ChatMessage("user", request),
    )


def render_prompt(prompt: Prompt) -> str:
    """For CSVs: a string as is; messages as the original's repr of role/content dicts."""
    if isinstance(prompt, str):
        return prompt
    return repr([{"role": m.role, "content": m.content} for m in prompt])
