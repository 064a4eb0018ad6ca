"""The learning rate: how far one update may move the prompt (GPO_REFERENCE 5.3 step 6).

``wo_lr`` leaves the meta-prompt as it is. ``w_lr`` (the GPO choice) inserts the word-budget
line "you may change at most K words of the current prompt" and one empty line just before the
meta-prompt's last line (the ``<START>``/``<END>`` wrap line). Either way the optimizer is sent
N identical copies, one per candidate.
"""

from __future__ import annotations

from dataclasses import dataclass

from gpo.errors import ConfigError
from gpo.optimization.meta_prompts import word_budget_line

LEARNING_RATE_NAMES = ("wo_lr", "w_lr")


def with_word_budget(meta_prompt: str, step_size: int) -> str:
    """The meta-prompt with the budget line and an empty line before its last line."""
    lines = meta_prompt.split("\n")
    lines[-1:-1] = [word_budget_line(step_size), ""]
    return "\n".join(lines)


def wo_lr(meta_prompt: str, n: int) -> list[str]:
    """N identical copies of the meta-prompt."""
    return [meta_prompt] * n


def w_lr(meta_prompt: str, n: int, step_size: int) -> list[str]:
    """N identical copies of the meta-prompt with the word budget ``step_size``."""
    return [with_word_budget(meta_prompt, step_size)] * n


@dataclass(frozen=True)
class LearningRate:
    """``--learning_rate_name``: ``apply`` returns the meta-prompt actually sent."""

    name: str

    def __post_init__(self) -> None:
        if self.name not in LEARNING_RATE_NAMES:
            raise ConfigError(
                f"--learning_rate_name={self.name!r} is not valid; choices: wo_lr, w_lr"
            )

    def apply(self, meta_prompt: str, step_size: int | None) -> str:
        if self.name == "wo_lr":
            return meta_prompt
        if step_size is None:
            raise ConfigError(
                "--learning_rate_name=w_lr needs --decay_strategy (fixed, linear or consine)"
            )
        return with_word_budget(meta_prompt, step_size)

    def copies(self, meta_prompt: str, step_size: int | None, n: int) -> list[str]:
        return [self.apply(meta_prompt, step_size)] * n
