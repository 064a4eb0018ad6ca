"""``--dry_run``: the planned model calls and tokens of a run, computed without loading a model.

Counts are upper bounds for candidate evaluation (dedup can only lower them); token numbers are
estimates (about 4 characters per token for prompts, ``max_tokens`` for completions).
"""

from __future__ import annotations

import dataclasses
import math

from gpo.config import RunConfig
from gpo.data.base import Example, TaskData
from gpo.llm.aliases import ModelSpec
from gpo.optimization.gepa.settings import GEPA_SETTINGS
from gpo.optimization.state import steps_per_epoch
from gpo.presets import GPO_PRESET, is_gepa, preset_values

CHARS_PER_TOKEN = 4


def _tokens(examples: tuple[Example, ...], instruction: str) -> int:
    return sum(len(e.question) + len(instruction) + 1 for e in examples) // CHARS_PER_TOKEN


def optimization_examples(config: RunConfig, data: TaskData) -> int:
    """Examples the GPO loop scores on train and eval: the initial prompt on eval, then per step
    N candidates on eval and (with feedback or --log_train_batches) the train batch."""
    o = config.opt
    n = o.num_generated_instructions_in_each_step
    steps = o.num_search_epochs * steps_per_epoch(len(data.train), o.opt_batch_size)
    feedback = o.gradient_name == "feedback"
    train_rows = (
        min(o.opt_batch_size, len(data.train)) if (feedback or config.log_train_batches) else 0
    )
    return len(data.eval) + steps * (n * len(data.eval) + train_rows)


def gepa_budget(config: RunConfig, data: TaskData) -> int:
    """GEPA's metric calls: ``--gepa_max_metric_calls``, else what the gpo preset plans to score
    on train and eval for the same task and sizes (both methods then score the initial and the
    final prompt on test on top), so a grid compares the two at an equal scorer budget."""
    if config.gepa_max_metric_calls is not None:
        return config.gepa_max_metric_calls
    gpo = preset_values(GPO_PRESET)
    opt = dataclasses.replace(config.opt, gradient_name=gpo["gradient_name"])
    return optimization_examples(dataclasses.replace(config, opt=opt), data)


def gepa_plan(config: RunConfig, data: TaskData, second_round: bool) -> dict[str, int]:
    """The plan of a GEPA task: its budget of metric calls, plus one iteration GEPA may finish
    past it (a minibatch for parent and child and the eval split), plus the test scoring; one
    reflection call per iteration that proposes (each scores at least two minibatches)."""
    budget, mb = gepa_budget(config, data), GEPA_SETTINGS.reflection_minibatch_size
    rounds = 2 if second_round and data.spec.second_round else 1
    iterations = math.ceil(max(0, budget - len(data.eval)) / (2 * mb)) + 1
    scorer = budget + 2 * mb + len(data.eval) + 2 * len(data.test)
    per_example = _tokens(data.eval, config.initial_instruction) // max(1, len(data.eval))
    meta_tokens = 600 + mb * (per_example + config.scorer.max_tokens)
    return {
        "steps": iterations,
        "scorer_requests": scorer * rounds,
        "scorer_prompt_tokens": rounds * scorer * per_example,
        "scorer_completion_tokens_max": scorer
        * (
            config.scorer.max_tokens
            + (config.scoring.second_round_max_tokens if rounds == 2 else 0)
        ),
        "optimizer_requests": iterations,
        "optimizer_prompt_tokens": iterations * meta_tokens,
        "optimizer_completion_tokens_max": iterations * config.optimizer.max_tokens,
    }


def task_plan(config: RunConfig, data: TaskData, second_round: bool) -> dict[str, int]:
    if is_gepa(config.preset):
        return gepa_plan(config, data, second_round)
    o = config.opt
    n = o.num_generated_instructions_in_each_step
    steps = o.num_search_epochs * steps_per_epoch(len(data.train), o.opt_batch_size)
    feedback = o.gradient_name == "feedback"
    scorer = optimization_examples(config, data) + 2 * len(data.test)
    if config.test_every_step:
        scorer += steps * len(data.test)
    rounds = 2 if second_round and data.spec.second_round else 1
    instr = config.initial_instruction
    per_eval = _tokens(data.eval, instr)
    scorer_prompt_tokens = rounds * (per_eval * (1 + steps * n) + 2 * _tokens(data.test, instr))
    # screening may ask again for rejected candidates, up to --max_resamples rounds
    screened = o.enforce_step_size or bool(o.candidate_guards)
    proposals = n * (1 + o.max_resamples) if screened else n
    optimizer = steps * (
        proposals + (1 if feedback else 0) + (1 if o.momentum_update_name == "real-time" else 0)
    )
    meta_tokens = 600 + o.format_data_num * (per_eval // max(1, len(data.eval)))
    return {
        "steps": steps,
        "scorer_requests": scorer * rounds,
        "scorer_prompt_tokens": scorer_prompt_tokens,
        "scorer_completion_tokens_max": scorer
        * (
            config.scorer.max_tokens
            + (config.scoring.second_round_max_tokens if rounds == 2 else 0)
        ),
        "optimizer_requests": optimizer,
        "optimizer_prompt_tokens": optimizer * meta_tokens,
        "optimizer_completion_tokens_max": optimizer * config.optimizer.max_tokens,
    }


# the requests and tokens a plan counts (a dry run's columns)
PLAN_COUNTS = (
    "scorer_requests",
    "scorer_prompt_tokens",
    "scorer_completion_tokens_max",
    "optimizer_requests",
    "optimizer_prompt_tokens",
    "optimizer_completion_tokens_max",
)


def plan_lines(
    config: RunConfig, specs: tuple[ModelSpec, ModelSpec | None], data: dict[str, TaskData]
) -> list[str]:
    scorer, optimizer = specs
    lines = [
        f"dry run: scorer {scorer.alias} ({scorer.backend}), optimizer "
        f"{optimizer.alias if optimizer else '-'} "
        f"({optimizer.backend if optimizer else '-'}); no model loaded"
    ]
    keys = ("steps", *PLAN_COUNTS)
    lines.append(f"{'task':40}" + "".join(f"{k:>32}" for k in keys))
    total = dict.fromkeys(keys, 0)
    for task, d in data.items():
        p = task_plan(config, d, scorer.second_round)
        lines.append(f"{task:40}" + "".join(f"{p[k]:>32}" for k in keys))
        for k in keys:
            total[k] += p[k]
    lines.append(f"{'TOTAL':40}" + "".join(f"{total[k]:>32}" for k in keys))
    return lines
