"""The one owner of a task's records: ``steps.jsonl``, the per-instruction CSVs,
``results_dict.json`` and ``checkpoint.json``.

The loop and the step only *record*: a score report (its CSV and its ``[prompt, score, epoch,
step]`` entry), other results_dict entries (``LogEntry``), and the typed step-log records
(:mod:`gpo.results.records`). ``results_dict.json`` is folded from the recorded entries
(``ResultsLog``), never edited at a call site; the checkpoint stores that fold beside the
``TaskState`` so a resumed run continues it exactly (checkpoints of earlier versions included).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

from gpo.evaluation.report import ScoreReport
from gpo.results.io import append_jsonl, atomic_write_json, read_json, read_jsonl, rewrite_jsonl
from gpo.results.records import (
    KEYED_LOGS,
    FinalRecord,
    InitialRecord,
    LogEntry,
    StepRecord,
    usage_of,
)
from gpo.results.run_folder import RunFolder

log = logging.getLogger(__name__)


class Gradient(Protocol):
    text: str
    improvement: float
    epoch: int
    step: int


class Checkpointable(Protocol):
    """The loop's task state (``gpo.optimization.state.TaskState``), as the recorder sees it."""

    @property
    def gradients(self) -> Sequence[Gradient]: ...

    def to_json(self, results: dict[str, Any]) -> dict[str, Any]: ...


S = TypeVar("S")


def empty_results(setting_dict: dict[str, bool]) -> dict[str, Any]:
    """The keys of the original's results_dict.json, in its order (``eval_partial_log`` is
    added, last, by the first partial eval score)."""
    lists = [
        "meta_gradient_prompts",
        "meta_gradient_texts",
        "selected_gradient_history_list",
        "meta_fo_momentum_gradient_prompts",
        "meta_fo_momentum_gradient_texts",
        "selected_para_history_list",
        "meta_fo_momentum_para_prompts",
        "meta_fo_momentum_para_texts",
        "modify_word_num_history",
        "meta_prompts",
        "meta_generate_instructions",
    ]
    out: dict[str, Any] = {k: [] for k in lists}
    return out | {"setting_dict": setting_dict, "train_log": {}, "eval_log": {}, "test_log": {}}


class ResultsLog:
    """The original's results_dict.json as the fold of every recorded ``LogEntry``."""

    def __init__(self, results: dict[str, Any]) -> None:
        self._results = results

    def fold(self, entry: LogEntry) -> None:
        if entry.key in KEYED_LOGS:
            self._results.setdefault(entry.key, {})[entry.sub_key] = entry.value
        else:
            self._results[entry.key].append(entry.value)

    def set_gradients(self, gradients: Sequence[Gradient]) -> None:
        """``meta_gradient_texts``: the whole gradient history with the improvements known so
        far (rewritten at every step, as the original does)."""
        texts = [[g.text, g.improvement, g.epoch, g.step] for g in gradients]
        self._results["meta_gradient_texts"] = texts

    def to_json(self) -> dict[str, Any]:
        return self._results


class TaskRecorder:
    """Records one task of a run folder (see the module docstring)."""

    def __init__(self, folder: RunFolder, task: str, setting_dict: dict[str, bool]) -> None:
        self.folder, self.task = folder, task
        self.results = ResultsLog(empty_results(setting_dict))

    @property
    def steps_path(self) -> Path:
        return self.folder.steps_path(self.task)

    def report(self, report: ScoreReport, epoch: int, step: int, index: int | None = None):
        """A score report: its CSV and its ``<split>_log`` entry ``[prompt, score, e, j]``."""
        self.folder.save_report(self.task, report, epoch, step)
        fields = (report.instruction, report.score)
        self.results.fold(LogEntry(f"{report.split}_log", fields, epoch, step, index))

    def partial(self, report: ScoreReport, total: int, epoch: int, step: int, index: int):
        """A report racing stopped early: logged as usual (the mean over the scored examples)
        and in ``eval_partial_log`` as ``[prompt, scored examples, total, e, j]``."""
        self.report(report, epoch, step, index)
        fields = (report.instruction, len(report.rows), total)
        self.results.fold(LogEntry("eval_partial_log", fields, epoch, step, index))

    def completion(self, report: ScoreReport, epoch: int, step: int) -> None:
        """The rest of an earlier partial score: its CSV only (no results_dict entry)."""
        self.folder.save_report(self.task, report, epoch, step)

    def log(self, entries: Iterable[LogEntry]) -> None:
        for entry in entries:
            self.results.fold(entry)

    def start(self, state: Checkpointable, record: InitialRecord) -> None:
        """A new task: the step log restarts with the initial record; results and checkpoint."""
        rewrite_jsonl(self.steps_path, [record.to_dict()])
        self._save(state)

    def commit(self, state: Checkpointable, record: StepRecord) -> None:
        """One finished step: step-log line, results_dict.json, then the checkpoint."""
        self.results.set_gradients(state.gradients)
        append_jsonl(self.steps_path, record.to_dict())
        self._save(state)

    def append(self, record: dict[str, Any]) -> None:
        """One step-log line alone (a method that checkpoints on its own schedule, GEPA)."""
        append_jsonl(self.steps_path, record)

    def checkpoint(self, state: Checkpointable) -> None:
        """results_dict.json and the checkpoint of ``state`` (after ``append``-ed lines)."""
        self._save(state)

    def finish(self, record: FinalRecord) -> None:
        """The final record (results_dict.json first: the best prompt's test score may be new;
        the checkpoint stays the last step's)."""
        self.folder.save_results_dict(self.task, self.results.to_json())
        append_jsonl(self.steps_path, record.to_dict())

    def step_log(self) -> list[dict[str, Any]]:
        return read_jsonl(self.steps_path)

    def resume(self, from_json: Callable[[dict[str, Any]], S]) -> S | None:
        """The checkpointed state (None if the task never started); the step log loses the
        records past it and the results fold continues from the checkpoint's."""
        path = self.folder.checkpoint_path(self.task)
        if not path.exists():
            return None
        saved = read_json(path)
        self.results = ResultsLog(saved["results"])
        done = saved["completed_steps"]
        rewrite_jsonl(self.steps_path, [r for r in self.step_log() if r["global_step"] < done])
        log.info("%s: resumed after step %d", self.task, done)
        return from_json(saved)

    def _save(self, state: Checkpointable) -> None:
        results = self.results.to_json()
        self.folder.save_results_dict(self.task, results)
        checkpoint = state.to_json(results)
        atomic_write_json(self.folder.checkpoint_path(self.task), checkpoint, indent=None)


def usage_summary(folder: RunFolder, tasks: list[str]) -> dict[str, Any]:
    """Usage summed over every step log of the run (all invocations, resumed ones included)."""
    from gpo.llm.accounting import Usage

    per_role: dict[str, Usage] = {}
    for task in tasks:
        for record in read_jsonl(folder.steps_path(task)):
            for role, usage in usage_of(record).items():
                per_role[role] = per_role.get(role, Usage()) + usage
    total = sum(per_role.values(), Usage())
    return {"roles": {r: u.to_dict() for r, u in per_role.items()}, "total": total.to_dict()}
