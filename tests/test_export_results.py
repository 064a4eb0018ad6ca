"""scripts/export_results.py: GPO_results.jsonl from run folders, and its scores/kinds table."""

from __future__ import annotations

import json
import subprocess
import sys

from helpers import REPO

SCRIPT = REPO / "scripts" / "export_results.py"


def run_folder(tmp_path, data_dir):
    folder = tmp_path / "BBH-run"
    folder.mkdir()
    config = {"initial_instruction": "Let's think step by step.", "data_dir": str(data_dir)}
    config["max_examples"] = 8
    (folder / "run_config.json").write_text(json.dumps(config))
    navigate = json.loads(
        (data_dir / "BIG-Bench-Hard" / "navigate" / "train.jsonl").read_text().splitlines()[0]
    )
    copied = navigate["input"].split("?", 1)[1]  # a train record, the task's question excepted
    records = [
        ("sports_understanding", "Let's think step by step.", 0.25, 0.25, 0.25, 0.25),
        (
            "boolean_expressions",
            "Evaluate the expression; answer True or False.",
            0.5,
            0.25,
            0.75,
            0.5,
        ),
        ("navigate", copied, 0.25, 0.5, 0.5, 0.25),
    ]
    with (folder / "best_prompts.jsonl").open("w") as f:
        for task, prompt, ie, it, e, t in records:
            row = {"dataset": "bbh", "task": task, "prompt": prompt, "eval_score": e}
            row |= {"test_score": t, "initial_eval_score": ie, "initial_test_score": it}
            f.write(json.dumps(row) + "\n")
    return folder


def test_export_writes_the_original_schema_and_a_kinds_table(tmp_path, data_dir):
    folder = run_folder(tmp_path, data_dir)
    out, table = tmp_path / "GPO_results.jsonl", tmp_path / "scores.md"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), str(folder), f"--out={out}", f"--table={table}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [sorted(r) for r in rows] == [["dataset", "prompt", "task"]] * 3
    assert rows[1]["prompt"] == "Evaluate the expression; answer True or False."
    text = table.read_text()
    assert "| bbh | sports_understanding | 25.0 | 25.0 | 25.0 | 25.0 | initial |" in text
    assert "| bbh | boolean_expressions | 50.0 | 25.0 | 75.0 | 50.0 | instruction |" in text
    assert "| bbh | navigate | 25.0 | 50.0 | 50.0 | 25.0 | copy |" in text
    assert "above the initial prompt's on 1, below on 1, equal on 1" in text
    assert "1 instruction, 1 initial, 1 copy" in text
    assert not list(tmp_path.glob("*.tmp"))
