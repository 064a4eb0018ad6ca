"""The scorer's two rounds per example (GPO_REFERENCE 3.4), sent so an engine's prompt cache hits.

An example's second round repeats its first round's conversation and asks for the answer in the
task's format. On a backend that serves several requests at once with a prompt cache (its
``concurrency`` > 1, the llama.cpp backend), each example's conversation runs on its own: its
second round follows its own first round at once, while the slot still holds that conversation,
and ``concurrency`` conversations are in flight together. Elsewhere (HTTP, vLLM, transformers, the
fake LLM), round one goes out as one batch and then round two, in the same order (vLLM's prefix
cache keeps the first round's blocks). Both send the same prompts and get the same greedy replies
through the same ``replies`` function (the Runtime's seam and the response cache see every call).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from gpo.llm.base import LLM, Prompt, concurrency, prompt_text
from gpo.llm.fan_out import progress_bar

logger = logging.getLogger(__name__)

Replies = Callable[[LLM, Sequence[Prompt], int], list[str]]  # (llm, prompts, max_tokens) -> texts
FollowUp = Callable[[int, str], Prompt]  # (item position, first reply) -> second-round prompt


def converse(
    llm: LLM,
    replies: Replies,
    firsts: Sequence[Prompt],
    follow_up: FollowUp,
    max_tokens: tuple[int, int],
) -> tuple[list[str], list[tuple[Prompt, str]]]:
    """Both rounds of every item: the first replies, and each (second prompt, second reply)."""
    if concurrency(llm) > 1 and len(firsts) > 1:
        return _per_conversation(llm, replies, firsts, follow_up, max_tokens)
    first = replies(llm, firsts, max_tokens[0])
    seconds = [follow_up(n, answer) for n, answer in enumerate(first)]
    return first, list(zip(seconds, replies(llm, seconds, max_tokens[1])))


def _per_conversation(
    llm: LLM,
    replies: Replies,
    firsts: Sequence[Prompt],
    follow_up: FollowUp,
    max_tokens: tuple[int, int],
) -> tuple[list[str], list[tuple[Prompt, str]]]:
    """Each distinct first prompt's two rounds on one thread, ``concurrency(llm)`` at a time,
    started in text order (shared prefixes together); identical items share one conversation."""
    leaders: dict[Prompt, int] = {}
    for n, prompt in enumerate(firsts):
        leaders.setdefault(prompt, n)
    order = sorted(leaders.values(), key=lambda n: prompt_text(firsts[n]))
    done: dict[int, tuple[str, Prompt, str]] = {}
    workers = min(concurrency(llm), len(order))
    logger.info(
        "scorer %s: %d conversations of two rounds, %d at a time", llm.name, len(order), workers
    )
    bar = progress_bar(len(order), f"{llm.name} conversations")

    def run(n: int) -> None:
        answer = replies(llm, [firsts[n]], max_tokens[0])[0]
        second = follow_up(n, answer)
        done[n] = (answer, second, replies(llm, [second], max_tokens[1])[0])
        bar.update(1)

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="conversation")
    try:
        for future in [pool.submit(run, n) for n in order]:
            future.result()
    finally:
        bar.close()
        pool.shutdown(wait=True, cancel_futures=True)
    rows = [done[leaders[p]] for p in firsts]
    return [r[0] for r in rows], [(r[1], r[2]) for r in rows]
