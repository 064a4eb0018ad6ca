"""The run folder of the original (GPO_REFERENCE 7), plus this project's status, step log and
checkpoint files.

    <output_dir>/<DATASET>-s-<scorer>-o-<optimizer>-<YYYY-MM-DD-HH-MM-SS>/
        configs_dict.json            the original's config record (no secrets)
        run_config.json              the full RunConfig, for --resume
        status.json                  running | finished | failed | stopped (with the reason)
        best_prompts.jsonl           one record per finished task (GPO_results schema + scores)
        result_by_instruction/<task>/
            {train,eval,test}/<epoch>/<step>/<md5(prompt)>.csv
            results_dict.json        rewritten after every step
            steps.jsonl              append-only step log
            checkpoint.json          loop state after the last completed step
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpo.config import RunConfig
from gpo.evaluation.report import ScoreReport
from gpo.results.io import atomic_write_json, atomic_write_text, read_json
from gpo.results.reading import pid_alive, written_elsewhere


def md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def _safe(name: str) -> str:
    """A model name usable in a folder name (paths and URLs lose their separators)."""
    name = name.rstrip("/").split("/")[-1] if "/" in name else name
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def run_folder_name(config: RunConfig, now: dt.datetime) -> str:
    stamp = now.strftime("%Y-%m-%d-%H-%M-%S")
    return (
        f"{config.dataset.upper()}-s-{_safe(config.scorer.name)}"
        f"-o-{_safe(config.optimizer.name)}-{stamp}"
    )


def _accuracy_cells(values: list[float]) -> list[float]:
    """The accuracy column as pandas' ``to_csv`` writes it in the original: ints (``0``/``1``)
    when every value is an int (exact-match grading), else floats (``1.0``, ROUGE-L F1)."""
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return values
    return [float(v) for v in values]


def report_csv(report: ScoreReport) -> str:
    """The per-instruction CSV with the original's columns, LF line endings and 0/1 accuracies
    written as the original's pandas ``to_csv`` does (not the csv module's CRLF default)."""
    second = any(r.raw_prompt_second_round is not None for r in report.rows)
    header = ["index_in_raw_dataset", "raw_prompt", "raw_answer"]
    if second:
        header += ["raw_prompt_second_round", "raw_answer_second_round"]
    header += ["parsed_answer", "true_answer", "accuracy"]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    accuracies = _accuracy_cells([r.accuracy for r in report.rows])
    for r, acc in zip(report.rows, accuracies):
        row: list[Any] = [r.index, r.raw_prompt, r.raw_answer]
        if second:
            row += [r.raw_prompt_second_round or "", r.raw_answer_second_round or ""]
        row += [r.parsed_answer, r.true_answer, acc]
        writer.writerow(row)
    return buf.getvalue()


@dataclass(frozen=True)
class RunFolder:
    root: Path

    @staticmethod
    def create(
        config: RunConfig, now: dt.datetime | None = None, name: str | None = None
    ) -> RunFolder:
        """A new run folder under ``config.output_dir``: the original's timestamped name, or
        ``name`` (an experiment's cell id; it must not exist yet)."""
        base = Path(config.output_dir)
        base.mkdir(parents=True, exist_ok=True)
        if name is not None:
            root = base / name
            root.mkdir()
        else:
            stem = run_folder_name(config, now or dt.datetime.now())
            root, suffix = base / stem, 1
            while True:
                try:
                    root.mkdir()
                    break
                except FileExistsError:
                    suffix += 1
                    root = base / f"{stem}-{suffix}"
        folder = RunFolder(root)
        atomic_write_json(root / "configs_dict.json", config.configs_dict())
        atomic_write_json(root / "run_config.json", config.to_json())
        folder.set_status("running")
        return folder

    def load_config(self) -> RunConfig:
        return RunConfig.from_json(read_json(self.root / "run_config.json"))

    def set_status(self, state: str, message: str = "", **extra: Any) -> None:
        record = {
            "state": state,
            "message": message,
            "time": dt.datetime.now().isoformat(timespec="seconds"),
            "pid": os.getpid(),
            "host": socket.gethostname(),  # where ``pid`` means something (live_state)
            **extra,
        }
        atomic_write_json(self.root / "status.json", record)

    def running_elsewhere(self) -> bool:
        """Whether another live process is still writing this run (status running, pid alive).

        A status written on another host (a Ray node) is not checked: its pid means nothing
        here, and a process that happens to have that number must not block the resume of a
        cell whose node stopped (as before hosts were recorded, such a cell stays resumable)."""
        status = self.status()
        pid = status.get("pid")
        if status.get("state") != "running" or not pid or pid == os.getpid():
            return False
        if written_elsewhere(status):
            return False
        return pid_alive(pid)

    def status(self) -> dict[str, Any]:
        path = self.root / "status.json"
        return read_json(path) if path.exists() else {"state": "unknown"}

    def task_dir(self, task: str) -> Path:
        return self.root / "result_by_instruction" / task

    def save_report(self, task: str, report: ScoreReport, epoch: int, step: int) -> Path:
        path = (
            self.task_dir(task)
            / report.split
            / str(epoch)
            / str(step)
            / f"{md5(report.instruction)}.csv"
        )
        atomic_write_text(path, report_csv(report))
        return path

    def save_results_dict(self, task: str, results: dict[str, Any]) -> None:
        atomic_write_json(self.task_dir(task) / "results_dict.json", results)

    def steps_path(self, task: str) -> Path:
        return self.task_dir(task) / "steps.jsonl"

    def checkpoint_path(self, task: str) -> Path:
        return self.task_dir(task) / "checkpoint.json"

    @property
    def best_prompts_path(self) -> Path:
        return self.root / "best_prompts.jsonl"
