"""BIG-Bench Hard: the 27 tasks of the paper's main benchmark (GPO_REFERENCE 2.1-2.3, 3.2).

Records are ``{"input", "target"}``. Per-task answer kinds: 17 multiple-choice tasks, 6 boolean
tasks (True/False, Yes/No, valid/invalid), 2 numeric tasks and 2 generative ones (dyck_languages,
word_sorting). Every task gets the second-round answer-format request of the task model.
"""

from __future__ import annotations

import re
from pathlib import Path

from gpo.data.base import AnswerKind, TaskData, TaskSpec
from gpo.data.common import (
    NUMBER_REQUEST,
    load_task_data,
    multiple_choice_request,
    resolve_named_tasks,
    string_answer,
)
from gpo.errors import ConfigError

TASKS = (
    "boolean_expressions",
    "causal_judgement",
    "date_understanding",
    "disambiguation_qa",
    "dyck_languages",
    "formal_fallacies",
    "geometric_shapes",
    "hyperbaton",
    "logical_deduction_five_objects",
    "logical_deduction_seven_objects",
    "logical_deduction_three_objects",
    "movie_recommendation",
    "multistep_arithmetic_two",
    "navigate",
    "object_counting",
    "penguins_in_a_table",
    "reasoning_about_colored_objects",
    "ruin_names",
    "salient_translation_error_detection",
    "snarks",
    "sports_understanding",
    "temporal_sequences",
    "tracking_shuffled_objects_five_objects",
    "tracking_shuffled_objects_seven_objects",
    "tracking_shuffled_objects_three_objects",
    "web_of_lies",
    "word_sorting",
)

BOOLEAN_TASKS = frozenset(
    {
        "boolean_expressions",
        "causal_judgement",
        "formal_fallacies",
        "navigate",
        "sports_understanding",
        "web_of_lies",
    }
)
NUMBER_TASKS = frozenset({"object_counting", "multistep_arithmetic_two"})
GENERATIVE_KINDS = {"dyck_languages": AnswerKind.DYCK, "word_sorting": AnswerKind.WORD_SORTING}
MULTIPLE_CHOICE_TASKS = frozenset(TASKS) - BOOLEAN_TASKS - NUMBER_TASKS - set(GENERATIVE_KINDS)

# ---- second-round answer-format requests (GPO_REFERENCE 3.2, own wording)

TRUE_FALSE_REQUEST = 'Now give your final answer directly, with only "True" or "False".'
YES_NO_REQUEST = 'Now give your final answer directly, with only "Yes" or "No".'
VALID_INVALID_REQUEST = 'Now give your final answer directly, with only "valid" or "invalid".'
DYCK_REQUEST = "Now output directly only the closing brackets that complete the sequence."
WORD_SORTING_REQUEST = (
    "Now output directly only the words sorted alphabetically, separated by spaces."
)
FIXED_REQUESTS = {
    "boolean_expressions": TRUE_FALSE_REQUEST,
    "causal_judgement": YES_NO_REQUEST,
    "navigate": YES_NO_REQUEST,
    "sports_understanding": YES_NO_REQUEST,
    "web_of_lies": YES_NO_REQUEST,
    "formal_fallacies": VALID_INVALID_REQUEST,
    "multistep_arithmetic_two": NUMBER_REQUEST,
    "object_counting": NUMBER_REQUEST,
    "dyck_languages": DYCK_REQUEST,
    "word_sorting": WORD_SORTING_REQUEST,
}

# Upper or lower case, as in the original: "Pick (a) or (b) wisely." gives "(a)".
_OPTION_LETTER = re.compile(r"\([A-Za-z]\)")
_OPTION_LINE = re.compile(r"^\([A-Z]\)")


def last_option_label(user_text: str, instruction_pos: str) -> str:
    """The "X" of "between (A) and X": the last option letter of the scorer's input text.

    Quirk 10.10, kept on purpose for Q_end/Q_begin fidelity: for ``Q_end`` X is the first
    "(letter)" on the second-to-last line of the user text (the last question line when the
    instruction is one line), for ``Q_begin`` on the last line; when that line holds no bracketed
    letter, X is the whole line. The original crashes for other positions; there (fix) X is taken
    from the last line that starts with an option label "(letter)".
    """
    lines = user_text.split("\n")
    if instruction_pos in ("Q_end", "Q_begin"):
        line = lines[-2] if instruction_pos == "Q_end" and len(lines) >= 2 else lines[-1]
        found = _OPTION_LETTER.search(line)
        return found.group(0) if found else line
    for line in reversed(lines):
        found = _OPTION_LINE.match(line)
        if found:
            return found.group(0)
    return lines[-1]


class BigBenchHard:
    """The BBH benchmark (27 tasks, answers in ``target``)."""

    name = "bbh"
    folder = "BIG-Bench-Hard"

    def task_names(self) -> tuple[str, ...]:
        return TASKS

    def resolve_tasks(self, requested: list[str]) -> list[str]:
        return resolve_named_tasks(self.name, requested, TASKS)

    def spec(self, task: str) -> TaskSpec:
        if task not in TASKS:
            raise ConfigError(f"unknown bbh task {task!r}; see --help for the bbh tasks")
        if task in BOOLEAN_TASKS:
            kind = AnswerKind.BOOLEAN
        elif task in NUMBER_TASKS:
            kind = AnswerKind.NUMBER
        elif task in GENERATIVE_KINDS:
            kind = GENERATIVE_KINDS[task]
        else:
            kind = AnswerKind.MULTIPLE_CHOICE
        return TaskSpec(dataset=self.name, task=task, answer_kind=kind, second_round=True)

    def load(self, task: str, data_dir: Path, max_examples: int | None = None) -> TaskData:
        spec = self.spec(task)
        task_dir = Path(data_dir) / self.folder / task
        return load_task_data(spec, task_dir, "target", string_answer, max_examples)

    def second_round_request(self, task: str, user_text: str, instruction_pos: str) -> str:
        if self.spec(task).is_multiple_choice:
            return multiple_choice_request("(A)", last_option_label(user_text, instruction_pos))
        return FIXED_REQUESTS[task]
