"""End to end through ``python src/optimization/main.py`` on the real bundled model
(SmolLM2-135M-Instruct, llama.cpp): only_evaluate on one task of every dataset, re-scoring
published prompts from a JSONL next to Empty and CoT, and a small real GPO optimization."""

from __future__ import annotations

import csv as csv_module
import io
import json
import subprocess
import sys

import pytest

from helpers import FAST, REPO, SMOLLM2, TINY_GPO, only_run_folder, run_main, script_env

pytestmark = pytest.mark.real


CASES = [
    ("bbh", "navigate", "navigate"),
    ("mmlu", "anatomy", "anatomy"),
    ("gsm8k", "all", "gsm8k"),
    ("webnlg", "all", "webnlg"),
    ("wsc", "all", "wsc"),
]


@pytest.mark.parametrize("dataset,task,label", CASES, ids=[c[0] for c in CASES])
def test_only_evaluate_each_dataset(dataset, task, label, tmp_path, data_dir):
    proc = run_main(
        [
            f"--dataset={dataset}",
            f"--task_name={task}",
            "--only_evaluate",
            f"--scorer_llm_name={SMOLLM2}",
            "--max_examples=2",
            f"--data_dir={data_dir}",
            *FAST,
        ],
        tmp_path,
    )
    lines = proc.stdout.splitlines()
    assert any(ln.split()[:2] == [dataset, label] for ln in lines), proc.stdout
    assert any(ln.split()[:2] == [dataset, "AVERAGE"] for ln in lines)
    folder = only_run_folder(tmp_path)
    assert folder.name.startswith(f"{dataset.upper()}-s-smollm2-135m-o-")
    configs = json.loads((folder / "configs_dict.json").read_text())
    assert configs["dataset_name"] == dataset and configs["momentum_select_num"] == 0
    results = json.loads(
        (folder / "result_by_instruction" / label / "results_dict.json").read_text()
    )
    assert set(results) == {"test_log", "setting_dict"}
    prompt, score, e, j = results["test_log"]["-1_-1"]
    assert prompt == "Let's think step by step." and 0.0 <= score <= 1.0 and (e, j) == (-1, -1)
    [csv] = list((folder / "result_by_instruction" / label / "test" / "-1" / "-1").glob("*.csv"))
    header = csv.read_text().splitlines()[0]
    if dataset == "webnlg":  # no second round for WebNLG
        assert "raw_answer_second_round" not in header
    else:
        assert "raw_answer_second_round" in header
    assert header.endswith("parsed_answer,true_answer,accuracy")
    # Written as the original's pandas to_csv: LF row endings, 0/1 accuracies as ints.
    raw = csv.read_bytes().decode("utf-8")
    assert "\r\n" not in raw
    rows = list(csv_module.reader(io.StringIO(raw)))[1:]
    assert len(rows) == 2
    accuracies = [row[-1] for row in rows]
    if dataset == "webnlg":  # ROUGE-L floats
        assert all("." in a or "e" in a for a in accuracies), accuracies
    else:
        assert set(accuracies) <= {"0", "1"}, accuracies


def test_prompts_file_next_to_baselines(tmp_path, data_dir):
    published = (REPO.parent / "shared" / "reference" / "GPO_results.jsonl").read_text()
    records = [json.loads(x) for x in published.split("\n") if x.strip()]
    chosen = [r for r in records if r.get("task") == "navigate" or r["dataset"] == "wsc"]
    assert len(chosen) == 2
    pf = tmp_path / "prompts.jsonl"
    pf.write_text("\n".join(json.dumps(r) for r in chosen))
    proc = run_main(
        [
            "--only_evaluate",
            f"--prompts_file={pf}",
            f"--scorer_llm_name={SMOLLM2}",
            "--max_examples=2",
            f"--data_dir={data_dir}",
            *FAST,
        ],
        tmp_path,
    )
    header = proc.stdout.splitlines()[0].split()
    assert header == ["dataset", "task", "empty", "cot", "published"]
    folder = only_run_folder(tmp_path)
    scores = [json.loads(x) for x in (folder / "scores.jsonl").read_text().splitlines()]
    assert [(s["task"], s["label"]) for s in scores] == [
        ("navigate", "empty"),
        ("navigate", "cot"),
        ("navigate", "published"),
        ("wsc", "empty"),
        ("wsc", "cot"),
        ("wsc", "published"),
    ]
    assert scores[2]["prompt"] == chosen[0]["prompt"]


def test_real_gpo_optimization(tmp_path, data_dir):
    proc = run_main(
        [
            *TINY_GPO,
            "--num_search_epochs=2",
            "--optimizer_max_tokens=96",
            f"--data_dir={data_dir}",
            *FAST,
        ],
        tmp_path,
    )
    folder = only_run_folder(tmp_path)
    task_dir = folder / "result_by_instruction" / "navigate"
    steps = [json.loads(x) for x in (task_dir / "steps.jsonl").read_text().splitlines()]
    assert [s["global_step"] for s in steps] == [-1, 0, 1, 2]
    assert steps[-1]["kind"] == "final"
    for s in steps[1:-1]:
        assert len(s["candidates"]) == 2
        assert s["usage"]["roles"]["optimizer"]["requests"] == 2  # exactly N requests
        assert f"at most {s['step_size']} words" in s["meta_prompt"]
        assert all(isinstance(c["edit_distance"], int) for c in s["candidates"])
        assert s["chosen"]["prompt"] in [c["prompt"] for c in s["candidates"]] + [
            s["current_prompt"]
        ]
    assert [s["step_size"] for s in steps[1:-1]] == [30, 10]
    results = json.loads((task_dir / "results_dict.json").read_text())
    assert len(results["selected_para_history_list"]) == 2
    assert results["selected_para_history_list"][0][0] == [
        [steps[0]["prompt"], steps[0]["eval_score"]]
    ]
    [best] = [json.loads(x) for x in (folder / "best_prompts.jsonl").read_text().splitlines()]
    assert best["dataset"] == "bbh" and best["task"] == "navigate"
    assert best["initial_prompt"] == "Let's think step by step."
    trajectory = [(steps[0]["prompt"], steps[0]["eval_score"])] + [
        (s["chosen"]["prompt"], s["chosen"]["eval_score"]) for s in steps[1:-1]
    ]
    assert best["eval_score"] == max(score for _, score in trajectory)
    assert 0.0 <= best["test_score"] <= 1.0
    assert steps[-1]["prompt"] == best["prompt"] and steps[-1]["test_score"] == best["test_score"]
    assert "bbh navigate: initial eval" in proc.stdout
    assert (folder / "usage_summary.json").exists()


def test_gpo_sh_dry_run(tmp_path, data_dir):
    env = script_env(
        SCORER=SMOLLM2,
        OPTIMIZER=SMOLLM2,
        TASK="navigate",
        PYTHON=sys.executable,
        EXTRA_ARGS=f"--dry_run --data_dir={data_dir} --output_dir={tmp_path}/out",
    )
    proc = subprocess.run(
        ["bash", str(REPO / "GPO.sh")], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert "no model loaded" in proc.stdout
    row = next(ln for ln in proc.stdout.splitlines() if ln.startswith("navigate"))
    cells = row.split()
    assert cells[1] == "18"  # 3 epochs x 6 steps
    assert int(cells[5]) == 18 * 8  # optimizer requests: N per step, no feedback
    assert not (tmp_path / "out").exists()
