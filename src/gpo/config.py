"""Frozen, typed run configuration: flags live only at the CLI edge, this flows down.

Secrets (API keys) are deliberately absent: they travel in ``gpo.llm.options.BackendOptions`` and
never reach ``configs_dict.json``, logs or cache keys.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ModelConfig:
    """One LLM role (scorer or optimizer)."""

    name: str  # alias, HF id/path, GGUF path or API model name
    backend: str = "auto"
    temperature: float = 0.0
    max_tokens: int = 256


@dataclass(frozen=True)
class ScoringConfig:
    """How the scorer sees an instruction (GPO_REFERENCE 3 and 8)."""

    instruction_pos: str = "Q_end"
    include_qa: bool = False
    few_shot: bool = False  # evaluate_generated_ins_on_few_shot
    few_shot_number: int = 5
    second_round_max_tokens: int = 100


@dataclass(frozen=True)
class OptimizerConfig:
    """The GPO components (GPO_REFERENCE 1.1, 5)."""

    num_search_epochs: int = 3
    num_generated_instructions_in_each_step: int = 8
    opt_batch_size: int = 8
    format_data_num: int = 3
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
    embedding_model: str = "BAAI/bge-base-en-v1.5"
    scores_as_percent: bool = False  # bug 10.4 is kept by default (raw fractions)
    # This project's extension (off by default: the paper's behaviour).
    enforce_step_size: bool = False
    max_resamples: int = 2
    candidate_guards: tuple[str, ...] = ()
    max_prompt_words: int = 200


@dataclass(frozen=True)
class RunConfig:
    dataset: str
    tasks: tuple[str, ...]
    initial_instruction: str
    scorer: ModelConfig
    optimizer: ModelConfig
    scoring: ScoringConfig = field(default_factory=ScoringConfig)
    opt: OptimizerConfig = field(default_factory=OptimizerConfig)
    only_evaluate: bool = False
    data_dir: str = "data"
    output_dir: str = "outputs/optimization-results"
    seed: int = 0
    max_examples: int | None = None
    gpus: tuple[str, ...] = ("0",)
    preset: str | None = None
    test_every_step: bool = False
    log_train_batches: bool = False
    cache_dir: str | None = None  # None = no cache
    max_tokens_budget: int | None = None
    max_cost_usd: float | None = None
    openai_base_url: str | None = None  # saved for --resume, credentials stripped
    eval_racing: str = "off"  # off (full evaluation, the original), exact or statistical
    racing_confidence: float = 0.95  # statistical racing's confidence of each drop
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
