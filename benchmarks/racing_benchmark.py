"""Racing benchmark: scorer generations and time of a GPO step's candidate evaluation with
``--eval_racing`` off, exact and statistical, replayed on real steps (GPO_REFERENCE 5.3 step 9).

1. record: one real GPO run per task with racing off (SmolLM2-135M as scorer and optimizer,
   ``--preset=opro``, small decode limits), in a child process, writing every response to a
   response cache. Its ``steps.jsonl`` holds each step's current prompt, candidates (new or
   reused with their scores) and choice.
2. replay: for every recorded step, the same new candidates are evaluated again on eval with each
   racing mode, against the same current prompt, reused scores and chosen-before set. Scorer
   replies come from the cache (a miss calls the real model and is counted), so a replay is
   cheap. Per step it counts the scorer generations each mode asks for and checks the choice
   against the recorded (full evaluation) one.

Printed per task and mode: scorer generations per step, replay wall time, the projected scorer
time (generations x the record run's measured seconds per scorer generation), and the share of
steps whose chosen prompt equals full evaluation's.

    flock /tmp/gpo-cpu.lock python benchmarks/racing_benchmark.py record --task bbh:navigate
    python benchmarks/racing_benchmark.py replay [--confidence 0.95] [--round_size 4]

``record`` runs a real model: one task per call keeps the CPU lock short. ``replay`` loads no
model (the scorer answers only from the cache; SmolLM2 is a chat model, as the cache key says).
Folders live under ``--work`` (default ``/tmp/gpo-racing-bench``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("gpo.racing_benchmark")

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
MAIN = SRC / "optimization" / "main.py"
RECORD_TIMEOUT_S = 1800
DEFAULT_TASKS = ("bbh:navigate", "bbh:sports_understanding", "wsc:wsc")


@dataclass(frozen=True)
class RecordSettings:
    """The fixed GPO configuration of a recorded run (small on purpose: CPU only)."""

    max_examples: int = 12
    num_candidates: int = 4
    num_search_epochs: int = 1
    opt_batch_size: int = 6
    scorer_max_tokens: int = 24
    second_round_max_tokens: int = 6
    optimizer_max_tokens: int = 48


def record(task_ref: str, work: Path, s: RecordSettings, n_threads: int) -> None:
    dataset, task = task_ref.split(":")
    out = work / "runs" / f"{dataset}-{task}"
    cache = work / "cache"
    argv = [
        sys.executable,
        str(MAIN),
        "--preset=opro",
        f"--dataset={dataset}",
        f"--task_name={task}",
        "--scorer_llm_name=smollm2-135m",
        "--optimizer_llm_name=smollm2-135m",
        f"--max_examples={s.max_examples}",
        f"--num_generated_instructions_in_each_step={s.num_candidates}",
        f"--num_search_epochs={s.num_search_epochs}",
        f"--opt_batch_size={s.opt_batch_size}",
        f"--scorer_max_tokens={s.scorer_max_tokens}",
        f"--second_round_max_tokens={s.second_round_max_tokens}",
        f"--optimizer_max_tokens={s.optimizer_max_tokens}",
        f"--output_dir={out}",
        f"--cache_dir={cache}",
        f"--n_threads={n_threads}",
        "--log_level=WARNING",
    ]
    started = time.monotonic()
    subprocess.run(argv, check=True, timeout=RECORD_TIMEOUT_S, cwd=REPO)
    log.info("recorded %s in %.0f s", task_ref, time.monotonic() - started)


class CountingLLM:
    """Counts the prompts a scorer asks for (before the cache), then delegates."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.backend = inner.backend
        self.is_chat = inner.is_chat
        self.prompts = 0

    def generate(self, prompts, params, sample_indices=None):
        self.prompts += len(prompts)
        return self.inner.generate(prompts, params, sample_indices)

    def close(self) -> None:
        self.inner.close()


class CacheOnlyLLM:
    """Stands in for the scorer model with the same cache identity; a cache miss is an error,
    so a replay loads no model (and needs no CPU lock)."""

    def __init__(self, name: str, backend: str, is_chat: bool) -> None:
        self.name, self.backend, self.is_chat = name, backend, is_chat

    def generate(self, prompts, params, sample_indices=None):
        raise RuntimeError(f"{len(prompts)} scorer prompts are not in the cache; record again")

    def close(self) -> None:
        return None


def _run_folder(work: Path, task_ref: str) -> Path:
    dataset, task = task_ref.split(":")
    folders = sorted((work / "runs" / f"{dataset}-{task}").glob("*/"))
    if not folders:
        raise SystemExit(f"error: no recorded run for {task_ref}; run: record --task {task_ref}")
    return folders[-1]


def _seconds_per_scorer_generation(folder: Path) -> float:
    usage = json.loads((folder / "usage_summary.json").read_text())
    scorer = usage["roles"]["scorer"]
    return float(scorer["backend_seconds"]) / max(1, int(scorer["requests"]))


@dataclass
class Replay:
    """A recorded run's task, rescored from the response cache by a counting scorer."""

    folder: Path
    data: Any
    scorer: Any
    counting: Any  # the CountingLLM under the scorer
    ledger: Any


def _replay_setup(task_ref: str, work: Path) -> Replay:
    sys.path.insert(0, str(SRC))
    from gpo.config import RunConfig
    from gpo.data.registry import get_benchmark
    from gpo.llm.accounting import Ledger, wrap_llm
    from gpo.llm.aliases import resolve_model
    from gpo.llm.cache import ResponseCache
    from gpo.runs.common import make_scorer

    folder = _run_folder(work, task_ref)
    config = RunConfig.from_json(json.loads((folder / "run_config.json").read_text()))
    dataset, task = task_ref.split(":")
    bench = get_benchmark(dataset)
    data = bench.load(task, Path(config.data_dir), config.max_examples)
    spec = resolve_model(config.scorer.name, config.scorer.backend)
    ledger = Ledger()
    cache = ResponseCache(work / "cache" / "responses.sqlite")
    counting = CountingLLM(
        wrap_llm(CacheOnlyLLM(spec.alias, spec.backend, True), "scorer", ledger, cache)
    )
    return Replay(folder, data, make_scorer(counting, spec, bench, config), counting, ledger)


def _replay_step(
    replay: Replay, step: dict, chosen_before: list[str], modes: list[str], settings: Any
) -> list[dict]:
    """One recorded step under every racing mode: generations, seconds, same choice or not."""
    from gpo.evaluation.racing import RacingSettings
    from gpo.optimization.proposal import NextPromptRule

    new = [c["prompt"] for c in step["candidates"] if c["status"] == "new"]
    reused = {c["prompt"]: c["eval_score"] for c in step["candidates"] if c["status"] == "reused"}
    rule = NextPromptRule(step["current_prompt"], reused, frozenset(chosen_before))
    rows = []
    for mode in modes:
        replay.counting.prompts = 0
        started = time.monotonic()
        if new:
            race = replay.scorer.race(
                new, replay.data, "eval", rule, RacingSettings(mode, *settings)
            )
            chosen = rule.winner(race.ranking_scores())
        else:
            chosen = rule.winner({})
        rows.append(
            {
                "step": step["global_step"],
                "mode": mode,
                "generations": replay.counting.prompts,
                "seconds": time.monotonic() - started,
                "same_choice": chosen == step["chosen"]["prompt"],
            }
        )
    return rows


def replay(task_ref: str, work: Path, modes: list[str], confidence: float, round_size: int | None):
    """Per mode: generations per step, replay seconds, agreement with the recorded choice."""
    run = _replay_setup(task_ref, work)  # puts src/ on sys.path
    from gpo.results.io import read_jsonl

    task = task_ref.split(":")[1]
    steps_path = run.folder / "result_by_instruction" / task / "steps.jsonl"
    chosen_before: list[str] = []
    rows = []
    for step in (s for s in read_jsonl(steps_path) if "candidates" in s):
        for row in _replay_step(run, step, chosen_before, modes, (confidence, round_size)):
            rows.append({"task": task_ref, **row})
        chosen_before.append(step["chosen"]["prompt"])
    misses = run.ledger.snapshot().by_role.get("scorer")
    misses = 0 if misses is None else misses.requests  # real model calls (cache misses)
    return rows, _seconds_per_scorer_generation(run.folder), misses, len(run.data.eval)


def summarize(all_rows: list[dict[str, Any]], spg: dict[str, float], modes: list[str]) -> list[str]:
    lines = [
        "| task | eval | steps | mode | scorer generations / step | saved | replay s | "
        "projected scorer s / step | same choice as full |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for task in dict.fromkeys(r["task"] for r in all_rows):
        base = None
        for mode in modes:
            rows = [r for r in all_rows if r["task"] == task and r["mode"] == mode]
            gens = sum(r["generations"] for r in rows) / len(rows)
            base = gens if mode == "off" else base
            saved = f"{1 - gens / base:.0%}" if base else "-"
            same = sum(r["same_choice"] for r in rows)
            lines.append(
                f"| {task} | {rows[0]['eval']} | {len(rows)} | {mode} | {gens:.0f} | {saved} | "
                f"{sum(r['seconds'] for r in rows):.1f} | {gens * spg[task]:.0f} | "
                f"{same}/{len(rows)} |"
            )
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("command", choices=["record", "replay"])
    p.add_argument("--task", action="append", help="dataset:task (repeatable)")
    p.add_argument("--work", type=Path, default=Path("/tmp/gpo-racing-bench"))
    p.add_argument("--n_threads", type=int, default=1)
    p.add_argument("--modes", default="off,exact,statistical")
    p.add_argument("--confidence", type=float, default=0.95)
    p.add_argument("--round_size", type=int, default=None, help="default: 1/8 of eval")
    p.add_argument("--json", type=Path, default=None, help="write the per-step rows here")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    for name in ("gpo", "httpx"):
        logging.getLogger(name).setLevel(logging.WARNING)
    tasks = args.task or list(DEFAULT_TASKS)
    if args.command == "record":
        for t in tasks:
            record(t, args.work, RecordSettings(), args.n_threads)
        return
    modes = args.modes.split(",")
    all_rows, spg = [], {}
    for t in tasks:
        if not (args.work / "runs" / t.replace(":", "-")).is_dir():
            log.warning("no recorded run for %s; skipped", t)
            continue
        rows, spg[t], misses, n_eval = replay(t, args.work, modes, args.confidence, args.round_size)
        for r in rows:
            r["eval"] = n_eval
        log.info("%s: %d scorer cache misses (real model calls) during the replay", t, misses)
        all_rows += rows
    if args.json:
        args.json.write_text(json.dumps(all_rows, indent=1))
    machine = f"{os.cpu_count()} CPUs, {os.uname().machine}"
    sys.stdout.write(
        f"\nracing benchmark ({machine}; confidence {args.confidence}, "
        f"round size {args.round_size or 'eval/8'})\n"
    )
    sys.stdout.write("\n".join(summarize(all_rows, spg, modes)) + "\n")


if __name__ == "__main__":
    main()
