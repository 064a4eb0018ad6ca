"""Racing on the real bundled model (SmolLM2-135M on llama.cpp) through the CLI: the same seed
with --eval_racing=off and =exact gives the same trajectory, final prompt and scores, with fewer
scorer generations; bad racing flags fail before any model loads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import LOCAL_MODELS, assert_one_line_error, run_main

ARGS = [
    "--preset=ape",
    "--dataset=bbh",
    "--task_name=navigate",
    *LOCAL_MODELS,
    "--max_examples=6",
    "--opt_batch_size=6",
    "--num_search_epochs=1",
    "--num_generated_instructions_in_each_step=4",
    "--scorer_max_tokens=24",
    "--second_round_max_tokens=6",
    "--optimizer_max_tokens=48",
    "--n_threads=1",
    "--n_parallel=1",  # two runs compared for equal scores: the bit-exact path (README)
    "--no_cache",
    "--seed=3",
]


def _run(mode: str, tmp_path: Path, data_dir: Path) -> list[dict]:
    out = tmp_path / mode
    out.mkdir()
    run_main([*ARGS, f"--eval_racing={mode}", f"--data_dir={data_dir}"], out)
    [folder] = list((out / "out").iterdir())
    lines = (folder / "result_by_instruction" / "navigate" / "steps.jsonl").read_text()
    return [json.loads(line) for line in lines.splitlines()]


def _scorer_requests(steps: list[dict]) -> int:
    return sum(s["usage"]["roles"].get("scorer", {}).get("requests", 0) for s in steps)


@pytest.mark.real
def test_exact_racing_matches_full_evaluation_on_the_real_model(tmp_path, data_dir):
    full = _run("off", tmp_path, data_dir)
    raced = _run("exact", tmp_path, data_dir)
    assert [s.get("chosen") for s in raced] == [s.get("chosen") for s in full]
    assert raced[-1]["prompt"] == full[-1]["prompt"]
    assert raced[-1]["eval_score"] == full[-1]["eval_score"]
    assert raced[-1]["test_score"] == full[-1]["test_score"]
    [step] = [s for s in raced if "racing" in s]
    [full_step] = [s for s in full if "racing" in s]
    assert [c["prompt"] for c in step["candidates"]] == [
        c["prompt"] for c in full_step["candidates"]
    ]
    saved = step["racing"]["generations_saved"]
    assert saved > 0 and step["racing"]["dropped"]
    assert _scorer_requests(full) - _scorer_requests(raced) == saved
    assert full_step["racing"] == {
        "mode": "off",
        "generations_saved": 0,
        "generations_completing_partials": 0,
        "dropped": [],
    }


@pytest.mark.parametrize(
    ("flags", "fragments"),
    [
        (["--eval_racing=exacct"], ["--eval_racing", "exact"]),
        (["--eval_racing=statistical", "--racing_confidence=1.5"], ["--racing_confidence"]),
    ],
)
def test_bad_racing_flags(flags, fragments, main_in_process):
    outcome, out = main_in_process(["--dataset=bbh", "--task_name=navigate", *flags])
    assert_one_line_error(outcome, out, *fragments)
