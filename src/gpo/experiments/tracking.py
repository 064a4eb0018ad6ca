"""An experiment's MLflow run: the parent of its cells' runs, with the table's means as
metrics and the table, report and plots as artifacts."""

from __future__ import annotations

import csv
import dataclasses
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from gpo.experiments.grid import CellResult
from gpo.results.experiment_folder import ExperimentFolder
from gpo.runs.request import RunRequest
from gpo.tracking.mlflow_tracker import EXPERIMENT_ARTIFACTS, Tracker, open_tracker
from gpo.tracking.step_metrics import metric_key


def experiment_tracker(
    folder: ExperimentFolder, spec: dict, template: RunRequest
) -> tuple[Tracker, RunRequest]:
    """The experiment's MLflow run (the parent of every cell's run) and the cells' template
    nested under it; untracked (or tracking down) the template's cells are not tracked."""
    if template.mlflow is None:
        return Tracker(None, folder.root), template
    params = {k: v for k, v in spec.items() if k != "command"}
    tracker = open_tracker(template.mlflow, folder.root, params, tags={"gpo.kind": "experiment"})
    cells = None
    if tracker.run_id is not None:
        cells = dataclasses.replace(template.mlflow, parent_run_id=tracker.run_id)
    return tracker, dataclasses.replace(template, mlflow=cells)


def finish_experiment_tracking(tracker: Tracker, results: Sequence[CellResult]) -> None:
    """Cell counts and the table's means as metrics; table, report and plots as artifacts; the
    run ended."""
    counts = Counter(r.state for r in results)
    cells = {f"cells_{state}": float(n) for state, n in counts.items()}
    tracker.log_metrics(cells | table_metrics(tracker.root / "table.csv"))
    state = "finished" if set(counts) <= {"finished", "skipped"} else "failed"
    tracker.finish(state, EXPERIMENT_ARTIFACTS)


def table_metrics(table_csv: Path) -> dict[str, float]:
    """The grid's table as metrics of its MLflow run: ``test/<method>/<dataset>``, the mean test
    score of each method's final prompts (dataset ``Average``: over the datasets)."""
    if not table_csv.is_file():
        return {}
    with table_csv.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    return {
        f"test/{metric_key(r['method'])}/{metric_key(r['dataset'])}": float(r["mean"])
        for r in rows
        if r.get("mean")
    }
