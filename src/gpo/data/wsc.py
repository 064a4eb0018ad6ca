"""WSC: Winograd schema pronoun resolution as two-option multiple choice (GPO_REFERENCE 2.1-2.3).

Records are ``{"input", "output"}``; the question asks what a quoted pronoun refers to and lists
"(A) ..." and "(B) ...". The task is labelled "wsc" (bug 10.3 fixed); the second round asks for
one option, (A) or (B).
"""

from __future__ import annotations

from pathlib import Path

from gpo.data.base import AnswerKind, TaskData, TaskSpec
from gpo.data.common import load_task_data, resolve_single_task, string_answer
from gpo.errors import ConfigError

WSC_REQUEST = "Therefore, state your final answer as one option, (A) or (B)."


class WSC:
    """The WSC benchmark (one task, answers "(A)"/"(B)" in ``output``)."""

    name = "wsc"
    folder = "common-nlp/WSC"

    def task_names(self) -> tuple[str, ...]:
        return (self.name,)

    def resolve_tasks(self, requested: list[str]) -> list[str]:
        return resolve_single_task(self.name, requested)

    def spec(self, task: str) -> TaskSpec:
        if task != self.name:
            raise ConfigError(f"wsc has the single task 'wsc', not {task!r}")
        return TaskSpec(
            dataset=self.name,
            task=task,
            answer_kind=AnswerKind.MULTIPLE_CHOICE,
            second_round=True,
        )

    def load(self, task: str, data_dir: Path, max_examples: int | None = None) -> TaskData:
        spec = self.spec(task)
        task_dir = Path(data_dir) / self.folder
        return load_task_data(spec, task_dir, "output", string_answer, max_examples)

    def second_round_request(self, task: str, user_text: str, instruction_pos: str) -> str:
        self.spec(task)
        return WSC_REQUEST
