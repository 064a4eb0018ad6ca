"""Thread benchmark: how fast the bundled scorer runs with each llama.cpp thread setting, on idle
cores and beside a second busy llama.cpp process (the paper's scorer evaluation, GPO_REFERENCE 3.2).

For every (n_threads, n_threads_batch) pair, a fresh child process loads SmolLM2-135M through
gpo's llama.cpp backend and times one fixed scoring batch: the WSC initial prompt on the first
``--examples`` eval examples, two generations each (the chat scorer's second round), decode
limit ``--max_tokens``. Model loading is timed apart. "busy" runs the same child while a
neighbour process (llama.cpp, ``--neighbour_threads`` threads, generating without pause) keeps
the cores busy, like a second GPO run or any other model on a laptop or shared server.

Run it under the machine's CPU lock, one setting at a time if the lock must be short:

    flock /tmp/gpo-cpu.lock python benchmarks/thread_benchmark.py [--settings 1:1,1:2,2:1,2:2]
        [--conditions idle,busy] [--examples 4] [--max_tokens 64] [--json out.json]

Prints a table (seconds per batch, and the slowdown beside the busy neighbour).
``--quick_start`` instead times the README quick start (default threads) idle and busy.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("gpo.thread_benchmark")

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
CHILD_TIMEOUT_S = 900
NEIGHBOUR_WARMUP_S = 3.0


def _spec_and_options(n_threads: int, n_threads_batch: int, backend: str = "llamacpp"):
    sys.path.insert(0, str(SRC))
    from gpo.llm.aliases import resolve_model
    from gpo.llm.options import BackendOptions

    if backend == "hf":  # transformers on the converted folder (python -m gpo.llm.convert)
        from gpo.llm.convert import default_hf_dir

        spec = resolve_model(str(default_hf_dir()), "hf")
    else:
        spec = resolve_model("smollm2-135m")
    return spec, BackendOptions(n_threads=n_threads, n_threads_batch=n_threads_batch, gpus=())


def run_worker(args: argparse.Namespace) -> None:
    """Child: load the model with the given threads, score the fixed batch, print JSON."""
    spec, options = _spec_and_options(args.n_threads, args.n_threads_batch, args.backend)
    from gpo.data.download import resolve_data_dir
    from gpo.data.registry import get_benchmark
    from gpo.evaluation.scorer import Scorer, ScorerSettings
    from gpo.llm.factory import build_llm

    bench = get_benchmark("wsc")
    data = bench.load("wsc", resolve_data_dir(args.data_dir), args.examples)
    started = time.monotonic()
    llm = build_llm(spec, options)
    loaded = time.monotonic()
    scorer = Scorer(llm, bench, ScorerSettings(max_tokens=args.max_tokens))
    report = scorer.score("Let's think step by step.", data, "eval")
    done = time.monotonic()
    result = {
        "load_s": round(loaded - started, 2),
        "score_s": round(done - loaded, 2),
        "examples": len(report.rows),
        "score": report.score,
    }
    sys.stdout.write(json.dumps(result) + "\n")


def run_neighbour(args: argparse.Namespace) -> None:
    """Child: a busy llama.cpp process that generates until it is terminated."""
    spec, options = _spec_and_options(args.n_threads, args.n_threads)
    from gpo.llm.base import GenerationParams, user_message
    from gpo.llm.factory import build_llm

    llm = build_llm(spec, options)
    params = GenerationParams(temperature=0.0, max_tokens=256)
    k = 0
    while True:
        k += 1
        llm.generate([user_message(f"Write a long story about the number {k}.")], params)


def _child(argv: list[str]) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), *argv]


def measure(
    n_threads: int, n_threads_batch: int, busy: bool, args: argparse.Namespace
) -> dict[str, Any]:
    neighbour = None
    if busy:
        neighbour = subprocess.Popen(
            _child(["--neighbour", "--n_threads", str(args.neighbour_threads)]),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(NEIGHBOUR_WARMUP_S)  # let it load and start generating
    try:
        argv = ["--worker", "--n_threads", str(n_threads), "--n_threads_batch"]
        argv += [str(n_threads_batch), "--examples", str(args.examples)]
        argv += ["--max_tokens", str(args.max_tokens), "--backend", args.backend]
        if args.data_dir:
            argv += ["--data_dir", args.data_dir]
        load_before = os.getloadavg()[0]
        out = subprocess.run(
            _child(argv), capture_output=True, text=True, timeout=CHILD_TIMEOUT_S, check=True
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        result["load_average_before"] = round(load_before, 2)
        return result
    finally:
        if neighbour is not None:
            neighbour.terminate()
            neighbour.wait(timeout=30)


QUICK_START = [
    "--preset=gpo",
    "--dataset=bbh",
    "--task_name=navigate",
    "--scorer_llm_name=smollm2-135m",
    "--optimizer_llm_name=smollm2-135m",
    "--embedding_model=all-minilm-l6-v2",
    "--max_examples=4",
    "--num_generated_instructions_in_each_step=2",
    "--num_search_epochs=2",
    "--opt_batch_size=4",
    "--no_cache",
]


def quick_start(busy: bool, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """The README quick start (gpo's default threads), idle or beside the busy neighbour:
    wall time and the seconds of each GPO step from its steps.jsonl."""
    neighbour = None
    if busy:
        neighbour = subprocess.Popen(
            _child(["--neighbour", "--n_threads", str(args.neighbour_threads)]),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(NEIGHBOUR_WARMUP_S)
    try:
        argv = [sys.executable, str(SRC / "optimization" / "main.py"), *QUICK_START]
        argv += [f"--output_dir={out}", "--log_level=WARNING"]
        if args.data_dir:
            argv.append(f"--data_dir={args.data_dir}")
        started = time.monotonic()
        subprocess.run(argv, check=True, timeout=CHILD_TIMEOUT_S, cwd=REPO)
        wall = time.monotonic() - started
    finally:
        if neighbour is not None:
            neighbour.terminate()
            neighbour.wait(timeout=30)
    [steps] = list(out.glob("*/result_by_instruction/navigate/steps.jsonl"))
    records = [json.loads(line) for line in steps.read_text().splitlines()]
    step_s = [r["seconds"] for r in records if "candidates" in r]
    return {"condition": "busy" if busy else "idle", "wall_s": round(wall, 1), "step_s": step_s}


def table(rows: list[dict[str, Any]]) -> list[str]:
    by_key = {(r["n_threads"], r["n_threads_batch"], r["condition"]): r for r in rows}
    lines = [
        "| n_threads | n_threads_batch | idle (s) | busy neighbour (s) | busy / idle |",
        "|---|---|---|---|---|",
    ]
    for nt, nb in dict.fromkeys((r["n_threads"], r["n_threads_batch"]) for r in rows):
        idle = by_key.get((nt, nb, "idle"), {}).get("score_s")
        busy = by_key.get((nt, nb, "busy"), {}).get("score_s")
        ratio = f"{busy / idle:.1f}x" if idle and busy else "-"
        lines.append(f"| {nt} | {nb} | {idle or '-'} | {busy or '-'} | {ratio} |")
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--neighbour", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--n_threads", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--n_threads_batch", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--settings", default="1:1,1:2,2:1,2:2", help="n_threads:n_threads_batch,...")
    p.add_argument("--conditions", default="idle,busy", help="idle and/or busy")
    p.add_argument("--neighbour_threads", type=int, default=2)
    p.add_argument(
        "--backend", default="llamacpp", help="llamacpp, or hf (torch threads = n_threads)"
    )
    p.add_argument("--examples", type=int, default=4)
    p.add_argument("--max_tokens", type=int, default=64)
    p.add_argument("--data_dir", default=None)
    p.add_argument("--json", default=None, help="append the rows to this JSON-lines file")
    p.add_argument("--quick_start", action="store_true", help="time the README quick start instead")
    args = p.parse_args()
    if args.worker:
        return run_worker(args)
    if args.neighbour:
        return run_neighbour(args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.quick_start:
        import tempfile

        for condition in args.conditions.split(","):
            with tempfile.TemporaryDirectory() as tmp:
                row = quick_start(condition == "busy", args, Path(tmp))
            sys.stdout.write(json.dumps(row) + "\n")
            if args.json:
                with open(args.json, "a", encoding="utf-8") as f:
                    f.write(json.dumps({"quick_start": True, **row}) + "\n")
        return None
    rows = []
    for setting in args.settings.split(","):
        nt, nb = (int(x) for x in setting.split(":"))
        for condition in args.conditions.split(","):
            result = measure(nt, nb, condition == "busy", args)
            row = {"n_threads": nt, "n_threads_batch": nb, "condition": condition, **result}
            log.info("%s", row)
            rows.append(row)
            if args.json:
                with open(args.json, "a", encoding="utf-8") as f:
                    f.write(json.dumps(row) + "\n")
    machine = f"{os.cpu_count()} CPUs, {os.uname().machine}"
    sys.stdout.write(
        f"\nthread benchmark, {args.backend} ({machine}, {args.examples} WSC examples x 2 rounds)\n"
    )
    sys.stdout.write("\n".join(table(rows)) + "\n")


if __name__ == "__main__":
    main()
