"""Collect the best prompts of finished run folders into a GPO_results.jsonl-style file.

    python scripts/export_results.py RUN_FOLDER [RUN_FOLDER ...] --out GPO_results.jsonl

Each run folder's best_prompts.jsonl holds one record per task; the output keeps the original's
schema ({"dataset", "task", "prompt"}; no "task" for the single-task datasets), in input order.

``--table scores.md`` also writes what a reader needs to judge the file: per task the initial
and best prompt's eval and test score x100 and what the exported prompt is (the kinds of
``gpo.reports.prompt_kinds``: instruction, initial, copy, scaffolding, chatter; a copy is
checked against the task's records as the run read them).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from gpo.results.io import atomic_write_text

log = logging.getLogger("export_results")
SINGLE_TASK = {"gsm8k", "webnlg", "wsc"}


def export(folders: list[Path]) -> list[dict[str, str]]:
    records = []
    for folder in folders:
        path = folder / "best_prompts.jsonl"
        if not path.is_file():
            raise SystemExit(f"error: {path} not found: is {folder} a finished run folder?")
        for line in path.read_text(encoding="utf-8").split("\n"):
            if not line.strip():
                continue
            r = json.loads(line)
            out = {"dataset": r["dataset"]}
            if r["dataset"] not in SINGLE_TASK:
                out["task"] = r["task"]
            out["prompt"] = r["prompt"]
            records.append(out)
            log.info(
                "%s %s: eval %.3f test %.3f (initial test %.3f)",
                r["dataset"],
                r["task"],
                r["eval_score"],
                r["test_score"],
                r["initial_test_score"],
            )
    return records


def kinds_table(folders: list[Path]) -> str:
    """A Markdown table of every task's scores and the kind of its exported prompt, with totals."""
    from gpo.reports.prompt_kinds import KINDS, prompt_kind, task_copy_index

    rows = [
        "| dataset | task | initial eval | initial test | best eval | best test | prompt kind |",
        "|---|---|---|---|---|---|---|",
    ]
    kinds: dict[str, int] = {}
    better = worse = 0
    for folder in folders:
        config = json.loads((folder / "run_config.json").read_text(encoding="utf-8"))
        initial = config["initial_instruction"]
        for line in (folder / "best_prompts.jsonl").read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            r = json.loads(line)
            index = task_copy_index(
                r["dataset"], r["task"], config["data_dir"], config["max_examples"]
            )
            kind = prompt_kind(r["prompt"], initial, index)
            kinds[kind] = kinds.get(kind, 0) + 1
            better += r["test_score"] > r["initial_test_score"]
            worse += r["test_score"] < r["initial_test_score"]
            scores = (
                r["initial_eval_score"],
                r["initial_test_score"],
                r["eval_score"],
                r["test_score"],
            )
            cells = " | ".join(f"{100 * v:.1f}" for v in scores)
            rows.append(f"| {r['dataset']} | {r['task']} | {cells} | {kind} |")
    n = len(rows) - 2
    counts = ", ".join(f"{kinds[k]} {k}" for k in KINDS if kinds.get(k))
    rows += [
        "",
        f"{n} tasks: the best prompt's test score is above the initial prompt's on {better}, "
        f"below on {worse}, equal on {n - better - worse}. Exported prompts: {counts}.",
    ]
    return "\n".join(rows) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--table", type=Path, help="also write the scores and prompt kinds (.md)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    records = export(args.folders)
    table = kinds_table(args.folders) if args.table else None
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    atomic_write_text(args.out, "\n".join(lines) + "\n")
    log.info("wrote %d records to %s", len(records), args.out)
    if table is not None:
        atomic_write_text(args.table, table)
        log.info("wrote the scores and prompt kinds to %s", args.table)


if __name__ == "__main__":
    main()
