"""The runtime object: a run makes its models, embedder, ledger and scorer rounds only through the
``Runtime`` it is given (what the benchmark and the tests pass instead of monkeypatching)."""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from pathlib import Path

import pytest

from gpo.cli import app
from gpo.cli import flags as gpo_flags
from gpo.llm.base import GenerationParams, Prompt, prompt_text
from gpo.llm.fake import FakeLLM
from gpo.results.io import read_json, read_jsonl
from gpo.runs.runtime import DEFAULT_RUNTIME, Runtime


def fake_backend(spec, options) -> FakeLLM:
    """Scorer says Yes to instructions with BEST; the optimizer proposes two candidates."""

    def respond(prompt: Prompt, params: GenerationParams, i: int) -> str:
        text = prompt_text(prompt)
        if spec.alias == "fake-scorer":
            return "Yes" if "BEST" in text else "No"
        return f"<START>{['Think BEST.', 'Answer briefly.'][(i + params.seed) % 2]}<END>"

    return FakeLLM(respond, name=spec.alias)


def counting_runtime(calls: Counter, ledgers: list) -> Runtime:
    """The production runtime with fake backends and every factory counted."""

    def counted(name: str, fn):
        def wrapper(*args):
            calls[name] += 1
            return fn(*args)

        return wrapper

    def make_ledger():
        ledgers.append(DEFAULT_RUNTIME.make_ledger())
        return ledgers[-1]

    base = DEFAULT_RUNTIME
    return dataclasses.replace(
        base,
        load_llm=counted("load_llm", fake_backend),
        check_llm=counted("check_llm", base.check_llm),
        wrap_llm=counted("wrap_llm", base.wrap_llm),
        load_embedder=counted("load_embedder", base.load_embedder),
        make_ledger=counted("make_ledger", make_ledger),
        scorer_replies=counted("scorer_replies", base.scorer_replies),
    )


@pytest.fixture
def run_main():
    """``gpo.cli.app.run`` in this process; main.py's flags and the log handlers restored after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level

    def run(args: list[str], runtime: Runtime) -> None:
        gpo_flags.FLAGS.unparse_flags()
        app.run(["main.py", *args], runtime)

    yield run
    gpo_flags.FLAGS.unparse_flags()
    root.handlers[:] = handlers
    root.setLevel(level)


def main_args(tmp_path: Path, data_dir: Path, *extra: str) -> list[str]:
    return [
        "--preset=gpo",
        "--dataset=bbh",
        "--task_name=navigate",
        "--scorer_llm_name=fake-scorer",
        "--scorer_backend=openai",
        "--optimizer_llm_name=fake-optimizer",
        "--optimizer_backend=openai",
        "--openai_api_key=sk-test-unused",
        "--embedding_model=fake",
        "--max_examples=4",
        "--num_search_epochs=1",
        "--num_generated_instructions_in_each_step=2",
        "--opt_batch_size=4",
        "--no_cache",
        f"--output_dir={tmp_path / 'out'}",
        f"--data_dir={data_dir}",
        *extra,
    ]


def test_optimize_makes_everything_through_its_runtime(tmp_path, data_dir, run_main) -> None:
    calls: Counter = Counter()
    ledgers: list = []
    run_main(main_args(tmp_path, data_dir), counting_runtime(calls, ledgers))
    [folder] = list((tmp_path / "out").iterdir())
    assert read_json(folder / "status.json")["state"] == "finished"
    # two models loaded and checked, each wrapped for its role; relevance momentum's embedder
    assert calls["load_llm"] == 2 and calls["check_llm"] == 2 and calls["wrap_llm"] == 2
    assert calls["load_embedder"] == 1 and calls["make_ledger"] == 1
    assert calls["scorer_replies"] >= 3  # initial eval and test, the step's candidates
    summary = read_json(folder / "usage_summary.json")["total"]
    assert ledgers[0].total().requests == summary["requests"] > 0
    assert read_jsonl(folder / "best_prompts.jsonl")[0]["prompt"]


def test_evaluate_makes_its_scorer_through_its_runtime(tmp_path, data_dir, run_main) -> None:
    calls: Counter = Counter()
    ledgers: list = []
    args = main_args(tmp_path, data_dir, "--only_evaluate", "--initial_instruction=Be BEST.")
    run_main(args, counting_runtime(calls, ledgers))
    [folder] = list((tmp_path / "out").iterdir())
    assert read_json(folder / "status.json")["state"] == "finished"
    assert calls["load_llm"] == 1 and calls["check_llm"] == 1 and calls["wrap_llm"] == 1
    assert calls["load_embedder"] == 0 and calls["make_ledger"] == 1
    assert calls["scorer_replies"] >= 1
    assert (
        ledgers[0].total().requests == read_json(folder / "usage_summary.json")["total"]["requests"]
    )


def test_the_default_runtime_is_production_and_picklable() -> None:
    import pickle

    from gpo.evaluation.scorer import generate_unique
    from gpo.llm.accounting import Ledger, wrap_llm
    from gpo.llm.factory import build_llm

    rt = DEFAULT_RUNTIME
    assert (rt.load_llm, rt.wrap_llm, rt.make_ledger) == (build_llm, wrap_llm, Ledger)
    assert rt.scorer_replies is generate_unique
    assert pickle.loads(pickle.dumps(rt)) == rt  # Ray ships it to every worker
