"""Do the candidate guards and the enforced word budget help? A measurement on real models.

    python benchmarks/guards_benchmark.py run [--configs off,on] [--tasks bbh:navigate,wsc:wsc]
    python benchmarks/guards_benchmark.py analyze

``run`` optimizes each task twice with the same seeds and sizes: ``off`` is ``--preset=gpo`` (the
paper's GPO: nothing enforced, no guard) and ``on`` is ``--preset=gpo+`` (word budget enforced,
every guard). Each (config, task) is one ``src/optimization/main.py`` invocation under
``flock /tmp/gpo-cpu.lock`` (the machine is shared), so the lock is held a few minutes at a time;
an interrupted task resumes from its checkpoint, a finished one is skipped, and the response
cache (``<out>/cache``) replays every call the two configurations share.

``analyze`` reads the run folders only (no model) and prints Markdown tables:

1. with everything off: the share of proposed candidates whose word edit distance exceeds the
   step's K, and the share that would trip each guard (the guards are pure functions, applied
   here to the logged candidates, with each task's eval/test data for ``leakage``);
2. with everything on: the share rejected by each rule, resample rounds, steps that fell back to
   the closest candidate;
3. eval and test scores of the chosen (best-on-eval) prompts, off and on, and whether a chosen
   prompt contains meta-prompt scaffolding.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from gpo.data.registry import get_benchmark  # noqa: E402
from gpo.optimization.guards import (  # noqa: E402
    GUARD_NAMES,
    STEP_SIZE_RULE,
    build_guards,
    scaffolding_reason,
)

log = logging.getLogger("guards_benchmark")
MAIN = REPO / "src" / "optimization" / "main.py"
LOCK = "/tmp/gpo-cpu.lock"
CONFIGS = {"off": "--preset=gpo", "on": "--preset=gpo+"}
DEFAULT_TASKS = "bbh:navigate,bbh:boolean_expressions,bbh:web_of_lies,wsc:wsc"
MAX_EXAMPLES = 8
MAX_PROMPT_WORDS = 200  # the flag's default; gpo+ keeps it
# Small enough for two shared CPU cores: 8 examples per split, 4 candidates, 2 steps per task.
COMMON = [
    "--scorer_llm_name=smollm2-135m",
    "--optimizer_llm_name=smollm2-135m",
    "--embedding_model=all-minilm-l6-v2",
    f"--max_examples={MAX_EXAMPLES}",
    "--num_generated_instructions_in_each_step=4",
    "--num_search_epochs=1",
    "--opt_batch_size=4",
    "--scorer_max_tokens=64",
    "--second_round_max_tokens=16",
    "--optimizer_max_tokens=128",
    "--n_threads=1",
    "--seed=0",
]


def task_folder(out: Path, config: str, dataset: str, task: str) -> Path:
    return out / config / f"{dataset}-{task}"


def run_folder(path: Path) -> Path | None:
    """The single run folder made inside ``path`` (None before the first invocation)."""
    found = (
        [p for p in path.iterdir() if (p / "run_config.json").is_file()] if path.is_dir() else []
    )
    return found[0] if found else None


def state_of(folder: Path) -> str:
    status = folder / "status.json"
    return json.loads(status.read_text())["state"] if status.is_file() else "unknown"


def run_one(out: Path, config: str, dataset: str, task: str, timeout: int) -> bool:
    """One (config, task) invocation under the CPU lock; True when its run is finished."""
    where = task_folder(out, config, dataset, task)
    where.mkdir(parents=True, exist_ok=True)
    folder = run_folder(where)
    if folder is not None and state_of(folder) == "finished":
        return True
    if folder is None:
        args = [CONFIGS[config], f"--dataset={dataset}", f"--task_name={task}", *COMMON]
        args += [f"--output_dir={where}", f"--cache_dir={out / 'cache'}"]
    else:
        args = [f"--resume={folder}", f"--cache_dir={out / 'cache'}", "--n_threads=1"]
    cmd = ["flock", LOCK, "timeout", str(timeout), sys.executable, str(MAIN), *args]
    log.info("%s %s/%s: %s", config, dataset, task, " ".join(args))
    with open(where / "invocations.log", "a", encoding="utf-8") as fh:
        proc = subprocess.run(cmd, stdout=fh, stderr=fh, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    folder = run_folder(where)
    done = folder is not None and state_of(folder) == "finished"
    log.info("%s %s/%s: exit %d, %s", config, dataset, task, proc.returncode, done)
    return done


def parse_tasks(text: str) -> list[tuple[str, str]]:
    return [tuple(item.split(":", 1)) for item in text.split(",") if item]  # type: ignore[misc]


# --- analysis (run folders only) --------------------------------------------------------------


def step_records(folder: Path, task: str) -> list[dict]:
    path = folder / "result_by_instruction" / task / "steps.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def label(dataset: str, task: str) -> str:
    return "wsc" if dataset == "wsc" else task


def off_shares(out: Path, tasks: list[tuple[str, str]], data_dir: Path) -> list[str]:
    """Table 1: what the guards and the budget would have caught with everything off."""
    rows = ["| task | candidates | over K | " + " | ".join(GUARD_NAMES) + " | any guard |"]
    rows.append("|---" * (4 + len(GUARD_NAMES)) + "|")
    total: Counter = Counter()
    for dataset, task in tasks:
        folder = run_folder(task_folder(out, "off", dataset, task))
        if folder is None or state_of(folder) != "finished":
            continue
        data = get_benchmark(dataset).load(task, data_dir, MAX_EXAMPLES)
        guards = build_guards(GUARD_NAMES, MAX_PROMPT_WORDS, data)
        c: Counter = Counter()
        for r in step_records(folder, label(dataset, task)):
            if r.get("kind"):
                continue
            for cand in r["candidates"]:
                c["n"] += 1
                c["over"] += r["step_size"] is not None and cand["edit_distance"] > r["step_size"]
                rules = {rule for rule, _ in guards.check(cand["prompt"])}
                c["any"] += bool(rules)
                for g in rules:
                    c[g] += 1
        total += c
        rows.append(_share_row(label(dataset, task), c))
    rows.append(_share_row("**all**", total))
    return rows


def first_round_shares(folders: list[Path], data_dir: Path) -> list[str]:
    """Table 1b: the same shares over the first-round proposals of any run folders (with the
    rules on, round 0 is still what the optimizer proposes unscreened)."""
    rows = ["| run / task | candidates | over K | " + " | ".join(GUARD_NAMES) + " | any guard |"]
    rows.append("|---" * (4 + len(GUARD_NAMES)) + "|")
    total: Counter = Counter()
    for folder in folders:
        config = json.loads((folder / "run_config.json").read_text())
        for task_dir in sorted((folder / "result_by_instruction").iterdir()):
            task = "wsc" if config["dataset"] == "wsc" else task_dir.name
            data = get_benchmark(config["dataset"]).load(task, data_dir, config["max_examples"])
            guards = build_guards(GUARD_NAMES, MAX_PROMPT_WORDS, data)
            c: Counter = Counter()
            for r in step_records(folder, task_dir.name):
                for cand in [] if r.get("kind") else r["candidates"]:
                    if cand.get("round", 0) != 0:
                        continue
                    c["n"] += 1
                    k = r["step_size"]
                    c["over"] += k is not None and cand["edit_distance"] > k
                    rules = {rule for rule, _ in guards.check(cand["prompt"])}
                    c["any"] += bool(rules)
                    for g in rules:
                        c[g] += 1
            total += c
            run = folder.parent.parent.name if folder.parent.parent.name in CONFIGS else "gpo+"
            rows.append(_share_row(f"{run} {folder.parent.name}: {task_dir.name}", c))
    rows.append(_share_row("**all**", total))
    return rows


def _share_row(name: str, c: Counter) -> str:
    n = max(c["n"], 1)
    cells = [f"{100 * c[k] / n:.0f}%" for k in ("over", *GUARD_NAMES, "any")]
    return f"| {name} | {c['n']} | " + " | ".join(cells) + " |"


def on_shares(out: Path, tasks: list[tuple[str, str]]) -> list[str]:
    """Table 2: what the rules rejected with everything on, and what resampling cost."""
    rules = (STEP_SIZE_RULE, *GUARD_NAMES)
    rows = ["| task | proposed | rejected | " + " | ".join(rules) + " | rounds | fallback |"]
    rows.append("|---" * (5 + len(rules)) + "|")
    for dataset, task in tasks:
        folder = run_folder(task_folder(out, "on", dataset, task))
        if folder is None or state_of(folder) != "finished":
            continue
        c: Counter = Counter()
        steps = [r for r in step_records(folder, label(dataset, task)) if not r.get("kind")]
        for r in steps:
            for cand in r["candidates"]:
                c["n"] += 1
                c["rejected"] += cand["status"] == "rejected"
                for rule in cand["rejected_by"]:
                    c[rule] += 1
        n = max(c["n"], 1)
        cells = [f"{100 * c[k] / n:.0f}%" for k in ("rejected", *rules)]
        rounds = "/".join(str(r["resample_rounds"]) for r in steps)
        fallback = sum(r["budget_fallback"] for r in steps)
        rows.append(
            f"| {label(dataset, task)} | {c['n']} | " + " | ".join(cells) + f" | {rounds} | "
            f"{fallback}/{len(steps)} |"
        )
    return rows


def scores(out: Path, tasks: list[tuple[str, str]]) -> list[str]:
    """Table 3: chosen prompts' scores off vs on (x100), and leaked scaffolding."""
    rows = [
        "| task | initial eval / test | off: best eval / test | on: best eval / test | "
        "scaffolding in chosen (off / on) |",
        "|---|---|---|---|---|",
    ]
    sums: Counter = Counter()
    for dataset, task in tasks:
        best = {}
        for config in CONFIGS:
            folder = run_folder(task_folder(out, config, dataset, task))
            if folder is not None and state_of(folder) == "finished":
                [best[config]] = [
                    json.loads(x) for x in (folder / "best_prompts.jsonl").read_text().splitlines()
                ]
        if len(best) < 2:
            continue
        off, on = best["off"], best["on"]
        for k, v in (
            ("off_eval", off["eval_score"]),
            ("off_test", off["test_score"]),
            ("on_eval", on["eval_score"]),
            ("on_test", on["test_score"]),
            ("n", 1),
        ):
            sums[k] += v
        leak = "/".join("yes" if scaffolding_reason(b["prompt"]) else "no" for b in (off, on))
        rows.append(
            f"| {label(dataset, task)} | {_pct(off['initial_eval_score'])} / "
            f"{_pct(off['initial_test_score'])} | {_pct(off['eval_score'])} / "
            f"{_pct(off['test_score'])} | {_pct(on['eval_score'])} / {_pct(on['test_score'])} "
            f"| {leak} |"
        )
    n = max(sums["n"], 1)
    rows.append(
        f"| **mean** | | {_pct(sums['off_eval'] / n)} / {_pct(sums['off_test'] / n)} | "
        f"{_pct(sums['on_eval'] / n)} / {_pct(sums['on_test'] / n)} | |"
    )
    return rows


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["run", "analyze"])
    parser.add_argument("--out", type=Path, default=Path("outputs/guards-benchmark"))
    parser.add_argument("--tasks", default=DEFAULT_TASKS, help="dataset:task,... (wsc:wsc)")
    parser.add_argument("--configs", default="off,on")
    parser.add_argument(
        "--also", type=Path, nargs="*", default=[], help="analyze: more run folders (table 1b)"
    )
    parser.add_argument("--timeout", type=int, default=1200, help="seconds per invocation")
    parser.add_argument(
        "--data_dir", type=Path, default=Path(os.environ.get("GPO_DATA_DIR", "data"))
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    tasks = parse_tasks(args.tasks)
    if args.mode == "run":
        os.environ.setdefault("GPO_DATA_DIR", str(args.data_dir.resolve()))
        for dataset, task in tasks:
            for config in args.configs.split(","):
                run_one(args.out, config, dataset, task, args.timeout)
        return
    print("Everything off (preset gpo): share of proposed candidates over K / tripping a guard\n")
    print("\n".join(off_shares(args.out, tasks, args.data_dir)))
    folders = [run_folder(task_folder(args.out, c, d, t)) for c in CONFIGS for d, t in tasks]
    folders = [f for f in folders if f is not None and state_of(f) == "finished"]
    print("\nFirst-round (unscreened) proposals of every run, the same shares\n")
    print("\n".join(first_round_shares(folders + list(args.also), args.data_dir)))
    print("\nEverything on (preset gpo+): share of proposed candidates rejected, by rule\n")
    print("\n".join(on_shares(args.out, tasks)))
    print("\nChosen (best-on-eval) prompts, scores x100\n")
    print("\n".join(scores(args.out, tasks)))


if __name__ == "__main__":
    main()
