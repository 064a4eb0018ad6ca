"""The llama.cpp engine's pure parts: GGUF header checks, the default slot count, the order of a
batch's prompts, the scorer's conversations and the engine in the response-cache key (the real
engine's slots and cache are tested in test_llamacpp_backend.py)."""

from __future__ import annotations

import struct
import threading
from pathlib import Path

import pytest

from gpo.errors import BackendError
from gpo.evaluation.conversations import converse
from gpo.evaluation.scorer import generate_unique
from gpo.llm.base import ChatMessage, GenerationParams, user_message
from gpo.llm.cache import ModelIdentity, cache_key
from gpo.llm.fake import FakeLLM
from gpo.llm.fan_out import fan_out_chains, prefix_chains
from gpo.llm.gguf import has_chat_template, metadata_keys
from gpo.llm.llamacpp import request_body
from gpo.llm.llamacpp_engine import default_parallel


def _gguf(path: Path, entries: list[tuple[str, int, bytes]]) -> Path:
    """A GGUF header with the given (key, type, encoded value) entries and no tensors."""
    data = b"GGUF" + struct.pack("<IQQ", 3, 0, len(entries))
    for key, kind, value in entries:
        data += struct.pack("<Q", len(key)) + key.encode() + struct.pack("<I", kind) + value
    path.write_bytes(data)
    return path


def _string(text: str) -> bytes:
    return struct.pack("<Q", len(text)) + text.encode()


def test_gguf_header_is_read_past_arrays_to_the_chat_template(tmp_path: Path) -> None:
    tokens = struct.pack("<IQ", 8, 2) + _string("a") + _string("b")  # an array of strings
    path = _gguf(
        tmp_path / "m.gguf",
        [
            ("general.name", 8, _string("tiny")),
            ("tokenizer.ggml.tokens", 9, tokens),
            ("llama.block_count", 4, struct.pack("<I", 30)),
            ("tokenizer.chat_template", 8, _string("{{ messages }}")),
        ],
    )
    keys = metadata_keys(path)
    assert keys["general.name"] == "tiny" and keys["llama.block_count"] is None
    assert has_chat_template(path)
    assert not has_chat_template(_gguf(tmp_path / "raw.gguf", [("general.name", 8, _string("x"))]))


def test_not_a_gguf_and_a_truncated_gguf_are_one_line_errors(tmp_path: Path) -> None:
    (tmp_path / "a.gguf").write_text("hello")
    with pytest.raises(BackendError, match="not a GGUF file"):
        metadata_keys(tmp_path / "a.gguf")
    (tmp_path / "b.gguf").write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 5))
    with pytest.raises(BackendError, match="not a readable GGUF"):
        metadata_keys(tmp_path / "b.gguf")


def test_the_real_bundled_gguf_has_a_chat_template() -> None:
    from gpo.llm.smollm2 import smollm2_gguf_path

    assert has_chat_template(smollm2_gguf_path())


def test_default_slots_follow_cores_and_context() -> None:
    assert default_parallel(4096, cores=2) == 8
    assert default_parallel(4096, cores=1) == 4
    assert default_parallel(8192, cores=8) == 4  # at most 32768 KV tokens in all
    assert default_parallel(65536, cores=8) == 1


def test_request_body_is_seeded_per_sample_and_chat_or_raw() -> None:
    params = GenerationParams(temperature=0.7, max_tokens=5, seed=10)
    chat = request_body(user_message("hi"), params, 3, cache=True)
    assert chat["messages"] == [{"role": "user", "content": "hi"}] and chat["seed"] == 13
    assert chat["cache_prompt"] is True and "prompt" not in chat
    raw = request_body("hi", GenerationParams(), 0, cache=False)
    assert raw["prompt"] == "hi" and raw["temperature"] == 0.0 and raw["cache_prompt"] is False


def test_identical_prompts_form_one_chain_and_chains_go_in_text_order() -> None:
    prompts = ["b question", "a question", "b question", "a quest", "b question"]
    assert prefix_chains(prompts) == [[3], [1], [0, 2, 4]]


def test_fan_out_chains_keeps_prompt_order_and_runs_a_chain_in_order_on_one_thread() -> None:
    seen: list[tuple[str, int, str]] = []

    def send(prompt, params, index):
        from gpo.llm.base import Completion

        seen.append((prompt, index, threading.current_thread().name))
        return Completion(f"{prompt}#{index}")

    prompts = ["x", "y", "x", "x"]
    out = fan_out_chains(
        send, prompts, GenerationParams(), [0, 0, 1, 2], workers=4, desc="t", thread_prefix="t"
    )
    assert [c.text for c in out] == ["x#0", "y#0", "x#1", "x#2"]
    xs = [s for s in seen if s[0] == "x"]
    assert [i for _, i, _ in xs] == [0, 1, 2] and len({t for _, _, t in xs}) == 1


class _Parallel(FakeLLM):
    concurrency = 4


FIRSTS = [user_message(f"q{n % 3}") for n in range(5)]  # q0 and q1 twice


def _follow_up(n: int, answer: str):
    question = FIRSTS[n][0].content
    return (
        ChatMessage("user", question),
        ChatMessage("assistant", answer),
        ChatMessage("user", "?"),
    )


@pytest.mark.parametrize("llm_class", [FakeLLM, _Parallel])
def test_both_ways_of_sending_two_rounds_give_the_same_rows(llm_class) -> None:
    llm = llm_class(lambda p, params, i: f"reply to {p[-1].content} after {len(p)}")
    first, second = converse(llm, generate_unique, FIRSTS, _follow_up, (8, 4))
    assert first == [f"reply to q{n % 3} after 1" for n in range(5)]
    assert [s[1] for s in second] == ["reply to ? after 3"] * 5
    assert second[3] == second[0] and second[3][0][0].content == "q0"
    per_call = [len(c.prompts) for c in llm.calls]
    if llm_class is _Parallel:  # one conversation per distinct first prompt, each turn alone
        assert per_call == [1] * 6
    else:  # one batch per round
        assert per_call == [3, 3]  # distinct prompts of each round


def test_the_engine_enters_the_cache_key_only_where_a_backend_names_one() -> None:
    old = ModelIdentity("llamacpp", "smollm2", "/m.gguf", True)
    new = ModelIdentity("llamacpp", "smollm2", "/m.gguf", True, "xllamacpp 2026.10.11549")
    newer = ModelIdentity("llamacpp", "smollm2", "/m.gguf", True, "xllamacpp 2027.1.1")
    keys = {cache_key(i, "p", GenerationParams(), 0) for i in (old, new, newer)}
    assert len(keys) == 3


class _RecordingServer:
    """Stands in for xllamacpp.Server: records each request, replies with a fixed usage."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []

    def handle_chat_completions(self, body: dict) -> dict:
        self.bodies.append(body)
        n = body["max_tokens"]
        return {
            "choices": [{"message": {"content": "x " * n}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": n},
            "timings": {"cache_n": 9},
        }

    handle_completions = handle_chat_completions


def _backend(prompt_cache: bool) -> tuple[object, _RecordingServer]:
    from gpo.llm.llamacpp import EngineStats, LlamaCppBackend, _ThreadSlots
    from gpo.llm.llamacpp_engine import Engine, EngineSettings, SizedEngine

    server = _RecordingServer()
    settings = EngineSettings("m.gguf", 512, 1, 1, 2, prompt_cache=prompt_cache)
    backend = object.__new__(LlamaCppBackend)
    backend._engine = SizedEngine(settings, Engine(server, settings, "xllamacpp test", True))
    backend.stats = EngineStats()
    backend._stats_lock = threading.Lock()
    backend._slots = _ThreadSlots(2)
    return backend, server


@pytest.mark.parametrize("prompt", [user_message("hi"), "raw text"])
def test_a_reply_is_followed_by_a_rewind_of_its_slot_to_the_prompt(prompt) -> None:
    backend, server = _backend(prompt_cache=True)
    completion = backend._generate_one(prompt, GenerationParams(max_tokens=5, temperature=1.0), 3)
    assert completion.completion_tokens == 5
    reply, rewind = server.bodies
    # the same prompt on the same slot, one greedy token: the slot keeps the prompt only
    assert rewind["id_slot"] == reply["id_slot"] and rewind["max_tokens"] == 1
    assert rewind["temperature"] == 0.0 and rewind["cache_prompt"] is True
    assert {k: v for k, v in rewind.items() if k not in ("max_tokens", "temperature", "top_k")} == {
        k: v for k, v in reply.items() if k not in ("max_tokens", "temperature", "top_k")
    }
    assert backend.stats.requests == 1 and backend.stats.completion_tokens == 5  # not counted


def test_no_rewind_without_the_prompt_cache_or_after_a_one_token_reply() -> None:
    backend, server = _backend(prompt_cache=False)
    backend._generate_one(user_message("hi"), GenerationParams(max_tokens=5), 0)
    assert len(server.bodies) == 1
    backend, server = _backend(prompt_cache=True)
    backend._generate_one(user_message("hi"), GenerationParams(max_tokens=1), 0)
    assert len(server.bodies) == 1


def test_an_engine_serves_one_backend_and_the_next_one_reuses_it(monkeypatch) -> None:
    """A Ray worker runs cell after cell (other seeds, other settings): it reuses the loaded
    model and never keeps every variant loaded (a 2-worker grid ran out of memory that way);
    two backends in use at once (two API calls in two threads) never share an engine."""
    from gpo.llm import llamacpp_engine
    from gpo.llm.llamacpp import engine_settings
    from gpo.llm.llamacpp_engine import (
        Engine,
        EngineSettings,
        clear_engine_cache,
        load_engine,
        release_engine,
    )
    from gpo.llm.options import BackendOptions

    loads: list[EngineSettings] = []

    def fake_load(settings: EngineSettings) -> Engine:
        loads.append(settings)
        return Engine(object(), settings, "xllamacpp test", True)

    monkeypatch.setattr(llamacpp_engine, "_load", fake_load)
    clear_engine_cache()
    try:
        spec = type("Spec", (), {"model": "a.gguf"})()
        seed0 = engine_settings(spec, BackendOptions(seed=0, n_ctx=512, n_parallel=2))
        seed1 = engine_settings(spec, BackendOptions(seed=1, n_ctx=512, n_parallel=2))
        first = load_engine(seed0)
        assert load_engine(seed1) is not first  # held by a backend: the other loads its own
        release_engine(first)
        assert load_engine(seed1) is first  # the seed goes with each request
        release_engine(first)
        release_engine(load_engine(EngineSettings("b.gguf", 512, 1, 1, 2)))
        bigger = EngineSettings("a.gguf", 1024, 1, 1, 2)
        release_engine(load_engine(bigger))  # other settings: the idle a.gguf engine is freed
        assert [s.model_path for s in loads] == ["a.gguf", "a.gguf", "b.gguf", "a.gguf"]
        assert set(llamacpp_engine._IDLE) == {"a.gguf", "b.gguf"}
        assert llamacpp_engine._IDLE["a.gguf"].settings == bigger
        # sized to the prompts: a 512-token context per slot first, as many slots as for 4096
        sized = engine_settings(spec, BackendOptions(n_parallel=None))
        assert (sized.n_ctx, sized.sized) == (512, True) and sized.n_parallel >= 4
    finally:
        assert clear_engine_cache() == 2


def test_a_sized_context_is_the_tokens_rounded_up_to_512() -> None:
    from gpo.llm.llamacpp_engine import sized_ctx

    assert [sized_ctx(n) for n in (1, 512, 513, 1500, 4097)] == [512, 512, 1024, 1536, 4608]


def test_a_request_that_did_not_fit_says_how_many_tokens_it_needed() -> None:
    from gpo.llm.llamacpp import _context_needed

    too_long = {"error": {"type": "exceed_context_size_error", "n_prompt_tokens": 700}}
    assert _context_needed(too_long, 32, 512) == 732
    cut = {"usage": {"prompt_tokens": 500, "completion_tokens": 12}}  # stopped at 512
    assert _context_needed(cut, 32, 512) == 532
    done = {"usage": {"prompt_tokens": 100, "completion_tokens": 12}}  # stopped by itself
    assert _context_needed(done, 32, 512) is None
    assert _context_needed({"error": {"type": "server_error"}}, 32, 512) is None


def test_a_sized_engine_grows_between_requests_and_an_explicit_one_never(monkeypatch) -> None:
    from gpo.llm import llamacpp_engine
    from gpo.llm.llamacpp_engine import Engine, EngineSettings, SizedEngine

    alive: list[EngineSettings] = []

    def fake_load(settings: EngineSettings) -> Engine:
        alive.append(settings)
        return Engine(object(), settings, "xllamacpp test", True)

    monkeypatch.setattr(llamacpp_engine, "_load", fake_load)
    monkeypatch.setattr(llamacpp_engine, "context_length", lambda path: 2048)
    sized = SizedEngine(EngineSettings("m.gguf", 512, 1, 1, 2, sized=True))
    with sized.use() as first:
        assert first.settings.n_ctx == 512
    assert sized.fit(400) and sized.settings.n_ctx == 512  # fits: not loaded again
    assert sized.fit(1100) and sized.settings.n_ctx == 1536
    assert not sized.fit(3000) and sized.settings.n_ctx == 1536  # past the model's 2048
    assert [s.n_ctx for s in alive] == [512, 1536]
    fixed = SizedEngine(EngineSettings("m.gguf", 512, 1, 1, 2))
    assert not fixed.fit(600) and fixed.settings.n_ctx == 512


def test_a_prompts_tokens_are_estimated_from_its_characters_and_the_template() -> None:
    from gpo.llm.llamacpp import estimated_tokens

    text = "Read the text and give the date it names in ISO format. " * 10
    assert estimated_tokens(text) >= len(text.split())
    assert estimated_tokens(user_message(text)) > estimated_tokens(text)
