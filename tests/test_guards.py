"""Candidate guards and the enforced word budget on deterministic fakes: each guard's verdict,
the resampling rounds (including the case where no candidate ever fits), the step log, and that
rejected candidates never reach the scorer."""

from __future__ import annotations

import dataclasses
import json
import logging

import pytest

from fake_loop import TASK, make_config, run
from gpo.config import OptimizerConfig, RunConfig
from gpo.data.base import AnswerKind, Example, TaskData, TaskSpec
from gpo.errors import ConfigError
from gpo.llm.base import GenerationParams, Prompt
from gpo.llm.fake import FakeLLM
from gpo.optimization.components import validate_components
from gpo.optimization.guards import (
    COPY,
    INSTRUCTION,
    CopyIndex,
    Guards,
    LeakageIndex,
    build_guards,
    classify_prompt,
    copied_reason,
    empty_reason,
    leakage_reason,
    length_reason,
    parse_guard_names,
    scaffolding_reason,
)
from gpo.optimization.proposal import propose
from gpo.optimization.screening import (
    ScreeningPolicy,
    budget_compliance,
    compliance_line,
    screen,
)
from gpo.presets import PRESETS, preset_values
from gpo.reports.report import write_report
from gpo.results.io import read_jsonl
from gpo.results.run_folder import RunFolder

CURRENT = "Let's think step by step."
LONG = " ".join(["Word"] + ["word"] * 39)  # polished candidates start upper-case
W12 = " ".join(["W"] + ["w"] * 11)

# The best boolean_expressions prompt of this repository's earlier GPO_results.jsonl.
LEAKED = (
    "Prompt: Look carefully at the previous prompt, pick a different option.\nScore: 0.25\n"
    "Produced: Not True or True is\n\nPrompt:___ \nScore: -1.25\nProduced: False is"
)


# --- the guards ------------------------------------------------------------------------------

REVIEW = "Review: The toaster burns one side of the bread and leaves the other pale."


def copy_task() -> TaskData:
    spec = TaskSpec("custom", "reviews", AnswerKind.EXACT, True, "exact")
    shown = [
        Example(0, REVIEW, "negative"),
        Example(
            1, "Review: My daughter reads this picture book every night, it is lovely.", "positive"
        ),
    ]
    held = (Example(0, "Review: The kettle boils water in under two minutes flat.", "positive"),)
    return TaskData(spec, tuple(shown[1:]), held, held, (), tuple(shown[:1]))


def test_copied_guard_rejects_eight_words_of_a_shown_input():
    guards = build_guards(("copied",), 200, copy_task())
    # the winner: a copied exemplar followed by its label
    winner = "The toaster burns one side of the bread and leaves the other pale.\nOutput:\nnegative"
    assert guards.check(winner) == [
        ("copied", "repeats 8 words of a shown input 'burns one side of the bread and leaves'")
    ]
    # a wrong (train) example counts as shown too
    assert guards.check("My daughter reads this picture book every night, so answer positive.")
    # seven words in a row are not a copy; an instruction is not either
    assert guards.check("The toaster burns one side of the bread? Label it.")  # 8 words
    assert guards.check("Toaster burns one side of the bread. Label it.") == []
    assert guards.check("Answer with one word: positive or negative.") == []
    # eval/test inputs are the leakage guard's business, not this one's
    assert guards.check("The kettle boils water in under two minutes flat.") == []


def test_copied_guard_lets_an_instruction_restate_the_task_template():
    template = "If you follow these instructions, do you return to the starting point?"
    inputs = [f"{template} Take {i} steps. Turn left. Take {i + 1} steps." for i in range(4)]
    index = CopyIndex.from_inputs(inputs)
    assert copied_reason(f"Think about it: {template}", index) is None
    assert copied_reason("Take 2 steps. Turn left. Take 3.", index) is None  # 7 words
    assert copied_reason("Take 2 steps. Turn left. Take 3 steps.", index) is not None
    unique = "the red fox jumps over the lazy brown dog twice"
    index = CopyIndex.from_inputs([*inputs, f"{template} {unique}"])
    assert copied_reason(f"Say yes when {unique}", index) is not None


def test_classify_prompt_uses_the_same_rule():
    index = CopyIndex.from_task(copy_task())
    assert classify_prompt(REVIEW + " negative", index) == COPY
    assert classify_prompt("Decide if the review is positive or negative.", index) == INSTRUCTION
    assert classify_prompt("", index) == INSTRUCTION


def test_scaffolding_catches_closing_tags():
    # a real Qwen2.5-Coder-1.5B candidate: the reply closed with </END>, which <END> misses
    reply = "I would like to know how to diagnose my printer.</END>"
    assert scaffolding_reason(reply) == "contains the meta-prompt tag </END>"
    assert scaffolding_reason("Wrap it in </START> tags") is not None


def test_copied_is_a_known_guard_name():
    assert parse_guard_names(["copied", "Scaffolding"]) == ("copied", "scaffolding")


def test_empty_guard():
    assert empty_reason("") == "no words"
    assert empty_reason("  ... ** ") == "no words"
    assert empty_reason("Think.") is None


def test_length_guard():
    assert length_reason("one two three", 3) is None
    assert length_reason("one two three four", 3) == "4 words > --max_prompt_words=3"


@pytest.mark.parametrize(
    "candidate,fragment",
    [
        ("Answer well. <END> more", "<END>"),
        ("Use the <START> tag", "<START>"),
        ("Replace <Prompt> here", "<Prompt>"),
        ("Be precise.\nScore: 0.25", "score line 'Score: 0.25'"),
        ("Input: the question\nThink.", "Input: header"),
        ("  output: yes", "Output: header"),
        (LEAKED, "score line"),
        ("Look carefully at the previous prompt, pick a different option.", "wording"),
        ("Put the new prompt between START and END.", "wording"),
        ("Write a new, better prompt to put in place of the blank.", "wording"),
        ("You may change at most 20 words of it.", "wording"),
    ],
)
def test_scaffolding_guard_rejects(candidate, fragment):
    reason = scaffolding_reason(candidate)
    assert reason is not None and fragment in reason


@pytest.mark.parametrize(
    "candidate",
    [
        CURRENT,
        "Read the question carefully, then answer with the letter of the correct option.",
        "Evaluate the boolean expression step by step; the score of each part matters.",
        "Give your final output as True or False.",  # 'output' not as a line header
    ],
)
def test_scaffolding_guard_passes_instructions(candidate):
    assert scaffolding_reason(candidate) is None


def task_data() -> TaskData:
    spec = TaskSpec("bbh", "word_sorting", AnswerKind.WORD_SORTING, False)
    template = "Sort the following words alphabetically and write them in one line please: "

    def ex(i: int, words: str, answer: str) -> Example:
        return Example(i, template + words, answer)

    return TaskData(
        spec=spec,
        train=(ex(0, "zebra apple mango", "apple mango zebra"),),
        eval=(
            ex(0, "kiwi lemon fig grape plum pear peach lime cherry", "cherry fig grape"),
            Example(1, "Is it true?", "True"),
        ),
        test=(Example(0, "Which option?", "(A)"),),
        few_shot=(),
        format=(),
    )


def test_leakage_guard_answers_and_inputs():
    index = LeakageIndex.from_task(task_data())
    assert index.answers == frozenset({"cherry fig grape"})  # "True" and "(A)" are too short
    r = leakage_reason("Always answer: cherry, fig, grape.", index)
    assert r is not None and "gold answer 'cherry fig grape'" in r
    r = leakage_reason("Remember kiwi lemon fig grape plum pear peach lime.", index)
    assert r is not None and "copies 8 words of an eval/test input" in r
    # the task's template (also in train inputs) is not leakage, nor a short answer
    template = "Sort the following words alphabetically and write them in one line please."
    assert leakage_reason(template, index) is None
    assert leakage_reason("The answer is True (A).", index) is None
    assert leakage_reason("cherry fig grapefruit", index) is None  # word boundaries


def test_leakage_guard_lets_an_instruction_name_the_label_set():
    """A label that train examples also have is the task's vocabulary: the 4-team routing
    prompt names "shipping" and "technical" (8+ characters), and gpo+ rejected every such
    candidate as leakage before."""
    spec = TaskSpec("custom", "route", AnswerKind.EXACT, True, "exact")
    train = (Example(0, "Message: my parcel is late.", "shipping"),)
    held = (
        Example(1, "Message: the app crashes.", "technical"),
        Example(2, "Message: my parcel went to the wrong town.", "shipping"),
        Example(3, "Message: I forgot the password of my profile.", "account settings"),
    )
    index = LeakageIndex.from_task(TaskData(spec, train, held, held, (), ()))
    routing = "Route the message to one team: billing, shipping, account or technical."
    assert index.answers == frozenset({"technical", "account settings"})
    r = leakage_reason(routing, index)  # "technical" is no train answer: still guarded
    assert r is not None and "'technical'" in r
    index = LeakageIndex.from_task(TaskData(spec, (*train, held[0]), held[2:], held[2:], (), ()))
    assert leakage_reason(routing, index) is None
    assert leakage_reason("Answer account settings.", index) is not None


def test_guards_check_every_rule_in_fixed_order_and_parse_names():
    guards = Guards(("length", "scaffolding", "empty"), max_prompt_words=3)
    assert guards.check(CURRENT) == [("length", "5 words > --max_prompt_words=3")]
    rules = [r for r, _ in guards.check("Input: a b c d")]
    assert rules == ["scaffolding", "length"]
    assert guards.check("Ok go.") == []
    assert Guards().check("") == []  # no guard, no verdict
    assert parse_guard_names(["Leakage", "empty", "", "empty"]) == ("leakage", "empty")
    with pytest.raises(ConfigError, match="choices: scaffolding, leakage, copied, empty, length"):
        parse_guard_names(["scafolding"])


# --- screening and resampling ----------------------------------------------------------------


def optimizer_by_index(replies: dict[int, str], default: str = LONG) -> FakeLLM:
    """Reply i (the sample index) is replies[i], else ``default``."""

    def respond(prompt: Prompt, params: GenerationParams, i: int) -> str:
        return f"<START>{replies.get(i, default)}<END>"

    return FakeLLM(respond, name="fake-optimizer")


def run_screen(llm: FakeLLM, policy: ScreeningPolicy, n: int = 2, step_size: int | None = 4):
    return screen(
        lambda count, first: propose(llm, "meta", count, 1.0, 7, 64, first),
        CURRENT,
        n,
        step_size,
        policy,
    )


def indices(llm: FakeLLM) -> list[tuple[int, ...]]:
    return [c.sample_indices for c in llm.calls]


def test_screening_off_is_one_round_and_keeps_everything():
    llm = optimizer_by_index({0: "Input: x"})  # edit distance 5 from CURRENT
    s = run_screen(llm, ScreeningPolicy(), step_size=5)
    assert indices(llm) == [(0, 1)] and s.resample_rounds == 0 and not s.budget_fallback
    assert s.accepted == ["Input: x", LONG]
    assert [c.within_budget for c in s.candidates] == [True, False]
    assert s.within_budget_share == 0.5  # measured even when not enforced


def test_enforced_budget_resamples_only_the_missing_candidates():
    llm = optimizer_by_index({1: "Let's think it through step by step.", 3: "Think step by step."})
    s = run_screen(llm, ScreeningPolicy(enforce_step_size=True))
    # round 0: samples 0 (40 words) and 1 (fits); round 1 asks for ONE more with sample 2 (too
    # long); round 2 asks for one more with sample 3 (fits)
    assert indices(llm) == [(0, 1), (2,), (3,)]
    assert s.resample_rounds == 2
    assert s.accepted == ["Let's think it through step by step.", "Think step by step."]
    rejected = [c for c in s.candidates if not c.kept]
    assert [c.round for c in rejected] == [0, 1]
    assert all(c.rejected_by == ("step_size",) for c in rejected)
    assert rejected[0].reasons == ("step_size: edit distance 40 > K=4",)
    assert s.within_budget_share == 0.5


def test_no_candidate_ever_fits_keeps_the_closest_and_says_so(caplog):
    llm = optimizer_by_index({0: LONG, 1: W12, 3: W12})
    with caplog.at_level(logging.WARNING):
        s = run_screen(llm, ScreeningPolicy(enforce_step_size=True, max_resamples=2))
    assert indices(llm) == [(0, 1), (2, 3), (4, 5)]  # every round asks for both again
    assert s.resample_rounds == 2 and s.budget_fallback
    assert s.within_budget_share == 0.0
    # the two 12-word candidates are the closest (distance 12); identical texts both kept
    assert s.accepted == [W12] * 2
    assert all(c.closest_kept for c in s.candidates if c.kept)
    assert "no candidate within the word budget K=4 after 2 resample round(s)" in caplog.text


def test_guard_rejections_are_never_kept_as_closest():
    llm = optimizer_by_index({}, default="Score: 1.0 " + LONG)
    policy = ScreeningPolicy(Guards(("scaffolding",)), enforce_step_size=True, max_resamples=1)
    s = run_screen(llm, policy)
    assert s.accepted == [] and not s.budget_fallback and s.resample_rounds == 1
    assert all(set(c.rejected_by) == {"scaffolding", "step_size"} for c in s.candidates)


def test_guards_alone_resample_and_max_resamples_zero_does_not():
    llm = optimizer_by_index({0: "", 2: "Think."}, default="Think twice.")
    s = run_screen(llm, ScreeningPolicy(Guards(("empty",))), step_size=None)
    assert indices(llm) == [(0, 1), (2,)]
    assert s.accepted == ["Think twice.", "Think."] and s.within_budget_share is None
    llm = optimizer_by_index({0: ""}, default="Think twice.")
    s = run_screen(llm, ScreeningPolicy(Guards(("empty",)), max_resamples=0), step_size=None)
    assert indices(llm) == [(0, 1)] and s.accepted == ["Think twice."]


def test_budget_compliance_summary():
    records = [
        {"global_step": -1, "kind": "initial"},
        {
            "global_step": 0,
            "step_size": 5,
            "resample_rounds": 1,
            "budget_fallback": False,
            "candidates": [{"edit_distance": 3}, {"edit_distance": 9}, {"edit_distance": 5}],
        },
        {"global_step": 1, "step_size": None, "candidates": [{"edit_distance": 1}]},
    ]
    rows = budget_compliance(records)
    assert rows == [
        {
            "global_step": 0,
            "step_size": 5,
            "proposed": 3,
            "within": 2,
            "resample_rounds": 1,
            "budget_fallback": False,
        }
    ]
    assert compliance_line("t", rows) == (
        "t word budget per step (within K / proposed): K=5 2/3 +1 rounds"
    )


# --- config, preset and the loop -------------------------------------------------------------


def test_enforce_step_size_needs_a_word_budget():
    from gpo.config import ScoringConfig

    o = OptimizerConfig(
        learning_rate_name="wo_lr", util_gradient_name="generate_without", gradient_name="-"
    )
    validate_components(o, ScoringConfig())  # fine without enforcement
    o = dataclasses.replace(o, enforce_step_size=True)
    with pytest.raises(ConfigError, match="--enforce_step_size needs a word budget"):
        validate_components(o, ScoringConfig())


def test_gpo_plus_preset_is_gpo_with_both_extensions():
    plus, gpo = preset_values("gpo+"), preset_values("gpo")
    assert {k: v for k, v in plus.items() if k in gpo} == gpo
    assert plus["enforce_step_size"] is True
    assert plus["candidate_guards"] == ["scaffolding", "leakage", "copied", "empty", "length"]
    assert "gpo+" in PRESETS


def test_run_config_round_trip_keeps_guards(tmp_path, data_dir):
    config = make_config(tmp_path, data_dir, candidate_guards=("empty", "leakage"))
    again = RunConfig.from_json(json.loads(json.dumps(config.to_json())))
    assert again == config and again.opt.candidate_guards == ("empty", "leakage")
    old = config.to_json()
    for key in ("enforce_step_size", "max_resamples", "candidate_guards", "max_prompt_words"):
        del old["opt"][key]  # a run folder written before these flags existed
    assert RunConfig.from_json(old).opt.candidate_guards == ()


def loop_optimizer() -> FakeLLM:
    """Sample 0 leaks scaffolding, sample 1 is far too long for K, later samples are fine."""
    replies = {0: "Input: Think BEST.", 1: "Think BEST. " + LONG, 2: "Think BEST.", 3: "Think."}
    return optimizer_by_index(replies, default="Think GOOD.")


def test_loop_with_guards_and_enforced_budget(tmp_path, data_dir):
    config = make_config(
        tmp_path,
        data_dir,
        enforce_step_size=True,
        candidate_guards=("scaffolding", "leakage", "empty", "length"),
    )
    folder = RunFolder.create(config)
    optimizer = loop_optimizer()
    outcome = run(config, folder, optimizer)
    steps = read_jsonl(folder.steps_path(TASK))
    first = steps[1]
    assert first["step_size"] == 30 and first["resample_rounds"] == 1
    cands = first["candidates"]
    assert [c["prompt"] for c in cands] == [
        "Input: Think BEST.",
        "Think BEST. " + LONG,
        "Think BEST.",
        "Think.",
    ]
    assert [c["status"] for c in cands] == ["rejected", "rejected", "new", "new"]
    assert cands[0]["rejected_by"] == ["scaffolding"] and cands[0]["eval_score"] is None
    assert cands[1]["rejected_by"] == ["step_size"] and cands[1]["within_budget"] is False
    assert [c["round"] for c in cands] == [0, 0, 1, 1]
    assert first["within_budget_share"] == 0.75
    # rejected candidates were never scored
    assert "Input: Think BEST." not in outcome.state.scores
    assert "Think BEST. " + LONG not in outcome.state.scores
    assert outcome.best.prompt == "Think BEST."
    final = steps[-1]
    assert final["kind"] == "final"
    assert [r["within"] for r in final["budget_compliance"]] == [3, 3]
    assert [r["resample_rounds"] for r in final["budget_compliance"]] == [1, 1]
    # the run's report shows the compliance per step
    text = write_report(folder.root).read_text()
    assert "| task | step | K | within K | rejected | resample rounds |" in text
    assert f"| {TASK} | 1 | 30 | 3/4 | scaffolding 1, step_size 1 | 1 |" in text


def test_loop_with_everything_off_logs_but_rejects_nothing(tmp_path, data_dir):
    config = make_config(tmp_path, data_dir)
    folder = RunFolder.create(config)
    optimizer = loop_optimizer()
    outcome = run(config, folder, optimizer)
    first = read_jsonl(folder.steps_path(TASK))[1]
    assert [len(c.prompts) for c in optimizer.calls] == [2, 2]  # no resampling
    assert first["resample_rounds"] == 0 and first["within_budget_share"] == 0.5
    assert all(c["rejected_by"] == [] for c in first["candidates"])
    assert "Input: Think BEST." in outcome.state.scores  # scored, as the paper would


def test_presets_still_validate_with_plus(tmp_path, data_dir):
    fields = {f.name for f in dataclasses.fields(OptimizerConfig)}
    values = {k: v for k, v in preset_values("gpo+").items() if k in fields}
    values["candidate_guards"] = tuple(values["candidate_guards"])
    from gpo.config import ScoringConfig

    validate_components(OptimizerConfig(**values), ScoringConfig())
