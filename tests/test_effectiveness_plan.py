"""benchmarks/effectiveness.py: the demonstration grid's plan (a dry run; no model loads)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from helpers import REPO

SCRIPT = REPO / "benchmarks" / "effectiveness.py"


def test_plan_sizes_the_whole_grid(tmp_path, data_dir):
    env = {**os.environ, "GPO_DATA_DIR": str(data_dir), "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "plan", f"--out={tmp_path}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    # one experiment per family: 4 presets x 3 tasks x 3 seeds + Empty and CoT on 3 tasks,
    # then 4 x 2 x 3 + 2 x 2 on BBH
    assert proc.stdout.count("dry run: ") == 2
    assert proc.stdout.index("dry run: 42 cells") < proc.stdout.index("dry run: 28 cells")
    commands = [line for line in proc.stdout.splitlines() if line.startswith("$ ")]
    assert "--scorer_max_tokens=32" in commands[0] and "--dataset=custom" in commands[0]
    assert "--initial_instruction= " in commands[0]  # Empty: the optimizer writes it
    assert "--initial_instruction" not in commands[1]  # BBH: the paper's CoT
    assert "--scorer_max_tokens=64" in commands[1] and "--second_round_max_tokens=16" in commands[1]
    assert "--max_examples=32" in commands[0] and "--max_examples=16" in commands[1]
    assert f"--output_dir={tmp_path / 'custom'}" in commands[0]
    rows = {line.split()[0]: line.split() for line in proc.stdout.splitlines() if line.strip()}
    assert {"gpo", "gpo+", "opro", "ape", "empty", "cot"} <= set(rows)
    assert (tmp_path / "data" / "support_ticket" / "task.json").is_file()
    bbh = tmp_path / "data" / "BIG-Bench-Hard" / "navigate"
    source = data_dir / "BIG-Bench-Hard" / "navigate"
    # the train split cut to its first 16 records (4 steps, as on the custom tasks); the other
    # files are links to the shared data
    train = (source / "train.jsonl").read_text(encoding="utf-8").splitlines()
    assert (bbh / "train.jsonl").read_text(encoding="utf-8").splitlines() == train[:16]
    assert not (bbh / "train.jsonl").is_symlink()
    assert (bbh / "test.jsonl").resolve() == (source / "test.jsonl").resolve()
    # 4 steps per task (16 train records, batch 8, 2 epochs) of 4 samples: 2 x 3 x 16 on BBH
    assert "optimizer_requests" in proc.stdout and "96" in rows["gpo"]
    assert not list(tmp_path.glob("EXPERIMENT-*"))  # a plan writes no experiment


def test_report_without_a_grid_is_one_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "report", f"--out={tmp_path}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"error: no experiment folder in {tmp_path}; run the grid first"
    ]


@pytest.mark.parametrize("flag", ["--presets=gpo,nope"])
def test_bad_grid_flags_fail_in_one_line(tmp_path, data_dir, flag):
    env = {**os.environ, "GPO_DATA_DIR": str(data_dir), "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "plan", f"--out={tmp_path}", flag],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("error: --presets")


def test_run_resumes_the_chosen_tasks_of_a_grid():
    module = load_script()
    args = module.parse_args(["run", "--custom_tasks=date_iso", "--bbh_tasks=", "--workers=1"])
    (family,) = module.families(args)
    # experiment.py --resume --task_name=date_iso: that task's cells only (tests/test_experiment)
    assert module.resume_flags(args, family) == [
        "--workers=1",
        "--n_threads=1",
        "--task_name=date_iso",
    ]
    first = module.parse_args(
        ["run", "--grid=v2", "--bbh_tasks=", "--run_presets=gpo,gepa", "--run_seeds=0"]
    )
    (family,) = module.families(first)
    assert module.resume_flags(first, family)[-3:] == [
        "--task_name=support_ticket,date_iso,email_extract",
        "--run_presets=gpo,gepa",
        "--run_seeds=0",
    ]
    # a grid not started yet takes them too (experiment.py saves every cell, runs these now)
    assert module.run_now_flags(first) == ["--run_presets=gpo,gepa", "--run_seeds=0"]
    default = module.parse_args(["run", "--bbh_tasks="])
    (family,) = module.families(default)
    assert module.resume_flags(default, family)[-1] == (
        "--task_name=support_ticket,date_iso,email_extract"
    )


def load_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("effectiveness", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["effectiveness"] = module  # its dataclasses look their module up
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules["effectiveness"]
    return module


def test_grid_v2_names_its_defaults_and_leaves_v1_as_it_was():
    module = load_script()
    v1 = module.parse_args(["summary"])
    assert v1.out == REPO / "results" / "effectiveness"
    assert v1.presets == "gpo,gpo+,opro,ape" and v1.scorer == "smollm2-135m"
    assert v1.bbh_tasks == "navigate,boolean_expressions"
    assert v1.summarize == "results/effectiveness,results/effectiveness-qwen05:date_iso"
    v2 = module.parse_args(["run", "--grid=v2"])
    assert v2.out == REPO / "results" / "effectiveness-v2"
    assert v2.presets == "gpo,gpo+,opro,ape,gepa" and v2.scorer == "qwen2.5-coder-0.5b"
    # the third BBH task is cut by the 10-hour rule; it comes back with --bbh_tasks
    assert v2.bbh_tasks == "navigate,boolean_expressions" == v1.bbh_tasks
    assert v2.summarize == "results/effectiveness-v2"
    assert v2.custom_tasks == v1.custom_tasks and v2.optimizer == v1.optimizer
    # a flag on the command line wins over the grid's default, on either side of --grid
    cut = module.parse_args(["plan", "--presets=gpo,opro,ape,gepa", "--grid", "v2"])
    assert cut.presets == "gpo,opro,ape,gepa" and cut.scorer == "qwen2.5-coder-0.5b"


def test_plan_of_grid_v2_sizes_gepa_beside_the_paper_methods(tmp_path, data_dir):
    env = {**os.environ, "GPO_DATA_DIR": str(data_dir), "PYTHONPATH": str(REPO / "src")}
    third = f"--bbh_tasks=navigate,boolean_expressions,{load_script().V2_THIRD_BBH_TASK}"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "plan", "--grid=v2", f"--out={tmp_path}", third],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    # 5 presets x 3 tasks x 3 seeds + Empty and CoT on 3 tasks, in each family
    assert proc.stdout.count("dry run: 51 cells") == 2
    commands = [line for line in proc.stdout.splitlines() if line.startswith("$ ")]
    assert all("--scorer_llm_name=qwen2.5-coder-0.5b" in c for c in commands)
    assert "--task_name=navigate,boolean_expressions,sports_understanding" in commands[1]
    assert f"--output_dir={tmp_path / 'bbh'}" in commands[1]
    gepa = [line.split() for line in proc.stdout.splitlines() if line.startswith("gepa ")]
    gpo = [line.split() for line in proc.stdout.splitlines() if line.startswith("gpo ")]
    # GEPA's budget is the gpo plan's train+eval calls: its scorer requests are about gpo's
    # (one iteration more), its optimizer requests many more (one reflection per proposal)
    for g, p in zip(gepa, gpo):
        assert int(p[2]) < int(g[2]) < 1.2 * int(p[2])
        assert int(g[5]) > 2 * int(p[5])
    assert (tmp_path / "data" / "BIG-Bench-Hard" / "sports_understanding" / "train.jsonl").is_file()
