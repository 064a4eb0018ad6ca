"""The ``--only_evaluate`` command: validate, load data, load the scorer, score, write, report."""

from __future__ import annotations

import dataclasses
import logging

from gpo.cli import preflight
from gpo.cli.build import ModelPool, build_models, load_tasks, resolve_specs
from gpo.cli.common import (
    emit,
    guarded,
    initial_instruction_for,
    make_scorer,
    write_report_safely,
)
from gpo.cli.evaluate import (
    PromptRecord,
    format_table,
    read_prompts_file,
    score_records,
    with_baselines,
)
from gpo.cli.flags import CliRequest
from gpo.config import RunConfig
from gpo.data.base import TaskData
from gpo.data.registry import get_benchmark
from gpo.llm.accounting import Ledger
from gpo.results.io import atomic_write_json
from gpo.results.run_folder import RunFolder

log = logging.getLogger(__name__)


def planned_records(request: CliRequest) -> list[PromptRecord]:
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


def run_evaluate(
    request: CliRequest, pool: ModelPool | None = None, folder_name: str | None = None
) -> RunFolder | None:
    """Score the request's prompts into a run folder (None for ``--dry_run``); ``pool`` and
    ``folder_name`` as for ``run_optimize``."""
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
    if request.dry_run:
        n = sum(len(tasks[(r.dataset, r.task)].test) for r in records)
        emit(
            [
                f"dry run: {len(records)} prompt(s) x test split = {n} scorer examples "
                f"(x2 with the second round) on {specs[0].alias} ({specs[0].backend})"
            ]
        )
        return None
    own_pool = pool is None
    pool = pool or ModelPool()
    ledger = Ledger()
    models = build_models(config, request, specs, ledger, pool)
    folder = RunFolder.create(config, name=folder_name)
    log.info("run folder: %s", folder.root)
    scorers = {
        d: make_scorer(models.scorer, models.scorer_spec, get_benchmark(d, config.data_dir), config)
        for d in datasets
    }

    def body():
        results = score_records(folder, scorers, tasks, records)
        emit(format_table(results))
        usage = ledger.to_dict()
        atomic_write_json(folder.root / "usage_summary.json", usage)
        log.info("usage: %s", usage)
        return results

    try:
        guarded(folder, body)
    finally:
        write_report_safely(folder.root)
        if own_pool:
            pool.close()
    emit([f"results: {folder.root}"])
    return folder
