"""In-process llama.cpp backend (xllamacpp) on SmolLM2-135M (GPO_REFERENCE 3.2 on CPU): the
backend contract, and the engine's slots and prompt cache: greedy scoring gives the same replies
and scores with 1 slot and with 4, with and without the cache, and an optimizer step's N samples
reuse the cached meta-prompt."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend_contract import (
    check_batch_order,
    check_chat_and_raw,
    check_empty_batch,
    check_greedy_deterministic,
    check_sampling_reproducible_and_distinct,
    check_token_counts,
)
from gpo.data.registry import get_benchmark
from gpo.errors import BackendError
from gpo.evaluation.scorer import Scorer, ScorerSettings
from gpo.llm.aliases import ModelSpec, resolve_model
from gpo.llm.base import GenerationParams, user_message
from gpo.llm.cache import model_identity
from gpo.llm.factory import build_llm
from gpo.llm.llamacpp import LlamaCppBackend
from gpo.llm.options import BackendOptions
from gpo.optimization.proposal import sample_replies

OPTIONS = BackendOptions(n_threads=1, n_ctx=1024)  # 1 thread: fastest on shared cores


@pytest.fixture(scope="module")
def llm() -> Iterator[LlamaCppBackend]:
    backend = build_llm(resolve_model("smollm2-135m"), OPTIONS)
    assert isinstance(backend, LlamaCppBackend)
    yield backend
    backend.close()


pytestmark = [pytest.mark.real, pytest.mark.timeout(300)]


def test_identity(llm: LlamaCppBackend) -> None:
    assert (llm.name, llm.backend, llm.is_chat) == ("smollm2-135m", "llamacpp", True)
    assert "smollm2-135m" in repr(llm)


def test_empty_batch(llm: LlamaCppBackend) -> None:
    check_empty_batch(llm)


def test_greedy_deterministic(llm: LlamaCppBackend) -> None:
    check_greedy_deterministic(llm)


def test_batch_order(llm: LlamaCppBackend) -> None:
    check_batch_order(llm)


def test_chat_and_raw(llm: LlamaCppBackend) -> None:
    check_chat_and_raw(llm)


def test_sampling_reproducible_and_distinct(llm: LlamaCppBackend) -> None:
    check_sampling_reproducible_and_distinct(llm)


def test_token_counts(llm: LlamaCppBackend) -> None:
    check_token_counts(llm)


def test_a_loaded_model_serves_one_backend_and_the_next_reuses_it(llm: LlamaCppBackend) -> None:
    """Two backends in use at once (two API calls in two threads) never share an engine's
    slots; a backend that closes leaves its engine to the next one (a grid's next cell, another
    seed), which then loads nothing. Within a run, scorer and optimizer share one backend."""
    other = build_llm(resolve_model("smollm2-135m"), OPTIONS)
    assert other._model is not llm._model
    params = GenerationParams(temperature=0.0, max_tokens=8)
    prompt = user_message("Say hello.")
    assert other.generate([prompt], params)[0].text == llm.generate([prompt], params)[0].text
    engine = other._model
    other.close()
    again = build_llm(resolve_model("smollm2-135m"), dataclasses.replace(OPTIONS, seed=7))
    try:
        assert again._model is engine  # the seed goes with each request, not the engine
    finally:
        again.close()


def test_chat_detection_from_the_gguf(llm: LlamaCppBackend) -> None:
    path = llm.spec.model
    detected = LlamaCppBackend(ModelSpec(path, "llamacpp", path, None, True), OPTIONS)
    assert detected.is_chat is True


def test_prompt_longer_than_the_context_is_a_backend_error(llm: LlamaCppBackend) -> None:
    with pytest.raises(BackendError, match="n_ctx"):
        llm.generate(["word " * 3000], GenerationParams(max_tokens=4))


def test_missing_gguf_file_is_a_backend_error(tmp_path) -> None:
    spec = ModelSpec("x", "llamacpp", str(tmp_path / "nope.gguf"), None, True)
    with pytest.raises(BackendError, match="not found"):
        LlamaCppBackend(spec, OPTIONS)


def test_a_file_that_is_not_a_gguf_is_a_backend_error(tmp_path) -> None:
    fake = tmp_path / "model.gguf"
    fake.write_text("not a model")
    with pytest.raises(BackendError, match="not a GGUF"):
        LlamaCppBackend(ModelSpec("x", "llamacpp", str(fake), None, True), OPTIONS)


def test_the_engine_is_in_the_response_cache_identity(llm: LlamaCppBackend) -> None:
    assert model_identity(llm).engine.startswith("xllamacpp ")


def _scores(n_parallel: int, prompt_cache: bool, data_dir: Path) -> list[tuple]:
    """Greedy scores of two instructions on 8 navigate examples (both rounds) on a fresh
    engine with ``n_parallel`` slots: every example's replies and accuracy."""
    options = BackendOptions(
        n_threads=1, n_ctx=1024, n_parallel=n_parallel, prompt_cache=prompt_cache
    )
    backend = build_llm(resolve_model("smollm2-135m"), options)
    bench = get_benchmark("bbh")
    task = bench.load("navigate", data_dir, 8)
    scorer = Scorer(backend, bench, ScorerSettings(max_tokens=48, second_round_max_tokens=16))
    reports = scorer.score_many(["Think step by step.", "Answer yes or no."], task, "train")
    assert backend.stats.requests == 2 * 2 * len(task.split("train"))
    return [
        (r.instruction, e.raw_answer, e.raw_answer_second_round, e.accuracy)
        for r in reports
        for e in r.rows
    ]


@pytest.fixture(scope="module")
def one_slot(data_dir: Path) -> list[tuple]:
    return _scores(1, True, data_dir)


def test_greedy_scoring_is_the_same_with_1_and_4_slots_and_without_the_cache(
    one_slot: list[tuple], data_dir: Path
) -> None:
    assert all(answer.strip() for _, answer, _, _ in one_slot)
    assert _scores(1, False, data_dir) == one_slot  # the prompt cache changes no reply
    assert _scores(4, False, data_dir) == one_slot  # nor do 4 continuously batched slots


def test_4_slots_with_the_cache_match_1_slot(one_slot: list[tuple], data_dir: Path) -> None:
    assert _scores(4, True, data_dir) == one_slot


def test_a_second_round_reuses_its_first_rounds_prompt_but_not_its_reply(data_dir: Path) -> None:
    """The slot is rewound after each reply: the second round is served its first round's
    prompt from the cache, and the reply (decoded one token at a time) is prefilled again."""
    backend = build_llm(
        resolve_model("smollm2-135m"), BackendOptions(n_threads=1, n_ctx=1024, n_parallel=2)
    )
    served: list = []
    original = backend._generate_one

    def spy(prompt, params, index):
        served.append((prompt, original(prompt, params, index)))
        return served[-1][1]

    backend._generate_one = spy
    bench = get_benchmark("bbh")
    task = bench.load("navigate", data_dir, 2)
    scorer = Scorer(backend, bench, ScorerSettings(max_tokens=24, second_round_max_tokens=8))
    scorer.score_many(["Think step by step."], task, "train")
    firsts = {p[0].content: c for p, c in served if len(p) == 1}
    seconds = [(firsts[p[0].content], c) for p, c in served if len(p) == 3]
    assert len(seconds) == len(task.split("train")) == 2
    for first, second in seconds:
        assert first.completion_tokens > 1
        # all of the first round's prompt came from the cache, none of its reply
        assert first.prompt_tokens - 1 <= second.cached_prompt_tokens <= first.prompt_tokens + 1


def test_an_optimizer_steps_samples_reuse_the_cached_meta_prompt() -> None:
    backend = build_llm(resolve_model("smollm2-135m"), BackendOptions(n_threads=1, n_ctx=1024))
    replies: list = []
    original = backend._generate_one

    def spy(prompt, params, index):
        replies.append(original(prompt, params, index))
        return replies[-1]

    backend._generate_one = spy  # the engine's own replies, in the order they were served
    meta = "Improve this instruction for a navigation task: 'Think step by step.' " * 4
    texts = sample_replies(backend, meta, n=3, temperature=1.0, seed=7, max_tokens=16)
    assert len(texts) == 3
    prompt_tokens = replies[0].prompt_tokens
    assert replies[0].cached_prompt_tokens < prompt_tokens
    assert all(r.cached_prompt_tokens >= prompt_tokens // 2 for r in replies[1:])
    assert len(set(texts)) > 1  # seeded per sample: the samples still differ


def test_the_context_is_sized_to_the_prompts_and_grows_with_them() -> None:
    """Without n_ctx, each slot's context is the longest prompt plus max tokens, rounded up to
    512; a longer prompt loads the engine again with a longer one, and the replies are the same
    as with a fixed context of 4096."""
    from gpo.llm.llamacpp import clear_model_cache

    clear_model_cache()
    sized = build_llm(resolve_model("smollm2-135m"), BackendOptions(n_threads=1, n_parallel=2))
    params = GenerationParams(temperature=0.0, max_tokens=8)
    short = [user_message("Say hello."), user_message("Name a colour.")]
    replies = [c.text for c in sized.generate(short, params)]
    assert sized._model.settings.n_ctx == 512 and sized._model.settings.sized
    long = user_message("Repeat after me: " + "the cat sat on the mat. " * 150)
    replies.append(sized.generate([long], params)[0].text)
    assert sized._model.settings.n_ctx in (1024, 1536)  # about 900 tokens of prompt
    clear_model_cache()
    fixed = build_llm(
        resolve_model("smollm2-135m"), BackendOptions(n_threads=1, n_parallel=2, n_ctx=4096)
    )
    assert [c.text for c in fixed.generate([*short, long], params)] == replies
    clear_model_cache()
