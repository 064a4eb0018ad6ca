"""``gpo.Task``: what a run optimizes or scores, as the CLI's ``--dataset``/``--task_name``/
``--data_dir``.

A benchmark task, a custom task folder, or records held in Python. Records become an ordinary
custom task folder (``task.json`` + JSON-Lines splits, as ``--dataset=custom`` reads) under the
run's output folder, named by a digest of its content, so a run of records is a run of a folder:
the same files, the same checks before any model loads, and ``resume=`` finds it again.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpo.data.custom import BUILTIN_METRICS, PYTHON_PREFIX, TASK_FILE
from gpo.errors import ConfigError

Record = Mapping[str, Any]
MetricArg = str | Callable[[str, dict[str, Any]], float]
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
        spec = {"metric": _metric_field(metric), **task_fields}
        files = {TASK_FILE: json.dumps(spec, indent=2, sort_keys=True) + "\n"}
        splits = {"train": train, "eval": eval, "test": test, "format": format}
        for split, records in {**splits, "few_shot": few_shot}.items():
            if records is not None:
                files[SPLIT_FILES[split]] = _jsonl(split, records)
        return cls("custom", (name,), None, files)

    def materialize(self, output_dir: str | Path) -> Task:
        """A records task written as a task folder under ``output_dir`` (unchanged content:
        the same folder); any other task as it is."""
        if not self.files:
            return self
        [name] = self.names
        root = Path(output_dir).expanduser().absolute() / RECORDS_FOLDER / self.digest()
        folder = root / name
        for file, text in self.files.items():
            _write_once(folder / file, text)
        return Task(self.dataset, self.names, str(root))

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
        from gpo.api.metric_registry import metric_name

        return metric_name(metric)
    if not isinstance(metric, str) or not (
        metric in BUILTIN_METRICS or metric.startswith(PYTHON_PREFIX)
    ):
        raise ConfigError(
            f"metric={metric!r}: give one of {', '.join(BUILTIN_METRICS)}, a "
            "python:module:function name, or a callable (answer, record) -> float in [0, 1]"
        )
    return metric


def _jsonl(split: str, records: Sequence[Record]) -> str:
    lines = []
    for i, r in enumerate(records):
        if not isinstance(r, Mapping) or "input" not in r or "output" not in r:
            raise ConfigError(
                f"{split}[{i}]: a record is a dict with 'input' and 'output', got {r!r:.80}"
            )
        lines.append(json.dumps(dict(r), ensure_ascii=False))
    return "\n".join(lines) + "\n"


def _write_once(path: Path, text: str) -> None:
    """Write ``path`` atomically unless it already holds ``text``."""
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
