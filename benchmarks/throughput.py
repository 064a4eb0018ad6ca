"""Throughput of the llamacpp backend (xllamacpp) on the quick start's scorer and optimizer work.

1. Record: the README's quick start runs (``gpo.cli.app.run``, the code path of main.py, so the
   project builds every prompt from the data and the seed) with ``--no_cache`` on one slot; a
   Runtime seam records each call of the scorer and of the optimizer (prompts, decode settings,
   sample indices).
2. Replay the recorded workload, in this process, through two fresh engines:

       sequential  1 slot, no prompt-cache reuse: one request at a time, every prompt prefilled
       default     the backend's default slots (``--n_parallel``) and prompt cache: each example's
                   two rounds as one conversation (``gpo.evaluation.conversations``), the samples
                   of a meta-prompt one after another on one slot, prompts in text order

   The same prompts are sent in both (the second rounds as recorded). For each: wall time,
   tokens/s, prompt tokens computed and served from the cache, the engine's prefill and decode
   time, and the speed-up.

    flock /tmp/gpo-cpu.lock python benchmarks/throughput.py [--n_threads 2] [--data_dir DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from thread_benchmark import QUICK_START as THREAD_QUICK_START  # noqa: E402

from gpo.llm.base import GenerationParams, Prompt  # noqa: E402

log = logging.getLogger("gpo.benchmark.throughput")

# the quick start's flags, as the thread benchmark replays them (it adds --no_cache itself)
QUICK_START = [f for f in THREAD_QUICK_START if f != "--no_cache"]
SCORER_MAX_TOKENS, SECOND_ROUND_MAX_TOKENS = 256, 100  # the CLI defaults the quick start uses


@dataclass
class Call:
    """One recorded ``generate`` call of a role."""

    role: str
    prompts: list[Prompt]
    params: GenerationParams
    indices: list[int] | None


@dataclass
class Recorder:
    calls: list[Call] = field(default_factory=list)


class RecordingLLM:
    """Records every call of the LLM it wraps (the role's wrapped LLM)."""

    def __init__(self, inner: Any, role: str, recorder: Recorder) -> None:
        self.inner, self.role, self.recorder = inner, role, recorder
        self.name, self.backend, self.is_chat = inner.name, inner.backend, inner.is_chat
        self.concurrency = 1  # record the scorer's rounds as whole batches

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams, sample_indices=None):
        indices = list(sample_indices) if sample_indices is not None else None
        self.recorder.calls.append(Call(self.role, list(prompts), params, indices))
        return self.inner.generate(prompts, params, sample_indices)

    def close(self) -> None:
        self.inner.close()


def record(data_dir: str, n_threads: int, out_dir: Path) -> list[Call]:
    """Run the quick start once (no response cache, 1 slot) and return its recorded calls."""
    from gpo.cli.app import run
    from gpo.runs.runtime import DEFAULT_RUNTIME

    recorder = Recorder()

    def load_llm(spec: Any, options: Any) -> Any:
        return DEFAULT_RUNTIME.load_llm(spec, dataclasses.replace(options, n_parallel=1))

    def wrap_llm(inner: Any, role: str, ledger: Any, cache: Any) -> Any:
        return RecordingLLM(DEFAULT_RUNTIME.wrap_llm(inner, role, ledger, cache), role, recorder)

    runtime = dataclasses.replace(DEFAULT_RUNTIME, load_llm=load_llm, wrap_llm=wrap_llm)
    argv = [*QUICK_START, f"--data_dir={data_dir}", f"--output_dir={out_dir}", "--no_cache"]
    start = time.perf_counter()
    run(["main.py", *argv, f"--n_threads={n_threads}"], runtime)
    log.info("quick start recorded in %.1f s: %d calls", time.perf_counter() - start,
             len(recorder.calls))  # fmt: skip
    return recorder.calls


@dataclass(frozen=True)
class Pair:
    """A scorer round pair: the first prompts and, for each, its second-round prompt."""

    firsts: list[Prompt]
    seconds: list[Prompt]


def workload(calls: list[Call]) -> list[Pair | Call]:
    """The recorded calls with each first scorer round paired with its second round."""
    out: list[Pair | Call] = []
    pending: Call | None = None
    for call in calls:
        if call.role != "scorer" or call.params.max_tokens <= 1:  # optimizer; smoke tests
            if call.params.max_tokens > 1:
                out.append(call)
            continue
        if call.params.max_tokens == SCORER_MAX_TOKENS:
            pending = call
            continue
        assert pending is not None, "a second round without a first"
        by_first = {s[0].content: s for s in call.prompts}
        firsts = [p for p in pending.prompts if p[0].content in by_first]
        out.append(Pair(firsts, [by_first[p[0].content] for p in firsts]))
        pending = None
    return out


def replay(items: list[Pair | Call], n_parallel: int | None, cache: bool, n_threads: int) -> dict:
    """Send the workload through a fresh engine; the engine's counters and the wall time."""
    from gpo.evaluation.conversations import converse
    from gpo.evaluation.scorer import generate_unique
    from gpo.llm.aliases import resolve_model
    from gpo.llm.factory import build_llm
    from gpo.llm.llamacpp import clear_model_cache
    from gpo.llm.options import BackendOptions

    clear_model_cache()
    options = BackendOptions(n_threads=n_threads, n_parallel=n_parallel, prompt_cache=cache)
    llm = build_llm(resolve_model("smollm2-135m"), options)
    start = time.perf_counter()
    for item in items:
        if isinstance(item, Pair):
            seconds = item.seconds
            converse(
                llm,
                generate_unique,
                item.firsts,
                lambda n, _answer, seconds=seconds: seconds[n],
                (SCORER_MAX_TOKENS, SECOND_ROUND_MAX_TOKENS),
            )
        else:
            llm.generate(item.prompts, item.params, item.indices)
    wall = time.perf_counter() - start
    stats = dataclasses.asdict(llm.stats)
    clear_model_cache()
    return {"wall_s": wall, "slots": llm.concurrency, **stats}


def report(name: str, r: dict, base: dict | None) -> str:
    tokens = r["prompt_tokens"] + r["completion_tokens"]
    computed = r["prompt_tokens"] - r["cached_prompt_tokens"]
    speedup = f"{base['wall_s'] / r['wall_s']:.2f}x" if base else "1.00x"
    return (
        f"{name:<11}{r['slots']:>6}{r['wall_s']:>9.1f}{tokens / r['wall_s']:>8.0f}"
        f"{r['requests']:>6}{r['prompt_tokens']:>9}{computed:>10}{r['cached_prompt_tokens']:>8}"
        f"{computed / max(1, r['prompt_tokens']):>10.0%}{r['completion_tokens']:>8}"
        f"{r['prompt_ms'] / 1000:>10.1f}{r['decode_ms'] / 1000:>10.1f}{speedup:>9}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", default=os.environ.get("GPO_DATA_DIR", "../shared/data"))
    parser.add_argument("--n_threads", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    log.setLevel(logging.INFO)
    with tempfile.TemporaryDirectory(prefix="gpo-throughput-") as tmp:
        calls = record(args.data_dir, args.n_threads, Path(tmp) / "out")
    items = workload(calls)
    n_conv = sum(len(i.firsts) for i in items if isinstance(i, Pair))
    n_opt = sum(len(i.prompts) for i in items if isinstance(i, Call))
    print(f"workload: {n_conv} scorer conversations (2 rounds each), {n_opt} optimizer samples")
    sequential = replay(items, 1, False, args.n_threads)
    default = replay(items, None, True, args.n_threads)
    print(
        f"{'mode':<11}{'slots':>6}{'wall s':>9}{'tok/s':>8}{'reqs':>6}{'prompt':>9}"
        f"{'computed':>10}{'cached':>8}{'computed%':>10}{'decoded':>8}"
        f"{'prefill s':>10}{'decode s':>10}{'speed-up':>9}"
    )
    print(report("sequential", sequential, None))
    print(report("default", default, sequential))
    print("(prefill s / decode s: engine time summed over requests; slots overlap them)")


if __name__ == "__main__":
    main()
