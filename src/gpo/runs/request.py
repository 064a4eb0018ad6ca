"""Options become a request: the one place where what a run's options mean is decided.

``build_request(options)`` takes a ``gpo.options.RunOptions`` (from ``main.py``'s flags or built
in Python), applies the preset as data (an option set on purpose beats it, see
``RunOptions.is_set``), makes every named value canonical (the names and spellings come from
the modules that implement them, see ``NAMED``), checks every count, and returns a
``RunRequest``: the frozen ``RunConfig`` that flows down and is saved, plus what the run needs
but never saves (API keys, threads, workers, the caller's model objects). The combinations and
the tasks are checked next, once, by ``gpo.runs.preflight.validate_run``, before any model loads.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from gpo.config import ModelConfig, OptimizerConfig, RunConfig, ScoringConfig
from gpo.data.registry import CUSTOM, DATASET_CHOICES
from gpo.errors import ConfigError
from gpo.evaluation.racing import RACING_MODES, RacingSettings
from gpo.llm.aliases import BACKEND_CHOICES
from gpo.llm.user import UserLLM
from gpo.names import OFF, choose
from gpo.optimization.gradient import GRADIENT_NAMES
from gpo.optimization.guards import parse_guard_names
from gpo.optimization.learning_rate import LEARNING_RATE_NAMES
from gpo.optimization.meta_prompts import BUILDER_NAMES
from gpo.optimization.momentum import PARA_NAMES, UPDATE_NAMES
from gpo.optimization.selection import SELECTION_NAMES, SELECTION_SPELLINGS
from gpo.optimization.step_size import SCHEDULE_NAMES, SCHEDULE_SPELLINGS
from gpo.options import RunOptions
from gpo.presets import PRESET_CHOICES, preset_values
from gpo.runs.evaluate import BASELINES
from gpo.tracking.settings import MlflowSettings, mlflow_settings
from gpo.vocabulary import INSTRUCTION_POSITIONS

Names = tuple[tuple[str, ...], dict[str, str]]  # canonical names, accepted spellings -> canonical
Value = Callable[[str], Any]  # an option's value, the preset applied

# The optimizer's named options: each module that implements a vocabulary owns its names.
NAMED: dict[str, Names] = {
    "gradient_name": ((*GRADIENT_NAMES, OFF), {}),
    "momentum_para_name": ((OFF, *PARA_NAMES), {}),
    "momentum_selection_name": ((OFF, *SELECTION_NAMES), SELECTION_SPELLINGS),
    "momentum_update_name": ((OFF, *UPDATE_NAMES), {}),
    "learning_rate_name": (LEARNING_RATE_NAMES, {}),
    "decay_strategy": ((OFF, *SCHEDULE_NAMES), SCHEDULE_SPELLINGS),
    "util_gradient_name": ((OFF, *BUILDER_NAMES), {}),
}


@dataclass(frozen=True)
class Secrets:
    """API keys, kept out of RunConfig so they never reach disk."""

    api_keys: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"Secrets(<{len(self.api_keys)} key(s)>)"


@dataclass(frozen=True)
class RunRequest:
    """A validated run: its saved configuration and what the run uses but never saves."""

    config: RunConfig
    secrets: Secrets
    openai_base_url: str | None
    n_threads: int | None
    prompts_file: str | None
    baselines: tuple[str, ...]
    resume: str | None
    dry_run: bool
    log_level: str
    max_retries: int = 6
    max_concurrency: int = 8
    workers: int = 1
    ray_address: str | None = None
    gpus_per_worker: float = 0.0
    split: str = "test"  # --only_evaluate's split (the Python API may score train or eval)
    mlflow: MlflowSettings | None = None  # where the run is tracked (None: not tracked)
    n_parallel: int | None = None
    n_ctx: int | None = None
    # role ("scorer"/"optimizer") -> the model object the Python API was given for it
    models: Mapping[str, UserLLM] = field(default_factory=dict)
    # the options it was built from (resume: which ones were set again)
    options: RunOptions = field(default_factory=RunOptions, repr=False, compare=False)


def preset_value(options: RunOptions, name: str, preset: Mapping[str, Any]) -> Any:
    """An option set on purpose wins over the preset; otherwise the preset, else the default."""
    if options.is_set(name) or name not in preset:
        return getattr(options, name)
    return preset[name]


def positive(name: str, value: int | float | None, minimum: int = 1) -> None:
    if value is not None and value < minimum:
        raise ConfigError(f"--{name}={value} must be >= {minimum}")


# Counts of the optimizer and their minimum (0 where the original uses 0 for "none").
_OPT_MINIMA = {
    "num_search_epochs": 1,
    "num_generated_instructions_in_each_step": 1,
    "opt_batch_size": 1,
    "format_data_num": 1,
    "max_prompt_words": 1,
    "momentum_selection_num": 0,
    "initial_step_size": 0,
    "final_step_size": 0,
    "warmup_steps": 0,
    "max_resamples": 0,
}


def optimizer_config(v: Value) -> OptimizerConfig:
    """The optimizer's settings from ``v(option)``: names made canonical, counts checked."""
    values = {f.name: v(f.name) for f in fields(OptimizerConfig)}
    for name, (choices, spellings) in NAMED.items():
        values[name] = choose(name, values[name], choices, spellings)
    values["candidate_guards"] = parse_guard_names(list(values["candidate_guards"]))
    for name, minimum in _OPT_MINIMA.items():
        positive(name, values[name], minimum)
    return OptimizerConfig(**values)


def strip_credentials(url: str | None) -> str | None:
    """The URL without user:password@ and without a query string (never saved with secrets)."""
    if not url:
        return url
    if "," in url:  # a replica pool: each URL on its own
        return ",".join(strip_credentials(u.strip()) or "" for u in url.split(",") if u.strip())
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def preset_of(options: RunOptions) -> dict[str, Any]:
    """The values the options' preset sets, with a custom task's scoring layout."""
    preset: dict[str, Any] = {}
    if options.preset:
        preset = preset_values(choose("preset", options.preset, sorted(PRESET_CHOICES)))
    if dataset_of(options) == CUSTOM:
        from gpo.data.custom import scoring_defaults

        # task.json's instruction_pos / include_qa describe the task's layout: an option set on
        # purpose wins, but they win over a preset (whose values are the original's defaults)
        preset = {**preset, **scoring_defaults(data_dir_of(options), list(options.task_name))}
    return preset


def dataset_of(options: RunOptions) -> str:
    return choose("dataset", options.dataset.lower(), DATASET_CHOICES)


def build_request(
    options: RunOptions, models: Mapping[str, UserLLM] | None = None, split: str = "test"
) -> RunRequest:
    """The validated request of ``options`` (``models``: role -> the caller's model object)."""
    preset = preset_of(options)
    check_counts(options)
    config = run_config(options, lambda name: preset_value(options, name, preset))
    baselines = tuple(choose("baselines", b.lower(), BASELINES) for b in options.baselines)
    if options.prompts_file and not options.only_evaluate:
        raise ConfigError("--prompts_file scores fixed prompts: add --only_evaluate")
    check_scale_out(options)
    return RunRequest(
        config=config,
        secrets=Secrets(api_keys(options)),
        openai_base_url=options.openai_base_url,
        n_threads=options.n_threads,
        prompts_file=options.prompts_file,
        baselines=baselines,
        resume=options.resume,
        dry_run=options.dry_run,
        log_level=options.log_level.upper(),
        max_retries=options.max_retries,
        max_concurrency=options.max_concurrency,
        workers=options.workers,
        ray_address=options.ray_address,
        gpus_per_worker=options.gpus_per_worker,
        split=split,
        mlflow=mlflow_settings(
            options.mlflow_tracking_uri, options.mlflow, options.mlflow_experiment
        ),
        n_parallel=options.n_parallel,
        n_ctx=options.n_ctx,
        models=dict(models or {}),
        options=options,
    )


def data_dir_of(options: RunOptions) -> str:
    from gpo.data.download import resolve_data_dir

    return str(resolve_data_dir(options.data_dir))


def check_counts(options: RunOptions) -> None:
    positive("max_examples", options.max_examples)
    positive("few_shot_number", options.few_shot_number)
    positive("n_threads", options.n_threads)
    positive("n_parallel", options.n_parallel)
    positive("n_ctx", options.n_ctx, 16)
    positive("max_retries", options.max_retries, 0)
    positive("gepa_max_metric_calls", options.gepa_max_metric_calls)
    for name in ("scorer_max_tokens", "second_round_max_tokens", "optimizer_max_tokens"):
        positive(name, getattr(options, name))


def api_keys(options: RunOptions) -> tuple[str, ...]:
    keys = tuple(k for k in [options.openai_api_key, *options.openai_api_key_list] if k)
    if not keys and os.environ.get("OPENAI_API_KEY"):
        keys = (os.environ["OPENAI_API_KEY"],)
    return keys


def model_config(options: RunOptions, role: str, temperature: float) -> ModelConfig:
    backend = choose(f"{role}_backend", getattr(options, f"{role}_backend"), BACKEND_CHOICES)
    name, max_tokens = getattr(options, f"{role}_llm_name"), getattr(options, f"{role}_max_tokens")
    return ModelConfig(name, backend, temperature, max_tokens)


def scoring_config(options: RunOptions, v: Value) -> ScoringConfig:
    return ScoringConfig(
        instruction_pos=choose("instruction_pos", v("instruction_pos"), INSTRUCTION_POSITIONS),
        include_qa=v("include_qa"),
        few_shot=options.evaluate_generated_ins_on_few_shot,
        few_shot_number=options.few_shot_number,
        second_round_max_tokens=options.second_round_max_tokens,
    )


def run_config(options: RunOptions, v: Value) -> RunConfig:
    """The run's configuration from ``options`` (``v``: an option's value, preset applied)."""
    config = RunConfig(
        dataset=dataset_of(options),
        tasks=tuple(options.task_name),
        initial_instruction=options.initial_instruction,
        scorer=model_config(options, "scorer", 0.0),
        optimizer=model_config(options, "optimizer", options.optimizer_temperature),
        scoring=scoring_config(options, v),
        opt=optimizer_config(v),
        only_evaluate=options.only_evaluate,
        data_dir=data_dir_of(options),
        output_dir=options.output_dir,
        seed=options.seed,
        max_examples=options.max_examples,
        gpus=tuple(options.gpus),
        preset=options.preset,
        test_every_step=options.test_every_step,
        log_train_batches=options.log_train_batches,
        cache_dir=None if options.no_cache else os.path.expanduser(options.cache_dir),
        max_tokens_budget=options.max_tokens_budget,
        max_cost_usd=options.max_cost_usd,
        openai_base_url=strip_credentials(options.openai_base_url),
        eval_racing=choose("eval_racing", options.eval_racing.lower(), RACING_MODES),
        racing_confidence=options.racing_confidence,
        gepa_max_metric_calls=options.gepa_max_metric_calls,
    )
    RacingSettings(config.eval_racing, config.racing_confidence)  # ConfigError before any model
    return config


def check_scale_out(options: RunOptions) -> None:
    """workers, ray_address, gpus_per_worker, max_concurrency (before any model loads)."""
    positive("max_concurrency", options.max_concurrency)
    positive("workers", options.workers)
    if options.gpus_per_worker < 0:
        raise ConfigError(f"--gpus_per_worker={options.gpus_per_worker:g} must be >= 0")
    if options.workers == 1:
        for name in ("ray_address", "gpus_per_worker"):
            if options.is_set(name):
                raise ConfigError(f"--{name} applies to Ray workers: add --workers=2 or more")
        return
    if options.only_evaluate:
        raise ConfigError("--workers applies to optimization runs; drop it with --only_evaluate")
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        raise ConfigError(
            f"--workers={options.workers} needs Ray: pip install -e '.[ray]' (or use --workers=1)"
        )
