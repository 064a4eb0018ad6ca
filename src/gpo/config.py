"""The run's configuration as it flows down and is saved (run_config.json, configs_dict.json).

Built from ``gpo.options.RunOptions`` by ``gpo.runs.request.build_request`` (names made
canonical, the preset applied); every default is the option's own, read from ``RunOptions``.

Secrets (API keys) are deliberately absent: they travel in ``gpo.llm.options.BackendOptions`` and
never reach ``configs_dict.json``, logs or cache keys.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from gpo.options import RunOptions as _O


@dataclass(frozen=True)
class ModelConfig:
    """One LLM role (scorer or optimizer)."""

    name: str  # alias, HF id/path, GGUF path or API model name
    backend: str = _O.scorer_backend
    temperature: float = 0.0  # the scorer's (greedy); the optimizer's is its option
    max_tokens: int = _O.scorer_max_tokens


@dataclass(frozen=True)
class ScoringConfig:
    """How the scorer sees an instruction (GPO_REFERENCE 3 and 8)."""

    instruction_pos: str = _O.instruction_pos
    include_qa: bool = _O.include_qa
    few_shot: bool = _O.evaluate_generated_ins_on_few_shot
    few_shot_number: int = _O.few_shot_number
    second_round_max_tokens: int = _O.second_round_max_tokens


@dataclass(frozen=True)
class OptimizerConfig:
    """The GPO components (GPO_REFERENCE 1.1, 5)."""

    num_search_epochs: int = _O.num_search_epochs
    num_generated_instructions_in_each_step: int = _O.num_generated_instructions_in_each_step
    opt_batch_size: int = _O.opt_batch_size
    format_data_num: int = _O.format_data_num
    gradient_name: str = _O.gradient_name
    momentum_para_name: str = _O.momentum_para_name
    momentum_selection_name: str = _O.momentum_selection_name
    momentum_selection_num: int = _O.momentum_selection_num
    momentum_update_name: str = _O.momentum_update_name
    learning_rate_name: str = _O.learning_rate_name
    initial_step_size: int = _O.initial_step_size
    decay_strategy: str = _O.decay_strategy
    use_warmup_strategy: bool = _O.use_warmup_strategy
    warmup_steps: int = _O.warmup_steps
    final_step_size: int = _O.final_step_size
    util_gradient_name: str = _O.util_gradient_name
    embedding_model: str = _O.embedding_model
    scores_as_percent: bool = _O.scores_as_percent  # bug 10.4 kept by default (raw fractions)
    # This project's extension (off by default: the paper's behaviour).
    enforce_step_size: bool = _O.enforce_step_size
    max_resamples: int = _O.max_resamples
    candidate_guards: tuple[str, ...] = ()
    max_prompt_words: int = _O.max_prompt_words


@dataclass(frozen=True)
class RunConfig:
    dataset: str
    tasks: tuple[str, ...]
    initial_instruction: str
    scorer: ModelConfig
    optimizer: ModelConfig
    scoring: ScoringConfig = field(default_factory=ScoringConfig)
    opt: OptimizerConfig = field(default_factory=OptimizerConfig)
    only_evaluate: bool = _O.only_evaluate
    data_dir: str = "data"
    output_dir: str = _O.output_dir
    seed: int = _O.seed
    max_examples: int | None = None
    gpus: tuple[str, ...] = _O.gpus
    preset: str | None = None
    test_every_step: bool = _O.test_every_step
    log_train_batches: bool = _O.log_train_batches
    cache_dir: str | None = None  # None = no cache
    max_tokens_budget: int | None = None
    max_cost_usd: float | None = None
    openai_base_url: str | None = None  # saved for --resume, credentials stripped
    eval_racing: str = _O.eval_racing  # off (full evaluation, the original), exact or statistical
    racing_confidence: float = _O.racing_confidence  # statistical racing's confidence of a drop
    # --preset=gepa: GEPA's budget of metric calls (None: the gpo preset's planned scorer calls)
    gepa_max_metric_calls: int | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @staticmethod
    def from_json(d: dict[str, Any]) -> RunConfig:
        d = dict(d)
        d["tasks"] = tuple(d["tasks"])
        d["gpus"] = tuple(d["gpus"])
        d["scorer"] = ModelConfig(**d["scorer"])
        d["optimizer"] = ModelConfig(**d["optimizer"])
        d["scoring"] = ScoringConfig(**d["scoring"])
        opt = dict(d["opt"])
        opt["candidate_guards"] = tuple(opt.get("candidate_guards", ()))
        d["opt"] = OptimizerConfig(**opt)
        return RunConfig(**d)

    def configs_dict(self) -> dict[str, Any]:
        """The original's configs_dict.json (section 7), without any secret."""
        o, s = self.opt, self.scoring
        return {
            "dataset_name": self.dataset,
            "task_name": list(self.tasks),
            "initial_instruction": self.initial_instruction,
            "num_search_epochs": o.num_search_epochs,
            "opt_batch_size": o.opt_batch_size,
            "num_generated_instructions_in_each_step": o.num_generated_instructions_in_each_step,
            "format_data_num": o.format_data_num,
            "gradient_name": o.gradient_name,
            "momentum_para_name": o.momentum_para_name,
            "momentum_selection_name": o.momentum_selection_name,
            "momentum_select_num": o.momentum_selection_num,  # key name differs from the flag
            "momentum_update_name": o.momentum_update_name,
            "learning_rate_name": o.learning_rate_name,
            "initial_step_size": o.initial_step_size,
            "decay_strategy": o.decay_strategy,
            "use_warmup_strategy": o.use_warmup_strategy,
            "warmup_steps": o.warmup_steps,
            "final_step_size": o.final_step_size,
            "util_gradient_name": o.util_gradient_name,
            "scorer_llm_dict": {
                "model_type": self.scorer.name,
                "max_decode_steps": self.scorer.max_tokens,
                "temperature": self.scorer.temperature,
            },
            "optimizer_llm_dict": {
                "max_decode_steps": self.optimizer.max_tokens,
                "temperature": self.optimizer.temperature,
                "model_type": self.optimizer.name,
            },
            "instruction_pos": s.instruction_pos,
            "include_qa": s.include_qa,
            "evaluate_generated_ins_on_few_shot": s.few_shot,
            "few_shot_num": s.few_shot_number,
        }
