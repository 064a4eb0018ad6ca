"""The run's one validation, before any model loads: ``validate_run``.

It checks the configuration (values the original accepted without a word, ``--gpus``, the scorer
prompt layout, the optimizer's flag combinations), loads the tasks' data and checks each task
against it (few-shot examples, steps per epoch, the whole step-size schedule), so a run fails (or
warns) before any model loads or anything is paid for. Flag names and spellings were checked when
the flags were read (``gpo.cli.flags``).

Each check raises ``ConfigError`` (one line naming the fix, exit status 2) or, where the value is
harmless, logs a warning that says what is ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

from gpo.config import RunConfig
from gpo.data.base import TaskData
from gpo.errors import ConfigError
from gpo.evaluation.prompts import validate_scoring_settings
from gpo.llm.aliases import GPU_BACKENDS, ModelSpec, chat_few_shot_layout
from gpo.optimization.components import step_size_schedule, validate_components
from gpo.optimization.state import steps_per_epoch

log = logging.getLogger(__name__)

K = TypeVar("K", str, tuple[str, str])  # a task name, or (dataset, task) for --prompts_file


def validate_run(
    config: RunConfig,
    specs: tuple[ModelSpec, ModelSpec | None],
    load: Callable[[], Mapping[K, TaskData]],
    optimizing: bool,
) -> Mapping[K, TaskData]:
    """Check the whole run; ``load`` reads the tasks' data (no model) between the configuration's
    checks and the tasks'. Returns the loaded data."""
    check_values(config)
    check_gpus(config, specs)
    s = config.scoring
    scorer = specs[0]
    chat = chat_few_shot_layout(scorer, scorer.is_chat)  # unknown (None) counts as chat
    validate_scoring_settings(s.instruction_pos, s.include_qa, s.few_shot, chat)
    if optimizing:
        validate_components(config.opt, s)
    data = load()
    check_few_shot(config, data)
    if optimizing:
        check_steps(config, data)
        check_schedule(config, data)
    return data


def check_values(config: RunConfig) -> None:
    """Numeric flags with no meaning below zero."""
    temperature = config.optimizer.temperature
    if temperature < 0:
        raise ConfigError(
            f"--optimizer_temperature={temperature:g} must be >= 0 (0 is greedy; the original "
            "samples candidates at 1.0)"
        )
    if config.max_cost_usd is not None and config.max_cost_usd < 0:
        raise ConfigError(
            f"--max_cost_usd={config.max_cost_usd:g} must be >= 0; leave it out for no cost limit"
        )
    if config.max_tokens_budget is not None and config.max_tokens_budget < 0:
        raise ConfigError(
            f"--max_tokens_budget={config.max_tokens_budget} must be >= 0; leave it out for no "
            "token limit"
        )


def check_gpus(config: RunConfig, specs: tuple[ModelSpec, ModelSpec | None]) -> None:
    """``--gpus`` must be integer ids for a GPU backend; with none it is ignored (a warning)."""
    gpus = ",".join(config.gpus)
    backends = sorted({s.backend for s in specs if s is not None})
    if any(b in GPU_BACKENDS for b in backends):
        bad = [g for g in config.gpus if not g.strip().isdigit()]
        if bad:
            raise ConfigError(
                f"--gpus={gpus}: GPU ids are integers (e.g. --gpus=0 or --gpus=0,1), not "
                f"{', '.join(repr(b) for b in bad)}"
            )
    elif config.gpus != ("0",):
        log.warning(
            "--gpus=%s is ignored: only the vllm and hf backends use GPUs, this run uses %s",
            gpus,
            " and ".join(backends),
        )


def total_steps(config: RunConfig, data: TaskData) -> int:
    """T of a task: epochs x steps per epoch."""
    o = config.opt
    return o.num_search_epochs * steps_per_epoch(len(data.train), o.opt_batch_size)


def check_steps(config: RunConfig, tasks: Mapping[K, TaskData]) -> None:
    """Every task makes at least one step per epoch with --opt_batch_size."""
    batch = config.opt.opt_batch_size
    for task, d in tasks.items():
        if steps_per_epoch(len(d.train), batch) == 0:
            where = str(Path(d.spec.folder) / "train.jsonl") if d.spec.folder else task
            raise ConfigError(
                f"{where}: {len(d.train)} train rows make no step with --opt_batch_size="
                f"{batch}; lower it, add train records or raise --max_examples"
            )


def check_schedule(config: RunConfig, tasks: Mapping[K, TaskData]) -> None:
    """Evaluate the word budget at every step t = 1..T of every task (the loop's t is the
    trajectory length), so e.g. linear decay with --warmup_steps equal to the number of steps
    fails here and not at step 1 after the initial evaluation was paid for."""
    schedule = step_size_schedule(config.opt)
    if schedule is None:
        return
    for task, data in tasks.items():
        total = total_steps(config, data)
        try:
            for t in range(1, total + 1):
                schedule.step_size(t, total)
        except ConfigError as e:
            raise ConfigError(f"{task} ({total} steps): {e}") from None


def check_few_shot(config: RunConfig, tasks: Mapping[K, TaskData]) -> None:
    """More demonstrations asked for than a task's few-shot file holds: the original (and this
    project) uses them all; say so."""
    s = config.scoring
    if not s.few_shot:
        return
    for task, data in tasks.items():
        available = len(data.few_shot)
        if s.few_shot_number > available:
            log.warning(
                "--few_shot_number=%d: %s has only %d few-shot examples; using all %d",
                s.few_shot_number,
                task if isinstance(task, str) else task[1],
                available,
                available,
            )
