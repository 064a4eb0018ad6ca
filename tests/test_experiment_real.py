"""A real experiment grid through ``python src/optimization/experiment.py`` on the bundled model
(SmolLM2-135M-Instruct on llama.cpp): 2 presets x 1 task x 2 seeds at tiny sizes, with the Empty
and CoT baselines; then the resumed grid, which finds every cell finished and calls no model."""

from __future__ import annotations

import csv
import json
import os

import pytest

from helpers import EMBEDDER, EXPERIMENT, LOCAL_MODELS, REPORT, run_script, script_env

pytestmark = pytest.mark.real


def test_real_grid_table_report_and_resume(tmp_path, data_dir):
    out = tmp_path / "out"
    grid = [
        "--presets=gpo,ape",
        "--seeds=0,1",
        "--dataset=bbh",
        "--task_name=navigate",
        *LOCAL_MODELS,
        EMBEDDER,
        "--max_examples=3",
        "--num_search_epochs=1",
        "--num_generated_instructions_in_each_step=2",
        "--opt_batch_size=3",
        "--scorer_max_tokens=24",
        "--second_round_max_tokens=8",
        "--optimizer_max_tokens=40",
        "--n_threads=1",
        f"--cache_dir={tmp_path / 'cache'}",
        f"--data_dir={data_dir}",
    ]
    proc = run_script([*grid, f"--output_dir={out}"], tmp_path, script=EXPERIMENT, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [root] = list(out.iterdir())
    assert "| GPO |" in proc.stdout and "| CoT |" in proc.stdout  # the table is printed
    cells = json.loads((root / "experiment.json").read_text())["cells"]
    assert len(cells) == 6  # 2 presets x 2 seeds + Empty and CoT
    for c in cells:
        status = json.loads((root / "runs" / c["cell_id"] / "status.json").read_text())
        assert status["state"] == "finished", c["cell_id"]
    gpo_usage = json.loads(
        (root / "runs" / "gpo-bbh-navigate-seed0" / "usage_summary.json").read_text()
    )
    assert gpo_usage["roles"]["optimizer"]["requests"] >= 1  # the model really ran
    rows = list(csv.DictReader((root / "table.csv").open()))
    assert {r["method"] for r in rows} == {"Empty", "CoT", "GPO", "APE"}
    for r in rows:
        assert 0.0 <= float(r["ci_low"]) <= float(r["mean"]) <= float(r["ci_high"]) <= 100.0
    assert sum(int(r["best"]) for r in rows if r["dataset"] == "BBH") >= 1
    report = (root / "report.md").read_text()
    for png in ("scores.png", "step_size.png", "usage.png"):
        assert (root / "plots" / png).read_bytes()[:4] == b"\x89PNG", png
        assert f"plots/{png}" in report
        assert (root / "runs" / "gpo-bbh-navigate-seed1" / "plots" / png).is_file()
    provenance = json.loads((root / "provenance.json").read_text())
    assert provenance["models"][0]["sha256"] and provenance["packages"]["numpy"]

    stamps = {p: p.stat().st_mtime_ns for p in (root / "runs").rglob("steps.jsonl")}
    resumed = run_script(
        [f"--resume={root}", "--n_threads=1"], tmp_path, script=EXPERIMENT, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "loading scorer" not in resumed.stderr  # no model is even loaded
    log = [json.loads(line) for line in (root / "cells.jsonl").read_text().splitlines()]
    assert [r["state"] for r in log[-6:]] == ["skipped"] * 6
    assert stamps == {p: p.stat().st_mtime_ns for p in (root / "runs").rglob("steps.jsonl")}

    (root / "report.md").unlink()
    regenerated = run_script([str(root)], tmp_path, script=REPORT, timeout=300)
    assert regenerated.returncode == 0, regenerated.stderr[-2000:]
    assert (root / "report.md").read_text() == report

    # the same grid on two Ray workers, answered from the cache the serial grid filled: every
    # cell ends with the same best prompt and scores, and both workers ran cells
    out2 = tmp_path / "out-ray"
    env_home = tmp_path / "home"
    env_home.mkdir()
    ray_run = run_script(
        [*grid, f"--output_dir={out2}", "--workers=2"],
        tmp_path,
        script=EXPERIMENT,
        env=script_env(HOME=str(env_home)),
        timeout=600,
    )
    assert ray_run.returncode == 0, ray_run.stderr[-3000:]
    [root2] = list(out2.iterdir())
    pids = set()
    for c in cells:
        one, two = root / "runs" / c["cell_id"], root2 / "runs" / c["cell_id"]
        assert json.loads((two / "status.json").read_text())["state"] == "finished"
        if c["kind"] == "optimize":
            assert (one / "best_prompts.jsonl").read_text() == (
                two / "best_prompts.jsonl"
            ).read_text(), c["cell_id"]
        [placement] = [json.loads(x) for x in (two / "placement.jsonl").read_text().splitlines()]
        pids.add(placement["pid"])
    assert len(pids) == 2 and os.getpid() not in pids
    assert (root2 / "table.md").read_text().count("|") > 10
    assert not (env_home / ".ray").exists()  # Ray wrote nothing to HOME
