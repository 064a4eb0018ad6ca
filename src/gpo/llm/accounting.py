"""Per-role usage accounting of the two LLMs of GPO and the run budget.

GPO drives two models: the scorer (task model, evaluates every candidate prompt) and the prompt
optimizer (proposes candidates, writes the feedback gradient and momentum summaries). The
``Ledger`` counts, per role, the requests sent to each backend, their prompt and completion tokens,
the seconds spent inside the backend, and the requests that cost no model call (cache hits and
identical requests folded within a batch). The loop logs ``delta(snapshot)`` per step and stops at
a step boundary when ``check_budget`` reports a reason.

Wrapper order (built by ``wrap_llm``)::

    CachedLLM( MeteredLLM( backend ) )

The cache sits outside the meter, so a hit never reaches the meter: it adds no request, tokens
or backend seconds, only a ``cache_hits`` count. Only real model calls spend the budget.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from types import MappingProxyType
from typing import Any

from gpo.llm.base import LLM, Completion, GenerationParams, Prompt, concurrency
from gpo.llm.cache import CachedLLM, ResponseCache, WorkerCache, model_identity
from gpo.llm.pricing import DEFAULT_PRICES, ModelPrice, cost_usd

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Usage:
    """Counters of one role (or a sum of roles). Tokens and requests are real backend work."""

    requests: int = 0  # prompts sent to the model
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_hits: int = 0  # answered from the response cache
    deduplicated: int = 0  # identical requests of a batch answered by one model call
    backend_seconds: float = 0.0  # wall time inside the backend's generate

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )

    def __sub__(self, other: Usage) -> Usage:
        return Usage(
            **{f.name: getattr(self, f.name) - getattr(other, f.name) for f in fields(self)}
        )

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["total_tokens"] = self.total_tokens
        out["backend_seconds"] = round(self.backend_seconds, 3)
        return out


@dataclass(frozen=True)
class LedgerSnapshot:
    """Usage per role at one moment (or the difference of two moments)."""

    by_role: Mapping[str, Usage]

    def usage(self, role: str) -> Usage:
        return self.by_role.get(role, Usage())

    @property
    def total(self) -> Usage:
        return sum(self.by_role.values(), Usage())

    def to_dict(self) -> dict[str, Any]:
        roles = {role: u.to_dict() for role, u in sorted(self.by_role.items())}
        return {"roles": roles, "total": self.total.to_dict()}


@dataclass(frozen=True)
class _ModelOfRole:
    backend: str
    model: str


class Ledger:
    """Thread-safe usage counters keyed by role ("scorer", "optimizer")."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._usage: dict[str, Usage] = {}
        self._models: dict[str, _ModelOfRole] = {}
        self._warned_unknown_price = False

    def register_model(self, role: str, backend: str, model: str) -> None:
        """Name the model serving ``role``, so its cost can be priced."""
        with self._lock:
            previous = self._models.setdefault(role, _ModelOfRole(backend, model))
        if previous != _ModelOfRole(backend, model):
            log.warning("role %s already metered for %s; ignoring %s", role, previous.model, model)

    def record(self, role: str, usage: Usage) -> None:
        with self._lock:
            self._usage[role] = self._usage.get(role, Usage()) + usage

    def counters(self, role: str) -> RoleCounters:
        """The CacheCounters view of one role, for CachedLLM."""
        return RoleCounters(self, role)

    def usage(self, role: str) -> Usage:
        with self._lock:
            return self._usage.get(role, Usage())

    def total(self) -> Usage:
        return self.snapshot().total

    def snapshot(self) -> LedgerSnapshot:
        with self._lock:
            return LedgerSnapshot(MappingProxyType(dict(self._usage)))

    def delta(self, since: LedgerSnapshot) -> LedgerSnapshot:
        """Usage per role accrued after ``since`` (e.g. during one optimization step)."""
        now = self.snapshot()
        return LedgerSnapshot(
            MappingProxyType({role: u - since.usage(role) for role, u in now.by_role.items()})
        )

    def cost_usd(self, prices: Mapping[str, ModelPrice] = DEFAULT_PRICES) -> float | None:
        """Total dollar cost so far; None if some role with tokens has an unknown price."""
        snap = self.snapshot()
        with self._lock:
            models = dict(self._models)
        total = 0.0
        for role, u in snap.by_role.items():
            if u.total_tokens == 0:
                continue
            which = models.get(role)
            if which is None:
                return None
            cost = cost_usd(
                which.model,
                u.prompt_tokens,
                u.completion_tokens,
                backend=which.backend,
                prices=prices,
            )
            if cost is None:
                return None
            total += cost
        return total

    def check_budget(
        self,
        max_tokens_budget: int | None,
        max_cost_usd: float | None,
        prices: Mapping[str, ModelPrice] = DEFAULT_PRICES,
    ) -> str | None:
        """A one-line reason when a budget is reached (used >= limit), else None.

        Tokens are prompt + completion tokens sent to backends by all roles (cache hits are free).
        A cost budget cannot be enforced while some model's price is unknown; that is logged once.
        """
        used = self.total().total_tokens
        if max_tokens_budget is not None and used >= max_tokens_budget:
            return (
                f"token budget reached: {used} tokens used, max_tokens_budget={max_tokens_budget}"
            )
        if max_cost_usd is None:
            return None
        cost = self.cost_usd(prices)
        if cost is None:
            if not self._warned_unknown_price:
                self._warned_unknown_price = True
                log.warning("max_cost_usd is set but a model's price is unknown; not enforced")
            return None
        if cost >= max_cost_usd:
            return f"cost budget reached: ${cost:.4f} spent, max_cost_usd={max_cost_usd}"
        return None

    def to_dict(self, prices: Mapping[str, ModelPrice] = DEFAULT_PRICES) -> dict[str, Any]:
        """JSON-ready usage per role and in total, with the model of each role and the cost."""
        out = self.snapshot().to_dict()
        with self._lock:
            models = dict(self._models)
        for role, which in models.items():
            entry = out["roles"].setdefault(role, Usage().to_dict())
            entry.update(backend=which.backend, model=which.model)
        out["total"]["cost_usd"] = self.cost_usd(prices)
        return out


@dataclass(frozen=True)
class RoleCounters:
    """Counts one role's requests that cost no model call (implements CacheCounters)."""

    ledger: Ledger
    role: str

    def record_cache(self, hits: int, deduplicated: int) -> None:
        self.ledger.record(self.role, Usage(cache_hits=hits, deduplicated=deduplicated))


class MeteredLLM:
    """An LLM that records each real backend call of ``inner`` in the ledger under ``role``."""

    def __init__(self, inner: LLM, role: str, ledger: Ledger) -> None:
        self.inner = inner
        self.role = role
        self.ledger = ledger
        self.name = inner.name
        self.backend = inner.backend
        self.is_chat = inner.is_chat
        self.model_id = getattr(inner, "model_id", None) or inner.name
        self.engine = getattr(inner, "engine", "")
        self.concurrency = concurrency(inner)
        ledger.register_model(role, inner.backend, inner.name)
        # Calls may overlap (the scorer's conversations run on several threads): the backend
        # seconds are the wall time with at least one call in flight, not the sum of calls.
        self._busy_lock = threading.Lock()
        self._in_flight = 0
        self._busy_since = 0.0

    def _enter(self) -> None:
        with self._busy_lock:
            if self._in_flight == 0:
                self._busy_since = time.perf_counter()
            self._in_flight += 1

    def _leave(self) -> None:
        with self._busy_lock:
            self._in_flight -= 1
            if self._in_flight == 0:
                busy = time.perf_counter() - self._busy_since
                self.ledger.record(self.role, Usage(backend_seconds=busy))

    def generate(
        self,
        prompts: Sequence[Prompt],
        params: GenerationParams,
        sample_indices: Sequence[int] | None = None,
    ) -> list[Completion]:
        self._enter()
        try:
            out = self.inner.generate(prompts, params, sample_indices)
        finally:
            self._leave()
        usage = Usage(
            requests=len(prompts),
            prompt_tokens=sum(c.prompt_tokens for c in out),
            completion_tokens=sum(c.completion_tokens for c in out),
        )
        self.ledger.record(self.role, usage)
        return out

    def close(self) -> None:
        self.inner.close()


def wrap_llm(
    inner: LLM, role: str, ledger: Ledger, cache: ResponseCache | WorkerCache | None
) -> LLM:
    """The LLM the scorer/optimizer uses: CachedLLM(MeteredLLM(inner)).

    ``cache=None`` (``--no_cache``) keeps in-batch folding of identical requests.
    """
    metered = MeteredLLM(inner, role, ledger)
    return CachedLLM(metered, cache, ledger.counters(role), identity=model_identity(inner))
