"""Users' own tasks: a folder of JSON-Lines splits and a ``task.json`` naming the metric.

One more benchmark behind the same interface as BBH or MMLU (``--dataset=custom``). A task is a
folder directly under the data root (``--data_dir`` / ``GPO_DATA_DIR``)::

    <data root>/<task>/task.json                 {"metric": "exact", ...}
    <data root>/<task>/train.jsonl               {"input": "...", "output": "..."} per line
    <data root>/<task>/eval.jsonl                 "output": a string or a list of accepted answers
    <data root>/<task>/test.jsonl
    <data root>/<task>/format.jsonl              optional: meta-prompt exemplars (else from train)
    <data root>/<task>/few_shot_examples.jsonl   optional: few-shot demonstrations

Everything is checked when the task is read, before any model loads; each problem is one
``DataError`` naming the file, the line and the fix. The metric itself is graded by
``gpo.evaluation.metrics``; ``python:module:function`` metrics are imported from the task folder.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpo.data.base import Answer, AnswerKind, Example, TaskData, TaskSpec
from gpo.data.common import multiple_choice_request
from gpo.errors import ConfigError, DataError
from gpo.names import did_you_mean
from gpo.vocabulary import BUILTIN_METRICS
from gpo.vocabulary import INSTRUCTION_POSITIONS as POSITIONS

TASK_FILE = "task.json"
# split attribute of TaskData -> file name; the first three are required
REQUIRED_SPLITS = (("train", "train.jsonl"), ("eval", "eval.jsonl"), ("test", "test.jsonl"))
FEW_SHOT_FILE = "few_shot_examples.jsonl"
FORMAT_FILE = "format.jsonl"

PYTHON_PREFIX = "python:"
# a Python function of gpo.Task.from_records that is not importable by name: held in memory by
# the Python call that runs the task (gpo.evaluation.metrics.metrics_held), never imported
IN_MEMORY_PREFIX = "in-memory:"
METRIC_HINT = "use one of " + ", ".join(BUILTIN_METRICS) + " or python:module:function"

# The answer kind a metric reports in results_dict.json's setting_dict.
_KINDS = {
    "choice": AnswerKind.MULTIPLE_CHOICE,
    "number": AnswerKind.NUMBER,
    "rouge_l": AnswerKind.ROUGE,
}

# ---- second-round answer-format requests (own wording; task.json may replace them)

FINAL_ANSWER_REQUEST = "Now give only your final answer, with no explanation."
CUSTOM_NUMBER_REQUEST = "Therefore, state your final answer as just one number."
DEFAULT_REQUESTS = {
    "exact": FINAL_ANSWER_REQUEST,
    "contains": FINAL_ANSWER_REQUEST,
    "number": CUSTOM_NUMBER_REQUEST,
}

# task.json fields: name -> (type, description used in "must be" messages)
_FIELDS: dict[str, tuple[type, str]] = {
    "metric": (str, "a string"),
    "description": (str, "a string"),
    "second_round": (bool, "true or false"),
    "second_round_request": (str, "a string"),
    "instruction_pos": (str, "a string"),
    "include_qa": (bool, "true or false"),
}


@dataclass(frozen=True)
class TaskConfig:
    """The parsed ``task.json`` of one custom task."""

    metric: str
    second_round: bool  # ask a chat scorer again for the answer in the task's format
    second_round_request: str | None  # None: the metric's default request
    instruction_pos: str | None = None  # default for --instruction_pos (an explicit flag wins)
    include_qa: bool | None = None  # default for --include_qa (an explicit flag wins)
    description: str = ""

    @property
    def answer_kind(self) -> AnswerKind:
        return _KINDS.get(self.metric, AnswerKind.EXACT)


# ---- task.json


def _line_of(text: str, key: str) -> int:
    """1-based line of the first ``"key"`` in ``text`` (1 when absent)."""
    pos = text.find(f'"{key}"')
    return text.count("\n", 0, pos) + 1 if pos >= 0 else 1


def metric_location(task_dir: Path) -> str:
    """ "<task_dir>/task.json:<line of the metric field>" for messages about the metric."""
    path = task_dir / TASK_FILE
    try:
        return f"{path}:{_line_of(path.read_text(encoding='utf-8'), 'metric')}"
    except (OSError, UnicodeDecodeError):
        return str(path)


def check_metric_name(metric: str, where: str) -> None:
    """Raise DataError unless ``metric`` is a built-in name, ``python:module:function`` or
    the in-memory function of a records task."""
    if metric.startswith(IN_MEMORY_PREFIX):
        return
    if metric.startswith(PYTHON_PREFIX):
        parts = metric[len(PYTHON_PREFIX) :].split(":")
        if len(parts) != 2 or not all(p.strip() for p in parts):
            raise DataError(
                f"{where}: metric {metric!r} is malformed; write python:module:function, "
                "e.g. python:my_metric:score for score() in my_metric.py in the task folder"
            )
        return
    if metric not in BUILTIN_METRICS:
        raise DataError(
            f"{where}: unknown metric {metric!r}{did_you_mean(metric, BUILTIN_METRICS)}; "
            f"{METRIC_HINT}"
        )


def _check_fields(path: Path, text: str, raw: dict[str, Any]) -> None:
    """Every task.json field known and of the right type, and a metric present."""
    for key, value in raw.items():
        if key not in _FIELDS:
            raise DataError(
                f"{path}:{_line_of(text, key)}: unknown field {key!r}"
                f"{did_you_mean(key, list(_FIELDS))}; allowed fields: {', '.join(_FIELDS)}"
            )
        kind, wanted = _FIELDS[key]
        if not isinstance(value, kind) or (kind is str and not value.strip()):
            raise DataError(
                f"{path}:{_line_of(text, key)}: field {key!r} must be {wanted}"
                f"{' (non-empty)' if kind is str else ''}, got {json.dumps(value)}"
            )
    if "metric" not in raw:
        raise DataError(
            f'{path}:1: missing field "metric"; add it, e.g. "metric": "exact" ({METRIC_HINT})'
        )


def read_task_config(task_dir: Path) -> TaskConfig:
    """Parse and check ``<task_dir>/task.json``."""
    path = task_dir / TASK_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(
            f'{path}: missing; a custom task folder needs a task.json such as {{"metric": '
            '"exact"} (write a skeleton with --dataset=custom --task_name=NAME --init_task)'
        ) from None
    except (UnicodeDecodeError, OSError) as exc:
        raise DataError(f"{path}: cannot be read ({exc}); save it as UTF-8 JSON") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{path}:{exc.lineno}: invalid JSON ({exc.msg} at column {exc.colno}); fix the syntax"
        ) from None
    if not isinstance(raw, dict):
        raise DataError(f'{path}:1: expected a JSON object such as {{"metric": "exact"}}')
    _check_fields(path, text, raw)
    metric = raw["metric"].strip()
    check_metric_name(metric, f"{path}:{_line_of(text, 'metric')}")
    position = raw.get("instruction_pos")
    if position is not None and position not in POSITIONS:
        raise DataError(
            f"{path}:{_line_of(text, 'instruction_pos')}: instruction_pos {position!r} is "
            f"unknown{did_you_mean(position, POSITIONS)}; use one of {', '.join(POSITIONS)}"
        )
    return TaskConfig(
        metric=metric,
        # rouge_l grades free text as it is (as WebNLG): no second round unless asked for
        second_round=raw.get("second_round", metric != "rouge_l"),
        second_round_request=raw.get("second_round_request"),
        instruction_pos=position,
        include_qa=raw.get("include_qa"),
        description=raw.get("description", ""),
    )


# ---- the splits


def _answer(value: object) -> Answer:
    """``output``: a string, a number (kept as its JSON text) or a non-empty list of strings."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    raise ValueError(
        f'field "output" must be a string or a non-empty list of strings, got {json.dumps(value)}'
    )


def _record(line: str) -> tuple[dict[str, Any], str, Answer]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"invalid JSON ({exc.msg} at column {exc.colno}); fix the syntax"
        ) from None
    if not isinstance(record, dict):
        raise ValueError(
            f'expected a JSON object {{"input": ..., "output": ...}}, got {type(record).__name__}'
        )
    for name in ("input", "output"):
        if name not in record:
            raise ValueError(
                f'missing field "{name}"; every record needs "input" (a string) and "output" '
                "(a string or a list of accepted answers)"
            )
    if not isinstance(record["input"], str):
        raise ValueError(f'field "input" must be a string, got {json.dumps(record["input"])}')
    return record, record["input"], _answer(record["output"])


def read_records(path: Path, max_examples: int | None = None) -> tuple[Example, ...]:
    """One split; blank lines are skipped, each Example keeps its 0-based line number."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not valid UTF-8 ({exc.reason}); save it as UTF-8") from None
    examples: list[Example] = []
    for number, line in enumerate(text.split("\n")):  # "\n" only, as the benchmark loader
        if max_examples is not None and len(examples) >= max_examples:
            break
        if not line.strip():
            continue
        try:
            record, question, answer = _record(line)
        except ValueError as exc:
            raise DataError(f"{path}:{number + 1}: {exc}") from None
        examples.append(Example(number, question, answer, record))
    if not examples:
        raise DataError(f"{path}: no records; add at least one JSON line with input and output")
    return tuple(examples)


def _required(task_dir: Path, file: str, max_examples: int | None) -> tuple[Example, ...]:
    path = task_dir / file
    if not path.is_file():
        raise DataError(
            f"{path}: missing; a custom task needs train.jsonl, eval.jsonl and test.jsonl "
            '(one {"input": ..., "output": ...} per line)'
        )
    return read_records(path, max_examples)


# ---- the benchmark


class CustomTasks:
    """Task folders under the data root, each with its own metric (``--dataset=custom``)."""

    name = "custom"
    folder = ""  # the tasks sit directly under the data root
    downloadable = False  # nothing to fetch: the user brings the data

    def __init__(self, data_dir: Path | str | None = None) -> None:
        if data_dir is None:
            from gpo.data.download import resolve_data_dir

            data_dir = resolve_data_dir(None)
        self.data_dir = Path(data_dir).expanduser().absolute()
        self._configs: dict[str, TaskConfig] = {}

    def task_dir(self, task: str) -> Path:
        return self.data_dir / task

    def task_names(self) -> tuple[str, ...]:
        """Every folder under the data root that holds a task.json, sorted."""
        if not self.data_dir.is_dir():
            return ()
        return tuple(sorted(p.name for p in self.data_dir.iterdir() if (p / TASK_FILE).is_file()))

    def resolve_tasks(self, requested: list[str]) -> list[str]:
        names = [name.strip() for name in requested]
        if names == ["all"]:
            found = list(self.task_names())
            if not found:
                raise ConfigError(
                    f"no custom task folders (with a task.json) under {self.data_dir}; pass "
                    "--data_dir, or write one with --dataset=custom --task_name=NAME --init_task"
                )
            return found
        if not names or "all" in names:
            raise ConfigError("--task_name: pass all or custom task folder names, not both")
        for name in names:
            check_task_name(name)
            if not (self.task_dir(name) / TASK_FILE).is_file():
                raise ConfigError(
                    f"no custom task {name!r} under {self.data_dir} (no {name}/{TASK_FILE})"
                    f"{did_you_mean(name, self.task_names())}; check --task_name and "
                    f"--data_dir, or write a skeleton with --init_task"
                )
        if len(set(names)) != len(names):
            raise ConfigError("--task_name lists a task twice; list each task once")
        return names

    def config(self, task: str) -> TaskConfig:
        if task not in self._configs:
            check_task_name(task)
            self._configs[task] = read_task_config(self.task_dir(task))
        return self._configs[task]

    def spec(self, task: str) -> TaskSpec:
        c = self.config(task)
        return TaskSpec(
            dataset=self.name,
            task=task,
            answer_kind=c.answer_kind,
            second_round=c.second_round,
            metric=c.metric,
            folder=str(self.task_dir(task)),
        )

    def load(self, task: str, data_dir: Path, max_examples: int | None = None) -> TaskData:
        if Path(data_dir).expanduser().absolute() != self.data_dir:
            return CustomTasks(data_dir).load(task, data_dir, max_examples)
        if max_examples is not None and max_examples < 1:
            raise ConfigError(f"max_examples must be a positive integer, got {max_examples}")
        spec = self.spec(task)
        task_dir = self.task_dir(task)
        splits = {attr: _required(task_dir, file, max_examples) for attr, file in REQUIRED_SPLITS}
        few_shot = task_dir / FEW_SHOT_FILE
        fmt = task_dir / FORMAT_FILE
        return TaskData(
            spec=spec,
            **splits,
            few_shot=read_records(few_shot, max_examples) if few_shot.is_file() else (),
            # without format.jsonl the meta-prompt exemplars are drawn from train (run's seed)
            format=read_records(fmt, max_examples) if fmt.is_file() else splits["train"],
        )

    def second_round_request(self, task: str, user_text: str, instruction_pos: str) -> str:
        c = self.config(task)
        if c.second_round_request is not None:
            return c.second_round_request
        if c.metric == "choice":
            from gpo.data.bbh import last_option_label

            return multiple_choice_request("(A)", last_option_label(user_text, instruction_pos))
        return DEFAULT_REQUESTS.get(c.metric, FINAL_ANSWER_REQUEST)


def check_task_name(name: str) -> None:
    """A task is one folder name directly under the data root."""
    if not name or name in (".", "..") or "/" in name or "\\" in name:
        raise ConfigError(
            f"--task_name={name!r}: a custom task is a folder name directly under the data "
            "root; move the folder there and pass its name (or point --data_dir at its parent)"
        )


def scoring_defaults(data_dir: Path | str, requested: Sequence[str]) -> dict[str, object]:
    """``instruction_pos`` / ``include_qa`` from the tasks' task.json (all tasks must agree)."""
    bench = CustomTasks(data_dir)
    chosen: dict[str, dict[str, object]] = {}
    for task in bench.resolve_tasks(list(requested)):
        c = bench.config(task)
        for name, value in (("instruction_pos", c.instruction_pos), ("include_qa", c.include_qa)):
            if value is None:
                continue
            if name in chosen and chosen[name]["value"] != value:
                raise ConfigError(
                    f"tasks {chosen[name]['task']} and {task} set different {name} in their "
                    f"task.json; run them separately or pass --{name}"
                )
            chosen[name] = {"value": value, "task": task}
    return {name: entry["value"] for name, entry in chosen.items()}
