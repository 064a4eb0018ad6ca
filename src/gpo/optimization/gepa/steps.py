"""GEPA's proposals as step-log records: one ``steps.jsonl`` line per accepted or rejected
proposal, in the schema every method writes (``gpo.results.records.StepRecord``) plus a ``gepa``
block with what only GEPA has.

The mapping: the *current* prompt is GEPA's best candidate on the eval split before the
iteration, the *chosen* prompt its best after it (what the method would return if it stopped
there). The candidates are the proposal (status ``new`` with its eval score when GEPA accepted it
on its minibatch and scored it on eval, else ``rejected`` by ``minibatch``) and the best so far
(``reused``: its stored eval score competes with the proposal). The ``gepa`` block holds the
iteration, the parent (index, prompt, eval score), the minibatch (train positions) with the
parent's and the proposal's scores on it, the proposal's index in GEPA's pool and its eval score
(when measured), the reason of a rejection and the metric calls used so far.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gpo.optimization.distance import word_edit_distance
from gpo.optimization.selection import TrajectoryEntry
from gpo.results.records import (
    CandidateRecord,
    ChosenRecord,
    Cost,
    RacingRecord,
    StepRecord,
)


@dataclass
class Proposal:
    """One iteration's proposal as GEPA's callbacks report it."""

    iteration: int
    parent_index: int = -1
    parent_prompt: str = ""
    parent_score: float | None = None
    minibatch: list[int] = field(default_factory=list)
    parent_scores: list[float] = field(default_factory=list)
    candidate_scores: list[float] = field(default_factory=list)
    candidate: str | None = None
    reflection_prompt: str = ""
    candidate_index: int | None = None
    valset_score: float | None = None
    reason: str = ""  # GEPA's reason of a rejection

    @property
    def accepted(self) -> bool:
        return self.candidate_index is not None

    def gepa_block(self, metric_calls: int, budget: int | None = None) -> dict[str, Any]:
        return {
            "iteration": self.iteration,
            "parent_index": self.parent_index,
            "parent_prompt": self.parent_prompt,
            "parent_eval_score": self.parent_score,
            "minibatch": list(self.minibatch),
            "minibatch_scores_parent": list(self.parent_scores),
            "minibatch_scores_candidate": list(self.candidate_scores),
            "accepted": self.accepted,
            "reason": self.reason,
            "candidate_index": self.candidate_index,
            "valset_score": self.valset_score,
            "metric_calls": metric_calls,
            "max_metric_calls": budget,  # the run's budget of metric calls
        }


def _candidate(p: Proposal) -> CandidateRecord:
    prompt, accepted = p.candidate or "", p.accepted
    return CandidateRecord(
        prompt=prompt,
        eval_score=p.valset_score if accepted else None,
        eval_partial=False,
        status="new" if accepted else "rejected",
        edit_distance=word_edit_distance(p.parent_prompt, prompt),
        within_budget=None,
        rejected_by=() if accepted else ("minibatch",),
        reasons=() if accepted else (p.reason,),
        round=0,
        closest_kept=False,
    )


def _reused(entry: TrajectoryEntry) -> CandidateRecord:
    return CandidateRecord(entry.prompt, entry.score, False, "reused", 0, None, (), (), 0, False)


def step_record(
    t: int,
    task: str,
    p: Proposal,
    before: TrajectoryEntry,
    after: TrajectoryEntry,
    cost: Cost,
) -> StepRecord:
    """Step ``t`` of the log: proposal ``p`` between GEPA's best ``before`` and ``after``."""
    candidates = [_candidate(p)]
    if not (p.accepted and p.candidate == before.prompt):
        candidates.append(_reused(before))
    train = sum(p.parent_scores) / len(p.parent_scores) if p.parent_scores else None
    return StepRecord(
        task=task,
        global_step=t,
        epoch=0,
        step=t,
        current_prompt=before.prompt,
        current_eval_score=before.score,
        train_score=train,
        gradient=None,
        step_size=None,
        meta_prompt=p.reflection_prompt,
        resample_rounds=0,
        within_budget_share=None,
        budget_fallback=False,
        candidates=tuple(candidates),
        chosen=ChosenRecord(
            after.prompt, after.score, word_edit_distance(before.prompt, after.prompt), None
        ),
        racing=RacingRecord("off", 0, 0),
        cost=cost,
    )


def step_line(record: StepRecord, gepa: dict[str, Any]) -> dict[str, Any]:
    """The steps.jsonl line: the record's keys, the ``gepa`` block, then usage and seconds."""
    body = record.to_dict()
    usage, seconds = body.pop("usage"), body.pop("seconds")
    return {**body, "gepa": gepa, "usage": usage, "seconds": seconds}
