"""Concurrent requests of one batch: the fan-out of the HTTP backend and of the replica pool.

A batch's prompts are independent requests (GPO_REFERENCE 3.3, one per candidate x example), so
they go out on a thread pool, at most ``workers`` at a time, and the replies come back in prompt
order, with one progress bar for the batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from tqdm import tqdm

from gpo.llm.base import Completion, GenerationParams, Prompt, prompt_text

PROGRESS_MIN_PROMPTS = 4  # show a progress bar for calls with more prompts than this

Send = Callable[[Prompt, GenerationParams, int], Completion]


def progress_bar(total: int, desc: str) -> tqdm:
    """The progress bar of one batch (hidden for small batches, gone when done)."""
    return tqdm(total=total, desc=desc, disable=total <= PROGRESS_MIN_PROMPTS, leave=False)


def fan_out(
    send: Send,
    prompts: Sequence[Prompt],
    params: GenerationParams,
    indices: Sequence[int],
    *,
    workers: int,
    desc: str,
    thread_prefix: str,
) -> list[Completion]:
    """``send(prompt, params, index)`` for every prompt on up to ``workers`` threads; the
    completions in prompt order. The first failure propagates and cancels what has not started."""
    chains = [[n] for n in range(len(prompts))]
    return _run_chains(send, prompts, params, indices, chains, workers, desc, thread_prefix)


def prefix_chains(prompts: Sequence[Prompt]) -> list[list[int]]:
    """The positions of a batch grouped for a prompt-caching engine.

    Identical prompts (the N samples of one meta-prompt) form one chain, sent one after another
    so that every sample after the first finds the prompt in the cache; chains are ordered by
    their text, so that prompts sharing a prefix go out next to each other."""
    chains: dict[Prompt, list[int]] = {}
    for n, prompt in enumerate(prompts):
        chains.setdefault(prompt, []).append(n)
    return [chains[p] for p in sorted(chains, key=prompt_text)]


def fan_out_chains(
    send: Send,
    prompts: Sequence[Prompt],
    params: GenerationParams,
    indices: Sequence[int],
    *,
    workers: int,
    desc: str,
    thread_prefix: str,
) -> list[Completion]:
    """Like ``fan_out``, but each chain of ``prefix_chains`` runs in order on one thread; the
    completions come back in prompt order."""
    chains = prefix_chains(prompts)
    return _run_chains(send, prompts, params, indices, chains, workers, desc, thread_prefix)


def _run_chains(
    send: Send,
    prompts: Sequence[Prompt],
    params: GenerationParams,
    indices: Sequence[int],
    chains: list[list[int]],
    workers: int,
    desc: str,
    thread_prefix: str,
) -> list[Completion]:
    """Each chain's prompts in order on one thread, up to ``workers`` chains at a time; the
    completions in prompt order. The first failure propagates and cancels what has not started."""
    if not prompts:
        return []
    results: list[Completion | None] = [None] * len(prompts)
    bar = progress_bar(len(prompts), desc)

    def run(chain: list[int]) -> None:
        for n in chain:
            results[n] = send(prompts[n], params, indices[n])
            bar.update(1)

    if len(chains) == 1:  # one chain (one prompt, or the samples of one): on this thread
        with bar:
            run(chains[0])
        return [r for r in results if r is not None]
    pool = ThreadPoolExecutor(
        max_workers=min(workers, len(chains)), thread_name_prefix=thread_prefix
    )
    try:
        for future in [pool.submit(run, c) for c in chains]:
            future.result()
    finally:
        bar.close()
        pool.shutdown(wait=True, cancel_futures=True)
    return [r for r in results if r is not None]
