"""Budget in sight: the text of a task's step bar, model calls done against the dry-run plan
(``gpo.runs.plan.task_plan``), tokens, cost (priced models) and an ETA from the rate of the
model calls (cache hits take no time, so they do not count toward the rate).

The plan's counts are upper bounds (the cache, deduplication and racing only lower them), so the
bar may finish below 100% of its calls and the ETA errs long.
"""

from __future__ import annotations

import dataclasses
import time

from gpo.config import RunConfig
from gpo.data.base import TaskData
from gpo.llm.accounting import Ledger, Usage
from gpo.runs.plan import task_plan

CALL_KEYS = ("scorer_requests", "optimizer_requests")


def planned_calls(config: RunConfig, data: TaskData, second_round: bool) -> tuple[int, int]:
    """(calls of the whole task, calls of its initial and final scoring alone) as planned."""
    full = task_plan(config, data, second_round)
    no_steps = dataclasses.replace(config, opt=dataclasses.replace(config.opt, num_search_epochs=0))
    fixed = task_plan(no_steps, data, second_round)
    return sum(full[k] for k in CALL_KEYS), sum(fixed[k] for k in CALL_KEYS)


def answered(u: Usage) -> int:
    """Prompts answered: sent to the model, from the cache, or deduplicated in a batch."""
    return u.requests + u.cache_hits + u.deduplicated


def short_count(n: float) -> str:
    for unit, size in (("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return f"{n:.0f}"


def short_time(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 5400:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


class BudgetBar:
    """Called by the loop with each committed step: ``calls 120/480 | 35.2k tok | $0.0123 |
    ETA 3m | eval 0.625``. Counts are this task's since it started in this process (a resumed
    task plans only its remaining steps); the cost is the run's so far."""

    def __init__(self, ledger: Ledger, calls: tuple[int, int], total_steps: int) -> None:
        self.ledger, self.total_steps = ledger, total_steps
        self.full, self.fixed = calls
        self.base = answered(ledger.total())
        self.base_tokens = ledger.total().total_tokens
        self.base_requests = ledger.total().requests
        self.started = time.monotonic()
        self.planned: int | None = None

    def _plan(self, completed: int) -> int:
        if completed == 0:
            return self.full
        per_step = (self.full - self.fixed) / max(1, self.total_steps)
        return max(1, round(per_step * (self.total_steps - completed) + self.fixed / 2))

    def __call__(self, eval_score: float | None, completed: int) -> str:
        """The bar's text after ``completed`` steps; ``eval_score`` is the chosen prompt's eval
        score as shown to a person (a kept prompt's stored score), None before the first step."""
        if self.planned is None:
            self.planned = self._plan(completed)
        total = self.ledger.total()
        done = answered(total) - self.base
        parts = [f"calls {done}/{self.planned}"]
        parts.append(f"{short_count(total.total_tokens - self.base_tokens)} tok")
        cost = self.ledger.cost_usd()
        if cost:
            parts.append(f"${cost:.4f}")
        sent = total.requests - self.base_requests  # model calls: what takes the time
        if sent > 0 and self.planned > done:
            elapsed = time.monotonic() - self.started
            parts.append(f"ETA {short_time(elapsed / sent * (self.planned - done))}")
        if eval_score is not None:
            parts.append(f"eval {eval_score:.3f}")
        return " | ".join(parts)
