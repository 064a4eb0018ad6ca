"""The folder of an experiment: a grid of method x task x seed cells, each an ordinary run folder.

<output_dir>/EXPERIMENT-<DATASETS>-s-<scorer>-o-<optimizer>-<YYYY-MM-DD-HH-MM-SS>/
    experiment.json     the grid: methods, seeds, datasets, tasks and every cell's RunConfig
    provenance.json     command line, package versions, models, hashes of the data files
    cells.jsonl         one line per cell attempt (state, message, seconds, run folder)
    runs/<cell id>/     the cell's ordinary run folder (configs_dict.json, steps.jsonl, ...)
    table.md, table.csv the method comparison (Table 5 of the paper)
    report.md, plots/   the experiment's report
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpo.config import RunConfig
from gpo.results.io import append_jsonl, atomic_write_json, read_json, read_jsonl
from gpo.results.run_folder import _safe

OPTIMIZE = "optimize"
BASELINE = "baseline"


@dataclass(frozen=True)
class CellSpec:
    """One unit of an experiment: a method (preset or baseline prompt) on one task with one seed.

    Everything a worker needs to produce the cell's run folder, except secrets and the models.
    """

    cell_id: str  # e.g. "gpo-bbh-navigate-seed0", "baseline-cot-bbh-navigate"
    kind: str  # OPTIMIZE or BASELINE
    method: str  # preset name, or "empty" / "cot"
    dataset: str
    task: str
    seed: int | None  # None for baselines (greedy scorer: seed-independent)
    config: RunConfig  # output_dir is the experiment's runs/ folder

    def to_json(self) -> dict[str, Any]:
        return {
            "cell_id": self.cell_id,
            "kind": self.kind,
            "method": self.method,
            "dataset": self.dataset,
            "task": self.task,
            "seed": self.seed,
            "config": self.config.to_json(),
        }

    @staticmethod
    def from_json(d: dict[str, Any]) -> CellSpec:
        return CellSpec(
            cell_id=d["cell_id"],
            kind=d["kind"],
            method=d["method"],
            dataset=d["dataset"],
            task=d["task"],
            seed=d["seed"],
            config=RunConfig.from_json(d["config"]),
        )


def cell_id(method: str, dataset: str, task: str, seed: int | None) -> str:
    if seed is None:
        return f"baseline-{method}-{dataset}-{_safe(task)}"
    return f"{method}-{dataset}-{_safe(task)}-seed{seed}"


def experiment_folder_name(
    datasets: list[str], scorer: str, optimizer: str, now: dt.datetime
) -> str:
    stamp = now.strftime("%Y-%m-%d-%H-%M-%S")
    names = "+".join(d.upper() for d in datasets)
    return f"EXPERIMENT-{names}-s-{_safe(scorer)}-o-{_safe(optimizer)}-{stamp}"


@dataclass(frozen=True)
class ExperimentFolder:
    root: Path

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def spec_path(self) -> Path:
        return self.root / "experiment.json"

    @property
    def cells_log_path(self) -> Path:
        return self.root / "cells.jsonl"

    def run_dir(self, cell_id: str) -> Path:
        return self.runs_dir / cell_id

    @staticmethod
    def create(parent: Path, name: str) -> ExperimentFolder:
        parent.mkdir(parents=True, exist_ok=True)
        root, suffix = parent / name, 1
        while True:
            try:
                root.mkdir()
                break
            except FileExistsError:
                suffix += 1
                root = parent / f"{name}-{suffix}"
        (root / "runs").mkdir()
        return ExperimentFolder(root)

    def write_spec(self, spec: dict[str, Any], cells: list[CellSpec]) -> None:
        atomic_write_json(self.spec_path, {**spec, "cells": [c.to_json() for c in cells]})

    def read_spec(self) -> tuple[dict[str, Any], list[CellSpec]]:
        data = read_json(self.spec_path)
        cells = [CellSpec.from_json(c) for c in data.pop("cells")]
        return data, cells

    def log_cell(self, record: dict[str, Any]) -> None:
        append_jsonl(
            self.cells_log_path, {"time": dt.datetime.now().isoformat(timespec="seconds"), **record}
        )

    def cell_log(self) -> list[dict[str, Any]]:
        return read_jsonl(self.cells_log_path)


def is_experiment_folder(path: Path) -> bool:
    return (Path(path) / "experiment.json").is_file()
