"""The GPO loop on deterministic fakes, shared by the loop, preset, guard and racing tests: a
rule-based scorer for which better prompts exist (BEST answers every question right, GOOD half of
them), an optimizer that proposes them, a small navigate configuration, and ``run`` (one task)."""

from __future__ import annotations

from pathlib import Path

from gpo.config import ModelConfig, OptimizerConfig, RunConfig
from gpo.data.registry import get_benchmark
from gpo.data.sampling import FormatSampler
from gpo.evaluation.scorer import Scorer, ScorerSettings
from gpo.llm.accounting import Ledger, wrap_llm
from gpo.llm.base import GenerationParams, Prompt
from gpo.llm.embedder import FakeEmbedder
from gpo.llm.fake import FakeLLM
from gpo.optimization.components import build_components
from gpo.results.io import append_jsonl
from gpo.results.run_folder import RunFolder
from gpo.runs.optimize import best_record, run_task

TASK = "navigate"


def make_scorer_fake(answers: dict[str, str]) -> FakeLLM:
    """Answers right for every question when the prompt says BEST, for half with GOOD, else
    wrong. The second round repeats the first answer."""

    def respond(prompt: Prompt, params: GenerationParams, i: int) -> str:
        assert isinstance(prompt, tuple)
        if len(prompt) == 3:  # second round: repeat the first-round answer
            return prompt[1].content
        text = prompt[0].content
        question = next(q for q in answers if q in text)
        right = answers[question]
        wrong = "No" if right == "Yes" else "Yes"
        if "BEST" in text:
            return f"The answer is {right}."
        if "GOOD" in text:
            return f"The answer is {right if hash_even(question) else wrong}."
        return f"The answer is {wrong}."

    return FakeLLM(respond, name="fake-scorer")


def hash_even(text: str) -> bool:
    return sum(map(ord, text)) % 2 == 0


def optimizer_fake(fail_at_call: int | None = None) -> FakeLLM:
    proposals = ["Think GOOD.", "Think BEST.", "Think plainly."]
    calls = {"n": 0}

    def respond(prompt: Prompt, params: GenerationParams, i: int) -> str:
        calls["n"] += 1
        if fail_at_call is not None and calls["n"] == fail_at_call:
            raise RuntimeError("simulated crash")
        return f"Here it is: <START>{proposals[i % len(proposals)]}<END>"

    return FakeLLM(respond, name="fake-optimizer")


def make_config(tmp_path: Path, data_dir: Path, **opt) -> RunConfig:
    o = OptimizerConfig(
        num_search_epochs=1,
        num_generated_instructions_in_each_step=2,
        opt_batch_size=4,
        gradient_name="-",
        momentum_para_name="para",
        momentum_selection_name="relavance",
        momentum_selection_num=3,
        momentum_update_name="k-list",
        learning_rate_name="w_lr",
        initial_step_size=50,
        decay_strategy="consine",
        final_step_size=10,
        util_gradient_name="generate_without",
        **opt,
    )
    return RunConfig(
        dataset="bbh",
        tasks=(TASK,),
        initial_instruction="Let's think step by step.",
        scorer=ModelConfig("fake-scorer"),
        optimizer=ModelConfig("fake-optimizer", "auto", 1.0, 512),
        opt=o,
        data_dir=str(data_dir),
        output_dir=str(tmp_path / "out"),
        max_examples=8,
        cache_dir=None,
    )


def run(config: RunConfig, folder: RunFolder, optimizer: FakeLLM):
    bench = get_benchmark("bbh")
    data = bench.load(TASK, Path(config.data_dir), config.max_examples)
    answers = {
        e.question: str(e.answer) for split in ("train", "eval", "test") for e in data.split(split)
    }
    ledger = Ledger()
    scorer = Scorer(
        wrap_llm(make_scorer_fake(answers), "scorer", ledger, None), bench, ScorerSettings()
    )
    fmt = FormatSampler.seeded(0).sample([data], config.opt.format_data_num)[TASK]
    comps = build_components(
        config.opt, config.scoring, tuple(data.format[i] for i in fmt), FakeEmbedder()
    )
    opt = wrap_llm(optimizer, "optimizer", ledger, None)
    outcome = run_task(config, folder, TASK, data, scorer, opt, comps, ledger)
    append_jsonl(folder.best_prompts_path, best_record(config, TASK, outcome))  # the driver's
    return outcome
