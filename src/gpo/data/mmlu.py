"""MMLU: 57 subjects of four-option multiple-choice questions (GPO_REFERENCE 2.1-2.3, 3.2).

Records are ``{"input", "output"}``; the question ends with lines "(A) ..." to "(D) ..." and the
answer is the letter in brackets. Every subject is multiple choice with a second round asking for
one option between (A) and (D).
"""

from __future__ import annotations

from pathlib import Path

from gpo.data.base import AnswerKind, TaskData, TaskSpec
from gpo.data.common import (
    load_task_data,
    multiple_choice_request,
    resolve_named_tasks,
    string_answer,
)
from gpo.errors import ConfigError

SUBJECTS = (
    "abstract_algebra",
    "anatomy",
    "astronomy",
    "business_ethics",
    "clinical_knowledge",
    "college_biology",
    "college_chemistry",
    "college_computer_science",
    "college_mathematics",
    "college_medicine",
    "college_physics",
    "computer_security",
    "conceptual_physics",
    "econometrics",
    "electrical_engineering",
    "elementary_mathematics",
    "formal_logic",
    "global_facts",
    "high_school_biology",
    "high_school_chemistry",
    "high_school_computer_science",
    "high_school_european_history",
    "high_school_geography",
    "high_school_government_and_politics",
    "high_school_macroeconomics",
    "high_school_mathematics",
    "high_school_microeconomics",
    "high_school_physics",
    "high_school_psychology",
    "high_school_statistics",
    "high_school_us_history",
    "high_school_world_history",
    "human_aging",
    "human_sexuality",
    "international_law",
    "jurisprudence",
    "logical_fallacies",
    "machine_learning",
    "management",
    "marketing",
    "medical_genetics",
    "miscellaneous",
    "moral_disputes",
    "moral_scenarios",
    "nutrition",
    "philosophy",
    "prehistory",
    "professional_accounting",
    "professional_law",
    "professional_medicine",
    "professional_psychology",
    "public_relations",
    "security_studies",
    "sociology",
    "us_foreign_policy",
    "virology",
    "world_religions",
)

# The options always run from (A) to (D), so the request ignores the scorer's input text.
MMLU_REQUEST = multiple_choice_request("(A)", "(D)")


class MMLU:
    """The MMLU benchmark (57 subjects, answers in ``output``)."""

    name = "mmlu"
    folder = "MMLU"

    def task_names(self) -> tuple[str, ...]:
        return SUBJECTS

    def resolve_tasks(self, requested: list[str]) -> list[str]:
        return resolve_named_tasks(self.name, requested, SUBJECTS)

    def spec(self, task: str) -> TaskSpec:
        if task not in SUBJECTS:
            raise ConfigError(f"unknown mmlu subject {task!r}; see --help for the mmlu subjects")
        return TaskSpec(
            dataset=self.name,
            task=task,
            answer_kind=AnswerKind.MULTIPLE_CHOICE,
            second_round=True,
        )

    def load(self, task: str, data_dir: Path, max_examples: int | None = None) -> TaskData:
        spec = self.spec(task)
        task_dir = Path(data_dir) / self.folder / task
        return load_task_data(spec, task_dir, "output", string_answer, max_examples)

    def second_round_request(self, task: str, user_text: str, instruction_pos: str) -> str:
        self.spec(task)
        return MMLU_REQUEST
