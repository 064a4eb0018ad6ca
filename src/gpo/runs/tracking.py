"""A run's MLflow tracker (``--mlflow_tracking_uri``), made from its request and run folder."""

from __future__ import annotations

from collections.abc import Callable

from gpo.llm.aliases import ModelSpec
from gpo.results.io import read_json
from gpo.results.run_folder import RunFolder
from gpo.runs.common import guarded, write_report_safely
from gpo.runs.request import RunRequest
from gpo.tracking.mlflow_tracker import Tracker, open_tracker


def run_tracker(
    request: RunRequest, folder: RunFolder, specs: tuple[ModelSpec, ModelSpec | None], kind: str
) -> Tracker:
    """The tracker of ``folder`` (disabled when the request is not tracked): its MLflow run
    started with run_config.json as params, the models named for pricing."""
    if request.mlflow is None:
        return Tracker(None, folder.root)
    config = read_json(folder.root / "run_config.json")
    tags = {"gpo.kind": kind, "gpo.dataset": str(config.get("dataset"))}
    if config.get("preset"):
        tags["gpo.preset"] = str(config["preset"])
    tracker = open_tracker(request.mlflow, folder.root, config, tags=tags)
    roles = zip(("scorer", "optimizer"), specs)
    tracker.models = {role: (s.alias, s.backend) for role, s in roles if s is not None}
    return tracker


def finish_tracking(tracker: Tracker, folder: RunFolder) -> None:
    """Upload the folder's artifacts and end the MLflow run with the folder's state."""
    tracker.finish(str(folder.status().get("state", "failed")))


def run_tracked(
    folder: RunFolder, body: Callable[[], object], tracker: Tracker, close: Callable[[], None]
) -> None:
    """Run ``body`` guarded (a failure marks the folder failed), then, whatever happened, write
    the report, end the MLflow run with the folder's state and ``close`` what the run opened."""
    try:
        guarded(folder, body)
    finally:
        write_report_safely(folder.root)
        finish_tracking(tracker, folder)
        close()
