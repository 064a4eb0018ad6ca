"""The experiment: the paper's method comparison (Table 5) as one grid.

``execute(ExperimentOptions(presets=..., seeds=..., dataset=...))`` (``experiment.py`` on the
command line, ``gpo.experiment`` from Python) runs every preset x task x seed as an ordinary run
folder inside one experiment folder (sharing the response cache), scores the Empty and CoT
prompts once per task, then writes the table (``table.md``, ``table.csv``) and the report
(``report.md``, ``plots/``).

``dry_run`` plans the whole grid (calls, tokens, wall time for 1/8/64 scorer replicas) and loads
nothing; ``resume=<experiment folder>`` runs only the missing or unfinished cells. The cells run
one after the other in this process, or, with ``workers`` > 1, on the executor the caller makes
(``make_executor``: ``gpo.scale.grid_workers.ray_executor``).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence

from gpo.experiments.folder import create_folder
from gpo.experiments.grid import CellResult, Executor, run_cell, run_serial
from gpo.experiments.plan import plan_lines, validate_cells
from gpo.experiments.setup import cells_now, new_grid, resumed_grid
from gpo.experiments.tracking import experiment_tracker, finish_experiment_tracking
from gpo.options import ExperimentOptions
from gpo.results.experiment_folder import CellSpec, ExperimentFolder
from gpo.runs.build import ModelPool
from gpo.runs.common import emit, write_report_safely
from gpo.runs.request import RunRequest, build_request
from gpo.runs.runtime import DEFAULT_RUNTIME, Runtime

log = logging.getLogger(__name__)

# the executor of a grid for Ray workers, made from the cells' template request
MakeExecutor = Callable[[RunRequest, Runtime], Executor]


def run_experiment(
    folder: ExperimentFolder,
    cells: Sequence[CellSpec],
    template: RunRequest,
    pool: ModelPool,
    executor: Executor = run_serial,
) -> list[CellResult]:
    """Run the cells through ``executor`` (cell -> run folder); every outcome is logged in
    cells.jsonl as it arrives."""
    results = []
    for result in executor(cells, lambda cell: run_cell(cell, template, pool)):
        folder.log_cell(dataclasses.asdict(result))
        results.append(result)
    return results


def execute(
    options: ExperimentOptions,
    pool: ModelPool | None = None,
    make_executor: MakeExecutor | None = None,
    runtime: Runtime = DEFAULT_RUNTIME,
    command: Sequence[str] | None = None,
) -> tuple[ExperimentFolder, list[CellResult]] | None:
    """Plan (``dry_run``: print and return None), or run the grid and write table and report.

    The cells load their models through ``pool`` (default: a pool of ``runtime``), one after
    the other; with ``workers`` > 1 through ``make_executor``'s executor (Ray workers make their
    own pools of ``runtime``). ``command`` is
    what provenance.json records (default: the options as experiment.py's flags)."""
    if options.resume:
        template = build_request(options)
        spec, cells, folder = resumed_grid(template, options)
    else:
        template, spec, cells = new_grid(options)
        folder = None
    # --run_presets / --run_seeds (on --resume also --presets / --seeds): these cells now, the
    # rest wait. Checked before a new grid's folder exists; a resumed grid plans only these.
    now = {c.cell_id for c in cells_now(cells, options, resumed=folder is not None)}
    if folder is not None:
        cells = [c for c in cells if c.cell_id in now]
    template = dataclasses.replace(template, resume=None)
    plans = validate_cells(cells, template)
    if template.dry_run:
        emit(plan_lines(cells, plans, options.scorer_tokens_per_second))
        return None
    run_cells = cells_executor(template, make_executor, runtime)
    if folder is None:
        folder, cells = create_folder(
            command or ["experiment.py", *options.command_line()], template, spec, cells
        )
    cells = [c for c in cells if c.cell_id in now]
    log.info("experiment folder: %s (%d cells)", folder.root, len(cells))
    tracker, template = experiment_tracker(folder, spec, template)
    own_pool = pool is None
    pool = pool or ModelPool(runtime)
    try:
        results = run_experiment(folder, cells, template, pool, run_cells)
    finally:
        if own_pool:
            pool.close()
    from gpo.reports.table_output import write_table

    write_table(folder.root)
    write_report_safely(folder.root)
    finish_experiment_tracking(tracker, results)
    return folder, results


def cells_executor(
    template: RunRequest, make_executor: MakeExecutor | None, runtime: Runtime
) -> Executor:
    """The executor of the cells: ``run_serial`` for one worker, the caller's Ray executor
    (made from the template) for more."""
    if template.workers == 1:
        return run_serial
    if make_executor is None:
        raise ValueError(
            "workers > 1: pass make_executor=gpo.scale.grid_workers.ray_executor "
            "(gpo.experiment and experiment.py do)"
        )
    return make_executor(template, runtime)
