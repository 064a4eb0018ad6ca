"""The optimization state of one task, JSON-serialisable so a run can resume exactly.

Holds the trajectory (prompt, eval score, epoch, step), the score table of every evaluated prompt,
the hashes of generated prompts, the prompts chosen at earlier steps and both momentum buffers.
``completed_steps`` is the resume position. The original's ``results_dict.json`` is the
recorder's (:mod:`gpo.results.recorder`); the checkpoint stores it beside this state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gpo.optimization.meta_prompts import ScoredPrompt
from gpo.optimization.selection import GradientEntry, TrajectoryEntry


@dataclass
class TaskState:
    task: str
    initial_prompt: str
    initial_eval: float
    initial_test: float
    trajectory: list[TrajectoryEntry]
    scores: dict[str, float]  # instruction_score_dict: every evaluated prompt -> eval score
    test_scores: dict[str, float]
    seen_hashes: set[str] = field(default_factory=set)
    # eval_step2max_instruction for steps >= 0. Quirk 10.5 (kept): the original stores the initial
    # *score* under step -1, so the initial prompt never counts as "chosen before".
    chosen: list[str] = field(default_factory=list)
    gradients: list[GradientEntry] = field(default_factory=list)
    momentum_gradient: str | None = None  # real-time feedback momentum
    momentum_para: ScoredPrompt | None = None  # real-time para momentum
    completed_steps: int = 0
    # Racing (--eval_racing): per-example eval scores of candidates dropped before the end of
    # the split. Completed (and moved to ``scores``) before such a prompt is ever reused.
    partial: dict[str, list[float]] = field(default_factory=dict)

    @property
    def current(self) -> TrajectoryEntry:
        return self.trajectory[-1]

    @property
    def current_eval_score(self) -> float:
        """The score shown for the current prompt (meta-prompt, real-time para momentum): its
        stored eval score, as the original reads ``instruction_score_dict``. It differs from the
        trajectory entry after the prompt was re-chosen with the ranking's 0.0 placeholder
        (quirk 10.5): the initial prompt then shows its eval score, not 0.0."""
        return self.scores.get(self.current.prompt, self.current.score)

    def to_json(self, results: dict[str, Any]) -> dict[str, Any]:
        """The checkpoint: this state with the results_dict.json so far (after the scores)."""
        return {
            "task": self.task,
            "initial_prompt": self.initial_prompt,
            "initial_eval": self.initial_eval,
            "initial_test": self.initial_test,
            "trajectory": [e.to_dict() for e in self.trajectory],
            "scores": self.scores,
            "test_scores": self.test_scores,
            "results": results,
            "seen_hashes": sorted(self.seen_hashes),
            "chosen": self.chosen,
            "gradients": [g.to_dict() for g in self.gradients],
            "momentum_gradient": self.momentum_gradient,
            "momentum_para": None
            if self.momentum_para is None
            else [self.momentum_para.prompt, self.momentum_para.score],
            "completed_steps": self.completed_steps,
            "partial": self.partial,
        }

    @staticmethod
    def from_json(d: dict[str, Any]) -> TaskState:
        para = d["momentum_para"]
        return TaskState(
            task=d["task"],
            initial_prompt=d["initial_prompt"],
            initial_eval=d["initial_eval"],
            initial_test=d["initial_test"],
            trajectory=[TrajectoryEntry.from_dict(e) for e in d["trajectory"]],
            scores=dict(d["scores"]),
            test_scores=dict(d["test_scores"]),
            seen_hashes=set(d["seen_hashes"]),
            chosen=list(d["chosen"]),
            gradients=[GradientEntry.from_dict(g) for g in d["gradients"]],
            momentum_gradient=d["momentum_gradient"],
            momentum_para=None if para is None else ScoredPrompt(para[0], para[1]),
            completed_steps=d["completed_steps"],
            partial={k: list(v) for k, v in d.get("partial", {}).items()},
        )


def steps_per_epoch(n_train: int, batch_size: int) -> int:
    """GPO_REFERENCE 5.2: one more step when the leftover is at least half a batch (kept, 10.16)."""
    full, rest = divmod(n_train, batch_size)
    return full if rest < batch_size / 2 else full + 1


def batch_indices(step: int, n_train: int, batch_size: int) -> list[int]:
    """Rows of train batch ``step``: the same rows in every epoch (no reshuffling, kept)."""
    return list(range(step * batch_size, min(n_train, (step + 1) * batch_size)))
