"""Collect the best prompts of finished run folders into a GPO_results.jsonl-style file.

    python scripts/export_results.py RUN_FOLDER [RUN_FOLDER ...] --out GPO_results.jsonl

Each run folder's best_prompts.jsonl holds one record per task; the output keeps the original's
schema ({"dataset", "task", "prompt"}; no "task" for the single-task datasets), in input order.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    records = export(args.folders)
    text = "\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n"
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(args.out)
    log.info("wrote %d records to %s", len(records), args.out)


if __name__ == "__main__":
    main()
