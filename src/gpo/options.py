"""The options of a run and of an experiment: one typed vocabulary, owned by the library.

``RunOptions`` holds every option of ``main.py`` under the original's flag name, with its default
written here once (``gpo.cli.flags`` defines each flag with the default it reads from this
class). ``ExperimentOptions`` adds the grid's own (``--presets``, ``--seeds``,
``--scorer_tokens_per_second``). Both are frozen and plain: they import nothing above this
module, hold only values, and know which options were set on purpose (``explicit``), which is how
"an option you set beats the preset" is decided, from the object. What the values mean (names
made canonical, counts and combinations checked) is decided once, by
``gpo.runs.request.build_request``, before any model loads.

Build them with :meth:`RunOptions.of` (names checked, values converted as the command line
converts them, every given name recorded as explicit), or directly (then a field that differs
from its default counts as set).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from gpo.errors import ConfigError
from gpo.names import did_you_mean
from gpo.presets import PAPER_PRESETS

# the options that hold secrets: never written to disk, logs or cache keys
SECRET_OPTIONS = ("openai_api_key", "openai_api_key_list")

Options = TypeVar("Options", bound="RunOptions")


@dataclass(frozen=True)
class RunOptions:
    """Every option of a run (``main.py``'s flags, same names and defaults)."""

    # ---- the original release's flags (same names, types and defaults)
    openai_api_key: str = field(default="", repr=False)
    openai_api_key_list: tuple[str, ...] = field(default=(), repr=False)
    gpus: tuple[str, ...] = ("0",)
    dataset: str = "gsm8k"
    task_name: tuple[str, ...] = ("all",)
    optimizer_llm_name: str = "gpt-3.5-turbo"
    optimizer_temperature: float = 1.0
    initial_instruction: str = "Let's think step by step."
    num_search_epochs: int = 3
    instruction_pos: str = "Q_end"
    num_generated_instructions_in_each_step: int = 8
    gradient_name: str = "feedback"
    momentum_para_name: str = "-"
    momentum_selection_name: str = "-"
    momentum_selection_num: int = 0
    momentum_update_name: str = "-"
    learning_rate_name: str = "wo_lr"
    initial_step_size: int = 0
    decay_strategy: str = "-"
    use_warmup_strategy: bool = False
    warmup_steps: int = 5
    final_step_size: int = 0
    util_gradient_name: str = "-"
    opt_batch_size: int = 8
    format_data_num: int = 3
    scorer_llm_name: str = "llama2-chat-7b"
    include_qa: bool = False
    only_evaluate: bool = False
    evaluate_generated_ins_on_few_shot: bool = False
    few_shot_number: int = 5
    # ---- this project's options
    data_dir: str | None = None
    init_task: bool = False
    output_dir: str = "outputs/optimization-results"
    seed: int = 0
    openai_base_url: str | None = None
    max_concurrency: int = 8
    workers: int = 1
    ray_address: str | None = None
    gpus_per_worker: float = 0.0
    max_examples: int | None = None
    embedding_model: str = "BAAI/bge-base-en-v1.5"
    scorer_backend: str = "auto"
    optimizer_backend: str = "auto"
    preset: str | None = None
    gepa_max_metric_calls: int | None = None
    prompts_file: str | None = None
    baselines: tuple[str, ...] = ("empty", "cot")
    cache_dir: str = os.path.join("~", ".cache", "gpo")
    no_cache: bool = False
    resume: str | None = None
    test_every_step: bool = False
    log_train_batches: bool = False
    dry_run: bool = False
    max_tokens_budget: int | None = None
    max_cost_usd: float | None = None
    scores_as_percent: bool = False
    n_threads: int | None = None
    n_parallel: int | None = None
    n_ctx: int | None = None
    log_level: str = "INFO"
    max_retries: int = 6
    scorer_max_tokens: int = 256
    second_round_max_tokens: int = 100
    optimizer_max_tokens: int = 512
    enforce_step_size: bool = False
    max_resamples: int = 2
    candidate_guards: tuple[str, ...] = ()
    max_prompt_words: int = 200
    eval_racing: str = "off"
    mlflow_tracking_uri: str | None = None
    mlflow: bool = False
    mlflow_experiment: str = "gpo"
    racing_confidence: float = 0.95
    # ---- not an option: the names set on purpose (they beat a preset; resume takes them again)
    explicit: frozenset[str] = field(default=frozenset(), repr=False, compare=False)

    @classmethod
    def of(cls: type[Options], **values: Any) -> Options:
        """The options ``values`` (option name -> value, as the command line's flag would take
        it: ``task_name="a,b"`` or ``["a", "b"]``, ``num_search_epochs="2"`` or ``2``), each
        given name recorded as set. An unknown name or a value of the wrong type is a
        ConfigError in one line."""
        return cls().with_values(**values)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """Every option's name (``explicit`` is not one)."""
        return tuple(f.name for f in dataclasses.fields(cls) if f.name != "explicit")

    def with_values(self: Options, **values: Any) -> Options:
        """These options with ``values`` set (converted and checked as by :meth:`of`)."""
        check_names(type(self), values)
        kinds = option_kinds(type(self))
        converted = {name: convert(name, value, kinds[name]) for name, value in values.items()}
        return dataclasses.replace(self, **converted, explicit=self.explicit | set(values))

    def is_set(self, name: str) -> bool:
        """Whether option ``name`` was set on purpose: named in ``explicit``, or different from
        its default (a directly built object)."""
        return name in self.explicit or getattr(self, name) != _default(type(self), name)

    def set_names(self) -> list[str]:
        """The options set on purpose, in field order."""
        return [n for n in self.names() if self.is_set(n)]

    def command_line(self) -> list[str]:
        """The options set on purpose as the command line's flags (secrets left out): what a
        run or an experiment records as its command."""
        return [
            arg
            for name in self.set_names()
            if name not in SECRET_OPTIONS
            for arg in [flag_argument(name, getattr(self, name))]
            if arg is not None
        ]


@dataclass(frozen=True)
class ExperimentOptions(RunOptions):
    """An experiment grid's options: every run option (applied to every cell) plus the grid's."""

    presets: tuple[str, ...] = PAPER_PRESETS
    seeds: tuple[int, ...] = (0,)
    scorer_tokens_per_second: float | None = None
    # run only these of the grid's methods / seeds now (the rest wait for a later --resume)
    run_presets: tuple[str, ...] = ()
    run_seeds: tuple[int, ...] = ()


# ---- conversion: a value as the command line's flag of that name would take it


def option_kinds(cls: type[RunOptions]) -> dict[str, str]:
    """Option name -> its kind: str, int, float, bool, list (of str) or ints (list of int)."""
    kinds = {}
    for f in dataclasses.fields(cls):
        hint = str(f.type)
        if hint.startswith("tuple[int"):
            kinds[f.name] = "ints"
        elif hint.startswith("tuple"):
            kinds[f.name] = "list"
        else:
            kinds[f.name] = next(
                (k for k in ("bool", "int", "float") if hint.split(" | ")[0] == k), "str"
            )
    return kinds


def convert(name: str, value: Any, kind: str) -> Any:
    """``value`` for option ``name`` of ``kind``: None stays None (the default), a comma list
    becomes a tuple, a number's text becomes the number; anything else is a ConfigError."""
    if value is None:
        return None
    if kind in ("list", "ints"):
        items = _items(name, value)
        return _ints(name, items) if kind == "ints" else tuple(str(i) for i in items)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise ConfigError(f"flag --{name}={value}: give True or False")
    if kind in ("int", "float"):
        return _number(name, value, int if kind == "int" else float)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if not isinstance(value, str):
        raise ConfigError(f"flag --{name}={value!r}: give a string")
    return value


def _items(name: str, value: Any) -> list[Any]:
    if isinstance(value, str):
        return [v for v in value.split(",") if v] if value else []
    if isinstance(value, (list, tuple)):
        return list(value)
    raise ConfigError(f"flag --{name}={value!r}: give a list or a comma-separated string")


def _ints(name: str, items: list[Any]) -> tuple[int, ...]:
    try:
        return tuple(int(i) for i in items if not isinstance(i, bool))
    except (TypeError, ValueError):
        joined = ",".join(str(i) for i in items)
        raise ConfigError(f"--{name}={joined}: give integers, e.g. 0,1,2") from None


def _number(name: str, value: Any, kind: type) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigError(f"flag --{name}={value!r}: give a number")
    if kind is int and isinstance(value, float):
        if not value.is_integer():
            raise ConfigError(f"flag --{name}={value}: give a whole number")
        value = int(value)
    try:
        return kind(value)
    except ValueError as e:
        raise ConfigError(f"flag --{name}={value}: {e}") from None


def check_names(cls: type[RunOptions], values: Mapping[str, Any]) -> None:
    """Every name in ``values`` is an option of ``cls``; else one line with a did-you-mean."""
    known = cls.names()
    for name in values:
        if name not in known:
            raise ConfigError(
                f"unknown option {name!r}{did_you_mean(name, sorted(known))}; options take the "
                "command line's flag names (python src/optimization/main.py --help)"
            )


def flag_argument(name: str, value: Any) -> str | None:
    """One option as its command-line argument (None: leave the flag at its default)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return f"--{name}" if value else f"--no{name}"
    if isinstance(value, (list, tuple, frozenset)):
        return f"--{name}={','.join(str(v) for v in value)}"
    return f"--{name}={value}"


def _default(cls: type[RunOptions], name: str) -> Any:
    f = cls.__dataclass_fields__[name]
    return f.default_factory() if f.default is dataclasses.MISSING else f.default  # type: ignore[misc]
