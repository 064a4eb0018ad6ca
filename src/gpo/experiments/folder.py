"""A new experiment's folder: its spec, its cells' runs folder and its provenance (command,
package versions, models, hashes of the data files)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from gpo.data.registry import get_benchmark
from gpo.results.experiment_folder import CellSpec, ExperimentFolder, experiment_folder_name
from gpo.results.io import atomic_write_json
from gpo.results.provenance import redacted_argv
from gpo.runs.build import resolve_specs
from gpo.runs.request import RunRequest


def write_provenance(
    folder: ExperimentFolder, argv: Sequence[str], cells: Sequence[CellSpec], template: RunRequest
) -> None:
    from gpo.results.provenance import data_file_hashes, model_record, provenance

    files, data_dirs = [], set()
    for c in cells:
        bench = get_benchmark(c.dataset, c.config.data_dir)
        data_dir = Path(c.config.data_dir)
        data_dirs.add(data_dir)
        task_dir = data_dir / bench.folder / c.task
        task_dir = task_dir if task_dir.is_dir() else data_dir / bench.folder
        files += [p for p in task_dir.glob("*") if p.is_file()]
    [data_dir] = list(data_dirs) or [Path(".")]
    c0 = next(c for c in cells)
    scorer, optimizer = resolve_specs(c0.config, template, need_optimizer=True)
    models = [
        model_record("scorer", scorer.alias, scorer.backend, str(scorer.model)),
        model_record("optimizer", optimizer.alias, optimizer.backend, str(optimizer.model)),
    ]
    if any(c.config.opt.momentum_selection_name == "relavance" for c in cells):
        models.append({"role": "embedder", "name": c0.config.opt.embedding_model})
    atomic_write_json(
        folder.root / "provenance.json",
        provenance(argv, models, data_file_hashes(files, data_dir)),
    )


def create_folder(
    argv: Sequence[str], template: RunRequest, spec: dict, cells: Sequence[CellSpec]
) -> tuple[ExperimentFolder, list[CellSpec]]:
    """A new grid's experiment folder with its spec and provenance; the cells' runs go inside."""
    base = template.config
    folder = ExperimentFolder.create(
        Path(base.output_dir).expanduser(),
        experiment_folder_name(
            spec["datasets"], base.scorer.name, base.optimizer.name, dt.datetime.now()
        ),
    )
    runs = str(folder.runs_dir)
    cells = [
        dataclasses.replace(c, config=dataclasses.replace(c.config, output_dir=runs)) for c in cells
    ]
    spec["command"] = redacted_argv(argv)
    folder.write_spec(spec, cells)
    write_provenance(folder, argv, cells, template)
    return folder, cells
