"""absl flag definitions: every flag of the original (GPO_REFERENCE 1.1) plus this project's own.

Flags live only here and in ``gpo.cli.app``; ``config_from_flags`` turns them into a frozen
``RunConfig``: each named value made canonical (the names and spellings come from the modules
that implement them, see ``NAMED``) and each count checked. The combinations and the tasks are
checked once, by ``gpo.runs.preflight.validate_run``, before any model loads.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from absl import flags

from gpo.config import ModelConfig, OptimizerConfig, RunConfig, ScoringConfig
from gpo.data.registry import CUSTOM, DATASET_CHOICES, DATASETS
from gpo.errors import ConfigError
from gpo.evaluation.prompts import INSTRUCTION_POSITIONS
from gpo.evaluation.racing import RACING_MODES, RacingSettings
from gpo.llm.aliases import AUTO, BACKEND_CHOICES
from gpo.llm.user import UserLLM
from gpo.names import OFF, choose, listing
from gpo.optimization.gradient import GRADIENT_NAMES
from gpo.optimization.guards import parse_guard_names
from gpo.optimization.learning_rate import LEARNING_RATE_NAMES
from gpo.optimization.meta_prompts import BUILDER_NAMES
from gpo.optimization.momentum import PARA_NAMES, UPDATE_NAMES
from gpo.optimization.selection import SELECTION_NAMES, SELECTION_SPELLINGS
from gpo.optimization.step_size import SCHEDULE_NAMES, SCHEDULE_SPELLINGS
from gpo.presets import GEPA, GPO_PLUS, PAPER_PRESETS, PRESET_CHOICES, preset_values
from gpo.runs.evaluate import BASELINES
from gpo.tracking.settings import MlflowSettings, mlflow_settings

FLAGS = flags.FLAGS

Names = tuple[tuple[str, ...], dict[str, str]]  # canonical names, accepted spellings -> canonical

# The optimizer's named flags: each module that implements a vocabulary owns its names.
NAMED: dict[str, Names] = {
    "gradient_name": ((*GRADIENT_NAMES, OFF), {}),
    "momentum_para_name": ((OFF, *PARA_NAMES), {}),
    "momentum_selection_name": ((OFF, *SELECTION_NAMES), SELECTION_SPELLINGS),
    "momentum_update_name": ((OFF, *UPDATE_NAMES), {}),
    "learning_rate_name": (LEARNING_RATE_NAMES, {}),
    "decay_strategy": ((OFF, *SCHEDULE_NAMES), SCHEDULE_SPELLINGS),
    "util_gradient_name": ((OFF, *BUILDER_NAMES), {}),
}


def names_help(choices: tuple[str, ...], spellings: dict[str, str] | None = None, note="") -> str:
    """``a, b/b2 or c.``: the choices of a flag, each with its accepted spellings."""
    spelled = {c: [c, *(s for s, t in (spellings or {}).items() if t == c)] for c in choices}
    return listing("/".join(spelled[c]) for c in choices) + note + "."


# ---- flags of the original release (same names, types and defaults) ----
flags.DEFINE_string(
    "openai_api_key",
    "",
    "API key for OpenAI or a compatible server (else OPENAI_API_KEY). Never written to disk.",
)
flags.DEFINE_list("openai_api_key_list", "", "Keys rotated on rate limits (comma-separated).")
flags.DEFINE_list("gpus", ["0"], "GPU ids; CUDA_VISIBLE_DEVICES and vLLM tensor_parallel_size.")
flags.DEFINE_string(
    "dataset", "gsm8k", f"Benchmark: {', '.join(DATASETS)}, or {CUSTOM} (your task folders)."
)
flags.DEFINE_list("task_name", ["all"], "Tasks (bbh/mmlu task or custom folder names, or 'all').")
flags.DEFINE_string("optimizer_llm_name", "gpt-3.5-turbo", "Optimizer LLM (alias or model).")
flags.DEFINE_float("optimizer_temperature", 1.0, "Sampling temperature for candidate prompts.")
flags.DEFINE_string("initial_instruction", "Let's think step by step.", "Starting prompt.")
flags.DEFINE_integer("num_search_epochs", 3, "Passes over the train split.")
flags.DEFINE_string("instruction_pos", "Q_end", names_help(INSTRUCTION_POSITIONS))
flags.DEFINE_integer("num_generated_instructions_in_each_step", 8, "Candidates per step (N).")
flags.DEFINE_string("gradient_name", "feedback", names_help(*NAMED["gradient_name"]))
flags.DEFINE_string("momentum_para_name", "-", names_help(*NAMED["momentum_para_name"]))
flags.DEFINE_string("momentum_selection_name", "-", names_help(*NAMED["momentum_selection_name"]))
flags.DEFINE_integer("momentum_selection_num", 0, "k of the k-list momentum.")
flags.DEFINE_string("momentum_update_name", "-", names_help(*NAMED["momentum_update_name"]))
flags.DEFINE_string(
    "learning_rate_name", "wo_lr", names_help(*NAMED["learning_rate_name"], " (word budget)")
)
flags.DEFINE_integer("initial_step_size", 0, "Word budget at the start.")
flags.DEFINE_string("decay_strategy", "-", names_help(*NAMED["decay_strategy"]))
flags.DEFINE_bool("use_warmup_strategy", False, "Linear warm-up of the word budget.")
flags.DEFINE_integer("warmup_steps", 5, "Warm-up length.")
flags.DEFINE_integer("final_step_size", 0, "Word budget at the end.")
flags.DEFINE_string("util_gradient_name", "-", names_help(*NAMED["util_gradient_name"]))
flags.DEFINE_integer("opt_batch_size", 8, "Train mini-batch size (fixes steps per epoch).")
flags.DEFINE_integer("format_data_num", 3, "Exemplars from format.jsonl in the meta-prompt.")
flags.DEFINE_string("scorer_llm_name", "llama2-chat-7b", "Scorer (task) LLM.")
flags.DEFINE_bool("include_qa", False, "Use the Q:/A: layout.")
flags.DEFINE_bool("only_evaluate", False, "Score --initial_instruction on the test split only.")
flags.DEFINE_bool("evaluate_generated_ins_on_few_shot", False, "Add few-shot demonstrations.")
flags.DEFINE_integer("few_shot_number", 5, "Number of demonstrations.")

# ---- this project's flags ----
flags.DEFINE_string("data_dir", None, "Benchmark folder (else GPO_DATA_DIR, else ./data).")
flags.DEFINE_bool(
    "init_task",
    False,
    "With --dataset=custom --task_name=NAME: write a task folder skeleton under the data root.",
)
flags.DEFINE_string("output_dir", "outputs/optimization-results", "Run folders are made here.")
flags.DEFINE_integer("seed", 0, "Seed of the format-exemplar sampling and of optimizer sampling.")
flags.DEFINE_string(
    "openai_base_url",
    None,
    "Base URL of an OpenAI-compatible server, or a comma-separated list of replicas of one "
    "model (each request goes to the replica with the fewest requests in flight).",
)
flags.DEFINE_integer(
    "max_concurrency", 8, "HTTP requests in flight per server (per replica of a pool)."
)
flags.DEFINE_integer(
    "workers",
    1,
    "Run the tasks of a run in parallel on N Ray workers (1: one process, no Ray).",
)
flags.DEFINE_string(
    "ray_address",
    None,
    "Join this Ray cluster (auto or host:port) instead of starting a local one; needs --workers>1.",
)
flags.DEFINE_float("gpus_per_worker", 0.0, "GPUs reserved per Ray worker (Ray sets CUDA devices).")
flags.DEFINE_integer("max_examples", None, "Cap every split at its first N records.")
flags.DEFINE_string(
    "embedding_model",
    "BAAI/bge-base-en-v1.5",
    "Sentence-transformers model for relevance momentum (alias all-minilm-l6-v2).",
)
flags.DEFINE_string("scorer_backend", AUTO, names_help(BACKEND_CHOICES))
flags.DEFINE_string("optimizer_backend", AUTO, names_help(BACKEND_CHOICES))
flags.DEFINE_string(
    "preset",
    None,
    f"{', '.join(PAPER_PRESETS)}, {GPO_PLUS} (gpo with the enforced step size and every "
    f"candidate guard; this project's extension), or {GEPA} (GEPA's reflective prompt evolution "
    "on the same scorer; pip install -e '.[gepa]'). Explicit flags win.",
)
flags.DEFINE_integer(
    "gepa_max_metric_calls",
    None,
    "--preset=gepa: GEPA's budget of metric calls, one per example the scorer answers on train "
    "or eval (test scoring comes on top, as for every method). Default: the scorer calls the gpo "
    "preset plans for the same task and sizes on train and eval (--dry_run shows them).",
)
flags.DEFINE_string(
    "prompts_file",
    None,
    "only_evaluate: score every JSONL record ({dataset, task, prompt}) against its own task.",
)
flags.DEFINE_list(
    "baselines",
    list(BASELINES),
    "With --prompts_file: baseline prompts scored "
    f"next to each record ({', '.join(BASELINES)}; empty list for none).",
)
flags.DEFINE_string("cache_dir", os.path.join("~", ".cache", "gpo"), "Response cache folder.")
flags.DEFINE_bool("no_cache", False, "Do not read or write the response cache.")
flags.DEFINE_string("resume", None, "Continue an interrupted run from its run folder.")
flags.DEFINE_bool("test_every_step", False, "Score every step's prompt on test (original).")
flags.DEFINE_bool("log_train_batches", False, "Score train batches even without feedback.")
flags.DEFINE_bool("dry_run", False, "Print planned calls and tokens; load no model.")
flags.DEFINE_integer("max_tokens_budget", None, "Stop (resumably) after this many tokens.")
flags.DEFINE_float("max_cost_usd", None, "Stop (resumably) past this API cost.")
flags.DEFINE_bool("scores_as_percent", False, "Show scores x100 in meta-prompts (fix 10.4).")
flags.DEFINE_integer(
    "n_threads",
    None,
    "CPU threads for llama.cpp and torch (default: half the cores, which stays fast when other "
    "processes keep the cores busy; all cores is a little faster only on idle cores).",
)
flags.DEFINE_integer(
    "n_parallel",
    None,
    "Requests the llama.cpp backend serves at once (slots, continuously batched, each with its own "
    "context of KV cache; default: 4 per core, at most 8, and with --n_ctx at most 32768 tokens in "
    "all; logged).",
)
flags.DEFINE_integer(
    "n_ctx",
    None,
    "Context length of each llama.cpp slot, fixed (default: sized to the run's prompts, their "
    "longest plus max tokens rounded up to 512, growing when a longer one comes; logged). "
    "vLLM and transformers: the context length (default 4096).",
)
flags.DEFINE_string("log_level", "INFO", "DEBUG, INFO, WARNING or ERROR.")
flags.DEFINE_integer(
    "max_retries",
    6,
    "Retries of one HTTP request (openai backend) on rate "
    "limits, 5xx, malformed replies and network errors; then the run stops.",
)
flags.DEFINE_integer("scorer_max_tokens", 256, "Scorer decode limit (first round; original 256).")
flags.DEFINE_integer("second_round_max_tokens", 100, "Scorer decode limit of the second round.")
flags.DEFINE_integer("optimizer_max_tokens", 512, "Optimizer decode limit (original 512).")
flags.DEFINE_bool(
    "enforce_step_size",
    False,
    "Reject candidates whose word edit distance from the current prompt exceeds K (w_lr) and "
    "ask again (this project's extension; off as in the paper).",
)
flags.DEFINE_integer(
    "max_resamples", 2, "Rounds of asking again for rejected candidates (budget or guards)."
)
flags.DEFINE_list(
    "candidate_guards",
    [],
    "Reject candidates before scoring: scaffolding, leakage, empty, length (comma list; "
    "this project's extension; empty as in the paper).",
)
flags.DEFINE_integer("max_prompt_words", 200, "Word limit of the length guard.")
flags.DEFINE_string(
    "eval_racing",
    "off",
    "off (score every candidate on all of eval, the original), exact (stop scoring a candidate "
    "once it cannot become the next prompt: same choices, fewer generations) or statistical "
    "(also stop when a confidence bound says it is behind; may choose differently).",
)
flags.DEFINE_string(
    "mlflow_tracking_uri",
    None,
    "Also track the run in MLflow at this URI (http://host:port, sqlite:///mlflow.db, "
    "databricks, ...; needs pip install -e '.[mlflow]'). Tracking problems are warnings; the "
    "run folder is whole.",
)
flags.DEFINE_bool(
    "mlflow",
    False,
    "Track in MLflow's local store: --mlflow_tracking_uri=sqlite:///mlflow.db (file:./mlruns "
    "with mlflow-skinny only). The run's log names the command that opens it (mlflow ui ...).",
)
flags.DEFINE_string("mlflow_experiment", "gpo", "MLflow experiment the tracked runs go to.")
flags.DEFINE_float(
    "racing_confidence", 0.95, "--eval_racing=statistical: confidence of each drop, in (0, 1)."
)


@dataclass(frozen=True)
class Secrets:
    """API keys, kept out of RunConfig so they never reach disk."""

    api_keys: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"Secrets(<{len(self.api_keys)} key(s)>)"


@dataclass(frozen=True)
class CliRequest:
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


def _value(name: str, preset: dict) -> object:
    """An explicit flag wins over the preset; otherwise the preset, else the default."""
    if FLAGS[name].present or name not in preset:
        return FLAGS[name].value
    return preset[name]


def _positive(name: str, value: int | None, minimum: int = 1) -> None:
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


def optimizer_config(v) -> OptimizerConfig:
    """The optimizer's settings from ``v(flag)``: names made canonical, counts checked."""
    values = {f.name: v(f.name) for f in fields(OptimizerConfig)}
    for name, (choices, spellings) in NAMED.items():
        values[name] = choose(name, values[name], choices, spellings)
    values["candidate_guards"] = parse_guard_names(values["candidate_guards"])
    for name, minimum in _OPT_MINIMA.items():
        _positive(name, values[name], minimum)
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


def config_from_flags() -> CliRequest:
    """Build the validated request from parsed absl FLAGS."""
    preset = {}
    if FLAGS.preset:
        preset = preset_values(choose("preset", FLAGS.preset, sorted(PRESET_CHOICES)))
    dataset = choose("dataset", FLAGS.dataset.lower(), DATASET_CHOICES)
    if dataset == CUSTOM:
        from gpo.data.custom import scoring_defaults

        # task.json's instruction_pos / include_qa describe the task's layout: an explicit flag
        # wins, but they win over a preset (whose values are the original's defaults)
        preset = {**preset, **scoring_defaults(_data_dir(), FLAGS.task_name)}
    _check_counts()
    config = run_config(dataset, lambda name: _value(name, preset))
    baselines = tuple(choose("baselines", b.lower(), BASELINES) for b in FLAGS.baselines)
    if FLAGS.prompts_file and not FLAGS.only_evaluate:
        raise ConfigError("--prompts_file scores fixed prompts: add --only_evaluate")
    check_scale_out_flags()
    return CliRequest(
        config=config,
        secrets=Secrets(_api_keys()),
        openai_base_url=FLAGS.openai_base_url,
        n_threads=FLAGS.n_threads,
        prompts_file=FLAGS.prompts_file,
        baselines=baselines,
        resume=FLAGS.resume,
        dry_run=FLAGS.dry_run,
        log_level=FLAGS.log_level.upper(),
        max_retries=FLAGS.max_retries,
        max_concurrency=FLAGS.max_concurrency,
        workers=FLAGS.workers,
        ray_address=FLAGS.ray_address,
        gpus_per_worker=FLAGS.gpus_per_worker,
        mlflow=mlflow_settings(FLAGS.mlflow_tracking_uri, FLAGS.mlflow, FLAGS.mlflow_experiment),
        n_parallel=FLAGS.n_parallel,
        n_ctx=FLAGS.n_ctx,
    )


def _data_dir() -> str:
    from gpo.data.download import resolve_data_dir

    return str(resolve_data_dir(FLAGS.data_dir))


def _check_counts() -> None:
    _positive("max_examples", FLAGS.max_examples)
    _positive("few_shot_number", FLAGS.few_shot_number)
    _positive("n_threads", FLAGS.n_threads)
    _positive("n_parallel", FLAGS.n_parallel)
    _positive("n_ctx", FLAGS.n_ctx, 16)
    _positive("max_retries", FLAGS.max_retries, 0)
    _positive("gepa_max_metric_calls", FLAGS.gepa_max_metric_calls)
    for name in ("scorer_max_tokens", "second_round_max_tokens", "optimizer_max_tokens"):
        _positive(name, FLAGS[name].value)


def _api_keys() -> tuple[str, ...]:
    keys = tuple(k for k in [FLAGS.openai_api_key, *FLAGS.openai_api_key_list] if k)
    if not keys and os.environ.get("OPENAI_API_KEY"):
        keys = (os.environ["OPENAI_API_KEY"],)
    return keys


def _model(role: str, temperature: float) -> ModelConfig:
    backend = choose(f"{role}_backend", FLAGS[f"{role}_backend"].value, BACKEND_CHOICES)
    return ModelConfig(
        FLAGS[f"{role}_llm_name"].value, backend, temperature, FLAGS[f"{role}_max_tokens"].value
    )


def _scoring_config(v) -> ScoringConfig:
    return ScoringConfig(
        instruction_pos=choose("instruction_pos", v("instruction_pos"), INSTRUCTION_POSITIONS),
        include_qa=v("include_qa"),
        few_shot=FLAGS.evaluate_generated_ins_on_few_shot,
        few_shot_number=FLAGS.few_shot_number,
        second_round_max_tokens=FLAGS.second_round_max_tokens,
    )


def run_config(dataset: str, v) -> RunConfig:
    """The run's configuration from the flags (``v``: a flag's value, preset applied)."""
    config = RunConfig(
        dataset=dataset,
        tasks=tuple(FLAGS.task_name),
        initial_instruction=FLAGS.initial_instruction,
        scorer=_model("scorer", 0.0),
        optimizer=_model("optimizer", FLAGS.optimizer_temperature),
        scoring=_scoring_config(v),
        opt=optimizer_config(v),
        only_evaluate=FLAGS.only_evaluate,
        data_dir=_data_dir(),
        output_dir=FLAGS.output_dir,
        seed=FLAGS.seed,
        max_examples=FLAGS.max_examples,
        gpus=tuple(FLAGS.gpus),
        preset=FLAGS.preset,
        test_every_step=FLAGS.test_every_step,
        log_train_batches=FLAGS.log_train_batches,
        cache_dir=None if FLAGS.no_cache else os.path.expanduser(FLAGS.cache_dir),
        max_tokens_budget=FLAGS.max_tokens_budget,
        max_cost_usd=FLAGS.max_cost_usd,
        openai_base_url=strip_credentials(FLAGS.openai_base_url),
        eval_racing=choose("eval_racing", FLAGS.eval_racing.lower(), RACING_MODES),
        racing_confidence=FLAGS.racing_confidence,
        gepa_max_metric_calls=FLAGS.gepa_max_metric_calls,
    )
    RacingSettings(config.eval_racing, config.racing_confidence)  # ConfigError before any model
    return config


def check_scale_out_flags() -> None:
    """--workers, --ray_address, --gpus_per_worker, --max_concurrency (before any model loads)."""
    _positive("max_concurrency", FLAGS.max_concurrency)
    _positive("workers", FLAGS.workers)
    if FLAGS.gpus_per_worker < 0:
        raise ConfigError(f"--gpus_per_worker={FLAGS.gpus_per_worker:g} must be >= 0")
    if FLAGS.workers == 1:
        for name in ("ray_address", "gpus_per_worker"):
            if FLAGS[name].present:
                raise ConfigError(f"--{name} applies to Ray workers: add --workers=2 or more")
        return
    if FLAGS.only_evaluate:
        raise ConfigError("--workers applies to optimization runs; drop it with --only_evaluate")
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        raise ConfigError(
            f"--workers={FLAGS.workers} needs Ray: pip install -e '.[ray]' (or use --workers=1)"
        )
