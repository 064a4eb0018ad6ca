"""Run folder: naming, atomic artifacts, status with the writer's pid, credential stripping."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

from gpo.cli.flags import strip_credentials
from gpo.config import ModelConfig, RunConfig
from gpo.results.io import atomic_write_json, read_jsonl
from gpo.results.run_folder import RunFolder, run_folder_name


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
