"""``--help`` and ``--helpfull``: the command's flags with their help text.

``--help`` (also ``-h``, ``-help``, ``--helpshort``) lists this project's flags grouped as the
README presents them; ``--helpfull`` lists every defined flag (absl's own included). Both print
to stdout and exit 0.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from absl import flags

USAGE = """\
GPO: optimize a task prompt with an optimizer LLM, by analogy with gradient descent.

usage: python src/optimization/main.py [--flag=value ...]    (or: gpo [--flag=value ...])

  python src/optimization/main.py --preset=gpo --dataset=bbh --task_name=navigate \\
      --scorer_llm_name=smollm2-135m --optimizer_llm_name=smollm2-135m \\
      --embedding_model=all-minilm-l6-v2 --max_examples=4
  python src/optimization/main.py --only_evaluate --dataset=bbh --scorer_llm_name=smollm2-135m
"""

# The README's sections, in its order; flags not listed here land in "Other flags".
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "Task and data",
        (
            "dataset",
            "task_name",
            "init_task",
            "initial_instruction",
            "data_dir",
            "max_examples",
            "seed",
        ),
    ),
    ("Presets (the paper's methods)", ("preset",)),
    (
        "Optimization loop",
        ("num_search_epochs", "opt_batch_size", "test_every_step", "log_train_batches"),
    ),
    ("Gradient", ("gradient_name",)),
    (
        "Momentum",
        (
            "momentum_para_name",
            "momentum_update_name",
            "momentum_selection_name",
            "momentum_selection_num",
            "embedding_model",
        ),
    ),
    (
        "Step size (learning rate)",
        (
            "learning_rate_name",
            "decay_strategy",
            "initial_step_size",
            "final_step_size",
            "use_warmup_strategy",
            "warmup_steps",
        ),
    ),
    ("Update strategy", ("util_gradient_name", "format_data_num", "scores_as_percent")),
    (
        "Proposal",
        (
            "num_generated_instructions_in_each_step",
            "optimizer_temperature",
            "optimizer_max_tokens",
        ),
    ),
    (
        "Trustworthy candidates (this project's extension)",
        ("enforce_step_size", "max_resamples", "candidate_guards", "max_prompt_words"),
    ),
    (
        "Scoring prompts",
        (
            "only_evaluate",
            "prompts_file",
            "baselines",
            "instruction_pos",
            "include_qa",
            "evaluate_generated_ins_on_few_shot",
            "few_shot_number",
            "second_round_max_tokens",
        ),
    ),
    (
        "Backends",
        (
            "scorer_llm_name",
            "optimizer_llm_name",
            "scorer_backend",
            "optimizer_backend",
            "scorer_max_tokens",
            "openai_base_url",
            "openai_api_key",
            "openai_api_key_list",
            "max_retries",
            "gpus",
            "n_threads",
            "n_parallel",
            "n_ctx",
        ),
    ),
    (
        "Runs: cache, resume, budgets",
        ("cache_dir", "no_cache", "resume", "max_tokens_budget", "max_cost_usd", "dry_run"),
    ),
    (
        "Scale-out: Ray workers and server replicas",
        ("workers", "ray_address", "gpus_per_worker", "max_concurrency"),
    ),
    (
        "Outputs",
        ("output_dir", "log_level", "mlflow", "mlflow_tracking_uri", "mlflow_experiment"),
    ),
)

SHORT_HELP_ARGS = ("-h", "-help", "--help", "--helpshort", "-?")
FULL_HELP_ARGS = ("-helpfull", "--helpfull")


def help_request(argv: Sequence[str]) -> str | None:
    """ "short" or "full" when the arguments ask for help (before a bare "--"), else None."""
    for arg in argv[1:]:
        if arg == "--":
            return None
        if arg in FULL_HELP_ARGS:
            return "full"
        if arg in SHORT_HELP_ARGS:
            return "short"
    return None


def project_flags(values: flags.FlagValues) -> dict[str, flags.Flag]:
    """The flags defined by this project's modules (``gpo.*``), by name."""
    out: dict[str, flags.Flag] = {}
    for module, module_flags in values.flags_by_module_dict().items():
        if module == "gpo" or module.startswith("gpo."):
            out.update({f.name: f for f in module_flags})
    return out


def describe(flag: flags.Flag) -> str:
    """One flag as absl prints it: name, wrapped help text and default."""
    name = f"--[no]{flag.name}" if flag.boolean else f"--{flag.name}"
    default = flag.default_as_str if flag.default_as_str is not None else "None"
    text = f"{flag.help} (default: {default})"
    body = textwrap.fill(text, width=96, initial_indent="    ", subsequent_indent="    ")
    return f"  {name}\n{body}"


def short_help(values: flags.FlagValues) -> str:
    """This project's flags, grouped as in the README."""
    own = project_flags(values)
    sections = [USAGE.rstrip("\n")]
    listed: set[str] = set()
    for title, names in GROUPS:
        present = [own[n] for n in names if n in own]
        listed.update(f.name for f in present)
        if present:
            sections.append(f"{title}:\n" + "\n".join(describe(f) for f in present))
    rest = [own[n] for n in sorted(own) if n not in listed]
    if rest:
        sections.append("Other flags:\n" + "\n".join(describe(f) for f in rest))
    sections.append("See --helpfull for every flag, absl's own included.")
    return "\n\n".join(sections) + "\n"


def full_help(values: flags.FlagValues) -> str:
    """Every defined flag, by module (absl's own listing)."""
    return f"{USAGE}\n{values.get_help()}\n"
