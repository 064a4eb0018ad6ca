"""Candidate proposal and the choice of the next prompt (GPO_REFERENCE 5.3 steps 7-10).

The optimizer LLM samples N candidate prompts from the meta-prompt (the paper's update step).
Each reply is cut between ``<START>`` and ``<END>`` and polished; candidates are de-duplicated
by MD5 against every prompt generated earlier in the task, and the next current prompt is the
best-ranked candidate that was not chosen at an earlier step (a non-monotone move, like SGD).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from gpo.llm.base import LLM, GenerationParams, Prompt, user_message

log = logging.getLogger(__name__)

OPTIMIZER_MAX_TOKENS = 512
GREEDY = GenerationParams(temperature=0.0, max_tokens=OPTIMIZER_MAX_TOKENS)
START_TAG = "<START>"
END_TAG = "<END>"


class Scored(Protocol):
    """Anything with an eval score (a trajectory entry)."""

    @property
    def score(self) -> float: ...


ScoredT = TypeVar("ScoredT", bound=Scored)


def optimizer_prompt(llm: LLM, text: str) -> Prompt:
    """The optimizer request: one user message for chat models (as the original), else text."""
    return user_message(text) if llm.is_chat else text


def ask(llm: LLM, text: str, params: GenerationParams = GREEDY) -> str:
    """One optimizer request (n = 1, fix 10.7); the reply text."""
    (reply,) = llm.generate([optimizer_prompt(llm, text)], params, sample_indices=[0])
    return reply.text


def sample_replies(
    llm: LLM,
    meta_prompt: str,
    n: int,
    temperature: float,
    seed: int = 0,
    max_tokens: int = OPTIMIZER_MAX_TOKENS,
    first_index: int = 0,
) -> list[str]:
    """N independent samples of one meta-prompt, sent as N requests in ONE ``generate`` call.

    The requests are identical and carry sample indices ``first_index`` .. ``first_index+N-1``
    (per-sample seeds and cache keys; a resample round starts after the earlier rounds' indices).
    """
    params = GenerationParams(temperature=temperature, max_tokens=max_tokens, seed=seed)
    prompt = optimizer_prompt(llm, meta_prompt)
    indices = list(range(first_index, first_index + n))
    replies = llm.generate([prompt] * n, params, sample_indices=indices)
    return [r.text for r in replies]


def extract_between_tags(text: str) -> str:
    """Text after the first ``<START>`` (else from 0) up to the first ``<END>`` (else the end),
    stripped. Quirk 10.22 kept: an ``<END>`` before the ``<START>`` gives ``""``."""
    start = text.find(START_TAG)
    begin = start + len(START_TAG) if start >= 0 else 0
    end = text.find(END_TAG)
    stop = end if end >= 0 else len(text)
    return text[begin:stop].strip()


def polish(text: str) -> str:
    """Strip, delete every ``**``, and upper-case the first character when longer than 1."""
    text = text.strip().replace("**", "")
    if len(text) > 1:
        text = text[0].upper() + text[1:]
    return text


def parse_candidate(reply: str) -> str:
    """A reply's candidate prompt: extracted between the tags, then polished."""
    return polish(extract_between_tags(reply))


def propose(
    llm: LLM,
    meta_prompt: str,
    n: int,
    temperature: float,
    seed: int = 0,
    max_tokens: int = OPTIMIZER_MAX_TOKENS,
    first_index: int = 0,
) -> list[str]:
    """N candidate prompts, in generation order (empty candidates are kept; quirk 10.17)."""
    replies = sample_replies(llm, meta_prompt, n, temperature, seed, max_tokens, first_index)
    for i, reply in enumerate(replies):
        log.debug("optimizer reply %d: %r", first_index + i, reply)
    return [parse_candidate(r) for r in replies]


def prompt_hash(prompt: str) -> str:
    """Hex MD5 of the UTF-8 prompt (also the CSV file name of its results)."""
    return hashlib.md5(prompt.encode("utf-8")).hexdigest()


def hashes_of(prompts: Iterable[str]) -> set[str]:
    """MD5 hashes to add to the task's seen set after a dedup."""
    return {prompt_hash(p) for p in prompts}


def dedup_candidates(
    candidates: Sequence[str], seen_hashes: Collection[str], scores: Mapping[str, float]
) -> tuple[list[str], dict[str, float]]:
    """Split candidates into new ones (to evaluate) and reused ones (with stored scores).

    Generation order is kept (fix 10.8: the original passes the new list through ``set()``).
    A candidate whose MD5 was seen before (earlier steps, or earlier in this list) is dropped,
    and reused with its stored score if it has one. ``seen_hashes`` is not modified: add
    ``hashes_of(new)`` to it afterwards. Quirks kept: the initial prompt is never hashed (the
    caller never adds it), so regenerating it re-evaluates it; empty strings are ordinary
    candidates (10.17, evaluated once as the Empty prompt).
    """
    seen = set(seen_hashes)
    new: list[str] = []
    reused: dict[str, float] = {}
    for c in candidates:
        h = prompt_hash(c)
        if h in seen:
            if c in scores:
                reused[c] = scores[c]
            continue
        seen.add(h)
        new.append(c)
    return new, reused


def build_ranking(
    current_prompt: str, reused: Mapping[str, float], new_scores: Mapping[str, float]
) -> dict[str, float]:
    """The step's ranking: ``{U: 0.0}`` (a placeholder, not U's score; quirk 10.5), then the
    reused candidates, then the newly evaluated ones, in insertion order."""
    ranking = {current_prompt: 0.0}
    ranking.update(reused)
    ranking.update(new_scores)
    return ranking


def choose_next(ranking: Mapping[str, float], chosen_before: Collection[str]) -> str:
    """The highest-ranked prompt not chosen at an earlier step (stable sort: ties go to the
    earlier insertion); the top entry if every prompt was chosen before.

    ``chosen_before`` holds the prompts chosen at steps >= 0. Quirk 10.5 kept: the initial
    prompt is not in it (the original records its score instead), so it can be re-chosen, and
    with its 0.0 placeholder it wins when every candidate scores 0.0. An empty candidate (from
    ``<START><END>``, an ``<END>`` before ``<START>`` or an empty reply) never becomes the next
    prompt: as in the original, the choice then falls back to the top of the ranking, even a
    prompt chosen before (so "" stays only when it scores best of all).
    """
    if not ranking:
        raise ValueError("empty ranking")
    ordered = sorted(ranking.items(), key=lambda kv: kv[1], reverse=True)
    chosen = next((p for p, _ in ordered if p not in chosen_before), ordered[0][0])
    return chosen if chosen else ordered[0][0]


def could_be_chosen(
    ranking: Mapping[str, float], chosen_before: Collection[str], prompt: str
) -> bool:
    """A necessary condition for ``choose_next(ranking, chosen_before) == prompt`` that is
    monotone (raising ``prompt``'s score and lowering the others' keeps it true), which racing
    on the eval split relies on: ``prompt`` is the first prompt not chosen before (and not
    empty), or it tops the ranking when the fallback to the top can apply (every prompt chosen
    before, or an empty prompt not chosen before is present). The empty prompt always counts:
    its score decides whether the fallback applies, so racing must score it completely."""
    if prompt == "":
        return True
    ordered = sorted(ranking.items(), key=lambda kv: kv[1], reverse=True)
    fallback = all(p in chosen_before for p in ranking) or (
        "" in ranking and "" not in chosen_before
    )
    if fallback and ordered and ordered[0][0] == prompt:
        return True
    first = next((p for p, _ in ordered if p not in chosen_before), None)
    return first == prompt


@dataclass(frozen=True)
class NextPromptRule:
    """The step's choice of the next prompt as racing sees it: the current prompt (with its 0.0
    placeholder), the reused candidates' scores and the prompts chosen at earlier steps; the
    raced candidates' scores are inserted after them, in candidate order."""

    current: str
    reused: Mapping[str, float]
    chosen_before: frozenset[str]

    def winner(self, scores: Mapping[str, float]) -> str:
        return choose_next(build_ranking(self.current, self.reused, scores), self.chosen_before)

    def could_win(self, prompt: str, scores: Mapping[str, float]) -> bool:
        ranking = build_ranking(self.current, self.reused, scores)
        return could_be_chosen(ranking, self.chosen_before, prompt)


def best_of_trajectory(trajectory: Sequence[ScoredT]) -> ScoredT:
    """The final prompt: the entry with the highest eval score, ties going to the earliest.

    The original never picks one (5.3); this is the explicit final stage it implies.
    """
    if not trajectory:
        raise ValueError("empty trajectory")
    best = trajectory[0]
    for entry in trajectory[1:]:
        if entry.score > best.score:
            best = entry
    return best
