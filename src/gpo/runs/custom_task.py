"""Users' own tasks at the CLI edge: ``--init_task`` writes a task folder skeleton, and the checks
of a loaded custom task that need the run's flags (metric import, few-shot file).

The folder format itself lives in ``gpo.data.custom``, the metrics in ``gpo.evaluation.metrics``.
"""

from __future__ import annotations

import json
from pathlib import Path

from gpo.config import RunConfig
from gpo.data.base import TaskData
from gpo.data.custom import FEW_SHOT_FILE, TASK_FILE, check_task_name
from gpo.errors import ConfigError, DataError
from gpo.evaluation.metrics import check_task_metric

# One example record per file; the user replaces them with real data.
SKELETON_TASK = {
    "description": "What the task is; for you, not sent to any model.",
    "metric": "exact",
    "second_round_request": "Now give only your final answer, with no explanation.",
}
SKELETON_RECORDS = {
    "train.jsonl": {"input": "Is the sky blue on a clear day? Answer yes or no.", "output": "yes"},
    "eval.jsonl": {"input": "Is snow usually green? Answer yes or no.", "output": "no"},
    "test.jsonl": {"input": "Can a fish live out of water for a year?", "output": ["no", "nope"]},
    "format.jsonl": {"input": "Is ice colder than steam? Answer yes or no.", "output": "yes"},
    FEW_SHOT_FILE: {"input": "Is a circle round? Answer yes or no.", "output": "yes"},
}


def write_task_skeleton(data_dir: Path, task: str) -> Path:
    """Write ``<data_dir>/<task>/`` with a task.json and one example record per split file."""
    check_task_name(task)
    folder = Path(data_dir) / task
    if folder.exists():
        raise ConfigError(f"{folder} already exists; pick a new --task_name or remove the folder")
    folder.mkdir(parents=True)
    (folder / TASK_FILE).write_text(json.dumps(SKELETON_TASK, indent=2) + "\n", encoding="utf-8")
    for name, record in SKELETON_RECORDS.items():
        (folder / name).write_text(json.dumps(record) + "\n", encoding="utf-8")
    return folder


def check_custom_task(config: RunConfig, data: TaskData) -> None:
    """Checks of a loaded custom task that depend on the run (before any model loads)."""
    if data.spec.metric is None:
        return
    check_task_metric(data)
    if config.scoring.few_shot and not data.few_shot:
        raise DataError(
            f"{Path(data.spec.folder or '.') / FEW_SHOT_FILE}: missing; add demonstrations "
            "there or drop --evaluate_generated_ins_on_few_shot"
        )


def init_task(dataset: str, task_names: list[str], data_dir_flag: str | None) -> None:
    """``--init_task``: write the skeleton of one custom task and say what to do next."""
    from gpo.data.download import resolve_data_dir
    from gpo.runs.common import emit

    if dataset.lower() != "custom":
        raise ConfigError("--init_task writes a custom task folder; add --dataset=custom")
    if len(task_names) != 1 or task_names[0].strip() in ("", "all"):
        raise ConfigError("--init_task needs one new task name: --task_name=NAME")
    data_dir = resolve_data_dir(data_dir_flag)
    task = task_names[0].strip()
    folder = write_task_skeleton(data_dir, task)
    emit(
        [
            f"wrote {folder}: {TASK_FILE} and one example record per split file",
            "replace the records with your data, set the metric in task.json, then run:",
            f"python src/optimization/main.py --dataset=custom --task_name={task} "
            f"--data_dir={data_dir} --scorer_llm_name=... --optimizer_llm_name=...",
        ]
    )
