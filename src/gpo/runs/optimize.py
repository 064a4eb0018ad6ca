"""The optimization command: validate, plan (``--dry_run``), load, run every task, export.

Also ``--resume``: an interrupted run continues from each task's last checkpoint with its saved
configuration; finished tasks are skipped, and with the response cache finished work costs no call.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path

from gpo.config import RunConfig
from gpo.data.base import TaskData
from gpo.data.registry import get_benchmark
from gpo.data.sampling import FormatSampler
from gpo.errors import ConfigError
from gpo.evaluation.racing import RacingSettings
from gpo.evaluation.scorer import Scorer
from gpo.llm.accounting import Ledger
from gpo.llm.base import LLM
from gpo.optimization import loop
from gpo.optimization.components import Components, build_components
from gpo.optimization.guards import build_guards
from gpo.optimization.loop import TaskOutcome
from gpo.optimization.screening import ScreeningPolicy, compliance_line
from gpo.optimization.state import steps_per_epoch
from gpo.optimization.step import StepContext
from gpo.presets import is_gepa
from gpo.results.io import append_jsonl, atomic_write_json, read_jsonl
from gpo.results.recorder import TaskRecorder, usage_summary
from gpo.results.records import StepRecord
from gpo.results.run_folder import RunFolder
from gpo.runs import preflight
from gpo.runs.build import LoadedRun, ModelPool, load_run, load_tasks, resolve_specs
from gpo.runs.common import (
    emit,
    initial_instruction_for,
)
from gpo.runs.plan import gepa_budget, plan_lines
from gpo.runs.progress import BudgetBar, planned_calls
from gpo.runs.request import RunRequest
from gpo.runs.runtime import DEFAULT_RUNTIME, Runtime
from gpo.runs.tracking import run_tracked, run_tracker
from gpo.tracking.mlflow_tracker import Tracker

log = logging.getLogger(__name__)

# Flags that may be given again when a run is resumed; the rest comes from run_config.json.
RESUME_FLAGS = (
    "resume",
    "max_tokens_budget",
    "gepa_max_metric_calls",
    "max_cost_usd",
    "no_cache",
    "cache_dir",
    "data_dir",
    "log_level",
    "n_threads",
    "n_parallel",
    "n_ctx",
    "max_retries",
    "openai_api_key",
    "openai_api_key_list",
    "openai_base_url",
    "gpus",
    "max_concurrency",
    "workers",
    "ray_address",
    "gpus_per_worker",
    "mlflow",
    "mlflow_tracking_uri",
    "mlflow_experiment",
)


def resume_request(request: RunRequest) -> RunRequest:
    """The saved configuration of ``--resume``'s run folder, with budget/cache/data overrides."""
    folder = RunFolder(Path(request.resume).expanduser())
    if not (folder.root / "run_config.json").is_file():
        raise ConfigError(f"--resume={request.resume}: not a run folder (no run_config.json)")
    if folder.status().get("state") == "finished":
        raise ConfigError(f"--resume={request.resume}: that run already finished")
    if folder.running_elsewhere():
        raise ConfigError(
            f"--resume={request.resume}: process {folder.status()['pid']} is still running it; "
            "stop it first"
        )
    fresh, given = request.config, request.options
    overrides = {}
    for name in ("max_tokens_budget", "max_cost_usd", "data_dir", "gepa_max_metric_calls"):
        if given.is_set(name):
            overrides[name] = getattr(fresh, name)
    if given.is_set("no_cache") or given.is_set("cache_dir"):
        overrides["cache_dir"] = fresh.cache_dir
    ignored = sorted(n for n in given.set_names() if n not in RESUME_FLAGS)
    if ignored:
        log.warning(
            "resuming with the run's saved configuration; ignoring --%s", ", --".join(ignored)
        )
    config = dataclasses.replace(folder.load_config(), **overrides)
    base_url = (
        request.openai_base_url if given.is_set("openai_base_url") else config.openai_base_url
    )
    return dataclasses.replace(request, config=config, openai_base_url=base_url)


def prepare(request: RunRequest):
    """Everything checkable before a model loads: names, combinations, data, exemplars."""
    config = request.config
    check_method(config)
    benchmark = get_benchmark(config.dataset, config.data_dir)
    tasks = benchmark.resolve_tasks(list(config.tasks))
    config = dataclasses.replace(config, tasks=tuple(tasks))
    specs = resolve_specs(config, request, need_optimizer=True)
    data = dict(
        preflight.validate_run(
            config, specs, lambda: load_tasks(config, benchmark, tasks), optimizing=True
        )
    )
    formats = FormatSampler.seeded(config.seed).sample(
        list(data.values()), config.opt.format_data_num
    )
    return config, benchmark, specs, data, formats


def check_method(config: RunConfig) -> None:
    """GEPA's flag only with GEPA, and GEPA only when its package is installed."""
    if is_gepa(config.preset):
        from gpo.optimization.gepa.settings import require_gepa

        require_gepa()
    elif config.gepa_max_metric_calls is not None:
        raise ConfigError(
            "--gepa_max_metric_calls applies to --preset=gepa; drop it or add --preset=gepa"
        )


def prepare_or_plan(request: RunRequest):
    """``prepare``'s checked run, or None after printing the plan of ``--dry_run``."""
    prepared = prepare(request)
    if request.dry_run:
        config, _, specs, data, _ = prepared
        emit(plan_lines(config, specs, data))
        return None
    return prepared


def run_optimize(
    request: RunRequest,
    pool: ModelPool | None = None,
    folder_name: str | None = None,
    runtime: Runtime = DEFAULT_RUNTIME,
) -> RunFolder | None:
    """Optimize every task of the request in this process into a run folder (None for
    ``--dry_run``; ``--workers`` > 1 is ``gpo.scale.distributed.run_on_workers``).

    ``pool`` reuses loaded models across runs (an experiment's cells) and brings its runtime;
    without one, a pool of ``runtime`` is made (and closed at the end). ``folder_name`` names
    the new run folder (an experiment's cell id) instead of the original's timestamped name.
    """
    prepared = prepare_or_plan(request)
    if prepared is None:
        return None
    config, benchmark, specs, data, formats = prepared
    own_pool = pool is None
    pool = pool or ModelPool(runtime)
    loaded = load_run(config, request, specs, benchmark, pool)
    folder = open_run_folder(request, config, folder_name)
    tracker = run_tracker(request, folder, specs, "optimize")

    def body() -> None:
        for task, task_data in data.items():
            exemplars = tuple(task_data.format[i] for i in formats[task])
            components = build_components(
                config.opt, config.scoring, exemplars, loaded.embedder, config.optimizer.max_tokens
            )
            if not task_finished(folder, task):
                optimize_one(config, folder, task, task_data, loaded, components, tracker)
            tracker.sync_task(task, folder.steps_path(task), done=True)
        write_usage_summary(folder, list(data))

    run_tracked(folder, body, tracker, pool.close if own_pool else lambda: None)
    emit([f"results: {folder.root}", f"best prompts: {folder.best_prompts_path}"])
    return folder


def optimize_one(
    config: RunConfig,
    folder: RunFolder,
    task: str,
    task_data: TaskData,
    loaded: LoadedRun,
    components: Components,
    tracker: Tracker,
) -> None:
    """Optimize one task in this process (each step mirrored to ``tracker``), record its best."""
    steps = folder.steps_path(task)
    try:
        outcome = run_task(
            config,
            folder,
            task,
            task_data,
            loaded.scorer,
            loaded.models.optimizer,
            components,
            loaded.ledger,
            on_step=lambda _record: tracker.sync_task(task, steps),
            progress=budget_bar(config, task_data, loaded),
        )
    except BaseException:
        if steps.is_file():
            tracker.sync_task(task, steps)  # what was done before the failure (or the stop)
        raise
    append_jsonl(folder.best_prompts_path, best_record(config, task, outcome))
    emit([result_line(config, task, outcome)])
    if outcome.budget_compliance:
        emit([compliance_line(task, outcome.budget_compliance)])


def open_run_folder(
    request: RunRequest, config: RunConfig, folder_name: str | None = None
) -> RunFolder:
    """The resumed run's folder (marked running again) or a new one."""
    if request.resume:
        folder = RunFolder(Path(request.resume).expanduser())
        folder.set_status("running", "resumed")
        log.info("resuming run %s", folder.root)
    else:
        folder = RunFolder.create(config, name=folder_name)
        log.info("run folder: %s", folder.root)
    return folder


def budget_bar(config: RunConfig, task_data: TaskData, loaded: LoadedRun) -> BudgetBar:
    """The step bar's budget text of one task: calls against the dry-run plan, tokens, cost."""
    second_round = loaded.models.scorer_spec.second_round
    spe = steps_per_epoch(len(task_data.train), config.opt.opt_batch_size)
    calls = planned_calls(config, task_data, second_round)
    return BudgetBar(loaded.ledger, calls, config.opt.num_search_epochs * spe)


def task_finished(folder: RunFolder, task: str) -> bool:
    if task in {r["task"] for r in read_jsonl(folder.best_prompts_path)}:
        log.info("%s: already finished, skipped", task)
        return True
    return False


def write_usage_summary(folder: RunFolder, tasks: list[str]) -> None:
    summary = usage_summary(folder, tasks)
    atomic_write_json(folder.root / "usage_summary.json", summary)
    log.info("usage: %s", summary["total"])


def run_task(
    config: RunConfig,
    folder: RunFolder,
    task: str,
    task_data: TaskData,
    scorer: Scorer,
    optimizer: LLM,
    components: Components,
    ledger: Ledger,
    budget: Callable[[], str | None] | None = None,
    on_step: Callable[[StepRecord], None] | None = None,
    progress: Callable[[float | None, int], str] | None = None,
) -> TaskOutcome:
    """Optimize one task from its checkpoint (or its start); ``budget`` returns a reason to stop
    (default: this process's ledger against the run's budgets)."""
    recorder = TaskRecorder(folder, task, task_data.spec.setting_dict())
    if budget is None:
        budget = partial(ledger.check_budget, config.max_tokens_budget, config.max_cost_usd)
    if is_gepa(config.preset):
        return run_gepa(config, recorder, task_data, scorer, optimizer, ledger, budget, on_step)
    spe = steps_per_epoch(len(task_data.train), config.opt.opt_batch_size)
    ctx = step_context(config, recorder, task_data, scorer, optimizer, components, spe)
    ctx = dataclasses.replace(ctx, on_step=on_step, progress=progress)
    initial = initial_instruction_for(config.dataset, task, config.initial_instruction)
    return loop.run_task(ctx, initial, spe, ledger, budget)


def run_gepa(
    config: RunConfig,
    recorder: TaskRecorder,
    task_data: TaskData,
    scorer: Scorer,
    optimizer: LLM,
    ledger: Ledger,
    budget: Callable[[], str | None],
    on_step: Callable[[StepRecord], None] | None,
) -> TaskOutcome:
    """``--preset=gepa``: the task optimized by GEPA on the same scorer, recorder and budgets
    (``gpo.optimization.gepa``), with ``gepa_budget``'s metric calls."""
    from gpo.optimization.gepa.run import GepaTask, run_gepa_task

    task = GepaTask(
        data=task_data,
        scorer=scorer,
        optimizer=optimizer,
        recorder=recorder,
        ledger=ledger,
        max_metric_calls=gepa_budget(config, task_data),
        seed=config.seed,
        temperature=config.optimizer.temperature,
        max_tokens=config.optimizer.max_tokens,
        stop=budget,
        on_step=on_step,
    )
    initial = initial_instruction_for(config.dataset, recorder.task, config.initial_instruction)
    return run_gepa_task(task, initial)


def step_context(
    config: RunConfig,
    recorder: TaskRecorder,
    task_data: TaskData,
    scorer: Scorer,
    optimizer: LLM,
    components: Components,
    steps_per_epoch: int,
) -> StepContext:
    """What every step of one task needs, from the run's configuration."""
    o = config.opt
    return StepContext(
        data=task_data,
        scorer=scorer,
        optimizer=optimizer,
        components=components,
        recorder=recorder,
        num_candidates=o.num_generated_instructions_in_each_step,
        temperature=config.optimizer.temperature,
        max_tokens=config.optimizer.max_tokens,
        batch_size=o.opt_batch_size,
        total_steps=o.num_search_epochs * steps_per_epoch,
        seed=config.seed,
        score_train=components.gradient is not None or config.log_train_batches,
        test_every_step=config.test_every_step,
        screening=ScreeningPolicy(
            build_guards(o.candidate_guards, o.max_prompt_words, task_data),
            o.enforce_step_size,
            o.max_resamples,
        ),
        racing=RacingSettings(config.eval_racing, config.racing_confidence),
    )


def best_record(config: RunConfig, task: str, outcome: TaskOutcome) -> dict:
    """One best_prompts.jsonl line: GPO_results.jsonl's schema plus scores."""
    st, best, last = outcome.state, outcome.best, outcome.state.trajectory[-1]
    return {
        "dataset": config.dataset,
        "task": task,
        "prompt": best.prompt,
        "eval_score": best.score,
        "test_score": outcome.best_test,
        "epoch": best.epoch,
        "step": best.step,
        "initial_prompt": st.initial_prompt,
        "initial_eval_score": st.initial_eval,
        "initial_test_score": st.initial_test,
        "last_prompt": last.prompt,
        "last_eval_score": st.current_eval_score,  # stored score, never the kept placeholder
        "scorer": config.scorer.name,
        "optimizer": config.optimizer.name,
    }


def result_line(config: RunConfig, task: str, outcome: TaskOutcome) -> str:
    st = outcome.state
    return (
        f"{config.dataset} {task}: initial eval {100 * st.initial_eval:.2f} test "
        f"{100 * st.initial_test:.2f} -> best eval {100 * outcome.best.score:.2f} test "
        f"{100 * outcome.best_test:.2f}: {outcome.best.prompt!r}"
    )
