"""The example tasks in examples/ (label set, strict format, extraction): they load, their answers
fit their metric, and the experiment command optimizes each on fakes where only the instruction
decides the score; gpo+ rejects a candidate that copies a shown exemplar."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gpo.data.registry import get_benchmark
from gpo.evaluation.metrics import check_task_metric
from gpo.experiments import experiment
from gpo.llm.base import GenerationParams, Prompt, prompt_text
from gpo.llm.fake import FakeLLM
from gpo.reports.table import build_table, read_experiment
from gpo.results.io import read_jsonl
from gpo.runs.build import ModelPool
from gpo.runs.runtime import Runtime
from test_experiment import flags_parsed  # noqa: F401  (the fixture)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NEW_TASKS = ("support_ticket", "date_iso", "email_extract")
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}$")
EMAIL = re.compile(r"^[a-z0-9.]+@[a-z0-9.-]+\.[a-z]+$")


def test_every_example_task_is_listed():
    tasks = get_benchmark("custom", EXAMPLES).resolve_tasks(["all"])
    assert sorted(tasks) == sorted(("review_sentiment", *NEW_TASKS))


@pytest.mark.parametrize("task", NEW_TASKS)
def test_example_task_sizes_answers_and_no_overlap(task):
    data = get_benchmark("custom", EXAMPLES).load(task, EXAMPLES)
    sizes = {s: len(data.split(s)) for s in ("train", "eval", "test", "format", "few_shot")}
    assert sizes["eval"] >= 32 and sizes["test"] >= 32 and sizes["train"] >= 16
    assert sizes["format"] >= 3 and sizes["few_shot"] >= 3
    check_task_metric(data)
    everything = [e for s in sizes for e in data.split(s)]
    assert len({e.question for e in everything}) == len(everything)  # no record twice
    answers = [str(e.answer) for e in everything]
    if task == "support_ticket":
        assert set(answers) == {"billing", "shipping", "account", "technical"}
        assert {str(e.answer) for e in data.eval} == set(answers)
    elif task == "date_iso":
        assert all(ISO.match(a) for a in answers)
    else:
        assert all(EMAIL.match(a) and a in e.question for a, e in zip(answers, everything))


def gold_scorer(task: str) -> FakeLLM:
    """Answers right only when the instruction names what to give (the word ONLY), else
    paraphrases the input: the instruction alone decides the score."""
    data = get_benchmark("custom", EXAMPLES).load(task, EXAMPLES)
    gold = {e.question: str(e.answer) for s in ("train", "eval", "test") for e in data.split(s)}

    def respond(prompt: Prompt, params: GenerationParams, i: int) -> str:
        text = prompt_text(prompt)
        question = next((q for q in gold if q in text), None)
        if question is None:
            return "OK"
        return gold[question] if "ONLY" in text else f"It says: {question}"

    return FakeLLM(respond, name="fake-scorer")


def copying_optimizer(task: str) -> FakeLLM:
    """Sample 0 pastes the first format exemplar (a copy), the others write an instruction."""
    first = get_benchmark("custom", EXAMPLES).load(task, EXAMPLES).format[0]

    def respond(prompt: Prompt, params: GenerationParams, i: int) -> str:
        if i % 2 == 0:
            return f"<START>{first.question} {first.answer}<END>"
        return "<START>Reply with ONLY the answer itself.<END>"

    return FakeLLM(respond, name="fake-optimizer")


class TaskPool(ModelPool):
    def __init__(self, task: str) -> None:
        self.scorer, self.optimizer = gold_scorer(task), copying_optimizer(task)
        super().__init__(Runtime(load_llm=self._load))

    def _load(self, spec, options):
        return self.scorer if spec.alias == "fake-scorer" else self.optimizer


@pytest.mark.parametrize("task", NEW_TASKS)
def test_experiment_command_optimizes_each_example_task(task, tmp_path, flags_parsed):  # noqa: F811
    argv = flags_parsed(
        [
            "--presets=gpo+",
            "--seeds=0",
            "--dataset=custom",
            f"--task_name={task}",
            f"--data_dir={EXAMPLES}",
            "--scorer_llm_name=fake-scorer",
            "--scorer_backend=openai",
            "--optimizer_llm_name=fake-optimizer",
            "--optimizer_backend=openai",
            "--openai_api_key=sk-unused",
            "--embedding_model=fake",
            "--num_search_epochs=1",
            "--num_generated_instructions_in_each_step=2",
            "--opt_batch_size=16",
            "--max_resamples=0",
            "--baselines=empty",
            "--no_cache",
            f"--output_dir={tmp_path / 'out'}",
        ]
    )
    folder, results = experiment.execute(argv, pool=TaskPool(task))
    assert [r.state for r in results] == ["finished", "finished"]
    run = folder.root / "runs" / f"gpo+-custom-{task}-seed0"
    [best] = read_jsonl(run / "best_prompts.jsonl")
    assert best["initial_test_score"] == 0.0  # "Let's think step by step." names nothing
    assert best["prompt"] == "Reply with ONLY the answer itself." and best["test_score"] == 1.0
    [step] = [
        s
        for s in read_jsonl(run / "result_by_instruction" / task / "steps.jsonl")
        if not s.get("kind")
    ][:1]
    rejected = [c for c in step["candidates"] if c.get("status") == "rejected"]
    assert rejected and all("copied" in c["rejected_by"] for c in rejected)
    table = build_table(read_experiment(folder.root), n_resamples=200)
    versus = table.versus_initial[("gpo+", "custom")]
    assert (versus.wins, versus.ties, versus.losses) == (1, 0, 0)
    assert versus.mean_difference == 100.0
    kinds = table.kinds["gpo+"]
    assert (kinds.chosen, kinds.instructions, kinds.copies) == (1, 1, 0)
