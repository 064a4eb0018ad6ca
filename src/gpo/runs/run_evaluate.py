"""The ``--only_evaluate`` command: validate, load data, load the scorer, score, write, report."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

from gpo.config import RunConfig
from gpo.data.base import TaskData
from gpo.data.registry import get_benchmark
from gpo.results.io import atomic_write_json
from gpo.results.run_folder import RunFolder
from gpo.runs import preflight
from gpo.runs.build import ModelPool, build_models, load_tasks, resolve_specs, scorer_for
from gpo.runs.common import (
    emit,
    initial_instruction_for,
)
from gpo.runs.evaluate import (
    PromptRecord,
    format_table,
    read_prompts_file,
    score_records,
    with_baselines,
)
from gpo.runs.request import RunRequest
from gpo.runs.runtime import DEFAULT_RUNTIME, Runtime
from gpo.runs.tracking import run_tracked, run_tracker

log = logging.getLogger(__name__)


def planned_records(request: RunRequest) -> list[PromptRecord]:
    config = request.config
    if request.prompts_file:
        records = read_prompts_file(request.prompts_file, config.data_dir)
        return with_baselines(records, request.baselines)
    benchmark = get_benchmark(config.dataset, config.data_dir)
    return [
        PromptRecord(
            config.dataset,
            t,
            initial_instruction_for(config.dataset, t, config.initial_instruction),
            "initial",
        )
        for t in benchmark.resolve_tasks(list(config.tasks))
    ]


def load_record_tasks(
    config: RunConfig, records: list[PromptRecord]
) -> dict[tuple[str, str], TaskData]:
    """The data of every (dataset, task) that the records name (no model)."""
    tasks = {}
    for d in dict.fromkeys(r.dataset for r in records):
        bench = get_benchmark(d, config.data_dir)
        names = list(dict.fromkeys(r.task for r in records if r.dataset == d))
        for name, data in load_tasks(config, bench, names).items():
            tasks[(d, name)] = data
    return tasks


@dataclass(frozen=True)
class EvaluationPlan:
    """What ``--only_evaluate`` will score, checked before any model loads."""

    config: RunConfig
    records: list[PromptRecord]
    datasets: list[str]
    specs: tuple
    tasks: dict[tuple[str, str], TaskData]  # (dataset, task) -> its data


def plan_evaluation(request: RunRequest) -> EvaluationPlan:
    """The prompts to score, their datasets and tasks (loaded), the scorer's spec; all checked."""
    config = request.config
    records = planned_records(request)
    datasets = list(dict.fromkeys(r.dataset for r in records))
    if len(datasets) == 1 and datasets[0] != config.dataset:
        config = dataclasses.replace(config, dataset=datasets[0])
    elif len(datasets) > 1:
        config = dataclasses.replace(config, dataset="mixed")
    config = dataclasses.replace(config, tasks=tuple(dict.fromkeys(r.task for r in records)))
    specs = resolve_specs(config, request, need_optimizer=False)
    tasks = preflight.validate_run(
        config, specs, lambda: load_record_tasks(config, records), optimizing=False
    )
    return EvaluationPlan(config, records, datasets, specs, tasks)


def dry_run_line(plan: EvaluationPlan, split: str = "test") -> str:
    n = sum(len(plan.tasks[(r.dataset, r.task)].split(split)) for r in plan.records)
    scorer = plan.specs[0]
    return (
        f"dry run: {len(plan.records)} prompt(s) x {split} split = {n} scorer examples "
        f"(x2 with the second round) on {scorer.alias} ({scorer.backend})"
    )


def run_evaluate(
    request: RunRequest,
    pool: ModelPool | None = None,
    folder_name: str | None = None,
    runtime: Runtime = DEFAULT_RUNTIME,
) -> RunFolder | None:
    """Score the request's prompts into a run folder (None for ``--dry_run``); ``pool``,
    ``folder_name`` and ``runtime`` as for ``run_optimize``."""
    plan = plan_evaluation(request)
    if request.dry_run:
        emit([dry_run_line(plan, request.split)])
        return None
    config = plan.config
    own_pool = pool is None
    pool = pool or ModelPool(runtime)
    ledger = pool.runtime.make_ledger()
    models = build_models(config, request, plan.specs, ledger, pool)
    folder = RunFolder.create(config, name=folder_name)
    log.info("run folder: %s", folder.root)
    tracker = run_tracker(request, folder, plan.specs, "evaluate")
    scorers = {
        d: scorer_for(models, get_benchmark(d, config.data_dir), config, pool)
        for d in plan.datasets
    }

    def body():
        results = score_records(folder, scorers, plan.tasks, plan.records, request.split)
        emit(format_table(results))
        usage = ledger.to_dict()
        atomic_write_json(folder.root / "usage_summary.json", usage)
        log.info("usage: %s", usage)
        for record, score in results:
            tracker.log_metrics({f"{record.label}_{request.split}": score}, task=record.task)
        return results

    run_tracked(folder, body, tracker, pool.close if own_pool else lambda: None)
    emit([f"results: {folder.root}"])
    return folder
