"""Bad input: one line on stderr naming the fix, exit status 2, no traceback, no run folder."""

from __future__ import annotations

import shutil

import pytest

from helpers import (
    EMBEDDER,
    LOCAL_MODELS,
    SMOLLM2,
    assert_one_line_error,
    run_main_expecting_error,
)

SMOL = ["--dataset=bbh", "--task_name=navigate", *LOCAL_MODELS, EMBEDDER]

BAD_FLAGS = [
    (["--dataset=bbx"], ["--dataset", "did you mean 'bbh'"]),
    (["--dataset=bbh", "--task_name=navigat"], ["navigat", "navigate"]),
    (
        [
            "--dataset=bbh",
            "--task_name=navigate",
            "--scorer_llm_name=smollm-135m",
            "--only_evaluate",
        ],
        ["smollm-135m", "smollm2-135m"],
    ),
    (["--decay_strategy=cosin"], ["--decay_strategy", "did you mean"]),
    (["--momentum_selection_name=relevence"], ["--momentum_selection_name", "relevance"]),
    (["--instruction_pos=Q_middle"], ["--instruction_pos", "Q_end"]),
    (["--num_search_epochs=0"], ["--num_search_epochs", ">= 1"]),
    (["--scorer_backend=vllmm"], ["--scorer_backend", "vllm"]),
    (["--preset=gpo2"], ["--preset", "gpo"]),
    (["--no_such_flag=1"], ["no_such_flag"]),
    (["--num_search_epochs=three"], ["num_search_epochs"]),
    (["--prompts_file=x.jsonl"], ["--only_evaluate"]),
    (
        [
            "--dataset=bbh",
            "--task_name=navigate",
            "--util_gradient_name=generate",
            "--gradient_name=-",
            "--scorer_llm_name=smollm2-135m",
            "--optimizer_llm_name=smollm2-135m",
        ],
        ["--gradient_name=feedback"],
    ),
    (
        [
            "--dataset=bbh",
            "--task_name=navigate",
            "--preset=gpo",
            "--decay_strategy=-",
            "--scorer_llm_name=smollm2-135m",
            "--optimizer_llm_name=smollm2-135m",
        ],
        ["--decay_strategy"],
    ),
    (
        [
            "--dataset=bbh",
            "--task_name=navigate",
            "--preset=ape",
            "--enforce_step_size",
            "--scorer_llm_name=smollm2-135m",
            "--optimizer_llm_name=smollm2-135m",
        ],
        ["--enforce_step_size", "wo_lr", "--learning_rate_name=w_lr"],
    ),
    (["--candidate_guards=scafolding"], ["--candidate_guards", "scaffolding"]),
    (["--max_prompt_words=0"], ["--max_prompt_words", ">= 1"]),
    (["--max_resamples=-1"], ["--max_resamples", ">= 0"]),
    (
        [
            "--dataset=bbh",
            "--task_name=navigate",
            "--only_evaluate",
            "--include_qa=false",
            "--instruction_pos=A_begin",
            "--scorer_llm_name=smollm2-135m",
        ],
        ["include_qa"],
    ),
    # The original's defaults configure no method: say so, and name the preset and the flags.
    ([], ["no optimization method is configured", "--preset=gpo", "--util_gradient_name"]),
    (
        SMOL
        + ["--preset=gpo", "--decay_strategy=linear", "--max_examples=40"]
        + ["--num_search_epochs=1", "--warmup_steps=5"],
        # 40 train rows / batch 8 = 5 steps = --warmup_steps: caught before the initial eval
        ["navigate (5 steps)", "--warmup_steps=5"],
    ),
    (
        SMOL + ["--preset=gpo", "--optimizer_temperature=-0.5"],
        ["--optimizer_temperature=-0.5", ">= 0"],
    ),
    (SMOL + ["--preset=gpo", "--max_cost_usd=-1"], ["--max_cost_usd=-1", ">= 0"]),
    (SMOL + ["--preset=gpo", "--max_tokens_budget=-5"], ["--max_tokens_budget=-5", ">= 0"]),
    (
        ["--dataset=wsc", "--only_evaluate", "--scorer_backend=hf", "--scorer_llm_name=x/y"]
        + ["--gpus=abc"],
        ["--gpus=abc", "integers"],
    ),
]


@pytest.mark.parametrize("args,fragments", BAD_FLAGS, ids=[" ".join(a) for a, _ in BAD_FLAGS])
def test_bad_flag_values(args, fragments, main_in_process, data_dir):
    # in this process: parsing and validation are what is checked here; test_unreachable_server
    # and test_key_never_written run main.py as a subprocess (the real process's exit status)
    outcome, out = main_in_process(args, data_dir=data_dir)
    assert_one_line_error(outcome, out, *fragments)


def test_missing_data_offline(tmp_path, main_in_process):
    proc, out = main_in_process(
        ["--dataset=wsc", "--only_evaluate", f"--scorer_llm_name={SMOLLM2}"],
        data_dir=tmp_path / "nodata",
    )
    assert_one_line_error(proc, out, "GPO_DATA_DIR")
    assert not any((tmp_path / "nodata").rglob("*.jsonl"))


def test_malformed_data_names_file_and_line(tmp_path, data_dir, main_in_process):
    root = tmp_path / "data"
    src = data_dir / "common-nlp" / "WSC"
    dst = root / "common-nlp" / "WSC"
    shutil.copytree(src, dst)
    lines = (dst / "test.jsonl").read_text().split("\n")
    lines[2] = '{"input": "broken'
    (dst / "test.jsonl").write_text("\n".join(lines))
    proc, out = main_in_process(
        ["--dataset=wsc", "--only_evaluate", f"--scorer_llm_name={SMOLLM2}"], data_dir=root
    )
    assert_one_line_error(proc, out, "test.jsonl", ":3")


def test_missing_api_key(main_in_process, data_dir):
    proc, out = main_in_process(
        ["--dataset=wsc", "--only_evaluate", "--scorer_llm_name=gpt-4"], data_dir=data_dir
    )
    assert_one_line_error(proc, out, "OPENAI_API_KEY")


def test_unreachable_server(tmp_path, data_dir):
    proc, out = run_main_expecting_error(
        [
            "--dataset=wsc",
            "--only_evaluate",
            "--scorer_llm_name=some-model",
            "--scorer_backend=openai",
            "--openai_base_url=http://127.0.0.1:9/v1",
            "--max_retries=0",  # the retries are not what is tested (test_faults.py is)
            "--max_examples=2",
        ],
        tmp_path,
        data_dir=data_dir,
    )
    assert_one_line_error(proc, out, "127.0.0.1:9")


def test_key_never_written(tmp_path, data_dir):
    secret = "sk-test-secret-value-1234567890abcdef"
    proc, out = run_main_expecting_error(
        [
            "--dataset=wsc",
            "--only_evaluate",
            "--scorer_llm_name=some-model",
            "--scorer_backend=openai",
            "--openai_base_url=http://127.0.0.1:9/v1",
            "--max_retries=0",  # the retries are not what is tested (test_faults.py is)
            f"--openai_api_key={secret}",
            "--max_examples=2",
        ],
        tmp_path,
        data_dir=data_dir,
    )
    assert proc.returncode == 2
    assert secret not in proc.stderr + proc.stdout
    for f in tmp_path.rglob("*"):
        if f.is_file():
            assert secret.encode() not in f.read_bytes(), f


def test_harmless_flags_are_ignored_with_a_warning_saying_what(main_in_process, data_dir):
    # --gpus with no GPU backend, and more demonstrations than the few-shot file holds (the
    # original uses them all): a warning, and the run goes on (here a dry run).
    proc, out = main_in_process(
        [
            "--dataset=bbh",
            "--task_name=navigate",
            "--only_evaluate",
            f"--scorer_llm_name={SMOLLM2}",
            "--gpus=abc",
            "--evaluate_generated_ins_on_few_shot",
            "--few_shot_number=9",
            "--dry_run",
        ],
        data_dir=data_dir,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "--gpus=abc is ignored: only the vllm and hf backends use GPUs" in proc.stderr
    assert "--few_shot_number=9: navigate has only 5 few-shot examples; using all 5" in (
        proc.stderr
    )
