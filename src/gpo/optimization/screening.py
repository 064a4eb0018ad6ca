"""Screening of proposals: the enforced word budget and the candidate guards, with resampling.

This project's extension of the paper's proposal step (``--enforce_step_size``,
``--candidate_guards``; both off by default, so the published configurations run unchanged).
GPO's learning rate is a sentence in the meta-prompt ("change at most K words"); with
``--enforce_step_size`` a candidate whose word edit distance from the current prompt exceeds K
is rejected, like a candidate that trips a guard. The optimizer is then asked again for the
missing candidates, up to ``--max_resamples`` rounds (each round with fresh sample indices, so
fresh seeds and cache keys). If no candidate fits the budget after the last round, the step keeps
the closest guard-passing ones and says so. Rejected candidates never reach the scorer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from gpo.optimization.distance import word_edit_distance
from gpo.optimization.guards import STEP_SIZE_RULE, Guards, step_size_reason

log = logging.getLogger(__name__)

# propose(count, first_sample_index) -> candidate prompts
ProposeRound = Callable[[int, int], list[str]]


@dataclass(frozen=True)
class ScreeningPolicy:
    """How a step screens its proposals (the run's flags)."""

    guards: Guards = field(default_factory=Guards)
    enforce_step_size: bool = False
    max_resamples: int = 2

    @property
    def active(self) -> bool:
        return self.enforce_step_size or bool(self.guards.names)


@dataclass(frozen=True)
class Screened:
    """One proposed candidate and the verdict on it."""

    prompt: str
    round: int
    edit_distance: int
    within_budget: bool | None  # None when the step has no K (wo_lr)
    rejected_by: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    closest_kept: bool = False  # over budget, kept because no candidate fitted

    @property
    def kept(self) -> bool:
        return not self.rejected_by


@dataclass(frozen=True)
class Screening:
    """Every proposal of a step (all rounds, in order) and what goes on to dedup and eval."""

    candidates: tuple[Screened, ...]
    step_size: int | None
    resample_rounds: int
    budget_fallback: bool

    @property
    def accepted(self) -> list[str]:
        return [c.prompt for c in self.candidates if c.kept]

    @property
    def within_budget_share(self) -> float | None:
        """Share of all proposed candidates (every round) within the word budget K."""
        flags = [c.within_budget for c in self.candidates if c.within_budget is not None]
        return sum(flags) / len(flags) if flags else None


def judge(
    prompt: str, current: str, step_size: int | None, policy: ScreeningPolicy, rnd: int
) -> Screened:
    """The verdict of every active rule on one candidate (pure)."""
    distance = word_edit_distance(current, prompt)
    within = None if step_size is None else distance <= step_size
    verdicts = policy.guards.check(prompt)
    if policy.enforce_step_size and step_size is not None:
        reason = step_size_reason(distance, step_size)
        if reason is not None:
            verdicts.append((STEP_SIZE_RULE, reason))
    return Screened(
        prompt,
        rnd,
        distance,
        within,
        tuple(r for r, _ in verdicts),
        tuple(f"{r}: {why}" for r, why in verdicts),
    )


def screen(
    propose_round: ProposeRound,
    current: str,
    n: int,
    step_size: int | None,
    policy: ScreeningPolicy,
) -> Screening:
    """Ask for n candidates, judge them, and ask again for the rejected ones (bounded rounds)."""
    judged: list[Screened] = []
    want, next_index, rnd = n, 0, 0
    while True:
        for prompt in propose_round(want, next_index):
            judged.append(judge(prompt, current, step_size, policy, rnd))
        next_index += want
        want = n - sum(c.kept for c in judged)
        if want <= 0 or not policy.active or rnd >= policy.max_resamples:
            break
        rnd += 1
    judged, fallback = _keep_closest_if_none_fit(judged, step_size, policy, n)
    return Screening(tuple(judged), step_size, rnd, fallback)


def _keep_closest_if_none_fit(
    judged: list[Screened], step_size: int | None, policy: ScreeningPolicy, n: int
) -> tuple[list[Screened], bool]:
    """No candidate within K: keep the closest ones rejected only by the budget (those at the
    smallest edit distance, at most n, earliest first), and say so."""
    if not policy.enforce_step_size or step_size is None or any(c.within_budget for c in judged):
        return judged, False
    only_budget = [c for c in judged if c.rejected_by == (STEP_SIZE_RULE,)]
    if not only_budget:
        return judged, False
    closest = min(c.edit_distance for c in only_budget)
    log.warning(
        "no candidate within the word budget K=%d after %d resample round(s); keeping the "
        "closest (edit distance %d)",
        step_size,
        max(c.round for c in judged),
        closest,
    )
    keep = [i for i, c in enumerate(judged) if c in only_budget and c.edit_distance == closest]
    out = list(judged)
    for i in keep[:n]:
        c = judged[i]
        out[i] = Screened(c.prompt, c.round, c.edit_distance, False, closest_kept=True)
    return out, True


def budget_compliance(step_records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per step of a task's steps.jsonl: K, candidates within K of those proposed, resample
    rounds and whether the closest were kept (steps without K are left out)."""
    rows = []
    for r in step_records:
        if r.get("kind") or r.get("step_size") is None:
            continue
        cands = r.get("candidates", [])
        rows.append(
            {
                "global_step": r["global_step"],
                "step_size": r["step_size"],
                "proposed": len(cands),
                "within": sum(c["edit_distance"] <= r["step_size"] for c in cands),
                "resample_rounds": r.get("resample_rounds", 0),
                "budget_fallback": r.get("budget_fallback", False),
            }
        )
    return rows


def compliance_line(task: str, rows: Sequence[dict[str, Any]]) -> str:
    """One summary line: 'task word budget per step: K=30 3/4, K=10 0/5 (closest kept)'."""
    parts = [
        f"K={r['step_size']} {r['within']}/{r['proposed']}"
        + (f" +{r['resample_rounds']} rounds" if r["resample_rounds"] else "")
        + (" (closest kept)" if r["budget_fallback"] else "")
        for r in rows
    ]
    return f"{task} word budget per step (within K / proposed): {', '.join(parts)}"
