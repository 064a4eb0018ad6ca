"""Peak memory (resident set size) of GPO's local runs: the quick starts and one demonstration cell.

Each workload is one ``src/optimization/main.py`` process under ``/usr/bin/time -v`` (its
"Maximum resident set size"), with ``--no_cache`` and a fresh output folder, each under
``flock /tmp/gpo-cpu.lock`` (``--lock=`` for none):

    smollm2   the SmolLM2-135M quick start (BBH navigate, 4 examples, 2 epochs of N=2)
    capable   the capable quick start (date_iso; Qwen2.5-Coder 0.5B scorer, 1.5B optimizer)
    cell      one cell of the demonstration grid (benchmarks/effectiveness.py with
              ``--scorer=qwen2.5-coder-0.5b``): gpo, date_iso, seed 0, 32 records per split
    embedder  what the sentence-transformers embedder alone costs (torch, all-minilm-l6-v2)

``--src`` runs another checkout's code (e.g. an older commit in ``git worktree add``) on this
checkout's example data, so the same script measures before and after a change.
``--cell_minutes`` stops the cell after that long (``timeout``, once the lock is held; the peak
so far is still reported).

    python benchmarks/memory_benchmark.py [--src DIR] [--workloads smollm2,capable,cell]
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOCK = "/tmp/gpo-cpu.lock"
TIME = "/usr/bin/time"
COMMON = ["--embedding_model=all-minilm-l6-v2", "--no_cache"]
WORKLOADS: dict[str, list[str]] = {
    "smollm2": [
        "--preset=gpo",
        "--dataset=bbh",
        "--task_name=navigate",
        "--scorer_llm_name=smollm2-135m",
        "--optimizer_llm_name=smollm2-135m",
        "--max_examples=4",
        "--num_generated_instructions_in_each_step=2",
        "--num_search_epochs=2",
        "--opt_batch_size=4",
    ],
    "capable": [
        "--preset=gpo",
        "--candidate_guards=scaffolding,copied,empty",
        "--dataset=custom",
        f"--data_dir={REPO / 'examples'}",
        "--task_name=date_iso",
        "--initial_instruction=",
        "--scorer_llm_name=qwen2.5-coder-0.5b",
        "--optimizer_llm_name=qwen2.5-coder-1.5b",
        "--max_examples=8",
        "--num_search_epochs=1",
        "--num_generated_instructions_in_each_step=4",
        "--scorer_max_tokens=32",
        "--optimizer_max_tokens=160",
    ],
    "cell": [  # benchmarks/effectiveness.py's flags for one method, task and seed
        "--preset=gpo",
        "--dataset=custom",
        f"--data_dir={REPO / 'examples'}",
        "--task_name=date_iso",
        "--initial_instruction=",
        "--scorer_llm_name=qwen2.5-coder-0.5b",
        "--optimizer_llm_name=qwen2.5-coder-1.5b",
        "--max_examples=32",
        "--num_search_epochs=2",
        "--opt_batch_size=8",
        "--num_generated_instructions_in_each_step=4",
        "--eval_racing=exact",
        "--scorer_max_tokens=32",
        "--optimizer_max_tokens=160",
        "--n_threads=1",
        "--seed=0",
    ],
}
EMBEDDER = (
    "from gpo.llm.embedder import build_embedder; "
    "build_embedder('all-minilm-l6-v2').encode(['a sentence'])"
)
log = logging.getLogger("memory_benchmark")


@dataclass(frozen=True)
class Measured:
    workload: str
    peak_mib: float
    wall_s: float
    exit_status: str
    command: list[str]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--src", type=Path, default=REPO / "src", help="the code to run (a src/)")
    p.add_argument("--workloads", default="smollm2,capable,cell")
    p.add_argument("--cell_minutes", type=float, default=None, help="stop the cell after")
    p.add_argument("--lock", default=LOCK, help="flock file around each workload ('' for none)")
    p.add_argument("--extra", default="", help="more flags for every main.py run (space list)")
    return p.parse_args(argv)


def command(name: str, args: argparse.Namespace, out: Path) -> list[str]:
    """The measured command of one workload (without the lock)."""
    if name == "embedder":
        return [sys.executable, "-c", EMBEDDER]
    if name not in WORKLOADS:
        sys.exit(f"error: unknown workload {name!r}; choose from {', '.join(WORKLOADS)}, embedder")
    main = args.src / "optimization" / "main.py"
    flags = [*WORKLOADS[name], *COMMON, f"--output_dir={out / name}", *args.extra.split()]
    return [sys.executable, str(main), *flags]


def peak_rss_mib(report: str) -> float:
    """The "Maximum resident set size (kbytes)" of a ``/usr/bin/time -v`` report, in MiB."""
    found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", report)
    if found is None:
        raise ValueError("no 'Maximum resident set size' in the time report")
    return int(found.group(1)) / 1024


def wall_seconds(report: str) -> float:
    """The "Elapsed (wall clock) time" of a ``/usr/bin/time -v`` report (not the lock wait)."""
    found = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", report)
    if found is None:
        return float("nan")
    seconds = 0.0
    for part in found.group(1).split(":"):
        seconds = seconds * 60 + float(part)
    return seconds


def measure(name: str, args: argparse.Namespace, out: Path) -> Measured:
    measured = command(name, args, out)
    if name == "cell" and args.cell_minutes:  # the limit starts once the lock is held
        measured = ["timeout", f"{args.cell_minutes * 60:.0f}", *measured]
    timed = [TIME, "-v", "-o", str(out / f"{name}.time"), *measured]
    full = ["flock", args.lock, *timed] if args.lock else timed
    env = {**os.environ, "PYTHONPATH": str(args.src)}
    log.info("running %s: %s", name, " ".join(measured))
    with open(out / f"{name}.log", "w", encoding="utf-8") as sink:
        code = subprocess.run(full, env=env, stdout=sink, stderr=subprocess.STDOUT).returncode
    status = f"stopped after {args.cell_minutes:g} min" if code == 124 else f"exit {code}"
    report = (out / f"{name}.time").read_text(encoding="utf-8")
    return Measured(name, peak_rss_mib(report), wall_seconds(report), status, measured)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args(argv)
    if not Path(TIME).is_file():
        sys.exit(f"error: {TIME} is missing; apt-get install -y time")
    out = Path(tempfile.mkdtemp(prefix="gpo-memory-"))
    names = [n.strip() for n in args.workloads.split(",") if n.strip()]
    rows = [measure(name, args, out) for name in names]
    log.info("code: %s; logs and time reports: %s", args.src, out)
    log.info("| workload | peak RSS (MiB) | wall s | status |")
    log.info("|---|---|---|---|")
    for r in rows:
        log.info("| %s | %.0f | %.0f | %s |", r.workload, r.peak_mib, r.wall_s, r.exit_status)
    return 0 if all(r.exit_status.startswith(("exit 0", "stopped")) for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
