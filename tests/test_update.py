"""Update strategy, learning rate and flag-combination checks (GPO_REFERENCE 5.3 step 6, 5.6,
10.11, 10.12)."""

# ruff: noqa: E501  (golden text keeps its real, long lines)

from __future__ import annotations

import pytest

from gpo.config import OptimizerConfig, ScoringConfig
from gpo.data.base import Example
from gpo.errors import ConfigError
from gpo.optimization import meta_prompts as mp
from gpo.optimization.components import validate_components
from gpo.optimization.learning_rate import LearningRate, with_word_budget
from gpo.optimization.update import UpdateStrategy, validate_combination

EX = (Example(2, "not ( True ) and ( True ) is", "False"), Example(3, "True and False is", "False"))

GPO_META_PROMPT = """\
Your job is to write a prompt that will be put in place of <Prompt> in the task examples below.

Here are some earlier prompts, each with its score. Scores go from 0 to 100; the higher the score, the better the prompt.

Prompt: Work it out carefully.
Score: 0.5208333333333334

Prompt: Let's think step by step.
Score: 0.3541666666666667

The current prompt is:
Work it out carefully.

The examples below show how the prompt is used: <Prompt> in each input is replaced with your new prompt, the input is read, and an output is produced. An output that differs from the given output counts as wrong, and an output that matches it counts as correct.

Input:
not ( True ) and ( True ) is
<Prompt>
Output:
False

Input:
True and False is
<Prompt>
Output:
False

Look carefully at the previous prompts and their scores, then write a new, better prompt to put in place of <Prompt> at the end of the question in the task examples.
You may change at most 48 words of the current prompt.

Put the new prompt between <START> and <END>."""


def test_gpo_meta_prompt_with_word_budget_golden() -> None:
    strategy = UpdateStrategy("generate_without", EX, "Q_end")
    k_list = mp.k_list_string(
        [
            mp.ScoredPrompt("Work it out carefully.", 0.5208333333333334),
            mp.ScoredPrompt("Let's think step by step.", 0.3541666666666667),
        ]
    )
    meta = strategy.meta_prompt("Work it out carefully.", 0.5208333333333334, k_list=k_list)
    assert LearningRate("w_lr").apply(meta, 48) == GPO_META_PROMPT


@pytest.mark.parametrize("name", mp.BUILDER_NAMES)
def test_strategy_dispatches_to_the_named_builder(name: str) -> None:
    strategy = UpdateStrategy(name, EX, "Q_end")
    got = strategy.meta_prompt("U.", 0.25, gradient="Vague.", k_list=None)
    expected = getattr(mp, name)(mp.CandidateInputs("U.", 0.25, EX, "Q_end", gradient="Vague."))
    assert got == expected
    assert strategy.uses_gradient == (name in ("edit", "generate"))


def test_with_word_budget_inserts_before_last_line() -> None:
    assert with_word_budget("a\nb\nwrap", 7) == (
        "a\nb\nYou may change at most 7 words of the current prompt.\n\nwrap"
    )


def test_with_word_budget_on_a_one_line_meta_prompt_starts_with_a_newline() -> None:
    # The original joins every line but the last (none here), then adds "\n", the budget
    # line, "\n\n" and the last line, so a one-line meta-prompt gets a leading newline.
    budget = "You may change at most 3 words of the current prompt."
    assert with_word_budget("wrap", 3) == f"\n{budget}\n\nwrap"
    assert with_word_budget("", 3) == f"\n{budget}\n\n"
    assert LearningRate("w_lr").apply("wrap", 3) == f"\n{budget}\n\nwrap"


def test_learning_rate_adds_the_budget_only_with_a_step_size() -> None:
    assert LearningRate("wo_lr").apply("m\nwrap", None) == "m\nwrap"
    assert LearningRate("w_lr").apply("m\nwrap", 10) == with_word_budget("m\nwrap", 10)


GPO_FLAGS = dict(
    util_gradient_name="generate_without",
    gradient_name="-",
    instruction_pos="Q_end",
    include_qa=False,
    learning_rate_name="w_lr",
    decay_strategy="consine",
)


def _problems(**changes: object) -> list[str]:
    return validate_combination(**{**GPO_FLAGS, **changes})  # type: ignore[arg-type]


def test_gpo_and_baseline_combinations_are_valid() -> None:
    assert _problems() == []
    assert _problems(decay_strategy="cosine") == []
    # APE, APO, OPRO, PE2, SGDM (GPO_REFERENCE 1.3)
    assert _problems(learning_rate_name="wo_lr", decay_strategy="-") == []
    assert (
        _problems(
            util_gradient_name="edit",
            gradient_name="feedback",
            learning_rate_name="wo_lr",
            decay_strategy="-",
        )
        == []
    )
    assert _problems(gradient_name="feedback", decay_strategy="fixed") == []


@pytest.mark.parametrize(
    ("changes", "fix"),
    [
        (
            {"util_gradient_name": "edit"},
            "--util_gradient_name=edit needs --gradient_name=feedback; or use --util_gradient_name=edit_without",
        ),
        (
            {"util_gradient_name": "generate"},
            "--util_gradient_name=generate needs --gradient_name=feedback",
        ),
        (
            {"util_gradient_name": "bogus"},
            "--util_gradient_name='bogus' is not valid; set it to one of edit, generate, edit_without, generate_without",
        ),
        (
            {"util_gradient_name": "-"},
            # no method at all (the original's defaults): name --preset=gpo and the manual flags
            "no optimization method is configured (the original's defaults set none): add --preset=gpo",
        ),
        (
            {"instruction_pos": "before_Q"},
            "--instruction_pos=before_Q is not supported by the optimizer meta-prompts; use one of Q_end, Q_begin, A_begin",
        ),
        (
            {"util_gradient_name": "edit_without", "include_qa": True},
            "--util_gradient_name=edit_without with --include_qa=true needs --instruction_pos=A_begin (got Q_end); or set --include_qa=false",
        ),
        (
            {
                "util_gradient_name": "edit_without",
                "include_qa": True,
                "instruction_pos": "Q_begin",
            },
            "needs --instruction_pos=A_begin (got Q_begin)",
        ),
        (
            {"util_gradient_name": "edit_without", "instruction_pos": "A_begin"},
            "--util_gradient_name=edit_without with --instruction_pos=A_begin needs --include_qa=true",
        ),
        (
            {"decay_strategy": "-"},
            "--learning_rate_name=w_lr needs --decay_strategy=fixed, linear or consine; or use --learning_rate_name=wo_lr",
        ),
        (
            {"learning_rate_name": "wo_lr"},
            "--decay_strategy=consine needs --learning_rate_name=w_lr; or set --decay_strategy=-",
        ),
    ],
)
def test_invalid_combinations_name_the_fix(changes: dict[str, object], fix: str) -> None:
    problems = _problems(**changes)
    assert len(problems) == 1
    assert fix in problems[0]


def test_edit_without_with_qa_a_begin_is_valid() -> None:
    assert (
        _problems(util_gradient_name="edit_without", include_qa=True, instruction_pos="A_begin")
        == []
    )


def test_validate_components_joins_all_problems_on_one_line() -> None:
    bad = OptimizerConfig(util_gradient_name="edit", gradient_name="-", learning_rate_name="w_lr")
    with pytest.raises(ConfigError) as err:
        validate_components(bad, ScoringConfig(instruction_pos="before_Q"))
    message = str(err.value)
    assert "\n" not in message
    assert "--gradient_name=feedback" in message
    assert "before_Q" in message
    assert "--decay_strategy" in message
    gpo = OptimizerConfig(
        util_gradient_name="generate_without",
        gradient_name="-",
        learning_rate_name="w_lr",
        decay_strategy="consine",
    )
    validate_components(gpo, ScoringConfig())
