"""Compare two run folders' artifacts: configs_dict.json, results_dict.json and every task's
steps.jsonl (and best_prompts.jsonl), ignoring what differs between any two runs (times, the
run folder's path and name). Used to check that a refactoring leaves a seeded run unchanged:

    python scripts/same_run.py <run folder before> <run folder after>

Prints each file as "same" or its first differences; exits 1 when any file differs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

VOLATILE = {"time", "seconds", "wall_seconds", "started", "finished", "created", "elapsed"}


def normalized(value: Any, roots: tuple[str, ...]) -> Any:
    """``value`` without volatile keys, the run folder's path replaced by ``<run>``."""
    if isinstance(value, dict):
        return {
            k: normalized(v, roots)
            for k, v in value.items()
            if k not in VOLATILE and not k.endswith("_seconds")
        }
    if isinstance(value, list):
        return [normalized(v, roots) for v in value]
    if isinstance(value, str):
        for root in roots:
            value = value.replace(root, "<run>")
    return value


def read(path: Path) -> list[Any]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return [json.loads(text)]


def artifacts(root: Path) -> list[Path]:
    """The compared files, relative to the run folder."""
    names = [Path("configs_dict.json"), Path("best_prompts.jsonl")]
    for task in sorted((root / "result_by_instruction").glob("*")):
        names += [p.relative_to(root) for p in sorted(task.glob("*.json*"))]
    return [n for n in names if n.name not in ("checkpoint.json", "placement.jsonl")]


def differences(a: Any, b: Any, where: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += differences(a.get(k), b.get(k), f"{where}.{k}")
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{where}[{i}]")]
    return [] if a == b else [f"{where}: {a!r:.80} != {b!r:.80}"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("before", type=Path)
    p.add_argument("after", type=Path)
    args = p.parse_args(argv)
    roots = (str(args.before.resolve()), str(args.after.resolve()))
    names = artifacts(args.before)
    if [str(n) for n in names] != [str(n) for n in artifacts(args.after)]:
        print(f"the run folders hold other files: {names} / {artifacts(args.after)}")
        return 1
    differ = 0
    for name in names:
        a = normalized(read(args.before / name), roots)
        b = normalized(read(args.after / name), roots)
        found = differences(a, b)
        print(f"{name}: {'same' if not found else f'{len(found)} difference(s)'}")
        for line in found[:5]:
            print(f"  {line}")
        differ += bool(found)
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
