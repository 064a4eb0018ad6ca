"""Metrics of custom tasks: how one scorer reply is graded against its record (a small registry).

A custom task's ``task.json`` names its metric; a prompt's score on a split is still the mean of
the per-example scores, as for the benchmarks. Built-in metrics, each taking the best match when
``output`` lists several accepted answers:

- ``exact``: the answer (cut at "answer is" style markers, as the benchmarks) equals an accepted
  answer, ignoring case, punctuation and extra spaces;
- ``contains``: an accepted answer appears as whole words anywhere in the reply (same folding);
- ``choice``: the option letter of the reply, "(B)" or "B", equals the accepted letter (as MMLU);
- ``number``: the benchmarks' numeric extraction (GPO_REFERENCE 4.2), rounded to the decimals of
  the accepted answer;
- ``rouge_l``: ROUGE-L F1 of the reply (the best over the accepted answers);
- ``python:module:function``: ``function(answer, record) -> float in [0, 1]`` of the user's own
  module (``module.py`` in the task folder, else an importable module).

``grade_example`` is what the Scorer calls: benchmarks (``spec.metric is None``) keep ``grade``.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import logging
import math
import re
import string
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpo.data.base import Answer, Example, TaskData, TaskSpec
from gpo.data.custom import (
    FEW_SHOT_FILE,
    FORMAT_FILE,
    IN_MEMORY_PREFIX,
    PYTHON_PREFIX,
    TASK_FILE,
    metric_location,
)
from gpo.errors import DataError
from gpo.evaluation.extraction import normalize_prediction
from gpo.evaluation.grading import Grade, grade, rouge_l

logger = logging.getLogger(__name__)

GradeFn = Callable[[str, Example], Grade]  # (answer text, example) -> parsed answer and score
UserMetric = Callable[[str, Mapping[str, Any]], Any]

_PUNCTUATION = str.maketrans(string.punctuation, " " * len(string.punctuation))
_OPTION = re.compile(r"\(?([a-z])\)?")
SPLIT_FILES = {
    "train": "train.jsonl",
    "eval": "eval.jsonl",
    "test": "test.jsonl",
    "few_shot": FEW_SHOT_FILE,
    "format": FORMAT_FILE,
}


@dataclass(frozen=True)
class Metric:
    name: str
    grade: GradeFn


def accepted_answers(answer: Answer) -> list[str]:
    """The accepted answers of a record (``output`` as a string or a list)."""
    return [str(a) for a in answer] if isinstance(answer, list) else [str(answer)]


def fold_text(text: str) -> str:
    """Lower case, punctuation to spaces, runs of whitespace to one space."""
    return " ".join(text.lower().translate(_PUNCTUATION).split())


def option_letter(text: str) -> str | None:
    """ "b" for "(B)", "B" or "b)"; None for anything else."""
    match = _OPTION.fullmatch(text.strip().lower())
    return match.group(1) if match else None


def _decimals(number: str) -> int:
    return len(number.split(".", 1)[1]) if "." in number else 0


# ---- the built-in metrics


def exact_match(text: str, example: Example) -> Grade:
    parsed = normalize_prediction(text, is_multiple_choice=False, treat_as_number=False)
    folded = fold_text(parsed)
    hit = any(folded == fold_text(a) for a in accepted_answers(example.answer))
    return Grade(parsed, 1.0 if hit else 0.0)


def contains(text: str, example: Example) -> Grade:
    folded = fold_text(text)
    hit = any(
        fold_text(a) and f" {fold_text(a)} " in f" {folded} "
        for a in accepted_answers(example.answer)
    )
    return Grade(folded, 1.0 if hit else 0.0)


def choice(text: str, example: Example) -> Grade:
    parsed = normalize_prediction(text, is_multiple_choice=True, treat_as_number=False)
    letter = option_letter(parsed)
    hit = letter is not None and any(
        letter == option_letter(a) for a in accepted_answers(example.answer)
    )
    return Grade(parsed, 1.0 if hit else 0.0)


def number(text: str, example: Example) -> Grade:
    answers = accepted_answers(example.answer)
    decimals = max(_decimals(a.strip()) for a in answers)
    parsed = normalize_prediction(
        text, is_multiple_choice=False, treat_as_number=True, num_decimals=decimals
    )
    try:
        value = float(parsed)
    except ValueError:
        return Grade(parsed, 0.0)
    hit = any(round(value, decimals) == round(float(a), decimals) for a in answers)
    return Grade(parsed, 1.0 if hit else 0.0)


def rouge_l_best(text: str, example: Example) -> Grade:
    parsed = text.strip()
    return Grade(parsed, max(rouge_l(parsed, a) for a in accepted_answers(example.answer)))


BUILTIN: dict[str, GradeFn] = {
    "exact": exact_match,
    "contains": contains,
    "choice": choice,
    "number": number,
    "rouge_l": rouge_l_best,
}


# ---- the user's own metric


def unit_score(value: object) -> float:
    """A metric's return value as a float in [0, 1]; ValueError otherwise."""
    if isinstance(value, bool):
        return float(value)
    if not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 <= value <= 1:
        raise ValueError(f"returned {value!r}, not a number in [0, 1]")
    return float(value)


def record_of(example: Example) -> dict[str, Any]:
    """A copy of the example's JSON record (benchmarks: input and output only)."""
    if example.record is not None:
        return dict(example.record)
    return {"input": example.question, "output": example.answer}


def _import_user_module(module: str, folder: str | None):
    """``module.py`` of the task folder (under a private name), else an importable module."""
    file = Path(folder) / f"{module}.py" if folder else None
    if file is not None and file.is_file():
        name = f"gpo_user_metric_{hashlib.sha1(str(file).encode()).hexdigest()[:12]}"
        spec = importlib.util.spec_from_file_location(name, file)
        assert spec is not None and spec.loader is not None
        loaded = importlib.util.module_from_spec(spec)
        sys.path.insert(0, str(folder))  # so the module can import its neighbours
        try:
            spec.loader.exec_module(loaded)
        finally:
            sys.path.remove(str(folder))
        return loaded
    return importlib.import_module(module)


@functools.lru_cache(maxsize=64)
def load_user_metric(metric: str, folder: str | None) -> UserMetric:
    """The function named by ``python:module:function``; DataError naming task.json if absent."""
    module, function = metric[len(PYTHON_PREFIX) :].split(":")
    where = metric_location(Path(folder)) if folder else TASK_FILE
    try:
        loaded = _import_user_module(module, folder)
    except Exception as exc:  # noqa: BLE001 - any failure of user code is reported the same way
        raise DataError(
            f"{where}: metric {metric} cannot be imported ({type(exc).__name__}: {exc}); put "
            f"{module}.py in the task folder or make {module} importable, and fix its errors"
        ) from None
    fn = getattr(loaded, function, None)
    if not callable(fn):
        raise DataError(
            f"{where}: metric {metric}: module {module} has no function {function}; define "
            f"def {function}(answer, record) -> float in [0, 1]"
        )
    return fn


def _python_metric(metric: str, fn: UserMetric) -> GradeFn:
    def grade_with_user_metric(text: str, example: Example) -> Grade:
        parsed = text.strip()
        try:
            return Grade(parsed, unit_score(fn(parsed, record_of(example))))
        except Exception as exc:  # noqa: BLE001 - a failing user metric scores the reply 0
            logger.warning(
                "metric %s failed on the record of line %d (%s: %s); scoring it 0",
                metric,
                example.index + 1,
                type(exc).__name__,
                exc,
            )
            return Grade(parsed, 0.0)

    return grade_with_user_metric


# (task folder, in-memory metric) -> the records task's function, while a Python call runs it
_HELD: dict[tuple[str, str], UserMetric] = {}
_HELD_LOCK = threading.Lock()


@contextmanager
def metrics_held(metrics: Mapping[tuple[str, str], UserMetric]) -> Iterator[None]:
    """The in-memory metrics of records tasks ((task folder, ``in-memory:...`` name) ->
    function) resolvable for the block: the Python call that runs those tasks holds them."""
    with _HELD_LOCK:
        _HELD.update(metrics)
    try:
        yield
    finally:
        with _HELD_LOCK:
            for key in metrics:
                _HELD.pop(key, None)


def held_metric(metric: str, folder: str | None) -> UserMetric:
    """The in-memory function ``metric`` of the records task in ``folder``; DataError saying
    how to run it when no Python call holds it (main.py, a new session, a Ray worker)."""
    with _HELD_LOCK:
        fn = _HELD.get((str(folder), metric))
    if fn is None:
        where = metric_location(Path(folder)) if folder else TASK_FILE
        raise DataError(
            f"{where}: metric {metric} is a Python function of gpo.Task.from_records, held by "
            "the Python call that runs the task; run it from Python with that task (resume: "
            "gpo.optimize(task, resume=...)), or give an importable function"
        )
    return fn


def resolve_metric(metric: str, folder: str | None = None) -> Metric:
    """The metric called ``metric`` (python metrics are imported from ``folder`` first, an
    in-memory one is the function its Python call holds)."""
    if metric.startswith(IN_MEMORY_PREFIX):
        return Metric(metric, _python_metric(metric, held_metric(metric, folder)))
    return _named_metric(metric, folder)


@functools.lru_cache(maxsize=64)
def _named_metric(metric: str, folder: str | None) -> Metric:
    if metric.startswith(PYTHON_PREFIX):
        return Metric(metric, _python_metric(metric, load_user_metric(metric, folder)))
    if metric not in BUILTIN:
        where = metric_location(Path(folder)) if folder else TASK_FILE
        raise DataError(
            f"{where}: unknown metric {metric!r}; use one of {', '.join(BUILTIN)} or "
            "python:module:function"
        )
    return Metric(metric, BUILTIN[metric])


def grade_example(spec: TaskSpec, answer_text: str, example: Example) -> Grade:
    """Grade one reply: a custom task's metric, else the benchmark grading of ``grade``."""
    if spec.metric is None:
        return grade(spec, answer_text, example.answer)
    return resolve_metric(spec.metric, spec.folder).grade(answer_text, example)


# ---- checks before any model loads


def _check_answer(metric: str, example: Example, where: str) -> None:
    for answer in accepted_answers(example.answer):
        if metric == "choice" and option_letter(answer) is None:
            raise DataError(
                f"{where}: output {answer!r} is not an option letter; the choice metric needs "
                'answers such as "(B)" or "B"'
            )
        if metric == "number":
            try:
                float(answer)
            except ValueError:
                raise DataError(
                    f"{where}: output {answer!r} is not a number; the number metric needs "
                    'answers such as 42 or "3.5" (no units)'
                ) from None


def check_task_metric(data: TaskData) -> None:
    """Import the task's metric, check every answer fits it and try it on the first record."""
    spec = data.spec
    if spec.metric is None:
        return
    metric = resolve_metric(spec.metric, spec.folder)
    folder = Path(spec.folder or ".")
    for split, file in SPLIT_FILES.items():
        if split == "format" and data.format is data.train:
            continue  # exemplars drawn from train
        for example in data.split(split):
            _check_answer(spec.metric, example, f"{folder / file}:{example.index + 1}")
    if not spec.metric.startswith(PYTHON_PREFIX):
        return
    first = data.train[0]
    fn = load_user_metric(spec.metric, spec.folder)
    try:
        unit_score(fn(accepted_answers(first.answer)[0], record_of(first)))
    except Exception as exc:  # noqa: BLE001 - report any failure of user code in one line
        raise DataError(
            f"{metric_location(folder)}: metric {metric.name} failed on the first record "
            f"({folder / 'train.jsonl'}:{first.index + 1}: {type(exc).__name__}: {exc}); fix the "
            "function: it gets the answer text and the record dict and returns a float in [0, 1]"
        ) from None
