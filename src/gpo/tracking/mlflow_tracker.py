"""One MLflow run per GPO run, a nested run per task (an experiment grid: a parent run with a
child run per cell).

The run folder stays the record: the tracker copies into MLflow what the folder holds, as it is
written (the run's params at start, each task's steps as they are committed, artifacts at the
end). Every MLflow call goes through ``_call``: the first failure (server unreachable, gone
mid-run, a refused request) logs one warning and turns the tracker off, so tracking never fails
or stops a run. The MLflow run ids are kept in the run folder's ``mlflow.json``, so ``--resume``
continues the same MLflow runs.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from gpo.results.io import atomic_write_json, read_json, read_jsonl
from gpo.tracking.settings import MlflowSettings, shown_uri, view_command
from gpo.tracking.step_metrics import flat_params, metric_key, step_metrics, summary_metrics

log = logging.getLogger(__name__)
T = TypeVar("T")

STATE_FILE = "mlflow.json"
# a dead server fails fast: few HTTP retries, a short timeout (the user's environment wins)
HTTP_ENV = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}
RUN_ARTIFACTS = ("best_prompts.jsonl", "scores.jsonl", "report.md", "usage_summary.json")
EXPERIMENT_ARTIFACTS = ("table.md", "table.csv", "report.md", "experiment.json", "cells.jsonl")
END_STATES = {
    "finished": "FINISHED",
    "failed": "FAILED",
    "stopped": "KILLED",
    "interrupted": "KILLED",
}


class Tracker:
    """Mirrors one run folder (or experiment folder) into MLflow; a disabled tracker does
    nothing. Make one with :func:`open_tracker`."""

    def __init__(self, settings: MlflowSettings | None, root: Path) -> None:
        self.settings, self.root = settings, Path(root)
        self.client: Any = None
        self.state: dict[str, Any] = {}
        self.models: dict[str, tuple[str, str]] = {}

    @property
    def enabled(self) -> bool:
        return self.client is not None

    def _call(self, what: str, fn: Callable[[], T]) -> T | None:
        if not self.enabled:
            return None
        try:
            return fn()
        except Exception as e:  # noqa: BLE001 - tracking never fails the run
            assert self.settings is not None
            log.warning(
                "MLflow tracking at %s stopped (%s: %s: %s); the run goes on, its folder %s "
                "is complete",
                shown_uri(self.settings.tracking_uri),
                what,
                e.__class__.__name__,
                str(e).splitlines()[0][:200] if str(e) else "",
                self.root,
            )
            self.client = None
            return None

    def _save_state(self) -> None:
        atomic_write_json(self.root / STATE_FILE, self.state)

    def start(self, name: str, params: Mapping[str, Any], tags: Mapping[str, str]) -> None:
        """Open (or, resumed, reopen) this folder's MLflow run and log its params."""
        from mlflow import MlflowClient

        assert self.settings is not None
        for key, value in HTTP_ENV.items():
            os.environ.setdefault(key, value)
        if self.settings.is_file_store:
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # asked for by name
        self.client = MlflowClient  # enabled while the client is made
        self.client = self._call("connecting", lambda: MlflowClient(self.settings.tracking_uri))
        self._call("starting the run", lambda: self._open(name, params, tags))
        if self.enabled and self.settings.parent_run_id is None:
            log.info(
                "MLflow run %s (experiment %s); to look at it: %s",
                self.state["run_id"],
                self.settings.experiment,
                view_command(self.settings),
            )

    def _open(self, name: str, params: Mapping[str, Any], tags: Mapping[str, str]) -> None:
        s, c = self.settings, self.client
        assert s is not None
        saved = read_json(self.root / STATE_FILE) if (self.root / STATE_FILE).is_file() else {}
        if saved.get("tracking_uri") == shown_uri(s.tracking_uri) and saved.get("run_id"):
            self.state = saved
            c.update_run(saved["run_id"], status="RUNNING")
            return
        found = c.get_experiment_by_name(s.experiment)
        experiment_id = found.experiment_id if found else c.create_experiment(s.experiment)
        all_tags = dict(tags)
        if s.parent_run_id:
            all_tags["mlflow.parentRunId"] = s.parent_run_id
        run = c.create_run(experiment_id, tags=all_tags, run_name=name)
        self.state = {
            "tracking_uri": shown_uri(s.tracking_uri),
            "experiment_id": experiment_id,
            "run_id": run.info.run_id,
            "tasks": {},
        }
        self._save_state()
        self._log_params(run.info.run_id, params)

    def _log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)) for k, v in params.items()]
        for i in range(0, len(items), 100):  # MLflow takes at most 100 params per batch
            self.client.log_batch(run_id, params=items[i : i + 100])

    @property
    def run_id(self) -> str | None:
        return self.state.get("run_id") if self.enabled else None

    def _task_run(self, task: str) -> str:
        entry = self.state["tasks"].get(task)
        if entry is None:
            tags = {"mlflow.parentRunId": self.state["run_id"], "gpo.task": task}
            run = self.client.create_run(self.state["experiment_id"], tags=tags, run_name=task)
            entry = {"run_id": run.info.run_id, "logged": -2}
            self.state["tasks"][task] = entry
            self._log_params(run.info.run_id, {"task": task})
            self._save_state()
        return entry["run_id"]

    def sync_task(self, task: str, steps_file: Path, done: bool = False) -> None:
        """Log the task's step lines not logged yet (live: after each committed step), and
        with ``done`` its steps.jsonl and the end of its run."""
        self._call(f"logging task {task}", lambda: self._sync(task, steps_file, done))

    def _sync(self, task: str, steps_file: Path, done: bool) -> None:
        from mlflow.entities import Metric

        run_id = self._task_run(task)
        entry = self.state["tasks"][task]
        every = read_jsonl(steps_file)
        lines = [r for r in every if r["global_step"] > entry["logged"]]
        now = int(time.time() * 1000)
        metrics = [
            Metric(key, float(value), now, step)
            for step, values in step_metrics(every, self.models, entry["logged"])
            for key, value in values.items()
        ]
        for i in range(0, len(metrics), 1000):
            self.client.log_batch(run_id, metrics=metrics[i : i + 1000])
        if lines:
            entry["logged"] = max(r["global_step"] for r in lines)
            self._save_state()
        if done:
            self._log_now(self.state["run_id"], summary_metrics(every, task))
            self.client.log_artifact(run_id, str(steps_file))
            self.client.set_terminated(run_id, "FINISHED")

    def _log_now(self, run_id: str, metrics: Mapping[str, float]) -> None:
        """Metrics without a step (step 0, now)."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, 0) for k, v in metrics.items()]
        if items:
            self.client.log_batch(run_id, metrics=items)

    def log_metrics(self, metrics: Mapping[str, float], task: str | None = None) -> None:
        """Metrics without a step: of the run, or of a task's nested run and (named
        ``<name>/<task>``) of the run too, so the run's own page shows every task's numbers."""

        def body() -> None:  # only called when tracking is on (mlflow is imported then)
            if task:
                self._log_now(self._task_run(task), metrics)
            on_run = {f"{k}/{metric_key(task)}" if task else k: v for k, v in metrics.items()}
            self._log_now(self.state["run_id"], on_run)

        self._call("logging metrics", body)

    def finish(self, state: str, artifacts: tuple[str, ...] = RUN_ARTIFACTS) -> None:
        """Upload the folder's artifacts and plots, and end the run with the folder's state."""

        def body() -> None:
            run_id = self.state["run_id"]
            for name in artifacts:
                if (self.root / name).is_file():
                    self.client.log_artifact(run_id, str(self.root / name))
            if (self.root / "plots").is_dir():
                self.client.log_artifacts(run_id, str(self.root / "plots"), "plots")
            for entry in self.state["tasks"].values():
                if state != "finished":
                    self.client.set_terminated(entry["run_id"], END_STATES.get(state, "FAILED"))
            self.client.set_terminated(run_id, END_STATES.get(state, "FAILED"))

        self._call("finishing the run", body)


def open_tracker(
    settings: MlflowSettings | None,
    root: Path,
    config: Mapping[str, Any],
    name: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> Tracker:
    """The tracker of the folder ``root`` (disabled without settings), its MLflow run started
    with ``config`` as params; ``name`` defaults to the folder's name."""
    tracker = Tracker(settings, root)
    if settings is not None:
        tracker.start(name or Path(root).name, flat_params(config), dict(tags or {}))
    return tracker
