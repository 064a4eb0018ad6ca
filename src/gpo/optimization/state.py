"""The optimization state of one task, JSON-serialisable so a run can resume exactly.

Holds the trajectory (prompt, eval score, epoch, step), the score table of every evaluated prompt,
the hashes of generated prompts, the prompts chosen at earlier steps, both momentum buffers and the
original's ``results_dict.json`` logs. ``completed_steps`` is the resume position.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass
class TaskState:
    task: str
    current_prompt: str
    current_score: float
    initial_prompt: str
    initial_eval: float
    initial_test: float | None
    trajectory: list[list[Any]] = field(default_factory=list)  # [prompt, score, epoch, step]
    scores: dict[str, float] = field(default_factory=dict)  # instruction_score_dict (eval)
    test_scores: dict[str, float] = field(default_factory=dict)
    seen_hashes: list[str] = field(default_factory=list)
    # eval_step2max_instruction: step id -> chosen prompt. Quirk 10.5 (kept): the original stores
    # the initial *score* under -1, so the initial prompt never counts as "chosen before".
    chosen: dict[str, Any] = field(default_factory=dict)
    last_chosen_score: float = 0.0
    gradients: list[list[Any]] = field(default_factory=list)  # [text, improvement, epoch, step]
    momentum_gradient: str | None = None  # real-time feedback momentum
    momentum_para: list[Any] | None = None  # real-time para momentum [text, score]
    completed_steps: int = 0
    results: dict[str, Any] = field(default_factory=dict)  # results_dict.json

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @staticmethod
    def from_json(d: dict[str, Any]) -> TaskState:
        return TaskState(**d)


def empty_results(setting_dict: dict[str, bool]) -> dict[str, Any]:
    """The keys of the original's results_dict.json, in its order."""
    return {
        "meta_gradient_prompts": [],
        "meta_gradient_texts": [],
        "selected_gradient_history_list": [],
        "meta_fo_momentum_gradient_prompts": [],
        "meta_fo_momentum_gradient_texts": [],
        "selected_para_history_list": [],
        "meta_fo_momentum_para_prompts": [],
        "meta_fo_momentum_para_texts": [],
        "modify_word_num_history": [],
        "meta_prompts": [],
        "meta_generate_instructions": [],
        "setting_dict": setting_dict,
        "train_log": {},
        "eval_log": {},
        "test_log": {},
    }


def steps_per_epoch(n_train: int, batch_size: int) -> int:
    """GPO_REFERENCE 5.2: one more step when the leftover is at least half a batch (kept, 10.16)."""
    full, rest = divmod(n_train, batch_size)
    return full if rest < batch_size / 2 else full + 1


def batch_indices(step: int, n_train: int, batch_size: int) -> list[int]:
    """Rows of train batch ``step``: the same rows in every epoch (no reshuffling, kept)."""
    return list(range(step * batch_size, min(n_train, (step + 1) * batch_size)))
