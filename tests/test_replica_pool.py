"""The replica pool (scorer scale-out): least-in-flight balancing, per-replica limits, replicas
set aside after failures, a clean failure only when all are gone, model ids checked at start.

Unit tests on in-process replicas; the real test with two xllamacpp HTTP server processes is in
tests/test_scale_real.py.
"""

from __future__ import annotations

import threading
import time

import pytest

from gpo.errors import BackendError, ConfigError, ReplicaUnavailable
from gpo.llm.base import Completion
from gpo.llm.replica_pool import ReplicaPool, split_base_urls
from helpers import greedy

PARAMS = greedy(max_tokens=8)


class Replica:
    """An in-process server: answers ``<url>:<prompt>`` after ``delay`` seconds, or fails."""

    backend = "openai"
    is_chat = False
    name = "m"

    def __init__(self, url: str, delay: float = 0.0, models: tuple[str, ...] = ("m",)) -> None:
        self.base_url = url
        self.delay = delay
        self.models = list(models)
        self.down = False
        self.lock = threading.Lock()
        self.in_flight = 0
        self.peak = 0
        self.served = 0

    def generate_one(self, prompt, params, index) -> Completion:
        if self.down:
            raise ReplicaUnavailable(f"cannot reach {self.base_url}")
        with self.lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            time.sleep(self.delay)
            with self.lock:
                self.served += 1
            return Completion(f"{self.base_url}:{prompt}", 1, 1)
        finally:
            with self.lock:
                self.in_flight -= 1

    def served_model_ids(self) -> list[str]:
        if self.down:
            raise ReplicaUnavailable(f"cannot reach {self.base_url}")
        return self.models

    def close(self) -> None:
        return None


def test_comma_separated_urls_are_split() -> None:
    assert split_base_urls(" http://a/v1, http://b/v1 ,") == ["http://a/v1", "http://b/v1"]


def test_requests_are_spread_and_capped_per_replica() -> None:
    a, b = Replica("a", delay=0.02), Replica("b", delay=0.02)
    pool = ReplicaPool([a, b], max_concurrency=3, attempts=2)
    prompts = [f"p{i}" for i in range(24)]
    out = pool.generate(prompts, PARAMS)
    assert [c.text.split(":", 1)[1] for c in out] == prompts  # prompt order kept
    assert a.served == b.served == 12
    assert a.peak <= 3 and b.peak <= 3 and max(a.peak, b.peak) == 3
    assert pool.requests_per_replica() == {"a": 12, "b": 12}


def test_least_in_flight_sends_more_to_the_faster_replica() -> None:
    fast, slow = Replica("fast", delay=0.005), Replica("slow", delay=0.1)
    pool = ReplicaPool([fast, slow], max_concurrency=1, attempts=2)
    pool.generate([f"p{i}" for i in range(20)], PARAMS)
    assert fast.served > 3 * slow.served


def test_a_failing_replica_is_set_aside_and_others_take_its_requests() -> None:
    now = [0.0]
    a, b = Replica("a"), Replica("b")
    a.down = True
    pool = ReplicaPool([a, b], max_concurrency=2, attempts=3, clock=lambda: now[0])
    out = pool.generate([f"p{i}" for i in range(10)], PARAMS)
    assert all(c.text.startswith("b:") for c in out)
    assert pool.stats[0].failures >= 1 and b.served == 10
    a.down = False
    now[0] += 100.0  # after the set-aside period it gets requests again
    pool.generate([f"q{i}" for i in range(10)], PARAMS)
    assert a.served > 0


def test_the_pool_fails_cleanly_only_when_every_replica_is_gone() -> None:
    a, b = Replica("a"), Replica("b")
    a.down = b.down = True
    pool = ReplicaPool([a, b], max_concurrency=2, attempts=3, set_aside_seconds=0.01)
    with pytest.raises(BackendError, match="all 2 replicas of --openai_base_url failed"):
        pool.generate(["p"], PARAMS)


def test_replicas_serving_different_models_are_refused_in_one_line() -> None:
    pool = ReplicaPool([Replica("a"), Replica("b", models=("other",))], 2, attempts=2)
    with pytest.raises(ConfigError, match="serve different models") as info:
        pool.check_same_model()
    assert "\n" not in str(info.value)


def test_an_unreachable_replica_at_start_is_set_aside_not_fatal() -> None:
    a, b = Replica("a"), Replica("b")
    b.down = True
    pool = ReplicaPool([a, b], 2, attempts=2)
    pool.check_same_model()
    assert pool.stats[1].failures == 1
    b.down = a.down = True
    with pytest.raises(BackendError, match="none of the 2 replicas"):
        ReplicaPool([a, b], 2, attempts=2).check_same_model()
