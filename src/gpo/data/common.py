"""Shared machinery of the benchmark modules: reading a task's five JSON-Lines splits.

Implements the loader of GPO_REFERENCE 2.1/2.3: every split file holds one JSON object per line,
split on "\\n" only (never on Unicode line separators), each record becomes an ``Example`` whose
``index`` is its 0-based line number. Nothing is skipped silently: a malformed line raises
``DataError`` naming ``file:line``. Also holds the task-name resolution helpers (``all`` expands,
unknown names fail with a "did you mean") and the answer-format request phrases that several
benchmarks share (GPO_REFERENCE 3.2, in this project's own words).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

from gpo.data.base import Answer, AnswerKind, Example, TaskData, TaskSpec
from gpo.errors import ConfigError, DataError
from gpo.names import did_you_mean

# split attribute of TaskData -> file name in the task folder
SPLIT_FILES = (
    ("train", "train.jsonl"),
    ("eval", "eval.jsonl"),
    ("test", "test.jsonl"),
    ("few_shot", "few_shot_examples.jsonl"),
    ("format", "format.jsonl"),
)

DATA_DIR_HINT = "pass --data_dir or set GPO_DATA_DIR to the folder holding the benchmark data"

# Checks one answer value; returns the answer to store or raises ValueError with the reason.
AnswerCheck = Callable[[object], Answer]

# ---- answer-format requests shared by several benchmarks (the second round, GPO_REFERENCE 3.2)

NUMBER_REQUEST = "Therefore, state your final answer as just one number."


def multiple_choice_request(first: str, last: str) -> str:
    """Ask for one option between ``first`` and ``last`` (e.g. "(A)" and "(D)")."""
    return f"Therefore, state your final answer as one option between {first} and {last}."


# ---- answer checks


def string_answer(value: object) -> Answer:
    if not isinstance(value, str):
        raise ValueError(f"answer must be a string, got {type(value).__name__}")
    return value


def integer_answer(value: object) -> Answer:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"answer must be an integer, got {type(value).__name__}")
    return value


def reference_list_answer(value: object) -> Answer:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ValueError("answer must be a non-empty list of strings")
    return list(value)


# ---- reading


def data_missing_error(path: Path) -> DataError:
    return DataError(f"benchmark data not found at {path}; {DATA_DIR_HINT}")


def _parse_record(
    line: str, question_field: str, answer_field: str, check: AnswerCheck
) -> tuple[str, Answer]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    for field in (question_field, answer_field):
        if field not in record:
            raise ValueError(f"missing field {field!r}")
    question = record[question_field]
    if not isinstance(question, str):
        raise ValueError(f"field {question_field!r} must be a string")
    try:
        answer = check(record[answer_field])
    except ValueError as exc:
        raise ValueError(f"field {answer_field!r}: {exc}") from None
    return question, answer


def read_split(
    path: Path,
    question_field: str,
    answer_field: str,
    check: AnswerCheck,
    max_examples: int | None = None,
) -> tuple[Example, ...]:
    """Read one JSON-Lines split; records after the first ``max_examples`` are not returned."""
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise data_missing_error(path) from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not valid UTF-8 ({exc.reason}); restore the file") from None
    lines = text.split("\n")  # "\n" only: str.splitlines would also split on U+2028 etc.
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last record
    examples = []
    for number, line in enumerate(lines):
        if max_examples is not None and len(examples) >= max_examples:
            break
        if not line.strip():
            raise DataError(f"{path}:{number + 1}: empty line; remove it or restore the file")
        try:
            question, answer = _parse_record(line, question_field, answer_field, check)
        except ValueError as exc:
            raise DataError(f"{path}:{number + 1}: {exc}; fix or restore the file") from None
        examples.append(Example(index=number, question=question, answer=answer))
    return tuple(examples)


def load_task_data(
    spec: TaskSpec,
    task_dir: Path,
    answer_field: str,
    check: AnswerCheck,
    max_examples: int | None = None,
) -> TaskData:
    """Read the five splits of a task folder (question field ``input``)."""
    if max_examples is not None and max_examples < 1:
        raise ConfigError(f"max_examples must be a positive integer, got {max_examples}")
    if not task_dir.is_dir():
        raise data_missing_error(task_dir)
    splits = {
        attr: read_split(task_dir / file, "input", answer_field, check, max_examples)
        for attr, file in SPLIT_FILES
    }
    return TaskData(spec=spec, **splits)


# ---- task-name resolution


def resolve_named_tasks(dataset: str, requested: Sequence[str], tasks: Sequence[str]) -> list[str]:
    """``["all"]`` -> every task in order; otherwise each name must be a known task."""
    names = [name.strip() for name in requested]
    if not names:
        raise ConfigError(f"--task_name is empty; pass all or {dataset} task names")
    if "all" in names:
        if len(names) > 1:
            raise ConfigError("--task_name mixes all with task names; pass either all or names")
        return list(tasks)
    seen: set[str] = set()
    for name in names:
        if name not in tasks:
            raise ConfigError(
                f"unknown {dataset} task {name!r}{did_you_mean(name, tasks)}; "
                f"see --help for the {len(tasks)} {dataset} task names"
            )
        if name in seen:
            raise ConfigError(f"--task_name lists {name!r} twice; list each task once")
        seen.add(name)
    return names


def resolve_single_task(dataset: str, requested: Sequence[str]) -> list[str]:
    """Single-task datasets: the task is labelled by the dataset name (bug 10.3 fixed)."""
    names = [name.strip() for name in requested]
    for name in names:
        if name not in ("all", dataset):
            raise ConfigError(
                f"{dataset} has a single task; got --task_name={name!r}, pass all or {dataset}"
            )
    return [dataset]


class SingleTaskBenchmark:
    """A dataset with one task labelled by the dataset's name (GSM8K, WebNLG, WSC; 10.3 fixed).

    Subclasses set ``name``, ``folder``, ``answer_kind``, ``parse_answer`` and ``request`` (the
    second-round request; None when the first answer is graded as it is).
    """

    name: str
    folder: str
    answer_kind: AnswerKind
    parse_answer: staticmethod
    request: str | None

    def task_names(self) -> tuple[str, ...]:
        return (self.name,)

    def resolve_tasks(self, requested: list[str]) -> list[str]:
        return resolve_single_task(self.name, requested)

    def spec(self, task: str) -> TaskSpec:
        if task != self.name:
            raise ConfigError(f"{self.name} has the single task {self.name!r}, not {task!r}")
        return TaskSpec(self.name, task, self.answer_kind, second_round=self.request is not None)

    def load(self, task: str, data_dir: Path, max_examples: int | None = None) -> TaskData:
        spec = self.spec(task)
        task_dir = Path(data_dir) / self.folder
        return load_task_data(spec, task_dir, "output", self.parse_answer, max_examples)

    def second_round_request(self, task: str, user_text: str, instruction_pos: str) -> str:
        self.spec(task)
        if self.request is None:
            raise ConfigError(
                f"{self.name} has no second-round request (its first answer is graded as it "
                "is); check TaskSpec.second_round before asking for one"
            )
        return self.request
