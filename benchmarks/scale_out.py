"""Scale-out benchmark: one two-task GPO run with 1 and 2 Ray workers, and with 1 and 2 scorer
server replicas; prints wall times, their ratios and the requests each replica served.

The run: the ``gpo`` preset (recency momentum, so no embedding model), SmolLM2-135M as scorer
and optimizer, BBH navigate + sports_understanding, small decode limits, one llama.cpp thread per
model. Four invocations of ``src/optimization/main.py``, each with a fresh output and cache folder:

    workers=1    llama.cpp in process, tasks one after the other (no Ray)
    workers=2    two Ray workers on a local Ray instance the run starts and stops
    replicas=1   llama.cpp behind one xllamacpp HTTP server (--openai_base_url=URL)
    replicas=2   two xllamacpp HTTP server replicas (--openai_base_url=URL1,URL2)

Each server sits behind a counting proxy (tests/fault_proxy.py, pass-through) so the requests
per replica are counted outside the code under test.

    python benchmarks/scale_out.py [--data_dir DIR] [--max_examples 4] [--candidates 2]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MAIN = REPO / "src" / "optimization" / "main.py"
sys.path[:0] = [str(REPO / "src"), str(REPO / "tests")]

from fault_proxy import FaultProxy  # noqa: E402
from servers import start_llama_server  # noqa: E402

TASKS = "navigate,sports_understanding"
HTTP = [
    "--scorer_llm_name=smollm2-http",
    "--scorer_backend=openai",
    "--optimizer_llm_name=smollm2-http",
    "--optimizer_backend=openai",
]
LOCAL = ["--scorer_llm_name=smollm2-135m", "--optimizer_llm_name=smollm2-135m"]


def run_flags(args: argparse.Namespace) -> list[str]:
    return [
        "--preset=gpo",
        "--momentum_selection_name=recency",
        "--dataset=bbh",
        f"--task_name={TASKS}",
        f"--max_examples={args.max_examples}",
        "--format_data_num=1",
        f"--num_generated_instructions_in_each_step={args.candidates}",
        "--num_search_epochs=1",
        f"--opt_batch_size={args.max_examples}",
        "--scorer_max_tokens=24",
        "--second_round_max_tokens=8",
        "--optimizer_max_tokens=48",
        "--seed=0",
        "--n_threads=1",
        "--log_level=WARNING",
        f"--data_dir={args.data_dir}",
    ]


def timed_run(args: argparse.Namespace, work: Path, name: str, *flags: str) -> float:
    out, cache = work / name / "out", work / name / "cache"
    cmd = [
        sys.executable,
        str(MAIN),
        *run_flags(args),
        f"--output_dir={out}",
        f"--cache_dir={cache}",
    ]
    env = {**os.environ, "HOME": str(work / "home"), "RAY_USAGE_STATS_ENABLED": "0"}
    started = time.monotonic()
    proc = subprocess.run([*cmd, *flags], capture_output=True, text=True, env=env, timeout=3600)
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        sys.exit(f"{name} failed:\n{proc.stderr[-3000:]}")
    return seconds


def replicas_run(args: argparse.Namespace, work: Path, name: str, count: int) -> tuple[float, list]:
    from gpo.llm.smollm2 import smollm2_gguf_path

    with contextlib.ExitStack() as stack:
        servers = [
            stack.enter_context(start_llama_server(smollm2_gguf_path(), n_threads=1))
            for _ in range(count)
        ]
        proxies = [stack.enter_context(FaultProxy(s.base_url, lifetime=3600)) for s in servers]
        url = ",".join(p.base_url for p in proxies)
        seconds = timed_run(args, work, name, *HTTP, f"--openai_base_url={url}")
        return seconds, [len(p.posts()) for p in proxies]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", default=os.environ.get("GPO_DATA_DIR", "data"))
    parser.add_argument("--max_examples", type=int, default=4)
    parser.add_argument("--candidates", type=int, default=2)
    args = parser.parse_args()
    args.data_dir = str(Path(args.data_dir).resolve())
    work = Path(tempfile.mkdtemp(prefix="gpo-scale-"))
    (work / "home").mkdir()
    try:
        one = timed_run(args, work, "workers1", *LOCAL)
        two = timed_run(args, work, "workers2", *LOCAL, "--workers=2")
        r1, counts1 = replicas_run(args, work, "replicas1", 1)
        r2, counts2 = replicas_run(args, work, "replicas2", 2)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    cores = os.cpu_count()
    print(f"machine: {platform.processor() or platform.machine()}, {cores} cores, "
          f"load {os.getloadavg()[0]:.2f}; tasks {TASKS}, max_examples {args.max_examples}, "
          f"N={args.candidates}")  # fmt: skip
    print("| run | wall s | ratio | requests per replica |")
    print("|---|---|---|---|")
    print(f"| workers=1 | {one:.1f} | 1.00 | - |")
    print(f"| workers=2 (local Ray) | {two:.1f} | {one / two:.2f} | - |")
    print(f"| replicas=1 | {r1:.1f} | 1.00 | {counts1} |")
    print(f"| replicas=2 | {r2:.1f} | {r1 / r2:.2f} | {counts2} |")
    print("ratio = wall time of the 1-worker (1-replica) run / this run (above 1: faster)")


if __name__ == "__main__":
    main()
