"""GEPA beside GPO in a real experiment grid through ``python src/optimization/experiment.py`` on
the bundled model (SmolLM2-135M-Instruct on llama.cpp as scorer and optimizer), kept tiny: the
custom date_iso task at 4 examples a split, one GPO step, short replies, GEPA at its default
budget (the gpo preset's planned scorer calls on train and eval)."""

from __future__ import annotations

import csv
import json

import pytest

from helpers import EMBEDDER, EXPERIMENT, LOCAL_MODELS, REPO, run_script

pytestmark = pytest.mark.real

pytest.importorskip("gepa")


def test_real_grid_with_gepa_row_within_its_budget(tmp_path):
    out = tmp_path / "out"
    grid = [
        "--presets=gpo,gepa",
        "--seeds=0",
        "--dataset=custom",
        "--task_name=date_iso",
        f"--data_dir={REPO / 'examples'}",
        "--baselines=empty",
        *LOCAL_MODELS,
        EMBEDDER,
        "--max_examples=4",
        "--num_search_epochs=1",
        "--num_generated_instructions_in_each_step=2",
        "--opt_batch_size=4",
        "--scorer_max_tokens=16",
        "--optimizer_max_tokens=48",
        "--n_threads=1",
        f"--cache_dir={tmp_path / 'cache'}",
        f"--output_dir={out}",
    ]
    proc = run_script(grid, tmp_path, script=EXPERIMENT, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [root] = list(out.iterdir())
    assert "| GEPA |" in proc.stdout and "| GPO |" in proc.stdout  # the table is printed
    rows = {r["method"] for r in csv.DictReader((root / "table.csv").open())}
    assert rows == {"Empty", "GPO", "GEPA"}
    run = root / "runs" / "gepa-custom-date_iso-seed0"
    assert json.loads((run / "status.json").read_text())["state"] == "finished"
    steps = [
        json.loads(line)
        for line in (run / "result_by_instruction" / "date_iso" / "steps.jsonl")
        .read_text()
        .splitlines()
    ]
    assert steps[0]["kind"] == "initial" and steps[-1]["kind"] == "final"
    # the budget: the gpo plan's train+eval scorer calls (eval 4, then 1 step x N=2 on eval)
    budget, eval_rows, test_rows, minibatch = 4 + 2 * 4, 4, 4, 3
    proposals = [s["gepa"] for s in steps[1:-1]]
    if proposals:
        assert proposals[-1]["metric_calls"] <= budget + 2 * minibatch + eval_rows
    usage = json.loads((run / "usage_summary.json").read_text())["roles"]
    assert usage["optimizer"]["requests"] >= 1  # the reflection model really ran
    scorer_calls = usage["scorer"]["requests"] + usage["scorer"]["cache_hits"]
    # within its budget plus one iteration, plus the test scoring every method does
    assert scorer_calls <= budget + 2 * minibatch + eval_rows + 2 * test_rows
    best = json.loads((run / "best_prompts.jsonl").read_text().splitlines()[0])
    assert 0.0 <= best["test_score"] <= 1.0
    table = (root / "table.md").read_text()
    header = table.index("| scorer calls |")
    cost = next(ln for ln in table[header:].splitlines() if ln.startswith("| GEPA |"))
    assert int(cost.split(" | ")[6]) == scorer_calls
