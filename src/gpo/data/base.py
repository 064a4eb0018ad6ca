"""Benchmark data types shared by every dataset module.

A task's five splits (train, eval, test, few_shot, format) are loaded from
``<data_dir>/<dataset folder>/<task>/<split>.jsonl``; ``TaskSpec`` carries the per-task scoring
settings of GPO_REFERENCE 2.3 (answer kind and whether a second-round answer request is sent).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Union

Answer = Union[str, int, list[str]]

SPLITS = ("train", "eval", "test", "few_shot_examples", "format")


class AnswerKind(str, enum.Enum):
    MULTIPLE_CHOICE = "multiple_choice"
    NUMBER = "number"
    BOOLEAN = "boolean"
    ROUGE = "rouge"  # WebNLG: ROUGE-L F1 against the references
    DYCK = "dyck"  # dyck_languages: closing-bracket suffix
    WORD_SORTING = "word_sorting"
    EXACT = "exact"


@dataclass(frozen=True)
class Example:
    index: int  # 0-based line number in its file (index_in_raw_dataset)
    question: str
    answer: Answer
    # custom tasks: the whole JSON record, handed to a user's Python metric (not compared)
    record: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class TaskSpec:
    dataset: str  # "bbh" | "mmlu" | "gsm8k" | "webnlg" | "wsc" | "custom"
    task: str  # task label; for gsm8k/webnlg/wsc the dataset name (bug 10.3 fixed)
    answer_kind: AnswerKind
    second_round: bool  # extract_final_answer_by_prompting_again
    # custom tasks only: the task.json metric (gpo.evaluation.metrics) and the task folder a
    # "python:module:function" metric is imported from; None for the benchmarks
    metric: str | None = None
    folder: str | None = None

    @property
    def is_multiple_choice(self) -> bool:
        return self.answer_kind is AnswerKind.MULTIPLE_CHOICE

    @property
    def treat_as_number(self) -> bool:
        return self.answer_kind is AnswerKind.NUMBER

    @property
    def treat_as_bool(self) -> bool:
        return self.answer_kind is AnswerKind.BOOLEAN

    @property
    def treat_as_rouge(self) -> bool:
        return self.answer_kind is AnswerKind.ROUGE

    def setting_dict(self) -> dict[str, bool | str]:
        """The five scoring flags as the original's results_dict.json stores them (plus the
        metric of a custom task)."""
        settings: dict[str, bool | str] = {
            "is_multiple_choice": self.is_multiple_choice,
            "prediction_treat_as_number": self.treat_as_number,
            "prediction_treat_as_bool": self.treat_as_bool,
            "prediction_treat_as_rouge": self.treat_as_rouge,
            "extract_final_answer_by_prompting_again": self.second_round,
        }
        if self.metric is not None:
            settings["metric"] = self.metric
        return settings


@dataclass(frozen=True)
class TaskData:
    spec: TaskSpec
    train: tuple[Example, ...]
    eval: tuple[Example, ...]
    test: tuple[Example, ...]
    few_shot: tuple[Example, ...]
    format: tuple[Example, ...]

    def split(self, name: str) -> tuple[Example, ...]:
        return {
            "train": self.train,
            "eval": self.eval,
            "test": self.test,
            "few_shot": self.few_shot,
            "format": self.format,
        }[name]
