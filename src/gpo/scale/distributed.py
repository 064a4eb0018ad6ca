"""The optimize command on Ray workers (``--workers`` > 1): every task of the run is one unit.

The paper's loop runs unchanged inside each worker; only this module and ``ray_runner`` know
about Ray. Who writes what (one writer per file):

* a task's folder (``result_by_instruction/<task>/``: CSVs, steps.jsonl, results_dict.json,
  checkpoint.json, and ``placement.jsonl``: node, host and process of every attempt) is written
  by the worker running that task;
* the run-level files (status.json, best_prompts.jsonl, usage_summary.json, run.log) by the
  driver only, from the results the workers return;
* the response cache: each worker writes its own part file ``<cache_dir>/parts/<host>-<pid>.sqlite``
  and reads the shared ``responses.sqlite`` read-only; the driver merges the parts into the shared
  file before the workers start (leftovers of an interrupted run) and after they stop.

A worker that dies mid-task is replaced and the task continues from its last checkpoint on the
next free worker, so the run ends with the same results. ``--max_tokens_budget`` and
``--max_cost_usd`` count the tokens and cost of all workers together.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

from gpo.config import RunConfig
from gpo.data.base import TaskData
from gpo.data.registry import get_benchmark
from gpo.llm.accounting import Ledger
from gpo.llm.cache import merge_cache_parts
from gpo.log_setup import setup_logging
from gpo.optimization.components import build_components
from gpo.optimization.state import steps_per_epoch
from gpo.results.io import append_jsonl
from gpo.results.run_folder import RunFolder
from gpo.runs.build import CACHE_FILE, CACHE_PARTS, LoadedRun, WorkerModelPool, load_run
from gpo.runs.common import emit, guarded, write_report_safely
from gpo.runs.optimize import (
    best_record,
    budget_bar,
    open_run_folder,
    prepare_or_plan,
    result_line,
    run_task,
    task_finished,
    write_usage_summary,
)
from gpo.runs.request import RunRequest
from gpo.runs.runtime import DEFAULT_RUNTIME, Runtime
from gpo.runs.tracking import finish_tracking, run_tracker
from gpo.scale.ray_runner import RayOptions, UnitSpec, WorkerContext, run_units

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TaskPayload:
    """What a worker needs to optimize one task (the driver already loaded and checked it)."""

    task: str
    data: TaskData
    exemplars: tuple


@dataclass(frozen=True)
class TaskReport:
    """What a worker returns: the best_prompts.jsonl record and the summary line."""

    record: dict
    line: str


@dataclass(frozen=True)
class LoadedWorker:
    """A worker's models, loaded once and used for unit after unit."""

    config: RunConfig
    folder: RunFolder
    run: LoadedRun


@dataclass(frozen=True)
class LoadWorker:
    """The setup of one Ray worker (a picklable callable run inside the worker process): the
    same wiring as the single-process command (``load_run``), with this worker's cache part."""

    request: RunRequest
    config: RunConfig
    specs: tuple
    folder: str
    runtime: Runtime = DEFAULT_RUNTIME

    def __call__(self) -> LoadedWorker:
        setup_logging(self.request.log_level)
        config = self.config
        benchmark = get_benchmark(config.dataset, config.data_dir)
        run = load_run(config, self.request, self.specs, benchmark, WorkerModelPool(self.runtime))
        return LoadedWorker(config, RunFolder(Path(self.folder)), run)


def run_task_unit(worker: LoadedWorker, unit: UnitSpec, context: WorkerContext) -> TaskReport:
    """Optimize one task inside a worker; its folder is written here and nowhere else."""
    payload: TaskPayload = unit.payload
    config, folder, task = worker.config, worker.folder, payload.task
    append_jsonl(folder.task_dir(task) / "placement.jsonl", context.placement.to_dict())
    handler = logging.FileHandler(folder.task_dir(task) / "task.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    try:
        components = build_components(
            config.opt,
            config.scoring,
            payload.exemplars,
            worker.run.embedder,
            config.optimizer.max_tokens,
        )

        def budget() -> str | None:
            return shared_budget_reason(worker.run.ledger, context, config)

        outcome = run_task(
            config,
            folder,
            task,
            payload.data,
            worker.run.scorer,
            worker.run.models.optimizer,
            components,
            worker.run.ledger,
            budget,
            progress=budget_bar(config, payload.data, worker.run),
        )
        return TaskReport(best_record(config, task, outcome), result_line(config, task, outcome))
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
        sys.stderr.flush()


def shared_budget_reason(ledger: Ledger, context: WorkerContext, config: RunConfig) -> str | None:
    """The run's budgets against the tokens and cost of every worker together."""
    if config.max_tokens_budget is None and config.max_cost_usd is None:
        return None
    cost = ledger.cost_usd()
    totals = context.tally(
        {
            "tokens": float(ledger.total().total_tokens),
            "cost": cost or 0.0,
            "unpriced": 1.0 if cost is None else 0.0,
        }
    )
    used = int(totals.get("tokens", 0))
    if config.max_tokens_budget is not None and used >= config.max_tokens_budget:
        return (
            f"token budget reached: {used} tokens used by all workers, "
            f"max_tokens_budget={config.max_tokens_budget}"
        )
    spent, limit = totals.get("cost", 0.0), config.max_cost_usd
    if limit is not None and not totals.get("unpriced") and spent >= limit:
        return f"cost budget reached: ${spent:.4f} spent by all workers, max_cost_usd={limit}"
    return None


def task_units(
    config: RunConfig, data: dict[str, TaskData], formats: dict[str, list[int]], folder: RunFolder
) -> list[UnitSpec]:
    """One unit per unfinished task; its size is the number of scorer prompts it will need."""
    o = config.opt
    units = []
    for task, d in data.items():
        if task_finished(folder, task):
            continue
        steps = o.num_search_epochs * steps_per_epoch(len(d.train), o.opt_batch_size)
        per_step = o.num_generated_instructions_in_each_step * (len(d.eval) + o.opt_batch_size)
        size = float(steps * per_step + len(d.eval) + len(d.test))
        exemplars = tuple(d.format[i] for i in formats[task])
        units.append(UnitSpec(task, size, TaskPayload(task, d, exemplars)))
    return units


def merge_worker_caches(config: RunConfig, after_workers: bool = False) -> None:
    """Merge the cache parts no live worker holds; ``after_workers``: also wait a little for
    this run's own workers, just stopped, to exit and release theirs."""
    if config.cache_dir is not None:
        root = Path(config.cache_dir)
        merge_cache_parts(
            root / CACHE_FILE, root / CACHE_PARTS, wait_seconds=10.0 if after_workers else 0.0
        )


def run_on_workers(request: RunRequest, runtime: Runtime = DEFAULT_RUNTIME) -> RunFolder | None:
    """The driver of ``--workers`` > 1 (None for ``--dry_run``): schedule the unfinished tasks
    on Ray workers (each loading its models with ``runtime``), write the run-level files."""
    prepared = prepare_or_plan(request)
    if prepared is None:
        return None
    config, _, specs, data, formats = prepared
    cpus = 1.0
    if request.n_threads is None:  # one llama.cpp thread per reserved CPU, not all cores each
        request = dataclasses.replace(request, n_threads=int(cpus))
    if config.cache_dir is not None:  # workers may run in another folder
        config = dataclasses.replace(config, cache_dir=str(Path(config.cache_dir).resolve()))
    folder = open_run_folder(request, config)
    tracker = run_tracker(request, folder, specs, "optimize")
    options = RayOptions(
        workers=request.workers,
        address=request.ray_address,
        gpus_per_worker=request.gpus_per_worker,
        cpus_per_worker=cpus,
    )

    def on_result(unit: UnitSpec, report: TaskReport) -> None:
        append_jsonl(folder.best_prompts_path, report.record)
        emit([report.line])
        task = report.record["task"]
        tracker.sync_task(task, folder.steps_path(task), done=True)

    def body() -> None:
        merge_worker_caches(config)  # leftovers of an interrupted run first
        units = task_units(config, data, formats, folder)
        setup = LoadWorker(request, config, specs, str(folder.root.resolve()), runtime)
        try:
            run_units(units, setup, run_task_unit, options, on_result)
        finally:
            merge_worker_caches(config, after_workers=True)
        write_usage_summary(folder, list(data))

    try:
        guarded(folder, body)
    finally:
        write_report_safely(folder.root)
        finish_tracking(tracker, folder)
    emit([f"results: {folder.root}", f"best prompts: {folder.best_prompts_path}"])
    return folder
