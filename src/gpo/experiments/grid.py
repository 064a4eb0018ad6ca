"""The cells of an experiment grid (method x task x seed, plus the Empty/CoT baselines) and how
one cell is run.

``run_cell(cell, template, pool) -> CellResult`` is the unit of work: it turns one ``CellSpec``
into its finished run folder (fresh, resumed from its checkpoint, or skipped when finished) and
never raises for a failure of the cell itself. An executor maps it over cells; ``run_serial`` runs
them one after the other in this process, and a parallel executor (e.g. Ray workers, each with
its own ``ModelPool``) can be plugged in with the same signature.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from gpo.config import RunConfig
from gpo.presets import is_gepa, preset_values
from gpo.results.experiment_folder import BASELINE, OPTIMIZE, CellSpec, cell_id
from gpo.results.run_folder import RunFolder
from gpo.runs.build import ModelPool
from gpo.runs.evaluate import BASELINES
from gpo.runs.request import RunRequest, optimizer_config

log = logging.getLogger(__name__)

FINISHED, SKIPPED, FAILED, STOPPED = "finished", "skipped", "failed", "stopped"


@dataclass(frozen=True)
class CellResult:
    cell_id: str
    state: str  # finished | skipped (already finished) | failed | stopped
    message: str
    seconds: float
    run_folder: str


def preset_config(base: RunConfig, preset: str, value: Callable[[str, dict], object]) -> RunConfig:
    """``base`` with a preset's flag values (flags the user passed explicitly still win)."""
    values = preset_values(preset)

    def v(name: str):
        return value(name, values)

    scoring = dataclasses.replace(
        base.scoring, instruction_pos=v("instruction_pos"), include_qa=v("include_qa")
    )
    gepa_calls = base.gepa_max_metric_calls if is_gepa(preset) else None  # GEPA's cells only
    return dataclasses.replace(
        base,
        opt=optimizer_config(v),
        scoring=scoring,
        preset=preset,
        gepa_max_metric_calls=gepa_calls,
    )


def build_cells(
    base: RunConfig,
    runs_dir: Path,
    presets: Sequence[str],
    seeds: Sequence[int],
    tasks: dict[str, list[str]],
    baselines: Sequence[str],
    value: Callable[[str, dict], object],
) -> list[CellSpec]:
    """Baseline cells (once per task) first, then seed-major optimization cells (a seed's cells
    share one loaded engine: the model-level seed is part of the engine)."""
    return [
        *baseline_cells(base, runs_dir, tasks, baselines),
        *optimization_cells(base, runs_dir, presets, seeds, tasks, value),
    ]


def baseline_cells(
    base: RunConfig, runs_dir: Path, tasks: dict[str, list[str]], baselines: Sequence[str]
) -> list[CellSpec]:
    """One cell per task and baseline prompt (Empty, CoT): the prompt scored, not optimized."""
    cells = []
    for dataset, names in tasks.items():
        for task in names:
            for b in baselines:
                config = dataclasses.replace(
                    base,
                    dataset=dataset,
                    tasks=(task,),
                    initial_instruction=BASELINES[b],
                    only_evaluate=True,
                    output_dir=str(runs_dir),
                    preset=None,
                    gepa_max_metric_calls=None,
                )
                cells.append(
                    CellSpec(
                        cell_id(b, dataset, task, None), BASELINE, b, dataset, task, None, config
                    )
                )
    return cells


def optimization_cells(
    base: RunConfig,
    runs_dir: Path,
    presets: Sequence[str],
    seeds: Sequence[int],
    tasks: dict[str, list[str]],
    value: Callable[[str, dict], object],
) -> list[CellSpec]:
    """One cell per seed, preset and task, seed-major (``value``: a flag's value under a preset,
    as ``preset_config`` takes it)."""
    configs = {p: preset_config(base, p, value) for p in presets}
    cells = []
    for seed in seeds:
        for preset in presets:
            for dataset, names in tasks.items():
                for task in names:
                    config = dataclasses.replace(
                        configs[preset],
                        dataset=dataset,
                        tasks=(task,),
                        seed=seed,
                        output_dir=str(runs_dir),
                    )
                    cells.append(
                        CellSpec(
                            cell_id(preset, dataset, task, seed),
                            OPTIMIZE,
                            preset,
                            dataset,
                            task,
                            seed,
                            config,
                        )
                    )
    return cells


def cell_request(cell: CellSpec, template: RunRequest, resume: str | None) -> RunRequest:
    return dataclasses.replace(
        template,
        config=cell.config,
        resume=resume,
        dry_run=False,
        prompts_file=None,
        baselines=(),
        workers=1,  # a cell is one single-process run (Ray spreads the cells, not their tasks)
    )


def run_cell(cell: CellSpec, template: RunRequest, pool: ModelPool) -> CellResult:
    """Produce the cell's run folder: skip it when finished, resume it from its checkpoint when
    unfinished, else start it. A failure is recorded (status.json says failed) and returned."""
    from gpo.runs.command import run_request

    root = Path(cell.config.output_dir) / cell.cell_id
    started = time.monotonic()
    folder = RunFolder(root)
    resume = None
    if (root / "run_config.json").is_file():
        state = folder.status().get("state")
        if state == "finished":
            return CellResult(cell.cell_id, SKIPPED, "already finished", 0.0, str(root))
        if folder.running_elsewhere():
            message = f"process {folder.status().get('pid')} is still running this cell"
            return CellResult(cell.cell_id, FAILED, message, 0.0, str(root))
        if cell.kind == OPTIMIZE:
            resume = str(root)
    if resume is None and root.exists():
        # a baseline scoring (no checkpoint to resume; the cache makes it cheap) or a folder
        # interrupted before its config was written
        log.info("%s: discarding the unfinished folder %s", cell.cell_id, root)
        shutil.rmtree(root)
    request = cell_request(cell, template, resume)
    try:
        run_request(request, pool.runtime, pool, cell.cell_id)
    except Exception as e:  # noqa: BLE001  (a failed cell is data; the others go on)
        state = STOPPED if e.__class__.__name__ == "BudgetExceeded" else FAILED
        if root.exists() and folder.status().get("state") not in (FAILED, STOPPED):
            folder.set_status(state, f"{e.__class__.__name__}: {e}")
        log.error("cell %s %s: %s: %s", cell.cell_id, state, e.__class__.__name__, e)
        return CellResult(
            cell.cell_id,
            state,
            f"{e.__class__.__name__}: {e}",
            time.monotonic() - started,
            str(root),
        )
    return CellResult(cell.cell_id, FINISHED, "", time.monotonic() - started, str(root))


CellRunner = Callable[[CellSpec], CellResult]
Executor = Callable[[Sequence[CellSpec], CellRunner], Iterator[CellResult]]


def run_serial(cells: Sequence[CellSpec], runner: CellRunner) -> Iterator[CellResult]:
    """Run the cells one after the other in this process (the default executor)."""
    bar = tqdm(cells, desc="cells", unit="cell")
    for cell in bar:
        bar.set_postfix_str(cell.cell_id)
        yield runner(cell)
    bar.close()
