"""The persistent response cache: keys, persistence, secrets, concurrency, CachedLLM batching."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from gpo.errors import ConfigError
from gpo.llm.base import ChatMessage, Completion, GenerationParams, Prompt, user_message
from gpo.llm.cache import CachedLLM, ModelIdentity, ResponseCache, cache_key, model_identity
from gpo.llm.fake import FakeLLM
from helpers import GREEDY, REPO, SAMPLED

SECRET = "sk-THIS-IS-A-SECRET-12345"
IDENT = ModelIdentity("llamacpp", "smollm2", "/models/smollm2.gguf", True)


def echo(prompt: Prompt, params: GenerationParams, i: int) -> str:
    text = prompt if isinstance(prompt, str) else prompt[-1].content
    return f"reply to {text} t={params.temperature} s={i}"


@dataclass
class SecretFake(FakeLLM):
    """A fake API backend whose options hold credentials, as the OpenAI backend's would."""

    api_key: str = SECRET
    base_url: str = f"https://user:{SECRET}@proxy.example/v1"
    model_id: str = "gpt-3.5-turbo-0125"


def run_python(code: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


# ---- keys -------------------------------------------------------------------------------------


def test_key_changes_with_every_field() -> None:
    prompt = user_message("Q: 2+2?")
    base = cache_key(IDENT, prompt, SAMPLED, 0)
    variants = [
        cache_key(replace(IDENT, backend="vllm"), prompt, SAMPLED, 0),
        cache_key(replace(IDENT, alias="other"), prompt, SAMPLED, 0),
        cache_key(replace(IDENT, resolved="/models/other.gguf"), prompt, SAMPLED, 0),
        cache_key(replace(IDENT, is_chat=False), prompt, SAMPLED, 0),
        cache_key(IDENT, "Q: 2+2?", SAMPLED, 0),  # raw string vs chat
        cache_key(IDENT, (ChatMessage("system", "Q: 2+2?"),), SAMPLED, 0),
        cache_key(IDENT, user_message("Q: 2+3?"), SAMPLED, 0),
        cache_key(IDENT, (ChatMessage("user", "a"), ChatMessage("user", "Q: 2+2?")), SAMPLED, 0),
        cache_key(IDENT, prompt, replace(SAMPLED, temperature=0.7), 0),
        cache_key(IDENT, prompt, replace(SAMPLED, max_tokens=100), 0),
        cache_key(IDENT, prompt, replace(SAMPLED, seed=1), 0),
        cache_key(IDENT, prompt, SAMPLED, 1),
        cache_key(IDENT, prompt, GREEDY, 0),
    ]
    assert base not in variants
    assert len(set(variants)) == len(variants)
    assert cache_key(IDENT, prompt, SAMPLED, 0) == base
    assert len(base) == 64 and int(base, 16) >= 0


def test_greedy_key_ignores_seed_and_sample_index() -> None:
    prompt = "Q"
    key = cache_key(IDENT, prompt, GREEDY, 0)
    assert cache_key(IDENT, prompt, replace(GREEDY, seed=5), 3) == key
    assert cache_key(IDENT, prompt, replace(GREEDY, temperature=0), 0) == key  # int vs float


def test_key_is_stable_across_processes() -> None:
    here = cache_key(IDENT, user_message("héllo"), SAMPLED, 2)
    code = (
        "from gpo.llm.cache import ModelIdentity, cache_key\n"
        "from gpo.llm.base import GenerationParams, user_message\n"
        "i = ModelIdentity('llamacpp', 'smollm2', '/models/smollm2.gguf', True)\n"
        "p = GenerationParams(temperature=1.0, max_tokens=512, seed=0)\n"
        "print(cache_key(i, user_message('h\\u00e9llo'), p, 2))\n"
    )
    assert run_python(code) == here


def test_model_identity_reads_resolved_id_but_no_secret() -> None:
    ident = model_identity(SecretFake(echo, name="gpt-3.5-turbo", backend="openai"))
    assert ident == ModelIdentity("openai", "gpt-3.5-turbo", "gpt-3.5-turbo-0125", True)
    assert model_identity(FakeLLM(echo)).resolved == "fake"


# ---- the store ---------------------------------------------------------------------------------


def test_store_roundtrip_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "cache.sqlite"
    with ResponseCache(path) as cache:
        cache.put("k1", Completion("one", 3, 1))
        cache.put_many([("k2", Completion("two", 4, 2)), ("k1", Completion("other", 9, 9))])
        assert len(cache) == 2
        assert cache.get("missing") is None
    reopened = ResponseCache(path)
    assert reopened.get("k1") == Completion("one", 3, 1, cached=True)  # first value kept
    assert reopened.get_many(["k2", "nope"]) == {"k2": Completion("two", 4, 2, cached=True)}
    reopened.close()


def test_entries_visible_across_processes(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    cache = ResponseCache(path)
    cache.put("from-parent", Completion("parent text", 5, 6))
    code = (
        "from pathlib import Path\n"
        "from gpo.llm.base import Completion\n"
        "from gpo.llm.cache import ResponseCache\n"
        f"c = ResponseCache(Path({str(path)!r}))\n"
        "got = c.get('from-parent')\n"
        "c.put('from-child', Completion('child text', 7, 8))\n"
        "print(got.text, got.prompt_tokens, got.completion_tokens)\n"
    )
    assert run_python(code) == "parent text 5 6"
    assert cache.get("from-child") == Completion("child text", 7, 8, cached=True)
    cache.close()


def test_many_keys_in_one_lookup(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "c.sqlite")
    cache.put_many([(f"k{i}", Completion(str(i))) for i in range(1200)])
    found = cache.get_many([f"k{i}" for i in range(0, 1300)])
    assert len(found) == 1200 and found["k1199"].text == "1199"
    cache.close()


def test_concurrent_threads_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    cache = ResponseCache(path)
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def worker(t: int) -> None:
        try:
            start.wait()
            for i in range(40):
                cache.put(f"t{t}-{i}", Completion(f"{t}:{i}", i, t))
                cache.put("shared", Completion("shared", 1, 1))
                assert cache.get(f"t{t}-{i}") == Completion(f"{t}:{i}", i, t, cached=True)
                cache.get_many([f"t{(t + 1) % 8}-{j}" for j in range(i)])
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert len(cache) == 8 * 40 + 1
    cache.close()
    other = ResponseCache(path)
    assert other.get("t7-39") == Completion("7:39", 39, 7, cached=True)
    other.close()


def test_api_key_never_written(tmp_path: Path) -> None:
    path = tmp_path / "secret.sqlite"
    cache = ResponseCache(path)
    inner = SecretFake(lambda p, params, i: f"stored reply {i}", "gpt-3.5-turbo", "openai")
    llm = CachedLLM(inner, cache)
    llm.generate([user_message("what is 1+1?"), "raw prompt"], GREEDY)
    llm.generate([user_message("propose")] * 3, SAMPLED)
    assert len(cache) == 5
    cache.close()
    blob = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert b"what is 1+1" not in blob  # only hashes of prompts are stored
    assert b"stored reply 2" in blob  # sanity: we do read the stored data
    assert SECRET.encode() not in blob
    assert b"proxy.example" not in blob


def test_corrupt_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ConfigError, match="--no_cache"):
        ResponseCache(path)


# ---- CachedLLM -------------------------------------------------------------------------------


@dataclass
class Counts:
    hits: int = 0
    deduplicated: int = 0

    def record_cache(self, hits: int, deduplicated: int) -> None:
        self.hits += hits
        self.deduplicated += deduplicated


def test_hits_cost_no_inner_call(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "c.sqlite")
    inner = FakeLLM(echo)
    counts = Counts()
    llm = CachedLLM(inner, cache, counts)
    first = llm.generate(["a", "b"], GREEDY)
    assert [c.cached for c in first] == [False, False]
    again = llm.generate(["b", "a"], GREEDY)
    assert len(inner.calls) == 1
    assert [c.text for c in again] == ["reply to b t=0.0 s=0", "reply to a t=0.0 s=0"]
    assert all(c.cached for c in again)
    assert again[0].prompt_tokens == first[1].prompt_tokens
    assert counts.hits == 2
    # a new CachedLLM over a reopened file also hits
    fresh_inner = FakeLLM(echo)
    reopened = CachedLLM(fresh_inner, ResponseCache(tmp_path / "c.sqlite"))
    assert reopened.generate(["a"], GREEDY)[0].cached and fresh_inner.calls == []


def test_only_misses_sent_in_one_call_in_order(tmp_path: Path) -> None:
    inner = FakeLLM(echo)
    llm = CachedLLM(inner, ResponseCache(tmp_path / "c.sqlite"))
    llm.generate(["b", "d"], GREEDY)
    out = llm.generate(["a", "b", "c", "d", "e"], GREEDY)
    assert [c.text.split()[2] for c in out] == ["a", "b", "c", "d", "e"]
    assert [c.cached for c in out] == [False, True, False, True, False]
    assert len(inner.calls) == 2 and inner.calls[1].prompts == ("a", "c", "e")


def test_greedy_duplicates_sent_once_without_cache() -> None:
    inner = FakeLLM(echo)
    counts = Counts()
    llm = CachedLLM(inner, None, counts)
    out = llm.generate(["q", "r", "q", "q"], GREEDY)
    assert inner.calls[0].prompts == ("q", "r")
    assert [c.text for c in out] == ["reply to q t=0.0 s=0", "reply to r t=0.0 s=0"] + [
        "reply to q t=0.0 s=0"
    ] * 2
    assert [c.cached for c in out] == [False, False, True, True]
    assert (counts.hits, counts.deduplicated) == (0, 2)
    llm.generate(["q"], GREEDY)  # no cache: asks again
    assert len(inner.calls) == 2


def test_sampled_calls_are_distinct_entries(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "c.sqlite")
    inner = FakeLLM(echo)
    llm = CachedLLM(inner, cache)
    out = llm.generate(["propose"] * 4, SAMPLED)
    assert inner.calls[0].sample_indices == (0, 1, 2, 3)
    assert len({c.text for c in out}) == 4 and len(cache) == 4
    more = llm.generate(["propose"] * 6, SAMPLED)
    assert [c.cached for c in more] == [True] * 4 + [False] * 2
    assert inner.calls[1].prompts == ("propose",) * 2
    assert inner.calls[1].sample_indices == (4, 5)  # indices computed over the full batch
    assert [c.text for c in more[:4]] == [c.text for c in out]


def test_explicit_sample_indices_are_kept(tmp_path: Path) -> None:
    inner = FakeLLM(echo)
    llm = CachedLLM(inner, ResponseCache(tmp_path / "c.sqlite"))
    llm.generate(["p", "p"], SAMPLED, sample_indices=[3, 7])
    out = llm.generate(["p", "p", "p"], SAMPLED, sample_indices=[7, 8, 3])
    assert inner.calls[1].sample_indices == (8,)
    assert [c.text[-3:] for c in out] == ["s=7", "s=8", "s=3"]


def test_other_seed_or_model_misses(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "c.sqlite")
    a = FakeLLM(echo, name="model-a")
    CachedLLM(a, cache).generate(["x"], SAMPLED)
    CachedLLM(a, cache).generate(["x"], replace(SAMPLED, seed=1))
    b = FakeLLM(echo, name="model-b")
    CachedLLM(b, cache).generate(["x"], SAMPLED)
    assert len(a.calls) == 2 and len(b.calls) == 1 and len(cache) == 3


def test_wrapper_exposes_llm_attributes() -> None:
    inner = FakeLLM(echo, name="n", backend="fake", is_chat=False)
    llm = CachedLLM(inner, None)
    assert (llm.name, llm.backend, llm.is_chat) == ("n", "fake", False)
    assert llm.generate([], GREEDY) == [] and inner.calls == []
    with pytest.raises(ValueError):
        llm.generate(["a"], GREEDY, sample_indices=[0, 1])
