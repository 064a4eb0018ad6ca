"""Performance benchmark of a GPO run: model calls, tokens, cache, batching and overhead.

It measures what the issue "Runs that are fast, resumable and accountable" asks of the prompt
optimization loop (GPO_REFERENCE 5.2-5.3): a fixed small GPO configuration (the ``gpo`` preset,
SmolLM2-135M as scorer and optimizer, all-MiniLM-L6-v2 for relevance momentum, BBH navigate)
runs in four modes, each in a fresh process, output folder and cache folder:

    cold       batching and the response cache on (the default)
    warm       the same run again on a copy of cold's cache: ~0 model calls expected
    no_cache   --no_cache: batching and in-batch dedup only
    unbatched  --no_cache, every prompt sent alone and no in-batch dedup (the scorer's and the
               cache layer's folding of identical prompts is switched off)

Each mode runs ``gpo.cli.app.run`` (the code path of ``src/optimization/main.py``) in a child
process of this script, with a ``gpo.runs.runtime.Runtime`` whose factories are timed (model
loading, the smoke test, embedding inference) and counted (the Ledger, the scorer's rounds).
Counters come from the run's own ``usage_summary.json``. Framework overhead is
``(wall - backend - model load - embedding)/wall``; the target is below 5%.

    python benchmarks/run_benchmark.py [--quick] [--data_dir DIR] [--out PATH] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import json
import logging
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("gpo.benchmark")

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
MAIN = SRC / "optimization" / "main.py"
CHILD_TIMEOUT_S = 3600


@dataclass(frozen=True)
class BenchConfig:
    """The fixed GPO configuration of the benchmark (decode limits kept small on purpose)."""

    max_examples: int
    num_candidates: int
    num_search_epochs: int
    opt_batch_size: int
    scorer_max_tokens: int
    second_round_max_tokens: int
    optimizer_max_tokens: int


FULL = BenchConfig(4, 3, 2, 4, 32, 16, 64)
QUICK = BenchConfig(3, 2, 1, 3, 16, 8, 32)


@dataclass(frozen=True)
class Mode:
    name: str
    cache: str  # "fresh", "warm" (a copy of the cold run's cache) or "none"
    unbatched: bool = False


MODES = (
    Mode("cold", "fresh"),
    Mode("warm", "warm"),
    Mode("no_cache", "none"),
    Mode("unbatched", "none", unbatched=True),
)


def gpo_argv(
    cfg: BenchConfig, data_dir: Path, out_dir: Path, cache_dir: Path | None, n_threads: int | None
) -> list[str]:
    """The main.py flags of one benchmark run."""
    argv = [
        "--preset=gpo",
        "--dataset=bbh",
        "--task_name=navigate",
        "--scorer_llm_name=smollm2-135m",
        "--optimizer_llm_name=smollm2-135m",
        "--embedding_model=all-minilm-l6-v2",
        f"--max_examples={cfg.max_examples}",
        f"--num_generated_instructions_in_each_step={cfg.num_candidates}",
        f"--num_search_epochs={cfg.num_search_epochs}",
        f"--opt_batch_size={cfg.opt_batch_size}",
        f"--scorer_max_tokens={cfg.scorer_max_tokens}",
        f"--second_round_max_tokens={cfg.second_round_max_tokens}",
        f"--optimizer_max_tokens={cfg.optimizer_max_tokens}",
        f"--data_dir={data_dir}",
        f"--output_dir={out_dir}",
    ]
    argv.append("--no_cache" if cache_dir is None else f"--cache_dir={cache_dir}")
    if n_threads is not None:
        argv.append(f"--n_threads={n_threads}")
    return argv


# ---------------------------------------------------------------- child process (one mode)


class Timers:
    """Seconds and counts the child collects while the run goes (written as JSON at the end)."""

    def __init__(self) -> None:
        self.values: dict[str, float] = dict.fromkeys(
            (
                "llm_load_s",
                "smoke_s",
                "embedder_load_s",
                "embed_s",
                "scorer_prompts",
                "scorer_distinct",
            ),
            0.0,
        )
        self.ledgers: list[Any] = []  # the run's Ledger (counts every metered call)

    def add(self, key: str, value: float) -> None:
        self.values[key] += value


class OneByOneLLM:
    """An LLM that forwards every prompt in its own ``generate`` call (no batching, no dedup)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.backend = inner.backend
        self.is_chat = inner.is_chat

    def generate(
        self, prompts: Sequence[Any], params: Any, sample_indices: Sequence[int] | None = None
    ) -> list[Any]:
        from gpo.llm.base import sample_indices_for

        indices = (
            list(sample_indices) if sample_indices is not None else sample_indices_for(prompts)
        )
        out = []
        for prompt, index in zip(prompts, indices):
            out.extend(self.inner.generate([prompt], params, [index]))
        return out

    def close(self) -> None:
        self.inner.close()


class TimedEmbedder:
    """An embedder that adds its encoding seconds to the timers (model time, not overhead)."""

    def __init__(self, inner: Any, timers: Timers) -> None:
        self.inner = inner
        self.name = inner.name
        self.timers = timers

    def encode(self, texts: Sequence[str]) -> Any:
        start = time.perf_counter()
        try:
            return self.inner.encode(texts)
        finally:
            self.timers.add("embed_s", time.perf_counter() - start)


def _timed(fn: Any, timers: Timers, key: str) -> Any:
    def wrapper(*args: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args)
        finally:
            timers.add(key, time.perf_counter() - start)

    return wrapper


def _scorer_replies(original: Any, timers: Timers, fold: bool) -> Any:
    """The scorer's round function, counting prompts; ``fold=False`` sends duplicates too."""

    def replies(llm: Any, prompts: Sequence[Any], max_tokens: int) -> list[str]:
        from gpo.llm.base import GenerationParams

        timers.add("scorer_prompts", len(prompts))
        timers.add("scorer_distinct", len(set(prompts)))
        if fold:
            return original(llm, prompts, max_tokens)
        if not prompts:
            return []
        params = GenerationParams(temperature=0.0, max_tokens=max_tokens)
        return [c.text for c in llm.generate(list(prompts), params)]

    return replies


def bench_runtime(timers: Timers, unbatched: bool) -> Any:
    """The production Runtime with its seams timed and counted (passed to ``gpo.cli.app.run``;
    nothing of gpo is replaced). ``unbatched`` sends every prompt alone through the wrapped LLM
    (so ``CachedLLM`` never sees two at once) and switches off the Scorer's folding."""
    from gpo.runs.runtime import DEFAULT_RUNTIME

    base = DEFAULT_RUNTIME
    load_embedder = _timed(base.load_embedder, timers, "embedder_load_s")

    def wrap_llm(inner: Any, role: str, ledger: Any, cache: Any) -> Any:
        llm = base.wrap_llm(inner, role, ledger, cache)
        return OneByOneLLM(llm) if unbatched else llm

    def make_ledger() -> Any:
        ledger = base.make_ledger()
        timers.ledgers.append(ledger)
        return ledger

    return dataclasses.replace(
        base,
        load_llm=_timed(base.load_llm, timers, "llm_load_s"),
        check_llm=_timed(base.check_llm, timers, "smoke_s"),
        wrap_llm=wrap_llm,
        load_embedder=lambda name: TimedEmbedder(load_embedder(name), timers),
        make_ledger=make_ledger,
        scorer_replies=_scorer_replies(base.scorer_replies, timers, fold=not unbatched),
    )


def child_main(mode: str, result_path: Path, profile_path: Path | None, argv: list[str]) -> None:
    """Run one benchmark mode in this process and write its timings to ``result_path``."""
    start = time.perf_counter()
    sys.path.insert(0, str(SRC))
    from gpo.cli.app import run

    timers = Timers()
    runtime = bench_runtime(timers, unbatched=mode == "unbatched")
    imported = time.perf_counter()
    if profile_path is None:
        run([str(MAIN), *argv], runtime)
    else:
        profiler = cProfile.Profile()
        profiler.runcall(run, [str(MAIN), *argv], runtime)
        profiler.dump_stats(str(profile_path))
    wall = time.perf_counter() - start
    from gpo.llm.accounting import Usage

    ledger = sum((x.total() for x in timers.ledgers), Usage())
    out = {
        "wall_s": wall,
        "import_s": imported - start,
        **timers.values,
        "ledger": ledger.to_dict(),
    }
    result_path.write_text(json.dumps(out, indent=2), encoding="utf-8")


# ---------------------------------------------------------------- parent process


@dataclass(frozen=True)
class Row:
    """One table row: the run's usage counters and where its wall time went."""

    mode: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cache_hits: int
    deduplicated: int
    scorer_dups: int  # repeated scorer prompts within a round (the Scorer folds them itself)
    wall_s: float
    backend_s: float
    load_s: float  # llama.cpp load + smoke test + embedding model load
    embed_s: float
    overhead_s: float
    overhead_pct: float
    imports_s: float  # part of overhead_s: importing gpo (and what it imports)
    process_s: float  # the child process from spawn to exit (interpreter start included)
    load_avg_1m: float
    summary_requests: int  # requests in the run's usage_summary.json (should equal requests)
    summary_backend_s: float
    best_prompt: str


def run_usage(out_dir: Path) -> tuple[dict[str, Any], str]:
    """The total of the run's usage_summary.json and the best prompt it found."""
    folders = [p for p in out_dir.iterdir() if (p / "usage_summary.json").is_file()]
    if len(folders) != 1:
        raise RuntimeError(f"expected one finished run folder in {out_dir}, found {folders}")
    summary = json.loads((folders[0] / "usage_summary.json").read_text(encoding="utf-8"))
    best = json.loads((folders[0] / "best_prompts.jsonl").read_text().splitlines()[0])
    return summary["total"], best["prompt"]


def spawn(mode: Mode, argv: list[str], work: Path, profile: bool) -> tuple[dict, float]:
    """Run one mode in a child process; returns its timings and the process wall time."""
    result = work / f"{mode.name}.timings.json"
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        f"--child={mode.name}",
        f"--child_result={result}",
    ]
    if profile:
        cmd.append(f"--child_profile={work / (mode.name + '.prof')}")
    cmd += ["--", *argv]
    log_path = work / f"{mode.name}.log"
    log.info("%s: running (log %s)", mode.name, log_path)
    start = time.perf_counter()
    with log_path.open("w", encoding="utf-8") as handle:
        done = subprocess.run(
            cmd,
            stdout=handle,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            timeout=CHILD_TIMEOUT_S,
            check=False,
        )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"mode {mode.name} failed (exit {done.returncode}); see {log_path}")
    return json.loads(result.read_text(encoding="utf-8")), elapsed


def measure(mode: Mode, cfg: BenchConfig, args: argparse.Namespace, work: Path) -> Row:
    """Prepare the mode's fresh folders, run it and turn its records into a table row."""
    out_dir = work / mode.name / "runs"
    out_dir.mkdir(parents=True)
    cache_dir = None if mode.cache == "none" else work / mode.name / "cache"
    if mode.cache == "warm":
        shutil.copytree(work / "cold" / "cache", cache_dir)
    argv = gpo_argv(cfg, args.data_dir, out_dir, cache_dir, args.n_threads)
    timings, process_s = spawn(mode, argv, work, args.profile)
    usage = timings["ledger"]  # the run's Ledger: every metered call of the process
    summary, best = run_usage(out_dir)
    load = timings["llm_load_s"] + timings["smoke_s"] + timings["embedder_load_s"]
    wall, backend = timings["wall_s"], usage["backend_seconds"]
    overhead = wall - backend - load - timings["embed_s"]
    return Row(
        mode=mode.name,
        requests=usage["requests"],
        prompt_tokens=usage["prompt_tokens"],
        completion_tokens=usage["completion_tokens"],
        cache_hits=usage["cache_hits"],
        deduplicated=usage["deduplicated"],
        scorer_dups=int(timings["scorer_prompts"] - timings["scorer_distinct"]),
        wall_s=round(wall, 2),
        backend_s=round(backend, 2),
        load_s=round(load, 2),
        embed_s=round(timings["embed_s"], 2),
        overhead_s=round(overhead, 2),
        overhead_pct=round(100 * overhead / wall, 2),
        imports_s=round(timings["import_s"], 2),
        process_s=round(process_s, 2),
        load_avg_1m=round(os.getloadavg()[0], 2),
        summary_requests=summary["requests"],
        summary_backend_s=round(summary["backend_seconds"], 2),
        best_prompt=best,
    )


COLUMNS = (
    ("mode", "mode"),
    ("requests", "model calls"),
    ("prompt_tokens", "prompt tok"),
    ("completion_tokens", "completion tok"),
    ("cache_hits", "cache hits"),
    ("deduplicated", "dedup"),
    ("scorer_dups", "scorer dup prompts"),
    ("wall_s", "wall s"),
    ("backend_s", "backend s"),
    ("load_s", "model load s"),
    ("embed_s", "embed s"),
    ("overhead_s", "overhead s"),
    ("overhead_pct", "overhead %"),
    ("imports_s", "of which imports s"),
    ("process_s", "process s"),
    ("load_avg_1m", "load 1m"),
    ("summary_requests", "usage_summary calls"),
)


def markdown_table(rows: Sequence[Row]) -> str:
    lines = ["| " + " | ".join(title for _, title in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        lines.append("| " + " | ".join(str(getattr(row, key)) for key, _ in COLUMNS) + " |")
    return "\n".join(lines)


def uptime() -> str:
    try:
        return subprocess.run(
            ["uptime"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        return "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


NOTES = (
    "- overhead = wall - backend - model load - embed; overhead % = overhead / wall.",
    "- counters and backend s come from the run's Ledger; usage_summary calls is what the",
    "  run folder's usage_summary.json reports (it should be equal).",
    "- model load = llama.cpp load + start-up smoke test + embedding model load.",
    "- scorer dup prompts = repeats within one scoring round; the Scorer folds them before",
    "  the LLM (so they never show in dedup), except in unbatched mode where all are sent.",
)


def report(rows: Sequence[Row], meta: dict[str, Any], out: Path | None) -> str:
    """The markdown report; with ``out`` also written as ``out``.md and ``out``.json."""
    lines = [
        f"command: `{meta['command']}`",
        f"config: {meta['config']}",
        f"load before: {meta['uptime_before']}",
        f"load after:  {meta['uptime_after']}",
        "",
        markdown_table(rows),
        "",
        *NOTES,
    ]
    text = "\n".join(lines) + "\n"
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix(".md").write_text(text, encoding="utf-8")
        payload = {**meta, "rows": [dataclasses.asdict(r) for r in rows]}
        out.with_suffix(".json").write_text(json.dumps(payload, indent=2), encoding="utf-8")
    return text


def check(rows: Sequence[Row]) -> None:
    """Log what the modes should show (warm ~0 calls, same best prompt, overhead target)."""
    by = {r.mode: r for r in rows}
    if "warm" in by and by["warm"].requests > 0:
        log.warning("warm cache made %d model calls (expected 0)", by["warm"].requests)
    for row in rows:
        if "cold" in by and row.best_prompt != by["cold"].best_prompt:
            log.warning("%s found another best prompt than cold: %r", row.mode, row.best_prompt)
    for row in rows:
        if row.summary_requests != row.requests:
            log.warning(
                "%s: usage_summary.json reports %d model calls, the ledger counted %d",
                row.mode,
                row.summary_requests,
                row.requests,
            )
    if "cold" in by and by["cold"].overhead_pct >= 5.0:
        log.warning(
            "framework overhead %.1f%% of wall time (target < 5%%); rerun with --profile",
            by["cold"].overhead_pct,
        )


def top_functions(profile: Path, limit: int = 20) -> str:
    """The profile's functions by own time, for the report."""
    import io

    stream = io.StringIO()
    stats = pstats.Stats(str(profile), stream=stream)
    stats.sort_stats("tottime").print_stats(limit)
    return stream.getvalue()


def default_data_dir() -> Path:
    """$GPO_DATA_DIR, else the shared data folder next to the checkout, else ./data."""
    if os.environ.get("GPO_DATA_DIR"):
        return Path(os.environ["GPO_DATA_DIR"])
    shared = REPO.parent / "shared" / "data"
    return shared if shared.is_dir() else REPO / "data"


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a smaller config (smoke check)")
    p.add_argument("--data_dir", type=Path, default=None, help="benchmark data folder")
    p.add_argument("--out", type=Path, default=None, help="write OUT.md and OUT.json")
    p.add_argument("--work_dir", type=Path, default=None, help="run/cache folders (else tmp)")
    p.add_argument(
        "--n_threads",
        type=int,
        default=1,
        help="llama.cpp threads (default 1: stable on shared cores; 0 = gpo default)",
    )
    p.add_argument(
        "--modes",
        default=",".join(m.name for m in MODES),
        help="comma-separated subset of cold,warm,no_cache,unbatched",
    )
    p.add_argument("--profile", action="store_true", help="cProfile every mode")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--child_result", type=Path, default=None, help=argparse.SUPPRESS)
    p.add_argument("--child_profile", type=Path, default=None, help=argparse.SUPPRESS)
    p.add_argument("gpo_flags", nargs="*", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def select_modes(names: str) -> list[Mode]:
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    known = {m.name: m for m in MODES}
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise SystemExit(f"unknown --modes {unknown}; choose from {sorted(known)}")
    if "warm" in wanted and "cold" not in wanted:
        raise SystemExit("--modes=warm needs cold (it reuses cold's cache)")
    return [m for m in MODES if m.name in wanted]


def bench_main(args: argparse.Namespace) -> None:
    cfg = QUICK if args.quick else FULL
    args.data_dir = (args.data_dir or default_data_dir()).resolve()
    args.n_threads = args.n_threads or None
    modes = select_modes(args.modes)
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="gpo-bench-")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    if any((work / m.name).exists() for m in modes):
        raise SystemExit(f"{work} already holds benchmark runs; pass an empty --work_dir")
    meta = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "config": dataclasses.asdict(cfg) | {"n_threads": args.n_threads},
        "gpo_flags": gpo_argv(cfg, args.data_dir, Path("OUT"), Path("CACHE"), args.n_threads),
        "uptime_before": uptime(),
        "work_dir": str(work),
    }
    rows = []
    for mode in modes:
        rows.append(measure(mode, cfg, args, work))
        log.info("%s: %s", mode.name, rows[-1])
    meta["uptime_after"] = uptime()
    sys.stdout.write(report(rows, meta, args.out))
    check(rows)
    if args.profile:
        for mode in modes:
            sys.stdout.write(
                f"\n## profile of {mode.name}\n" + top_functions(work / f"{mode.name}.prof")
            )


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.child:
        child_main(args.child, args.child_result, args.child_profile, list(args.gpo_flags))
        return
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S"
    )
    bench_main(args)


if __name__ == "__main__":
    main()
