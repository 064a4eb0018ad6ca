"""The example custom task (examples/review_sentiment) end to end through
``python src/optimization/main.py`` on the real bundled model (SmolLM2-135M-Instruct, llama.cpp):
scoring a prompt (``--only_evaluate``), a user Python metric, and a one-step optimization. Tiny
sizes and one thread, so the three runs take about a minute together."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from helpers import EXAMPLES, SMOLLM2, only_run_folder, run_main

pytestmark = pytest.mark.real

TASK = "review_sentiment"
TINY = [
    "--dataset=custom",
    f"--task_name={TASK}",
    f"--scorer_llm_name={SMOLLM2}",
    "--scorer_max_tokens=24",
    "--second_round_max_tokens=6",
    "--n_threads=1",
    "--no_cache",
]


def rows(folder: Path, split: str, epoch: str = "-1", step: str = "-1") -> list[dict]:
    [path] = (folder / "result_by_instruction" / TASK / split / epoch / step).glob("*.csv")
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_only_evaluate_the_example_task(tmp_path):
    proc = run_main(
        [*TINY, f"--data_dir={EXAMPLES}", "--only_evaluate", "--max_examples=3"], tmp_path
    )
    assert any(line.split()[:2] == ["custom", TASK] for line in proc.stdout.splitlines())
    folder = only_run_folder(tmp_path)
    assert folder.name.startswith("CUSTOM-s-smollm2-135m-o-")
    results = json.loads(
        (folder / "result_by_instruction" / TASK / "results_dict.json").read_text()
    )
    assert results["setting_dict"]["metric"] == "exact"
    table = rows(folder, "test")
    assert len(table) == 3
    for row in table:
        assert "Now answer with one word: positive or negative." in row["raw_prompt_second_round"]
        # exact metric: 1 exactly when the folded parsed answer is the label
        folded = " ".join(row["parsed_answer"].strip(" .!").split())
        assert float(row["accuracy"]) == float(folded == row["true_answer"])


def test_user_python_metric_on_the_real_model(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(EXAMPLES / TASK, data / TASK)
    (data / TASK / "task.json").write_text(
        json.dumps({"metric": "python:label_metric:score", "second_round": False})
    )
    (data / TASK / "label_metric.py").write_text(
        "def score(answer, record):\n"
        "    # half marks for naming the label anywhere, full marks for the label alone\n"
        "    text = answer.lower()\n"
        "    if text.strip(' .') == record['output']:\n"
        "        return 1.0\n"
        "    return 0.5 if record['output'] in text else 0.0\n"
    )
    run_main([*TINY, f"--data_dir={data}", "--only_evaluate", "--max_examples=3"], tmp_path)
    table = rows(only_run_folder(tmp_path), "test")
    assert len(table) == 3 and all(not row.get("raw_answer_second_round") for row in table)
    for row in table:
        text, label = row["raw_answer"].strip().lower(), row["true_answer"]
        expected = 1.0 if text.strip(" .") == label else 0.5 if label in text else 0.0
        assert float(row["accuracy"]) == expected, row


def test_optimize_the_example_task_one_step(tmp_path):
    proc = run_main(
        [
            *TINY,
            f"--data_dir={EXAMPLES}",
            f"--optimizer_llm_name={SMOLLM2}",
            "--optimizer_max_tokens=48",
            "--preset=ape",
            "--max_examples=3",
            "--opt_batch_size=3",
            "--num_search_epochs=1",
            "--num_generated_instructions_in_each_step=1",
            "--format_data_num=2",
        ],
        tmp_path,
    )
    folder = only_run_folder(tmp_path)
    [best] = [json.loads(x) for x in (folder / "best_prompts.jsonl").read_text().splitlines()]
    assert (best["dataset"], best["task"]) == ("custom", TASK)
    assert 0.0 <= best["eval_score"] <= 1.0 and 0.0 <= best["test_score"] <= 1.0
    steps = [
        json.loads(x)
        for x in (folder / "result_by_instruction" / TASK / "steps.jsonl").read_text().splitlines()
    ]
    assert [s["global_step"] for s in steps][:2] == [-1, 0]
    assert "Review: " in steps[1]["meta_prompt"]  # format.jsonl exemplars in the meta-prompt
    assert f"custom {TASK}: initial eval" in proc.stdout
