"""``gpo.Task``: what a run optimizes or scores, as the CLI's ``--dataset``/``--task_name``/
``--data_dir``.

A benchmark task, a custom task folder, or records held in Python. Records become an ordinary
custom task folder (``task.json`` + JSON-Lines splits, as ``--dataset=custom`` reads) under the
run's output folder, named by a digest of its content, so a run of records is a run of a folder:
the same files, the same checks before any model loads, and ``resume=`` finds it again.

A callable metric stays a Python object: an importable module-level function is named in
task.json by its import path (``python:module:function``: main.py and Ray workers can import it);
any other callable (a lambda, a closure, a function of ``__main__``) is named ``in-memory:...``
and held by the Python call that runs the task (``metrics_held``), never imported. Bad records
and a metric that fails on ``train[0]`` are ``ConfigError``s in the call's own words.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpo.data.custom import BUILTIN_METRICS, IN_MEMORY_PREFIX, PYTHON_PREFIX, TASK_FILE
from gpo.errors import ConfigError

Record = Mapping[str, Any]
MetricFunction = Callable[[str, dict[str, Any]], float]
MetricArg = str | MetricFunction
RECORDS_FOLDER = "tasks"  # <output_dir>/tasks/<digest>/<name>/: the folders of record tasks
SPLIT_FILES = {
    "train": "train.jsonl",
    "eval": "eval.jsonl",
    "test": "test.jsonl",
    "format": "format.jsonl",
    "few_shot": "few_shot_examples.jsonl",
}


@dataclass(frozen=True)
class Task:
    """One or more tasks of one dataset: ``dataset`` and ``names`` are the CLI's ``--dataset``
    and ``--task_name``, ``data_dir`` its ``--data_dir`` (None: ``GPO_DATA_DIR``, else ./data).
    Make one with :meth:`benchmark`, :meth:`from_folder` or :meth:`from_records`."""

    dataset: str
    names: tuple[str, ...]
    data_dir: str | None = None
    files: dict[str, str] = field(default_factory=dict, compare=False, repr=False)
    metric_fn: MetricFunction | None = field(default=None, compare=False, repr=False)

    @classmethod
    def benchmark(
        cls, dataset: str, task: str | Sequence[str] = "all", data_dir: str | Path | None = None
    ) -> Task:
        """A task of a bundled benchmark (bbh, mmlu, gsm8k, webnlg, wsc), e.g.
        ``Task.benchmark("bbh", "navigate")``; ``task`` may list several or be ``"all"``."""
        names = (task,) if isinstance(task, str) else tuple(task)
        return cls(dataset, names, None if data_dir is None else str(data_dir))

    @classmethod
    def from_folder(cls, path: str | Path) -> Task:
        """A custom task folder (``task.json``, ``train/eval/test.jsonl``), e.g.
        ``examples/review_sentiment``; checked when a run starts, before any model loads."""
        folder = Path(path).expanduser().absolute()
        if not (folder / TASK_FILE).is_file():
            raise ConfigError(
                f"{folder}: not a custom task folder (no {TASK_FILE}); write one with "
                "--dataset=custom --task_name=NAME --init_task"
            )
        return cls("custom", (folder.name,), str(folder.parent))

    @classmethod
    def from_records(
        cls,
        name: str,
        train: Sequence[Record],
        eval: Sequence[Record],  # noqa: A002 - the split's name, as in the task folder
        test: Sequence[Record],
        metric: MetricArg = "exact",
        format: Sequence[Record] | None = None,  # noqa: A002 - format.jsonl
        few_shot: Sequence[Record] | None = None,
        **task_fields: Any,
    ) -> Task:
        """A task held in Python: ``{"input": str, "output": str | [accepted answers]}`` records.

        ``metric`` is a built-in name (exact, contains, choice, number, rouge_l), a
        ``python:module:function`` name, or a callable ``(answer, record) -> float`` in [0, 1].
        ``format``/``few_shot`` are the optional meta-prompt exemplars and few-shot
        demonstrations; ``task_fields`` are task.json's other fields (description,
        second_round, second_round_request, instruction_pos, include_qa)."""
        splits = {"train": train, "eval": eval, "test": test, "format": format}
        splits["few_shot"] = few_shot
        for split, records in splits.items():
            if records is not None:
                _check_records(split, records)
        fn = _checked_metric(metric, train[0]) if callable(metric) else None
        spec = {"metric": _metric_field(metric), **task_fields}
        files = {TASK_FILE: json.dumps(spec, indent=2, sort_keys=True) + "\n"}
        for split, records in splits.items():
            if records is not None:
                files[SPLIT_FILES[split]] = _jsonl(records)
        held = fn if spec["metric"].startswith(IN_MEMORY_PREFIX) else None
        return cls("custom", (name,), None, files, held)

    def materialize(self, output_dir: str | Path) -> Task:
        """A records task written as a task folder under ``output_dir`` (unchanged content:
        the same folder), keeping its records and metric; any other task as it is."""
        if not self.files:
            return self
        [name] = self.names
        root = Path(output_dir).expanduser().absolute() / RECORDS_FOLDER / self.digest()
        folder = root / name
        for file, text in self.files.items():
            _write_once(folder / file, text)
        return Task(self.dataset, self.names, str(root), self.files, self.metric_fn)

    def held_metrics(self) -> dict[tuple[str, str], MetricFunction]:
        """A materialized records task's in-memory metric: (task folder, name) -> function."""
        if self.metric_fn is None or self.data_dir is None:
            return {}
        metric = json.loads(self.files[TASK_FILE])["metric"]
        return {(str(Path(self.data_dir) / self.names[0]), metric): self.metric_fn}

    def in_user_words(self, message: str) -> str | None:
        """``message`` about this materialized records task's files as the call's words
        (``<folder>/train.jsonl:3`` -> ``train[2]``); None when it is not about them."""
        if not self.files or self.data_dir is None:
            return None
        folder = re.escape(str(Path(self.data_dir) / self.names[0]))
        if not re.search(folder, message):
            return None
        splits = {file: split for split, file in SPLIT_FILES.items()}

        def record(m: re.Match[str]) -> str:
            return f"{splits[m.group(1)]}[{int(m.group(2)) - 1}]"

        files = "|".join(re.escape(f) for f in splits)
        message = re.sub(rf"{folder}/({files}):(\d+)", record, message)
        message = re.sub(rf"{folder}/({files})", lambda m: f"{splits[m.group(1)]}=", message)
        return re.sub(rf"{folder}/{re.escape(TASK_FILE)}(:\d+)?", "the task's fields", message)

    def digest(self) -> str:
        """The content digest naming a records task's folder."""
        h = hashlib.sha1()
        for file in sorted(self.files):
            h.update(f"{file}\0{self.files[file]}\0".encode())
        return h.hexdigest()[:12]

    def options(self) -> dict[str, Any]:
        """The task as CLI options (dataset, task_name, data_dir)."""
        return {"dataset": self.dataset, "task_name": list(self.names), "data_dir": self.data_dir}


def _metric_field(metric: MetricArg) -> str:
    if callable(metric):
        return _function_name(metric)
    if not isinstance(metric, str) or not (
        metric in BUILTIN_METRICS or metric.startswith(PYTHON_PREFIX)
    ):
        raise ConfigError(
            f"metric={metric!r}: give one of {', '.join(BUILTIN_METRICS)}, a "
            "python:module:function name, or a callable (answer, record) -> float in [0, 1]"
        )
    return metric


def _function_name(fn: MetricFunction) -> str:
    """task.json's name of ``fn``: its import path, else an ``in-memory:`` name of its own name
    and a digest of its code (the same function: the same task folder, in any process)."""
    module, name = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    if module and module != "__main__" and name.isidentifier():
        try:
            found = getattr(importlib.import_module(module), name, None)
        except Exception:  # noqa: BLE001 - not importable: held in memory instead
            found = None
        if found is fn:
            return f"{PYTHON_PREFIX}{module}:{name}"
    code = getattr(fn, "__code__", None)
    body = repr((code.co_code, code.co_consts, code.co_names)) if code else type(fn).__qualname__
    digest = hashlib.sha1(body.encode("utf-8", "replace")).hexdigest()[:12]
    return f"{IN_MEMORY_PREFIX}{_label(fn)}_{digest}"


def _label(fn: MetricFunction) -> str:
    name = getattr(fn, "__name__", None) or type(fn).__name__
    return re.sub(r"\W+", "_", name).strip("_") or "metric"


def _checked_metric(fn: MetricFunction, first: Record) -> MetricFunction:
    """``fn`` once it scored ``train[0]``'s own answer with a number in [0, 1]."""
    from gpo.evaluation.metrics import accepted_answers, unit_score

    try:
        unit_score(fn(accepted_answers(first["output"])[0], dict(first)))
    except Exception as exc:  # noqa: BLE001 - any failure of user code, in one line
        name = getattr(fn, "__name__", type(fn).__name__)
        raise ConfigError(
            f"metric={name} failed on train[0]: {type(exc).__name__}: {exc}; fix the "
            "function: it gets the answer text and the record dict and returns a float in [0, 1]"
        ) from None
    return fn


def _check_records(split: str, records: Sequence[Record]) -> None:
    if isinstance(records, (str, Mapping)) or not isinstance(records, Sequence):
        raise ConfigError(f"{split}=: give a list of records, got {type(records).__name__}")
    if not records:
        optional = " or leave it out" if split in ("format", "few_shot") else ""
        raise ConfigError(
            f'{split}=[]: no records; give at least one {{"input": ..., "output": ...}}{optional}'
        )
    for i, r in enumerate(records):
        if not isinstance(r, Mapping) or "input" not in r or "output" not in r:
            raise ConfigError(
                f"{split}[{i}]: a record is a dict with 'input' and 'output', got {r!r:.80}"
            )


def _jsonl(records: Sequence[Record]) -> str:
    return "\n".join(json.dumps(dict(r), ensure_ascii=False) for r in records) + "\n"


def _write_once(path: Path, text: str) -> None:
    """Write ``path`` atomically unless it already holds ``text``."""
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
