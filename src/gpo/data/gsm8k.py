"""GSM8K: grade-school maths word problems, a single task scored as a number (GPO_REFERENCE 2.1).

Records are ``{"input", "solution", "output"}``; ``output`` is the integer answer and the
``solution`` rationale is never used. The task is labelled "gsm8k" (bug 10.3 fixed); the second
round asks for the final answer as just one number.
"""

from __future__ import annotations

from pathlib import Path

from gpo.data.base import AnswerKind, TaskData, TaskSpec
from gpo.data.common import NUMBER_REQUEST, integer_answer, load_task_data, resolve_single_task
from gpo.errors import ConfigError

GSM8K_REQUEST = NUMBER_REQUEST


class GSM8K:
    """The GSM8K benchmark (one task, integer answers in ``output``)."""

    name = "gsm8k"
    folder = "reasoning/GSM8K"

    def task_names(self) -> tuple[str, ...]:
        return (self.name,)

    def resolve_tasks(self, requested: list[str]) -> list[str]:
        return resolve_single_task(self.name, requested)

    def spec(self, task: str) -> TaskSpec:
        if task != self.name:
            raise ConfigError(f"gsm8k has the single task 'gsm8k', not {task!r}")
        return TaskSpec(
            dataset=self.name, task=task, answer_kind=AnswerKind.NUMBER, second_round=True
        )

    def load(self, task: str, data_dir: Path, max_examples: int | None = None) -> TaskData:
        spec = self.spec(task)
        task_dir = Path(data_dir) / self.folder
        return load_task_data(spec, task_dir, "output", integer_answer, max_examples)

    def second_round_request(self, task: str, user_text: str, instruction_pos: str) -> str:
        self.spec(task)
        return GSM8K_REQUEST
