"""Backend contract: behaviour every LLM backend must show (GPO_REFERENCE 3.2, 6).

Plain functions taking a real ``LLM``; each backend's test module calls them. They keep
``max_tokens`` small so they run quickly on a small CPU model. ``run_all_checks`` runs them all.
"""

from __future__ import annotations

from gpo.llm.base import LLM, ChatMessage, Completion, GenerationParams, user_message
from helpers import greedy

GREEDY = greedy(max_tokens=16)
SAMPLED = GenerationParams(temperature=1.0, max_tokens=16, seed=11)

CHAT_PROMPTS = (
    user_message("Name one colour of the rainbow."),
    user_message("What is two plus two?"),
    user_message("Write a greeting for a friend."),
)
RAW_TEXT = "The three primary colours are"


def _texts(completions: list[Completion]) -> list[str]:
    return [c.text for c in completions]


def check_empty_batch(llm: LLM) -> None:
    """An empty batch returns an empty list without calling the model."""
    assert llm.generate([], GREEDY) == []


def check_greedy_deterministic(llm: LLM) -> None:
    """Temperature 0 is greedy: the same prompt gives the same non-empty text every time."""
    prompt = CHAT_PROMPTS[0]
    first = llm.generate([prompt], GREEDY)
    second = llm.generate([prompt], GREEDY)
    assert len(first) == 1 and first[0].text.strip()
    assert first[0].text == second[0].text
    # the seed is irrelevant to greedy decoding
    other_seed = llm.generate([prompt], GenerationParams(0.0, GREEDY.max_tokens, seed=123))
    assert other_seed[0].text == first[0].text


def check_batch_order(llm: LLM) -> None:
    """A batch returns one completion per prompt, in prompt order (same as one-by-one calls)."""
    batch = _texts(llm.generate(list(CHAT_PROMPTS), GREEDY))
    single = [llm.generate([p], GREEDY)[0].text for p in CHAT_PROMPTS]
    assert len(batch) == len(CHAT_PROMPTS)
    assert batch == single
    assert len(set(batch)) > 1, "different prompts should not all get the same answer"
    reversed_batch = _texts(llm.generate(list(reversed(CHAT_PROMPTS)), GREEDY))
    assert reversed_batch == list(reversed(batch))


def check_chat_and_raw(llm: LLM, raw_is_templated: bool = False) -> None:
    """Chat messages go through the chat template; raw strings are sent as they are.

    The same text costs more prompt tokens as a chat turn (template tokens) than as a raw
    string, unless the backend wraps raw strings in a chat turn (``raw_is_templated``).
    """
    chat, raw = llm.generate([user_message(RAW_TEXT), RAW_TEXT], GREEDY)
    assert chat.text.strip() and raw.text.strip()
    if raw_is_templated:
        assert chat.prompt_tokens == raw.prompt_tokens
    else:
        assert chat.prompt_tokens > raw.prompt_tokens
    # a multi-turn conversation (as in the scorer's second round) is accepted
    conversation = (
        ChatMessage("user", "What is two plus two?"),
        ChatMessage("assistant", "Two plus two is four."),
        ChatMessage("user", "Answer with just one number."),
    )
    (follow_up,) = llm.generate([conversation], GREEDY)
    assert follow_up.text.strip()
    assert follow_up.prompt_tokens > chat.prompt_tokens


def check_sampling_reproducible_and_distinct(llm: LLM) -> None:
    """Sampled calls: sample i uses seed + i, so repeats are distinct yet reproducible."""
    prompt = CHAT_PROMPTS[2]
    samples = _texts(llm.generate([prompt] * 4, SAMPLED))
    again = _texts(llm.generate([prompt] * 4, SAMPLED))
    assert samples == again, "the same seeds must give the same samples"
    assert len(set(samples)) >= 2, "independent samples should differ"
    shifted = GenerationParams(SAMPLED.temperature, SAMPLED.max_tokens, SAMPLED.seed + 2)
    assert llm.generate([prompt], shifted)[0].text == samples[2]
    explicit = _texts(llm.generate([prompt, prompt], SAMPLED, sample_indices=[3, 1]))
    assert explicit == [samples[3], samples[1]]


def check_token_counts(llm: LLM) -> None:
    """Completions report prompt and completion tokens, and respect max_tokens."""
    params = GenerationParams(temperature=0.0, max_tokens=8, seed=0)
    short, long = llm.generate(
        [user_message("Hi."), user_message("Please describe, in one sentence, a sunny day.")],
        params,
    )
    for completion in (short, long):
        assert completion.prompt_tokens > 0
        assert 1 <= completion.completion_tokens <= params.max_tokens
        assert not completion.cached
    assert long.prompt_tokens > short.prompt_tokens


def run_all_checks(llm: LLM, raw_is_templated: bool = False) -> None:
    """Every contract check, in a fixed order."""
    check_empty_batch(llm)
    check_greedy_deterministic(llm)
    check_batch_order(llm)
    check_chat_and_raw(llm, raw_is_templated)
    check_sampling_reproducible_and_distinct(llm)
    check_token_counts(llm)
