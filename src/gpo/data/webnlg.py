"""WebNLG: data-to-text generation scored by ROUGE-L against references (GPO_REFERENCE 2.1-2.3).

Records are ``{"id", "input", "output"}``; ``output`` is a list of 1-5 reference texts. The task
is labelled "webnlg" (bug 10.3 fixed). WebNLG is the one dataset without a second round: the
first answer is scored as it is.
"""

from __future__ import annotations

from pathlib import Path

from gpo.data.base import AnswerKind, TaskData, TaskSpec
from gpo.data.common import load_task_data, reference_list_answer, resolve_single_task
from gpo.errors import ConfigError


class WebNLG:
    """The WebNLG benchmark (one task, reference lists in ``output``)."""

    name = "webnlg"
    folder = "common-nlp/WebNLG"

    def task_names(self) -> tuple[str, ...]:
        return (self.name,)

    def resolve_tasks(self, requested: list[str]) -> list[str]:
        return resolve_single_task(self.name, requested)

    def spec(self, task: str) -> TaskSpec:
        if task != self.name:
            raise ConfigError(f"webnlg has the single task 'webnlg', not {task!r}")
        return TaskSpec(
            dataset=self.name, task=task, answer_kind=AnswerKind.ROUGE, second_round=False
        )

    def load(self, task: str, data_dir: Path, max_examples: int | None = None) -> TaskData:
        spec = self.spec(task)
        task_dir = Path(data_dir) / self.folder
        return load_task_data(spec, task_dir, "output", reference_list_answer, max_examples)

    def second_round_request(self, task: str, user_text: str, instruction_pos: str) -> str:
        raise ConfigError(
            "webnlg has no second-round request (its first answer is scored with ROUGE-L); "
            "check TaskSpec.second_round before asking for one"
        )
