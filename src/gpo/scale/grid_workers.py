"""Experiment cells on Ray workers (``experiment.py --workers=N``): the scale-out of a grid.

Each cell (preset x task x seed, or a baseline) is one unit of ``ray_runner.run_units``. A worker
holds one model pool for its life and runs cell after cell; the worker that runs a cell is the
only writer of that cell's run folder, and records where it ran in the folder's
``placement.jsonl``. The driver writes the experiment's own files (cells.jsonl, table, report).

The response cache follows the run-level design of ``distributed.py``: every worker writes its
own part file (reading the shared cache read-only) and the driver merges the parts into the
shared cache before the workers start (leftovers of an interrupted grid) and after they stop.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from gpo.config import RunConfig
from gpo.experiments.grid import SKIPPED, CellResult, CellRunner, Executor, run_cell
from gpo.log_setup import setup_logging
from gpo.results.experiment_folder import BASELINE, CellSpec
from gpo.results.io import append_jsonl
from gpo.runs.build import ModelPool, WorkerModelPool
from gpo.runs.request import RunRequest
from gpo.runs.runtime import DEFAULT_RUNTIME, Runtime
from gpo.scale.distributed import merge_worker_caches

log = logging.getLogger(__name__)

BASELINE_SIZE = 1.0  # a baseline scores two splits once; an optimization cell is far larger
OPTIMIZE_SIZE = 10.0


@dataclass(frozen=True)
class CellWorker:
    """The setup of one Ray worker (picklable, called inside the worker process)."""

    log_level: str
    runtime: Runtime = DEFAULT_RUNTIME

    def __call__(self) -> ModelPool:
        setup_logging(self.log_level)
        return WorkerModelPool(self.runtime)


def run_cell_unit(pool: ModelPool, unit, context) -> CellResult:
    """Run one cell in a worker; its run folder is written here and nowhere else."""
    cell, template = unit.payload
    result = run_cell(cell, template, pool)
    root = Path(result.run_folder)
    if root.is_dir() and result.state != SKIPPED:  # a finished cell skipped ran nowhere
        append_jsonl(root / "placement.jsonl", context.placement.to_dict())
    return result


def absolute(config: RunConfig) -> RunConfig:
    """Workers may start in another folder: every path of a cell is made absolute."""
    paths = {
        name: str(Path(value).expanduser().resolve())
        for name in ("output_dir", "cache_dir", "data_dir")
        if (value := getattr(config, name)) is not None
    }
    return dataclasses.replace(config, **paths)


def ray_executor(template: RunRequest, runtime: Runtime = DEFAULT_RUNTIME) -> Executor:
    """An executor that runs the cells on ``template.workers`` Ray workers (each with a model
    pool of ``runtime``)."""
    from gpo.scale.ray_runner import RayOptions, UnitSpec, run_units

    options = RayOptions(
        workers=template.workers,
        address=template.ray_address,
        gpus_per_worker=template.gpus_per_worker,
        cpus_per_worker=1.0,
    )
    # inside a worker a cell is an ordinary single-process run; one llama.cpp thread per
    # reserved CPU unless the user chose a count
    cell_template = dataclasses.replace(template, workers=1, n_threads=template.n_threads or 1)

    def execute(cells: Sequence[CellSpec], runner: CellRunner) -> Iterator[CellResult]:
        del runner  # the driver's runner holds the driver's pool; workers hold their own
        specs = [dataclasses.replace(c, config=absolute(c.config)) for c in cells]
        configs = {c.config.cache_dir: c.config for c in specs}.values()
        units = [
            UnitSpec(
                c.cell_id,
                BASELINE_SIZE if c.kind == BASELINE else OPTIMIZE_SIZE,
                (c, cell_template),
            )
            for c in specs
        ]

        def on_result(unit: UnitSpec, result: CellResult) -> None:
            log.info("cell %s: %s (%.1fs)", result.cell_id, result.state, result.seconds)

        for config in configs:
            merge_worker_caches(config)
        try:
            results = run_units(
                units, CellWorker(template.log_level, runtime), run_cell_unit, options, on_result
            )
        finally:
            for config in configs:
                merge_worker_caches(config, after_workers=True)
        yield from (results[c.cell_id] for c in specs)

    return execute
