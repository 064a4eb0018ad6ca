"""Run folder: naming, atomic artifacts, status with the writer's pid, credential stripping."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import socket
import subprocess
import sys

import pytest

from gpo.config import ModelConfig, RunConfig
from gpo.evaluation.report import ScoredExample, ScoreReport
from gpo.results.io import atomic_write_json, read_jsonl
from gpo.results.run_folder import RunFolder, report_csv, run_folder_name
from gpo.runs.request import strip_credentials


def config(tmp_path, scorer="llama2-chat-7b") -> RunConfig:
    return RunConfig(
        dataset="bbh",
        tasks=("navigate",),
        initial_instruction="x",
        scorer=ModelConfig(scorer),
        optimizer=ModelConfig("gpt-3.5-turbo"),
        output_dir=str(tmp_path),
    )


def test_folder_name_as_original(tmp_path):
    now = dt.datetime(2024, 2, 18, 12, 0, 0)
    assert run_folder_name(config(tmp_path), now) == (
        "BBH-s-llama2-chat-7b-o-gpt-3.5-turbo-2024-02-18-12-00-00"
    )
    assert run_folder_name(config(tmp_path, "/models/llama/"), now).startswith("BBH-s-llama-o-")


def test_create_writes_configs_and_running_status(tmp_path):
    folder = RunFolder.create(config(tmp_path))
    configs = json.loads((folder.root / "configs_dict.json").read_text())
    assert configs["scorer_llm_dict"] == {
        "model_type": "llama2-chat-7b",
        "max_decode_steps": 256,
        "temperature": 0.0,
    }
    assert folder.status()["state"] == "running"
    assert folder.load_config() == config(tmp_path)
    second = RunFolder.create(config(tmp_path), dt.datetime.now())
    assert second.root != folder.root or second.root.exists()


def test_running_elsewhere_uses_the_writer_pid(tmp_path):
    folder = RunFolder.create(config(tmp_path))
    assert not folder.running_elsewhere()  # this process wrote it
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        atomic_write_json(folder.root / "status.json", {"state": "running", "pid": live.pid})
        assert folder.running_elsewhere()
        here = {"state": "running", "pid": live.pid, "host": socket.gethostname()}
        atomic_write_json(folder.root / "status.json", here)
        assert folder.running_elsewhere()
        # the same pid on another host's status says nothing about this machine's process
        atomic_write_json(folder.root / "status.json", {**here, "host": "another-node"})
        assert not folder.running_elsewhere()
    finally:
        live.kill()
        live.wait()
    assert not folder.running_elsewhere()  # the writer is gone: safe to resume
    atomic_write_json(folder.root / "status.json", {"state": "failed", "pid": 1})
    assert not folder.running_elsewhere()


def test_torn_jsonl_line_is_ignored(tmp_path):
    path = tmp_path / "steps.jsonl"
    path.write_text('{"a": 1}\n{"b": 2}\n{"c": ')
    assert read_jsonl(path) == [{"a": 1}, {"b": 2}]


def test_credentials_never_saved():
    assert strip_credentials("http://user:secret@127.0.0.1:8000/v1?key=abc") == (
        "http://127.0.0.1:8000/v1"
    )
    assert strip_credentials(None) is None


def _row(index: int, accuracy: float, answer: str = "(A)") -> ScoredExample:
    return ScoredExample(
        index, f"Q{index}\nThink.", "It is (A).", None, None, "(a)", answer, accuracy
    )


def test_per_example_csv_has_lf_endings_and_int_accuracies_like_pandas(tmp_path):
    # The original writes these files with pandas to_csv: LF line endings (a newline inside a
    # quoted field stays as is) and a 0/1 accuracy column as 0 / 1.
    report = ScoreReport("Think.", "eval", (_row(3, 1), _row(7, 0, "(B)")))
    path = RunFolder(tmp_path).save_report("navigate", report, 0, 1)
    assert path.read_bytes().decode("utf-8") == (
        "index_in_raw_dataset,raw_prompt,raw_answer,parsed_answer,true_answer,accuracy\n"
        '3,"Q3\nThink.",It is (A).,(a),(A),1\n'
        '7,"Q7\nThink.",It is (A).,(a),(B),0\n'
    )
    assert b"\r" not in path.read_bytes()


def test_per_example_csv_writes_rouge_scores_as_floats(tmp_path):
    # A float column (ROUGE-L) stays float, 1.0 included, as pandas writes a float64 column.
    report = ScoreReport("W.", "test", (_row(0, 1.0), _row(1, 0.30081589245888624)))
    rows = list(csv.reader(io.StringIO(report_csv(report))))
    assert [row[-1] for row in rows[1:]] == ["1.0", "0.30081589245888624"]


def test_split_score_is_numpys_mean() -> None:
    # numpy's pairwise summation, as in the original; sum() / n differs in the last digit.
    scores = [0.303369, 0.587581, 0.882479, 0.846197, 0.505284]
    scores += [0.589002, 0.034526, 0.24274, 0.797404, 0.414314]
    report = ScoreReport("W.", "test", tuple(_row(i, s) for i, s in enumerate(scores)))
    assert sum(scores) / len(scores) == 0.5202896000000001
    assert report.score == 0.5202896


def test_ctrl_c_marks_the_run_interrupted_not_failed(tmp_path):
    from gpo.runs.common import guarded

    folder = RunFolder.create(config(tmp_path))

    def stopped() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        guarded(folder, stopped)
    status = folder.status()
    assert status["state"] == "interrupted" and "--resume" in status["message"]

    def broken() -> None:
        raise ValueError("bad")

    with pytest.raises(ValueError):
        guarded(folder, broken)
    assert folder.status()["state"] == "failed"
