"""MLflow tracking (``--mlflow_tracking_uri``, ``tracking_uri=``): one MLflow run per GPO run, a
nested run per task, a parent run per experiment grid; read back through ``MlflowClient``.

The runs use the fake backends of ``test_api`` (the model is not what is tested); the tracking
is real: MLflow's file store, and (``real``) an ``mlflow server`` started on 127.0.0.1 on a free
port and stopped by its PID. A dead tracking URI leaves the run complete.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

import gpo
from gpo.results.io import read_json, read_jsonl
from test_api import FAKE, TINY, records
from test_runtime import counting_runtime

mlflow = pytest.importorskip("mlflow")
MODELS = {"scorer": "fake-scorer", "optimizer": "fake-optimizer"}


@pytest.fixture(autouse=True)
def file_store_allowed(monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def optimize(tmp_path: Path, uri: str | None, **extra):
    from collections import Counter

    task = gpo.Task.from_records(
        "yesno", train=records(8), eval=records(4, 10), test=records(4, 20), second_round=False
    )
    options = {**FAKE, **TINY, "num_search_epochs": 2, **extra}
    return gpo.optimize(
        task,
        **MODELS,
        output_dir=tmp_path / "out",
        tracking_uri=uri,
        mlflow_experiment="gpo-test",
        runtime=counting_runtime(Counter(), []),
        **options,
    )


def check_tracked_run(client, result) -> None:
    """Params, one metric point per step, the nested task run and the artifacts."""
    state = read_json(result.run_folder / "mlflow.json")
    run = client.get_run(state["run_id"])
    assert run.info.status == "FINISHED" and run.info.run_name == result.run_folder.name
    params = run.data.params
    assert params["dataset"] == "custom" and params["opt.num_search_epochs"] == "2"
    assert params["scorer.name"] == "fake-scorer" and params["preset"] == "gpo"
    assert not any("sk-test" in v for v in params.values())  # the API key never reaches MLflow
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"best_prompts.jsonl", "report.md", "usage_summary.json", "plots"} <= names
    assert client.list_artifacts(run.info.run_id, "plots")
    [task_run] = client.search_runs(
        [run.info.experiment_id], f"tags.mlflow.parentRunId = '{run.info.run_id}'"
    )
    assert task_run.info.run_name == "yesno" and task_run.info.status == "FINISHED"
    steps = result.steps
    assert len(steps) == 4
    chosen = client.get_metric_history(task_run.info.run_id, "chosen_eval")
    assert [(m.step, m.value) for m in chosen] == [
        (s.global_step + 1, s.chosen.eval_score) for s in steps
    ]
    best = client.get_metric_history(task_run.info.run_id, "best_so_far_eval")
    initial = task_run.data.metrics["initial_eval"]
    expected = [max([initial, *(s.chosen.eval_score for s in steps[: k + 1])]) for k in range(4)]
    assert [m.value for m in best] == expected  # logged step by step, over the whole run
    for key in ("step_size_k", "within_budget_share", "scorer_tokens", "optimizer_requests"):
        assert len(client.get_metric_history(task_run.info.run_id, key)) == 4, key
    assert task_run.data.metrics["best_test"] == result.best_test
    assert [a.path for a in client.list_artifacts(task_run.info.run_id)] == ["steps.jsonl"]
    # the run's own page shows each task's result (its steps are on the nested run)
    summary = {k: v for k, v in run.data.metrics.items() if k.endswith("/yesno")}
    assert summary == {
        "initial_eval/yesno": task_run.data.metrics["initial_eval"],
        "initial_test/yesno": task_run.data.metrics["initial_test"],
        "best_eval/yesno": result.best_eval,
        "best_test/yesno": result.best_test,
    }


def test_file_store_run_with_nested_task_run(tmp_path) -> None:
    uri = f"file:{tmp_path / 'mlruns'}"
    result = optimize(tmp_path, uri)
    check_tracked_run(mlflow.MlflowClient(uri), result)


def test_dead_tracking_uri_leaves_the_run_complete(tmp_path, caplog) -> None:
    uri = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    started = time.monotonic()
    with caplog.at_level(logging.WARNING):
        result = optimize(tmp_path, uri)
    assert result.state == "finished" and len(result.steps) == 4
    assert read_jsonl(result.run_folder / "best_prompts.jsonl")
    assert (result.run_folder / "report.md").is_file()
    warnings = [r for r in caplog.records if "MLflow tracking at" in r.getMessage()]
    assert len(warnings) == 1 and "the run goes on" in warnings[0].getMessage()
    assert time.monotonic() - started < 120


def test_mlflow_flag_means_mlflows_local_store(tmp_path, monkeypatch, data_dir) -> None:
    """MLflow's own default, the SQLite file mlflow.db here (its file store is in maintenance
    mode in MLflow 3); the file store ./mlruns where the SQL store cannot run (mlflow-skinny)."""
    from gpo.runs.request import build_request
    from gpo.tracking import settings

    monkeypatch.chdir(tmp_path)
    request = build_request(gpo.RunOptions.of(mlflow=True, mlflow_experiment="mine"))
    assert request.mlflow.tracking_uri == f"sqlite:///{tmp_path / 'mlflow.db'}"  # absolute
    assert request.mlflow.experiment == "mine"
    view = "mlflow ui --backend-store-uri sqlite:///mlflow.db"
    assert settings.view_command(request.mlflow) == view
    elsewhere = settings.view_command(request.mlflow, cwd="/")
    assert elsewhere == f"mlflow ui --backend-store-uri sqlite:///{tmp_path / 'mlflow.db'}"
    real = importlib.util.find_spec
    monkeypatch.setattr(
        settings.importlib.util, "find_spec", lambda n: None if n == "sqlalchemy" else real(n)
    )
    request = build_request(gpo.RunOptions.of(mlflow=True))
    assert request.mlflow.tracking_uri == f"file:{tmp_path / 'mlruns'}"
    view = "MLFLOW_ALLOW_FILE_STORE=true mlflow ui --backend-store-uri file:./mlruns"
    assert settings.view_command(request.mlflow) == view
    both = gpo.RunOptions.of(mlflow=True, mlflow_tracking_uri="http://127.0.0.1:1")
    with pytest.raises(gpo.ConfigError, match="give one of the two"):
        build_request(both)
    secret = "http://user:pa55word@127.0.0.1:1"
    assert "pa55word" not in repr(build_request(gpo.RunOptions.of(mlflow_tracking_uri=secret)))


@pytest.mark.parametrize("store", ["file", "sqlite"])
def test_experiment_is_a_parent_run_with_a_child_per_cell(
    tmp_path, data_dir, store, monkeypatch
) -> None:
    from collections import Counter

    monkeypatch.chdir(tmp_path)  # a SQL store's artifacts go to ./mlruns (MLflow's default)
    uri = f"file:{tmp_path / 'mlruns'}" if store == "file" else f"sqlite:///{tmp_path}/mlflow.db"
    out = gpo.experiment(
        presets=["gpo"],
        tasks=[gpo.Task.benchmark("bbh", "navigate", data_dir=data_dir)],
        **MODELS,
        output_dir=tmp_path / "out",
        tracking_uri=uri,
        runtime=counting_runtime(Counter(), []),
        max_examples=4,
        **FAKE,
        **TINY,
    )
    client = mlflow.MlflowClient(uri)
    parent = client.get_run(read_json(out.folder / "mlflow.json")["run_id"])
    assert parent.info.status == "FINISHED" and parent.data.metrics["cells_finished"] == 3
    table = {k for k in parent.data.metrics if k.startswith("test/")}  # the table's means
    assert {"test/GPO/BBH", "test/GPO/Average"} <= table and len(table) == 6, table
    names = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"table.md", "table.csv", "report.md", "plots"} <= names
    exp = [parent.info.experiment_id]
    cells = client.search_runs(exp, f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert sorted(c.info.run_name for c in cells) == sorted(c["cell_id"] for c in out.cells)
    [gpo_cell] = [c for c in cells if c.data.tags.get("gpo.preset") == "gpo"]
    [task_run] = client.search_runs(exp, f"tags.mlflow.parentRunId = '{gpo_cell.info.run_id}'")
    assert len(client.get_metric_history(task_run.info.run_id, "chosen_eval")) == 1


@contextlib.contextmanager
def serving(
    command: list[str], cwd: Path, log_path: Path
) -> Iterator[tuple[str, subprocess.Popen]]:
    """``command`` (an MLflow server or UI) plus ``--host 127.0.0.1 --port <free>`` started in
    ``cwd`` and waited for (``/health``); stopped by its PID (its own session: the server and its
    workers)."""
    port = free_port()
    log = log_path.open("w")
    command = [*command, "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    proc = subprocess.Popen(
        command, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{uri}/health", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"{command[:4]} did not start: {log_path.read_text()}")
                time.sleep(0.5)
        yield uri, proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


def needs_mlflow_command() -> None:
    if shutil.which("mlflow") is None:
        pytest.skip("the mlflow command (pip install -e '.[mlflow-server]') is not installed")


@pytest.fixture
def mlflow_server(tmp_path):
    """``mlflow server`` on 127.0.0.1 on a free port (SQLite store, local artifacts)."""
    needs_mlflow_command()
    store = tmp_path / "server"
    store.mkdir()
    command = [sys.executable, "-m", "mlflow", "server"]
    command += ["--backend-store-uri", f"sqlite:///{store}/db.sqlite"]
    command += ["--artifacts-destination", str(store / "artifacts")]
    with serving(command, store, store / "server.log") as (uri, proc):
        yield uri, proc


def rest(uri: str, path: str, **query: str) -> dict:
    """GET ``/api/2.0/mlflow/<path>?query`` of an MLflow server, as JSON."""
    url = f"{uri}/api/2.0/mlflow/{path}?{urllib.parse.urlencode(query)}"
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


@pytest.mark.real
def test_the_logged_command_opens_the_run(tmp_path, monkeypatch, caplog) -> None:
    """``--mlflow`` writes MLflow's SQLite store; the command its log names (``mlflow ui
    --backend-store-uri sqlite:///mlflow.db``, run in the same folder, as written) serves the
    run: read over HTTP, the run itself holds each task's result, and its artifacts are there."""
    needs_mlflow_command()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE")  # the SQLite store needs no permission
    with caplog.at_level(logging.INFO, logger="gpo.tracking.mlflow_tracker"):
        result = optimize(tmp_path, None, mlflow=True)
    [line] = [r.getMessage() for r in caplog.records if "to look at it: " in r.getMessage()]
    command = line.split("to look at it: ", 1)[1]
    assert command == "mlflow ui --backend-store-uri sqlite:///mlflow.db"
    argv = shlex.split(command)
    with serving([sys.executable, "-m", *argv], tmp_path, tmp_path / "ui.log") as (uri, _):
        run_id = read_json(result.run_folder / "mlflow.json")["run_id"]
        run = rest(uri, "runs/get", run_id=run_id)["run"]
        artifacts = rest(uri, "artifacts/list", run_id=run_id).get("files", [])
    assert run["info"]["run_name"] == result.run_folder.name
    metrics = {m["key"]: m["value"] for m in run["data"]["metrics"]}
    assert metrics["best_eval/yesno"] == pytest.approx(result.best_eval)
    assert metrics["best_test/yesno"] == pytest.approx(result.best_test)
    assert {"initial_eval/yesno", "initial_test/yesno"} <= set(metrics)
    assert {"best_prompts.jsonl", "report.md", "plots"} <= {a["path"] for a in artifacts}


@pytest.mark.real
def test_mlflow_server_run_and_a_server_gone_mid_run(tmp_path, mlflow_server, caplog) -> None:
    uri, proc = mlflow_server
    result = optimize(tmp_path / "first", uri)
    check_tracked_run(mlflow.MlflowClient(uri), result)
    # the server goes away during the next run (after its first step): a warning, a whole run
    stopped = []

    def stop_server(*_args) -> None:
        if not stopped:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
            stopped.append(True)

    from gpo.tracking import mlflow_tracker

    original = mlflow_tracker.Tracker.sync_task

    def sync_then_stop(self, task, steps_file, done=False):
        original(self, task, steps_file, done)
        stop_server()

    mlflow_tracker.Tracker.sync_task = sync_then_stop
    try:
        with caplog.at_level(logging.WARNING):
            second = optimize(tmp_path / "second", uri)
    finally:
        mlflow_tracker.Tracker.sync_task = original
    assert stopped and second.state == "finished" and len(second.steps) == 4
    assert any("MLflow tracking at" in r.getMessage() for r in caplog.records)


def test_a_stopped_run_is_tracked_up_to_its_stop(tmp_path) -> None:
    uri = f"file:{tmp_path / 'mlruns'}"
    with pytest.raises(gpo.GPOError, match="budget"):
        optimize(tmp_path, uri, max_tokens_budget=1)
    [folder] = [p for p in (tmp_path / "out").iterdir() if p.name != "tasks"]
    state = read_json(folder / "mlflow.json")
    client = mlflow.MlflowClient(uri)
    assert client.get_run(state["run_id"]).info.status == "KILLED"  # resumable: stopped
    task_run = client.get_run(state["tasks"]["yesno"]["run_id"])
    assert task_run.info.status == "KILLED" and "initial_eval" in task_run.data.metrics
    assert len(client.get_metric_history(task_run.info.run_id, "chosen_eval")) == 1
    # --resume continues the same MLflow runs: one point per step, none twice
    from collections import Counter

    resumed = gpo.optimize(
        None,
        resume=folder,
        tracking_uri=uri,
        runtime=counting_runtime(Counter(), []),
        max_tokens_budget=10**9,
    )
    assert read_json(folder / "mlflow.json")["run_id"] == state["run_id"]
    assert client.get_run(state["run_id"]).info.status == "FINISHED"
    history = client.get_metric_history(task_run.info.run_id, "chosen_eval")
    assert [m.step for m in history] == [s.global_step + 1 for s in resumed.steps] == [1, 2, 3, 4]
