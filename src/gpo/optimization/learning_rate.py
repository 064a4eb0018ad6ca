"""The learning rate: how far one update may move the prompt (GPO_REFERENCE 5.3 step 6).

``wo_lr`` leaves the meta-prompt as it is. ``w_lr`` (the GPO choice) inserts the word-budget
line "you may change at most K words of the current prompt" and one empty line just before the
meta-prompt's last line (the ``<START>``/``<END>`` wrap line). Either way the optimizer is sent
N identical copies, one per candidate.
"""

from __future__ import annotations

from dataclasses import dataclass

from gpo.names import OFF, listing
from gpo.optimization.meta_prompts import word_budget_line
from gpo.optimization.step_size import SCHEDULE_NAMES

# --learning_rate_name: no word budget, or the word budget K_t of the step-size schedule.
LEARNING_RATE_NAMES = ("wo_lr", "w_lr")


def learning_rate_problem(name: str, decay_strategy: str) -> str | None:
    """The rule tying ``w_lr`` to a decay schedule (its K_t), naming the fix; None if valid.

    The only check of the rule: ``w_lr`` without a schedule has no K, a schedule without
    ``w_lr`` is never shown (the original crashes or ignores it, 10.12).
    """
    has_decay = decay_strategy != OFF
    if name == "w_lr" and not has_decay:
        return (
            f"--learning_rate_name=w_lr needs --decay_strategy={listing(SCHEDULE_NAMES)}; "
            "or use --learning_rate_name=wo_lr"
        )
    if name == "wo_lr" and has_decay:
        return (
            f"--decay_strategy={decay_strategy} needs --learning_rate_name=w_lr; "
            "or set --decay_strategy=-"
        )
    return None


def with_word_budget(meta_prompt: str, step_size: int) -> str:
    """The meta-prompt with the budget line and an empty line before its last line.

    As in the original: every line but the last, joined, then ``"\\n"``, the budget line,
    ``"\\n\\n"`` and the last line. A one-line meta-prompt therefore starts with a newline.
    """
    *head, last = meta_prompt.split("\n")
    return "\n".join(head) + f"\n{word_budget_line(step_size)}\n\n{last}"


@dataclass(frozen=True)
class LearningRate:
    """``--learning_rate_name``: ``apply`` returns the meta-prompt actually sent.

    ``step_size`` is the schedule's K_t, None without one (``wo_lr``; the run's validation
    ties ``w_lr`` to a schedule).
    """

    name: str

    def apply(self, meta_prompt: str, step_size: int | None) -> str:
        if step_size is None:
            return meta_prompt
        return with_word_budget(meta_prompt, step_size)
