"""Per-role usage accounting, the run budget and model prices."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from gpo.llm.accounting import Ledger, MeteredLLM, Usage, wrap_llm
from gpo.llm.base import Completion, GenerationParams, Prompt
from gpo.llm.cache import ResponseCache
from gpo.llm.fake import FakeLLM, constant
from gpo.llm.pricing import DEFAULT_PRICES, ModelPrice, cost_usd, price_of
from helpers import GREEDY, SAMPLED


class Failing:
    name = "broken"
    backend = "fake"
    is_chat = True

    def generate(
        self, prompts: list[Prompt], params: GenerationParams, sample_indices: object = None
    ) -> list[Completion]:
        raise RuntimeError("server down")

    def close(self) -> None:
        return None


def test_usage_arithmetic() -> None:
    a = Usage(requests=2, prompt_tokens=10, completion_tokens=5, cache_hits=1, backend_seconds=0.5)
    b = Usage(requests=1, prompt_tokens=4, completion_tokens=1, deduplicated=3)
    assert a + b == Usage(3, 14, 6, 1, 3, 0.5)
    assert (a + b) - b == a
    assert a.total_tokens == 15
    assert a.to_dict()["total_tokens"] == 15


def test_metered_llm_records_per_role() -> None:
    ledger = Ledger()
    scorer = MeteredLLM(FakeLLM(constant("yes no")), "scorer", ledger)  # 2 completion tokens
    optimizer = MeteredLLM(FakeLLM(constant("a b c")), "optimizer", ledger)
    out = scorer.generate(["one two", "three"], GREEDY)
    assert [c.text for c in out] == ["yes no", "yes no"]
    scorer.generate(["four"], GREEDY)
    optimizer.generate(["x y z w"] * 8, SAMPLED)
    s, o = ledger.usage("scorer"), ledger.usage("optimizer")
    assert (s.requests, s.prompt_tokens, s.completion_tokens) == (3, 4, 6)
    assert (o.requests, o.prompt_tokens, o.completion_tokens) == (8, 32, 24)
    assert s.backend_seconds >= 0 and s.cache_hits == 0
    assert ledger.total().total_tokens == 10 + 56
    assert (scorer.name, scorer.backend, scorer.is_chat) == ("fake", "fake", True)


def test_failed_call_counts_time_not_requests() -> None:
    ledger = Ledger()
    llm = MeteredLLM(Failing(), "scorer", ledger)
    with pytest.raises(RuntimeError):
        llm.generate(["p"], GREEDY)
    assert ledger.usage("scorer").requests == 0 and ledger.usage("scorer").backend_seconds >= 0


def test_wrap_llm_hits_do_not_count_as_requests(tmp_path: Path) -> None:
    ledger = Ledger()
    inner = FakeLLM(constant("ok"))
    cache = ResponseCache(tmp_path / "c.sqlite")
    llm = wrap_llm(inner, "scorer", ledger, cache)
    llm.generate(["a b", "c"], GREEDY)
    before = ledger.snapshot()
    out = llm.generate(["a b", "c", "c", "new"], GREEDY)
    assert [c.cached for c in out] == [True, True, True, False]
    step = ledger.delta(before).usage("scorer")
    assert (step.requests, step.prompt_tokens, step.completion_tokens) == (1, 1, 1)
    assert step.cache_hits == 3
    total = ledger.usage("scorer")
    assert (total.requests, total.cache_hits) == (3, 3)
    assert inner.num_requests == 3


def test_wrap_llm_without_cache_counts_dedup() -> None:
    ledger = Ledger()
    inner = FakeLLM(constant("ok"))
    llm = wrap_llm(inner, "scorer", ledger, None)
    llm.generate(["same"] * 5, GREEDY)
    u = ledger.usage("scorer")
    assert (u.requests, u.deduplicated, u.cache_hits) == (1, 4, 0)
    assert inner.num_requests == 1


def test_wrap_llm_keys_on_inner_model_id(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "c.sqlite")
    first = FakeLLM(constant("ok"))
    first.model_id = "/models/a.gguf"  # type: ignore[attr-defined]
    second = FakeLLM(constant("ok"))
    second.model_id = "/models/b.gguf"  # type: ignore[attr-defined]
    wrap_llm(first, "scorer", Ledger(), cache).generate(["p"], GREEDY)
    wrap_llm(second, "scorer", Ledger(), cache).generate(["p"], GREEDY)
    assert second.num_requests == 1 and len(cache) == 2


def test_snapshot_and_delta() -> None:
    ledger = Ledger()
    ledger.record("scorer", Usage(requests=5, prompt_tokens=50))
    snap = ledger.snapshot()
    ledger.record("scorer", Usage(requests=2, prompt_tokens=20, completion_tokens=3))
    ledger.record("optimizer", Usage(requests=1, completion_tokens=7))
    delta = ledger.delta(snap)
    assert delta.usage("scorer") == Usage(requests=2, prompt_tokens=20, completion_tokens=3)
    assert delta.usage("optimizer") == Usage(requests=1, completion_tokens=7)
    assert delta.total.total_tokens == 30
    assert snap.usage("scorer") == Usage(requests=5, prompt_tokens=50)  # snapshot is frozen
    assert snap.usage("optimizer") == Usage()
    assert json.loads(json.dumps(delta.to_dict()))["roles"]["optimizer"]["completion_tokens"] == 7


def test_ledger_is_thread_safe() -> None:
    ledger = Ledger()

    def work(role: str) -> None:
        for _ in range(500):
            ledger.record(role, Usage(requests=1, prompt_tokens=2))

    threads = [threading.Thread(target=work, args=(r,)) for r in ["scorer", "optimizer"] * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ledger.usage("scorer") == Usage(requests=2000, prompt_tokens=4000)
    assert ledger.total().requests == 4000


def test_token_budget_reason() -> None:
    ledger = Ledger()
    ledger.record("scorer", Usage(prompt_tokens=600, completion_tokens=300))
    assert ledger.check_budget(None, None) is None
    assert ledger.check_budget(1000, None) is None
    ledger.record("optimizer", Usage(completion_tokens=100))
    reason = ledger.check_budget(1000, None)
    assert reason is not None and "token budget" in reason and "1000" in reason


def test_cost_budget_reason() -> None:
    ledger = Ledger()
    MeteredLLM(FakeLLM(constant("x"), backend="llamacpp"), "scorer", ledger)
    MeteredLLM(FakeLLM(constant("x"), name="gpt-4", backend="openai"), "optimizer", ledger)
    ledger.record("scorer", Usage(prompt_tokens=10_000_000))  # local: free
    ledger.record("optimizer", Usage(prompt_tokens=10_000, completion_tokens=5_000))
    assert ledger.cost_usd() == pytest.approx(0.3 + 0.3)
    assert ledger.check_budget(None, 1.0) is None
    reason = ledger.check_budget(None, 0.5)
    assert reason is not None and "cost budget" in reason and "$0.6000" in reason
    cheap = {"gpt-4": ModelPrice(1.0, 1.0)}
    assert ledger.check_budget(None, 0.5, cheap) is None
    data = json.loads(json.dumps(ledger.to_dict()))
    assert data["roles"]["optimizer"]["model"] == "gpt-4"
    assert data["total"]["cost_usd"] == pytest.approx(0.6)


def test_unknown_price_is_not_enforced() -> None:
    ledger = Ledger()
    MeteredLLM(FakeLLM(constant("x"), name="my-proxy-model", backend="openai"), "optimizer", ledger)
    ledger.record("optimizer", Usage(prompt_tokens=1_000_000))
    assert ledger.cost_usd() is None
    assert ledger.check_budget(None, 0.01) is None
    assert ledger.check_budget(100, 0.01) is not None  # the token budget still applies


def test_cost_usd_table() -> None:
    assert cost_usd("gpt-3.5-turbo", 1_000_000, 1_000_000) == pytest.approx(2.0)
    assert cost_usd("GPT-4o-mini", 2_000_000, 1_000_000) == pytest.approx(0.9)
    assert cost_usd("gpt-4o", 1000, 1000) == pytest.approx(0.0125)
    assert cost_usd("gpt-4", 0, 0) == 0.0
    assert cost_usd("llama2-chat-7b", 10**9, 10**9) is None
    assert cost_usd("llama2-chat-7b", 10**9, 10**9, backend="vllm") == 0.0
    assert cost_usd("smollm2", 5, 5, backend="llamacpp") == 0.0
    for model in ["gpt-3.5-turbo", "gpt-4", "gpt-4o", "gpt-4o-mini"]:
        assert price_of(model) is DEFAULT_PRICES[model]


def test_overlapping_calls_count_wall_time_once() -> None:
    """Four concurrent calls of 0.2 s each: about 0.2 s of backend time, not 0.8 s."""
    import time

    barrier = threading.Barrier(4)

    def slow(prompt: Prompt, params: GenerationParams, index: int) -> str:
        barrier.wait(timeout=10)
        time.sleep(0.2)
        return "ok"

    ledger = Ledger()
    metered = MeteredLLM(FakeLLM(slow, name="slow"), "scorer", ledger)
    threads = [
        threading.Thread(target=metered.generate, args=([f"p{i}"], GREEDY)) for i in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    usage = ledger.usage("scorer")
    assert usage.requests == 4
    assert 0.2 <= usage.backend_seconds < 0.6
