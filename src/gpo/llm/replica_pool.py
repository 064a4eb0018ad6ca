"""A pool of model servers behind the one LLM interface (scorer scale-out, GPO_REFERENCE 3.3).

Within one GPO step the N candidates x eval examples are independent requests. With
``--openai_base_url=http://a/v1,http://b/v1`` each request goes to the replica with the fewest
requests in flight (ties: the one that got the fewest requests so far), at most
``--max_concurrency`` in flight per replica. A replica that fails (refused connection, timeout,
5xx or rate limit after its own retry) is set aside for a while and the request goes to another
one; a request fails only when every replica is set aside and its attempts are used up, so the
run stops cleanly (and can be resumed) only when all replicas are gone. Replicas that list
different model ids are refused at start.

The pool is a wrapper like the cache and the meter: ``CachedLLM(MeteredLLM(ReplicaPool))``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from gpo.errors import BackendError, ConfigError, ReplicaUnavailable
from gpo.llm.base import Completion, GenerationParams, Prompt, batch_sample_indices
from gpo.llm.fan_out import fan_out

log = logging.getLogger(__name__)

SET_ASIDE_SECONDS = 20.0  # how long a failed replica gets no requests
REPLICA_RETRIES = 1  # each replica's own retries; the pool's retry is another replica


class Replica(Protocol):
    """One server of the pool (an OpenAIBackend)."""

    name: str
    backend: str
    is_chat: bool
    base_url: str

    def generate_one(self, prompt: Prompt, params: GenerationParams, index: int) -> Completion: ...

    def served_model_ids(self) -> list[str]: ...

    def close(self) -> None: ...


@dataclass
class ReplicaStats:
    """What one replica did: requests sent to it, of which failed, and when it may serve again."""

    url: str
    requests: int = 0
    failures: int = 0
    in_flight: int = 0
    aside_until: float = 0.0
    last_error: str = ""


def split_base_urls(value: str | None) -> list[str]:
    """The replicas of a comma-separated ``--openai_base_url`` (empty entries dropped)."""
    return [u.strip() for u in (value or "").split(",") if u.strip()]


class ReplicaPool:
    """Least-in-flight load balancing over OpenAI-compatible replicas of one model."""

    backend = "openai"

    def __init__(
        self,
        replicas: Sequence[Replica],
        max_concurrency: int,
        attempts: int,
        set_aside_seconds: float = SET_ASIDE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if len(replicas) < 2:
            raise ValueError("a replica pool needs at least two replicas")
        first = replicas[0]
        self.name = first.name
        self.is_chat = first.is_chat
        self.model_id = getattr(first, "model_id", None) or first.name
        self.replicas = list(replicas)
        self.stats = [ReplicaStats(r.base_url) for r in replicas]
        self.max_concurrency = max_concurrency
        self.attempts = max(1, attempts)
        self.set_aside_seconds = set_aside_seconds
        self._clock = clock
        self._sleep = sleep
        self._cond = threading.Condition()

    def __repr__(self) -> str:
        return f"ReplicaPool(name={self.name!r}, replicas={[s.url for s in self.stats]!r})"

    def check_same_model(self) -> None:
        """Refuse replicas that serve different models; set aside the ones that do not answer."""
        served: dict[str, list[str]] = {}
        for replica, stats in zip(self.replicas, self.stats):
            try:
                served[stats.url] = replica.served_model_ids()
            except ReplicaUnavailable as exc:
                log.warning("replica %s does not answer (%s); set aside", stats.url, exc)
                self._set_aside(stats, str(exc))
        if not served:
            raise BackendError(
                f"none of the {len(self.replicas)} replicas of --openai_base_url answers: "
                "start the servers first"
            )
        if len({tuple(ids) for ids in served.values()}) > 1:
            listing = "; ".join(f"{url} serves {','.join(ids)}" for url, ids in served.items())
            raise ConfigError(
                f"--openai_base_url replicas serve different models ({listing}); "
                "run the same model on every replica"
            )

    def generate(
        self,
        prompts: Sequence[Prompt],
        params: GenerationParams,
        sample_indices: Sequence[int] | None = None,
    ) -> list[Completion]:
        return fan_out(
            self._send,
            prompts,
            params,
            batch_sample_indices(prompts, sample_indices),
            workers=self.max_concurrency * len(self.replicas),
            desc=f"{self.name} ({len(self.replicas)} replicas)",
            thread_prefix="gpo-replica",
        )

    def _send(self, prompt: Prompt, params: GenerationParams, index: int) -> Completion:
        """One request: to the least busy live replica; on failure to another one."""
        for attempt in range(self.attempts):
            n = self._acquire(last_attempt=attempt == self.attempts - 1)
            try:
                return self.replicas[n].generate_one(prompt, params, index)
            except ReplicaUnavailable as exc:
                self._set_aside(self.stats[n], str(exc))
            finally:
                self._release(n)
        raise self._all_gone()

    def _acquire(self, last_attempt: bool) -> int:
        """The index of the live replica with the fewest requests in flight (waits while every
        live replica is at --max_concurrency, or while every replica is set aside)."""
        with self._cond:
            while True:
                now = self._clock()
                live = [n for n, s in enumerate(self.stats) if s.aside_until <= now]
                free = [n for n in live if self.stats[n].in_flight < self.max_concurrency]
                if free:
                    n = min(free, key=lambda k: (self.stats[k].in_flight, self.stats[k].requests))
                    self.stats[n].in_flight += 1
                    self.stats[n].requests += 1
                    return n
                if live:
                    self._cond.wait(timeout=1.0)
                    continue
                if last_attempt:
                    raise self._all_gone()
                wait = min(s.aside_until for s in self.stats) - now
                self._cond.wait(timeout=max(wait, 0.01))

    def _release(self, n: int) -> None:
        with self._cond:
            self.stats[n].in_flight -= 1
            self._cond.notify_all()

    def _set_aside(self, stats: ReplicaStats, error: str) -> None:
        with self._cond:
            stats.failures += 1
            stats.last_error = error
            stats.aside_until = self._clock() + self.set_aside_seconds
            self._cond.notify_all()
        log.warning(
            "replica %s failed (%s); no requests for %.0fs",
            stats.url,
            error,
            self.set_aside_seconds,
        )

    def _all_gone(self) -> BackendError:
        errors = "; ".join(f"{s.url}: {s.last_error or 'busy'}" for s in self.stats)
        return BackendError(
            f"all {len(self.stats)} replicas of --openai_base_url failed ({errors}); "
            "restart the servers and continue with --resume"
        )

    def requests_per_replica(self) -> dict[str, int]:
        with self._cond:
            return {s.url: s.requests for s in self.stats}

    def close(self) -> None:
        with self._cond:
            summary = ", ".join(f"{s.url}: {s.requests} ({s.failures} failed)" for s in self.stats)
        log.info("requests per replica: %s", summary)
        for replica in self.replicas:
            replica.close()
