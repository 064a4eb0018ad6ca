"""What the API's calls return, read back from the folders the run wrote (so a result is what
the CLI would have written, and a folder read later gives the same result)."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpo.results.io import read_jsonl
from gpo.results.reading import read_run
from gpo.results.records import StepRecord, step_record_from_dict
from gpo.results.run_folder import md5


@dataclass(frozen=True)
class Evaluation:
    """A prompt's score: ``score`` (mean over the tasks, in [0, 1]), ``scores`` per task, the
    per-example ``rows`` (the run's CSV rows, each with its ``task``) and the ``run_folder``."""

    score: float
    scores: dict[str, float]
    rows: list[dict[str, str]]
    run_folder: Path


@dataclass(frozen=True)
class TaskResult:
    """One task's optimization: the best prompt on eval, its scores, the initial prompt and the
    typed step records of ``steps.jsonl``."""

    task: str
    best_prompt: str
    best_eval: float
    best_test: float
    initial_prompt: str
    initial_eval: float
    initial_test: float
    steps: tuple[StepRecord, ...]


@dataclass(frozen=True)
class Result:
    """An optimization run. With one task, ``best_prompt``, ``best_eval``, ``best_test``,
    ``initial_prompt`` and ``steps`` are that task's; ``tasks`` holds every task's
    :class:`TaskResult`; ``run_folder`` is the run folder the CLI would have written."""

    run_folder: Path
    tasks: dict[str, TaskResult]
    state: str

    def _only(self) -> TaskResult:
        if len(self.tasks) != 1:
            raise ValueError(
                f"this run has {len(self.tasks)} finished tasks; read result.tasks[<name>]"
            )
        return next(iter(self.tasks.values()))

    @property
    def best_prompt(self) -> str:
        """The best prompt on the eval split."""
        return self._only().best_prompt

    @property
    def best_eval(self) -> float:
        """The best prompt's eval score, in [0, 1]."""
        return self._only().best_eval

    @property
    def best_test(self) -> float:
        """The best prompt's test score, in [0, 1]."""
        return self._only().best_test

    @property
    def initial_prompt(self) -> str:
        """The prompt the search started from."""
        return self._only().initial_prompt

    @property
    def steps(self) -> tuple[StepRecord, ...]:
        """The typed step records, in order."""
        return self._only().steps


@dataclass(frozen=True)
class ExperimentResult:
    """An experiment grid: ``rows`` of its table (table.csv, one dict per method x dataset),
    ``cells`` (each cell's id, kind, state and run folder) and the experiment ``folder``."""

    folder: Path
    rows: list[dict[str, str]]
    cells: list[dict[str, Any]] = field(default_factory=list)


def read_evaluation(root: Path, split: str = "test") -> Evaluation:
    """The Evaluation of an ``--only_evaluate`` run folder."""
    records = list(read_jsonl(root / "scores.jsonl"))
    scores = {r["task"]: float(r[f"{split}_score"]) for r in records}
    rows = []
    for r in records:
        csv_path = root / "result_by_instruction" / r["task"] / split / "-1" / "-1"
        csv_path = csv_path / f"{md5(r['prompt'])}.csv"
        with csv_path.open(encoding="utf-8", newline="") as f:
            rows += [{"task": r["task"], **row} for row in csv.DictReader(f)]
    mean = sum(scores.values()) / len(scores) if scores else 0.0
    return Evaluation(mean, scores, rows, root)


def read_result(root: Path) -> Result:
    """The Result of an optimization run folder (its finished tasks)."""
    run = read_run(root)
    tasks = {}
    for task, best in run.best.items():
        log = run.tasks.get(task)
        steps = tuple(step_record_from_dict(s) for s in (log.steps if log else ()))
        tasks[task] = TaskResult(
            task=task,
            best_prompt=best["prompt"],
            best_eval=float(best["eval_score"]),
            best_test=float(best["test_score"]),
            initial_prompt=best["initial_prompt"],
            initial_eval=float(best["initial_eval_score"]),
            initial_test=float(best["initial_test_score"]),
            steps=steps,
        )
    return Result(Path(root), tasks, run.state)


def read_experiment_result(root: Path) -> ExperimentResult:
    """The ExperimentResult of an experiment folder."""
    table = root / "table.csv"
    rows = []
    if table.is_file():
        with table.open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
    return ExperimentResult(root, rows, list(read_jsonl(root / "cells.jsonl")))
