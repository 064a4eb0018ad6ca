"""Checks that need no model: values the original accepted without a word, and the whole
step-size schedule of every task, so a run fails (or warns) before anything loads or is paid for.

Each check raises ``ConfigError`` (one line naming the fix, exit status 2) or, where the value is
harmless, logs a warning that says what is ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from gpo.config import RunConfig
from gpo.data.base import TaskData
from gpo.errors import ConfigError
from gpo.llm.aliases import ModelSpec
from gpo.optimization.state import steps_per_epoch
from gpo.optimization.step_size import StepSizeSchedule

log = logging.getLogger(__name__)

GPU_BACKENDS = ("vllm", "hf")


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


def check_schedule(config: RunConfig, tasks: Mapping[str, TaskData]) -> None:
    """Evaluate the word budget at every step t = 1..T of every task (the loop's t is the
    trajectory length), so e.g. linear decay with --warmup_steps equal to the number of steps
    fails here and not at step 1 after the initial evaluation was paid for."""
    o = config.opt
    if o.learning_rate_name != "w_lr" or o.decay_strategy == "-":
        return
    schedule = StepSizeSchedule(
        o.decay_strategy,
        o.initial_step_size,
        o.final_step_size,
        o.use_warmup_strategy,
        o.warmup_steps,
    )
    for task, data in tasks.items():
        total = total_steps(config, data)
        try:
            for t in range(1, total + 1):
                schedule.step_size(t, total)
        except ConfigError as e:
            raise ConfigError(f"{task} ({total} steps): {e}") from None


def check_few_shot(config: RunConfig, tasks: Mapping[str, TaskData]) -> None:
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
                task,
                available,
                available,
            )
