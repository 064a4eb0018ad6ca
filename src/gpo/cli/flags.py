"""absl flag definitions: every option of ``gpo.options.RunOptions`` as a flag of ``main.py``.

The command line only parses: each flag has the option's name and reads its default from
``RunOptions`` (written there once); ``options_from_flags`` turns the parsed flags into a
``RunOptions`` whose ``explicit`` names the flags given, and ``gpo.runs.request.build_request``
decides what they mean, for the command line and the Python API alike.
"""

from __future__ import annotations

import dataclasses

from absl import flags

from gpo.data.registry import CUSTOM, DATASETS
from gpo.llm.aliases import BACKEND_CHOICES
from gpo.names import listing
from gpo.options import Options, RunOptions, convert, option_kinds
from gpo.presets import GEPA, GPO_PLUS, PAPER_PRESETS
from gpo.runs.evaluate import BASELINES
from gpo.runs.request import NAMED
from gpo.vocabulary import INSTRUCTION_POSITIONS

FLAGS = flags.FLAGS
D = RunOptions()  # every flag's default


def names_help(choices: tuple[str, ...], spellings: dict[str, str] | None = None, note="") -> str:
    """``a, b/b2 or c.``: the choices of a flag, each with its accepted spellings."""
    spelled = {c: [c, *(s for s, t in (spellings or {}).items() if t == c)] for c in choices}
    return listing("/".join(spelled[c]) for c in choices) + note + "."


# ---- flags of the original release (same names, types and defaults) ----
flags.DEFINE_string(
    "openai_api_key",
    D.openai_api_key,
    "API key for OpenAI or a compatible server (else OPENAI_API_KEY). Never written to disk.",
)
flags.DEFINE_list(
    "openai_api_key_list",
    list(D.openai_api_key_list),
    "Keys rotated on rate limits (comma-separated).",
)
flags.DEFINE_list(
    "gpus", list(D.gpus), "GPU ids; CUDA_VISIBLE_DEVICES and vLLM tensor_parallel_size."
)
flags.DEFINE_string(
    "dataset", D.dataset, f"Benchmark: {', '.join(DATASETS)}, or {CUSTOM} (your task folders)."
)
flags.DEFINE_list(
    "task_name", list(D.task_name), "Tasks (bbh/mmlu task or custom folder names, or 'all')."
)
flags.DEFINE_string("optimizer_llm_name", D.optimizer_llm_name, "Optimizer LLM (alias or model).")
flags.DEFINE_float(
    "optimizer_temperature", D.optimizer_temperature, "Sampling temperature for candidate prompts."
)
flags.DEFINE_string("initial_instruction", D.initial_instruction, "Starting prompt.")
flags.DEFINE_integer("num_search_epochs", D.num_search_epochs, "Passes over the train split.")
flags.DEFINE_string("instruction_pos", D.instruction_pos, names_help(INSTRUCTION_POSITIONS))
flags.DEFINE_integer(
    "num_generated_instructions_in_each_step",
    D.num_generated_instructions_in_each_step,
    "Candidates per step (N).",
)
flags.DEFINE_string("gradient_name", D.gradient_name, names_help(*NAMED["gradient_name"]))
flags.DEFINE_string(
    "momentum_para_name", D.momentum_para_name, names_help(*NAMED["momentum_para_name"])
)
flags.DEFINE_string(
    "momentum_selection_name",
    D.momentum_selection_name,
    names_help(*NAMED["momentum_selection_name"]),
)
flags.DEFINE_integer(
    "momentum_selection_num", D.momentum_selection_num, "k of the k-list momentum."
)
flags.DEFINE_string(
    "momentum_update_name", D.momentum_update_name, names_help(*NAMED["momentum_update_name"])
)
flags.DEFINE_string(
    "learning_rate_name",
    D.learning_rate_name,
    names_help(*NAMED["learning_rate_name"], " (word budget)"),
)
flags.DEFINE_integer("initial_step_size", D.initial_step_size, "Word budget at the start.")
flags.DEFINE_string("decay_strategy", D.decay_strategy, names_help(*NAMED["decay_strategy"]))
flags.DEFINE_bool(
    "use_warmup_strategy", D.use_warmup_strategy, "Linear warm-up of the word budget."
)
flags.DEFINE_integer("warmup_steps", D.warmup_steps, "Warm-up length.")
flags.DEFINE_integer("final_step_size", D.final_step_size, "Word budget at the end.")
flags.DEFINE_string(
    "util_gradient_name", D.util_gradient_name, names_help(*NAMED["util_gradient_name"])
)
flags.DEFINE_integer(
    "opt_batch_size", D.opt_batch_size, "Train mini-batch size (fixes steps per epoch)."
)
flags.DEFINE_integer(
    "format_data_num", D.format_data_num, "Exemplars from format.jsonl in the meta-prompt."
)
flags.DEFINE_string("scorer_llm_name", D.scorer_llm_name, "Scorer (task) LLM.")
flags.DEFINE_bool("include_qa", D.include_qa, "Use the Q:/A: layout.")
flags.DEFINE_bool(
    "only_evaluate", D.only_evaluate, "Score --initial_instruction on the test split only."
)
flags.DEFINE_bool(
    "evaluate_generated_ins_on_few_shot",
    D.evaluate_generated_ins_on_few_shot,
    "Add few-shot demonstrations.",
)
flags.DEFINE_integer("few_shot_number", D.few_shot_number, "Number of demonstrations.")

# ---- this project's flags ----
flags.DEFINE_string("data_dir", D.data_dir, "Benchmark folder (else GPO_DATA_DIR, else ./data).")
flags.DEFINE_bool(
    "init_task",
    D.init_task,
    "With --dataset=custom --task_name=NAME: write a task folder skeleton under the data root.",
)
flags.DEFINE_string("output_dir", D.output_dir, "Run folders are made here.")
flags.DEFINE_integer(
    "seed", D.seed, "Seed of the format-exemplar sampling and of optimizer sampling."
)
flags.DEFINE_string(
    "openai_base_url",
    D.openai_base_url,
    "Base URL of an OpenAI-compatible server, or a comma-separated list of replicas of one "
    "model (each request goes to the replica with the fewest requests in flight).",
)
flags.DEFINE_integer(
    "max_concurrency",
    D.max_concurrency,
    "HTTP requests in flight per server (per replica of a pool).",
)
flags.DEFINE_integer(
    "workers",
    D.workers,
    "Run the tasks of a run in parallel on N Ray workers (1: one process, no Ray).",
)
flags.DEFINE_string(
    "ray_address",
    D.ray_address,
    "Join this Ray cluster (auto or host:port) instead of starting a local one; needs --workers>1.",
)
flags.DEFINE_float(
    "gpus_per_worker", D.gpus_per_worker, "GPUs reserved per Ray worker (Ray sets CUDA devices)."
)
flags.DEFINE_integer("max_examples", D.max_examples, "Cap every split at its first N records.")
flags.DEFINE_string(
    "embedding_model",
    D.embedding_model,
    "Sentence-transformers model for relevance momentum (alias all-minilm-l6-v2).",
)
flags.DEFINE_string("scorer_backend", D.scorer_backend, names_help(BACKEND_CHOICES))
flags.DEFINE_string("optimizer_backend", D.optimizer_backend, names_help(BACKEND_CHOICES))
flags.DEFINE_string(
    "preset",
    D.preset,
    f"{', '.join(PAPER_PRESETS)}, {GPO_PLUS} (gpo with the enforced step size and every "
    f"candidate guard; this project's extension), or {GEPA} (GEPA's reflective prompt evolution "
    "on the same scorer; pip install -e '.[gepa]'). Explicit flags win.",
)
flags.DEFINE_integer(
    "gepa_max_metric_calls",
    D.gepa_max_metric_calls,
    "--preset=gepa: GEPA's budget of metric calls, one per example the scorer answers on train "
    "or eval (test scoring comes on top, as for every method). Default: the scorer calls the gpo "
    "preset plans for the same task and sizes on train and eval (--dry_run shows them).",
)
flags.DEFINE_string(
    "prompts_file",
    D.prompts_file,
    "only_evaluate: score every JSONL record ({dataset, task, prompt}) against its own task.",
)
flags.DEFINE_list(
    "baselines",
    list(D.baselines),
    "With --prompts_file: baseline prompts scored "
    f"next to each record ({', '.join(BASELINES)}; empty list for none).",
)
flags.DEFINE_string("cache_dir", D.cache_dir, "Response cache folder.")
flags.DEFINE_bool("no_cache", D.no_cache, "Do not read or write the response cache.")
flags.DEFINE_string("resume", D.resume, "Continue an interrupted run from its run folder.")
flags.DEFINE_bool(
    "test_every_step", D.test_every_step, "Score every step's prompt on test (original)."
)
flags.DEFINE_bool(
    "log_train_batches", D.log_train_batches, "Score train batches even without feedback."
)
flags.DEFINE_bool("dry_run", D.dry_run, "Print planned calls and tokens; load no model.")
flags.DEFINE_integer(
    "max_tokens_budget", D.max_tokens_budget, "Stop (resumably) after this many tokens."
)
flags.DEFINE_float("max_cost_usd", D.max_cost_usd, "Stop (resumably) past this API cost.")
flags.DEFINE_bool(
    "scores_as_percent", D.scores_as_percent, "Show scores x100 in meta-prompts (fix 10.4)."
)
flags.DEFINE_integer(
    "n_threads",
    D.n_threads,
    "CPU threads for llama.cpp and torch (default: half the cores, which stays fast when other "
    "processes keep the cores busy; all cores is a little faster only on idle cores).",
)
flags.DEFINE_integer(
    "n_parallel",
    D.n_parallel,
    "Requests the llama.cpp backend serves at once (slots, continuously batched, each with its own "
    "context of KV cache; default: 4 per core, at most 8, and with --n_ctx at most 32768 tokens in "
    "all; logged).",
)
flags.DEFINE_integer(
    "n_ctx",
    D.n_ctx,
    "Context length of each llama.cpp slot, fixed (default: sized to the run's prompts, their "
    "longest plus max tokens rounded up to 512, growing when a longer one comes; logged). "
    "vLLM and transformers: the context length (default 4096).",
)
flags.DEFINE_string("log_level", D.log_level, "DEBUG, INFO, WARNING or ERROR.")
flags.DEFINE_integer(
    "max_retries",
    D.max_retries,
    "Retries of one HTTP request (openai backend) on rate "
    "limits, 5xx, malformed replies and network errors; then the run stops.",
)
flags.DEFINE_integer(
    "scorer_max_tokens", D.scorer_max_tokens, "Scorer decode limit (first round; original 256)."
)
flags.DEFINE_integer(
    "second_round_max_tokens", D.second_round_max_tokens, "Scorer decode limit of the second round."
)
flags.DEFINE_integer(
    "optimizer_max_tokens", D.optimizer_max_tokens, "Optimizer decode limit (original 512)."
)
flags.DEFINE_bool(
    "enforce_step_size",
    D.enforce_step_size,
    "Reject candidates whose word edit distance from the current prompt exceeds K (w_lr) and "
    "ask again (this project's extension; off as in the paper).",
)
flags.DEFINE_integer(
    "max_resamples",
    D.max_resamples,
    "Rounds of asking again for rejected candidates (budget or guards).",
)
flags.DEFINE_list(
    "candidate_guards",
    list(D.candidate_guards),
    "Reject candidates before scoring: scaffolding, leakage, empty, length (comma list; "
    "this project's extension; empty as in the paper).",
)
flags.DEFINE_integer("max_prompt_words", D.max_prompt_words, "Word limit of the length guard.")
flags.DEFINE_string(
    "eval_racing",
    D.eval_racing,
    "off (score every candidate on all of eval, the original), exact (stop scoring a candidate "
    "once it cannot become the next prompt: same choices, fewer generations) or statistical "
    "(also stop when a confidence bound says it is behind; may choose differently).",
)
flags.DEFINE_string(
    "mlflow_tracking_uri",
    D.mlflow_tracking_uri,
    "Also track the run in MLflow at this URI (http://host:port, sqlite:///mlflow.db, "
    "databricks, ...; needs pip install -e '.[mlflow]'). Tracking problems are warnings; the "
    "run folder is whole.",
)
flags.DEFINE_bool(
    "mlflow",
    D.mlflow,
    "Track in MLflow's local store: --mlflow_tracking_uri=sqlite:///mlflow.db (file:./mlruns "
    "with mlflow-skinny only). The run's log names the command that opens it (mlflow ui ...).",
)
flags.DEFINE_string(
    "mlflow_experiment", D.mlflow_experiment, "MLflow experiment the tracked runs go to."
)
flags.DEFINE_float(
    "racing_confidence",
    D.racing_confidence,
    "--eval_racing=statistical: confidence of each drop, in (0, 1).",
)


def options_from_flags(
    cls: type[Options] = RunOptions, values: flags.FlagValues = FLAGS
) -> Options:
    """The parsed flags as options of ``cls`` (one to one, by name; a comma list becomes a
    tuple), the flags given on the command line recorded as set on purpose."""
    kinds = option_kinds(cls)
    fields = {n: convert(n, values[n].value, kinds[n]) for n in cls.names()}
    present = frozenset(n for n in cls.names() if values[n].present)
    return dataclasses.replace(cls(), **fields, explicit=present)
