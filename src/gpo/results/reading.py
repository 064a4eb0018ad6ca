"""Read what a run folder holds (finished or partial) into typed records, for reports and tables.

Only files are read (status.json, run_config.json, best_prompts.jsonl, usage_summary.json,
scores.jsonl, result_by_instruction/<task>/steps.jsonl); no model, no data set.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpo.results.io import read_json, read_jsonl

ROLES = ("scorer", "optimizer")


@dataclass(frozen=True)
class TaskLog:
    """The step log of one task: the initial record, the step records, the final record."""

    task: str
    initial: dict[str, Any] | None
    steps: tuple[dict[str, Any], ...]
    final: dict[str, Any] | None


@dataclass(frozen=True)
class RunData:
    root: Path
    state: str  # running | interrupted | finished | failed | stopped | unknown
    message: str
    config: dict[str, Any]
    tasks: dict[str, TaskLog]
    best: dict[str, dict[str, Any]]  # task -> best_prompts.jsonl record
    scores: tuple[dict[str, Any], ...]  # only_evaluate: scores.jsonl records
    usage: dict[str, Any] = field(default_factory=dict)  # role -> counters

    @property
    def only_evaluate(self) -> bool:
        return bool(self.config.get("only_evaluate"))

    @property
    def dataset(self) -> str:
        return str(self.config.get("dataset", "?"))

    @property
    def preset(self) -> str | None:
        return self.config.get("preset")

    @property
    def seed(self) -> int:
        return int(self.config.get("seed", 0))

    @property
    def work_seconds(self) -> float:
        """Seconds spent in the loop (initial scoring, steps, final), over every invocation."""
        return sum(
            float(r.get("seconds", 0.0))
            for log in self.tasks.values()
            for r in ([log.initial] if log.initial else []) + list(log.steps) + [log.final]
            if r
        )


def is_run_folder(path: Path) -> bool:
    return (path / "run_config.json").is_file()


def read_task_log(path: Path, task: str) -> TaskLog:
    initial, final, steps = None, None, []
    for r in read_jsonl(path):
        kind = r.get("kind")
        if kind == "initial":
            initial = r
        elif kind == "final":
            final = r
        else:
            steps.append(r)
    steps.sort(key=lambda r: r["global_step"])
    return TaskLog(task, initial, tuple(steps), final)


def usage_from_steps(tasks: dict[str, TaskLog]) -> dict[str, dict[str, float]]:
    """Requests, tokens, cache hits and backend seconds per role, summed over the step logs."""
    keys = ("requests", "prompt_tokens", "completion_tokens", "cache_hits", "backend_seconds")
    out: dict[str, dict[str, float]] = {}
    for log in tasks.values():
        for r in [log.initial, *log.steps, log.final]:
            if not r:
                continue
            for role, u in r.get("usage", {}).get("roles", {}).items():
                acc = out.setdefault(role, dict.fromkeys(keys, 0))
                for k in keys:
                    acc[k] += u.get(k, 0)
    return out


def pid_alive(pid: int) -> bool:
    """Whether a process of this machine with that id exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def written_elsewhere(status: dict[str, Any]) -> bool:
    """Whether a status.json came from another host, where its pid means nothing here (one
    without a host, from before hosts were recorded, is taken as local)."""
    host = status.get("host")
    return bool(host) and host != socket.gethostname()


def live_state(status: dict[str, Any]) -> str:
    """A run's state from its status.json, with "running" read as "interrupted" when the
    process that wrote it is gone: a killed worker or a stopped grid cannot say so itself
    (``--resume`` continues it). Only a status written on this machine is checked (one
    without a host, from before hosts were recorded, is taken as local)."""
    state = str(status.get("state", "unknown"))
    pid = status.get("pid")
    if state != "running" or not pid or written_elsewhere(status):
        return state
    return state if pid_alive(int(pid)) else "interrupted"


def read_run(root: Path) -> RunData:
    root = Path(root)
    status = read_json(root / "status.json") if (root / "status.json").exists() else {}
    config = read_json(root / "run_config.json")
    tasks_dir = root / "result_by_instruction"
    tasks: dict[str, TaskLog] = {}
    for task in config.get("tasks", []):
        steps_file = tasks_dir / task / "steps.jsonl"
        if steps_file.exists():
            tasks[task] = read_task_log(steps_file, task)
    best = {r["task"]: r for r in read_jsonl(root / "best_prompts.jsonl")}
    scores = tuple(read_jsonl(root / "scores.jsonl"))
    usage_file = root / "usage_summary.json"
    if usage_file.exists():
        usage = read_json(usage_file).get("roles", {})
    else:
        usage = usage_from_steps(tasks)
    return RunData(
        root=root,
        state=live_state(status),
        message=status.get("message", ""),
        config=config,
        tasks=tasks,
        best=best,
        scores=scores,
        usage=usage,
    )
