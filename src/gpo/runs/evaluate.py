"""``--only_evaluate``: score fixed prompts on the test split (GPO_REFERENCE 8).

Either ``--initial_instruction`` on every selected task, or (``--prompts_file``) every record of a
JSONL in GPO_results.jsonl's schema against its own task, next to the Empty and CoT baselines.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from gpo.data.base import TaskData
from gpo.data.registry import get_benchmark
from gpo.errors import DataError
from gpo.evaluation.scorer import Scorer
from gpo.results.io import append_jsonl
from gpo.results.run_folder import RunFolder

log = logging.getLogger(__name__)

COT = "Let's think step by step."
BASELINES = {"empty": "", "cot": COT}


@dataclass(frozen=True)
class PromptRecord:
    dataset: str
    task: str
    prompt: str
    label: str  # "published", "initial", "empty" or "cot"


def read_prompts_file(path: str, data_dir: str | None = None) -> list[PromptRecord]:
    """Records of a GPO_results.jsonl-style file (split on newlines only; blank lines skipped)."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"--prompts_file={path}: no such file")
    records = []
    for n, line in enumerate(p.read_text(encoding="utf-8").split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            dataset = str(obj["dataset"]).lower()
            prompt = obj["prompt"]
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise DataError(
                f"{path}:{n}: expected a JSON object with 'dataset' and 'prompt' "
                f"({e.__class__.__name__})"
            ) from None
        benchmark = get_benchmark(dataset, data_dir)
        task = obj.get("task") or dataset
        [task] = benchmark.resolve_tasks([task])
        records.append(PromptRecord(dataset, task, str(prompt), "published"))
    if not records:
        raise DataError(f"{path}: no records")
    return records


def with_baselines(records: Sequence[PromptRecord], baselines: Sequence[str]) -> list[PromptRecord]:
    out: list[PromptRecord] = []
    seen: set[tuple[str, str, str]] = set()
    for r in records:
        for b in baselines:
            key = (r.dataset, r.task, b)
            if key not in seen:
                seen.add(key)
                out.append(PromptRecord(r.dataset, r.task, BASELINES[b], b))
        out.append(r)
    return out


def score_records(
    folder: RunFolder,
    scorers: dict[str, Scorer],
    tasks: dict[tuple[str, str], TaskData],
    records: Sequence[PromptRecord],
    split: str = "test",
) -> list[tuple[PromptRecord, float]]:
    """Score each record on its task's ``split`` (the test split, as the original); write
    CSVs, results_dict.json and scores.jsonl."""
    results: list[tuple[PromptRecord, float]] = []
    by_task: dict[tuple[str, str], list[PromptRecord]] = {}
    for r in records:
        by_task.setdefault((r.dataset, r.task), []).append(r)
    for (dataset, task), recs in tqdm(by_task.items(), desc="tasks", unit="task"):
        data = tasks[(dataset, task)]
        reports = scorers[dataset].score_many([r.prompt for r in recs], data, split)
        test_log = {}
        for r, report in zip(recs, reports):
            folder.save_report(task, report, -1, -1)
            key = "-1_-1" if r.label in ("published", "initial") else f"baseline_{r.label}"
            test_log[key] = [r.prompt, report.score, -1, -1]
            append_jsonl(
                folder.root / "scores.jsonl",
                {
                    "dataset": dataset,
                    "task": task,
                    "label": r.label,
                    "prompt": r.prompt,
                    f"{split}_score": report.score,
                    f"n_{split}": len(report.rows),
                },
            )
            results.append((r, report.score))
        folder.save_results_dict(
            task, {f"{split}_log": test_log, "setting_dict": data.spec.setting_dict()}
        )
    return results


def format_table(results: Sequence[tuple[PromptRecord, float]]) -> list[str]:
    """One line per task (a column per prompt label, scores x100) and the average per dataset."""
    labels = [
        lab
        for lab in ("empty", "cot", "initial", "published")
        if any(r.label == lab for r, _ in results)
    ]
    rows: dict[tuple[str, str], dict[str, float]] = {}
    for r, s in results:
        rows.setdefault((r.dataset, r.task), {})[r.label] = s
    width = max(len(t) for _, t in rows) + 2
    lines = [f"{'dataset':8} {'task':{width}}" + "".join(f"{lab:>11}" for lab in labels)]
    for (d, t), scores in rows.items():
        cells = "".join(
            f"{100 * scores[lab]:>11.2f}" if lab in scores else f"{'-':>11}" for lab in labels
        )
        lines.append(f"{d:8} {t:{width}}{cells}")
    for d in dict.fromkeys(d for d, _ in rows):
        cells = ""
        for lab in labels:
            vals = [sc[lab] for (dd, _), sc in rows.items() if dd == d and lab in sc]
            cells += f"{100 * sum(vals) / len(vals):>11.2f}" if vals else f"{'-':>11}"
        lines.append(f"{d:8} {'AVERAGE':{width}}{cells}")
    return lines
