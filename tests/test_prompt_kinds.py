"""The kinds of chosen prompts in experiment reports (rules of gpo.reports.prompt_kinds), on
prompts that Qwen2.5-Coder-1.5B actually wrote in the effectiveness grid."""

import pytest

from gpo.optimization.guards import CopyIndex
from gpo.reports.prompt_kinds import (
    CHATTER,
    COPIED,
    INITIAL,
    INSTRUCTION,
    SCAFFOLDING,
    PromptKinds,
    prompt_kind,
)

SHOWN = [
    "Message: The shipping costs have varied due to additional insurance charges this month.",
    "Message: My parcel was left at the wrong door and nobody answers the phone line.",
]
INDEX = CopyIndex.from_inputs(SHOWN)


@pytest.mark.parametrize(
    ("prompt", "kind"),
    [
        ("", INITIAL),
        ("Sure! Please provide a prompt.", CHATTER),
        (
            "Are you looking for a comprehensive analysis of the billing issues you are facing?",
            CHATTER,
        ),
        (
            "As a service provider, how can we provide better transparency in pricing changes?",
            CHATTER,
        ),
        (
            "Input:\nMessage: I have noticed that prices vary.\n<Prompt>\nOutput:\nshipping",
            SCAFFOLDING,
        ),
        ("The current prompt is:\n\nThe garden show is held in May.", CHATTER),
        (
            "The given prompt is unclear. To provide a better instruction, I suggest explaining "
            "the objective more clearly.",
            CHATTER,
        ),
        (
            "Message: The shipping costs have varied due to additional insurance charges this "
            "month. Answer: shipping",
            COPIED,
        ),
        (
            "The input is a description of a date. Write it in the ISO-8601 format YYYY-MM-DD.",
            INSTRUCTION,
        ),
        ("Which team does the message belong to? Answer with one word.", INSTRUCTION),
        ("What is the category of this ticket? Reply with billing or shipping.", INSTRUCTION),
    ],
)
def test_prompt_kind(prompt: str, kind: str) -> None:
    assert prompt_kind(prompt, initial="", index=INDEX) == kind


def test_a_kept_initial_instruction_is_counted_as_initial_not_as_a_new_instruction() -> None:
    cot = "Let's think step by step."
    assert prompt_kind(cot, initial=cot, index=INDEX) == INITIAL
    assert prompt_kind(cot, initial="", index=INDEX) == INSTRUCTION


def test_prompt_kinds_counts_and_shares() -> None:
    kinds = PromptKinds()
    for kind, cell in [(INSTRUCTION, "a"), (COPIED, "b"), (INSTRUCTION, "c"), (CHATTER, "d")]:
        kinds.add(kind, cell)
    assert (kinds.chosen, kinds.instructions, kinds.copies, kinds.initial_kept) == (4, 2, 1, 0)
    assert kinds.copied_cells == ["b"] and kinds.share(kinds.instructions) == 0.5
