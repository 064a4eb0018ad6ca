"""The enforced word budget and every candidate guard on the real bundled model (SmolLM2-135M,
llama.cpp), through ``src/optimization/main.py --preset=gpo+``: one tiny step whose K is 1 word,
so the budget almost surely rejects and resamples; the step log must agree with the pure rules."""

from __future__ import annotations

import json

import pytest

from gpo.optimization.guards import GUARD_NAMES, build_guards
from gpo.optimization.screening import compliance_line
from helpers import EMBEDDER, FAST, LOCAL_MODELS, only_run_folder, run_main

pytestmark = pytest.mark.real


def test_gpo_plus_real_step(tmp_path, data_dir):
    proc = run_main(
        [
            "--preset=gpo+",
            "--dataset=bbh",
            "--task_name=navigate",
            *LOCAL_MODELS,
            EMBEDDER,
            "--max_examples=4",
            "--num_generated_instructions_in_each_step=2",
            "--num_search_epochs=1",
            "--opt_batch_size=4",
            "--initial_step_size=1",
            "--final_step_size=1",
            "--max_resamples=1",
            "--optimizer_max_tokens=40",
            "--n_threads=1",
            f"--data_dir={data_dir}",
            *FAST,
        ],
        tmp_path,
    )
    folder = only_run_folder(tmp_path)
    task_dir = folder / "result_by_instruction" / "navigate"
    steps = [json.loads(x) for x in (task_dir / "steps.jsonl").read_text().splitlines()]
    [step] = [s for s in steps if s["global_step"] == 0]
    cands = step["candidates"]
    assert step["step_size"] == 1
    # N = 2 per round; a second round asks only for the rejected ones
    first = [c for c in cands if c["round"] == 0]
    assert len(first) == 2 and step["resample_rounds"] in (0, 1)
    # kept when judged (a closest_kept candidate was rejected then, kept after the last round)
    kept_first = sum(not c["rejected_by"] and not c["closest_kept"] for c in first)
    if step["resample_rounds"] == 1:
        assert len(cands) - 2 == 2 - kept_first
    assert step["usage"]["roles"]["optimizer"]["requests"] == len(cands)
    # the log agrees with the pure rules
    from gpo.data.registry import get_benchmark

    guards = build_guards(GUARD_NAMES, 200, get_benchmark("bbh").load("navigate", data_dir, 4))
    for c in cands:
        rules = [r for r, _ in guards.check(c["prompt"])]
        if c["edit_distance"] > 1:
            rules.append("step_size")
        assert c["within_budget"] == (c["edit_distance"] <= 1)
        if c["closest_kept"]:
            assert rules == ["step_size"] and c["status"] != "rejected"
        else:
            assert c["rejected_by"] == rules
            assert (c["status"] == "rejected") == bool(rules)
    # rejected candidates were never scored
    results = json.loads((task_dir / "results_dict.json").read_text())
    scored = {v[0] for v in results["eval_log"].values()}
    assert not scored & {c["prompt"] for c in cands if c["status"] == "rejected"}
    if not any(c["within_budget"] for c in cands) and any(c["closest_kept"] for c in cands):
        assert step["budget_fallback"]
        closest = min(c["edit_distance"] for c in cands if c["rejected_by"] in ([], ["step_size"]))
        assert all(c["edit_distance"] == closest for c in cands if c["closest_kept"])
    final = steps[-1]
    assert final["kind"] == "final" and len(final["budget_compliance"]) == 1
    assert compliance_line("navigate", final["budget_compliance"]) in proc.stdout
