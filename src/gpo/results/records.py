"""The typed records of a task's step log (``steps.jsonl``) and of the original's results_dict.

Every record is frozen; ``to_dict()`` gives the JSON line exactly as written (keys in order):

* ``InitialRecord`` (global step -1): the initial prompt's eval and test score.
* ``StepRecord`` (one per step): the step's inputs, its candidates (``CandidateRecord``), the
  chosen prompt (``ChosenRecord``) and racing's savings (``RacingRecord``).
* ``FinalRecord`` (global step T): the best prompt on eval and its test score.

Each carries its ``Cost`` (usage per role and wall seconds), measured by the loop.
``LogEntry`` is one entry of the original's ``results_dict.json`` (``[*fields, epoch, step]``);
:class:`gpo.results.recorder.ResultsLog` folds them into that file.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any

from gpo.llm.accounting import Usage

# The original's results_dict.json keys whose entries are keyed by "epoch_step[_index]"; the
# other keys are lists of entries.
KEYED_LOGS = ("train_log", "eval_log", "test_log", "eval_partial_log")

# What a person is told when a step kept the current prompt through the ranking's placeholder.
KEPT_CURRENT_PROMPT = (
    "kept the current prompt (the original's placeholder score 0.0 in results_dict.json)"
)
# Candidate statuses whose eval score entered the step's ranking (new: evaluated at the step,
# reused: its stored score); rejected and duplicate candidates add nothing to it.
RANKED_STATUSES = ("new", "reused")


def keeps_current_prompt(current: str, chosen: str, ranked: Iterable[str]) -> bool:
    """Whether a step kept the current prompt U with the ranking's 0.0 placeholder (quirk 10.5).

    The ranking starts as ``{U: 0.0}``; U's entry keeps that placeholder unless U was itself
    a ranked candidate (``ranked``: the prompts of the step's new and reused candidates), which
    gives it a real score. So the chosen score is the placeholder exactly when the step chose U
    and U was not ranked: the step log and results_dict.json then hold 0.0 (the original's
    value), while U's stored eval score (instruction_score_dict) is its real measurement.
    """
    return chosen == current and current not in set(ranked)


@dataclass(frozen=True)
class LogEntry:
    """One results_dict.json entry: ``[*fields, epoch, step]``, appended to the list ``key`` or
    stored in the dict ``key`` under ``"epoch_step"`` (``"epoch_step_index"`` with an index)."""

    key: str
    fields: tuple[Any, ...]
    epoch: int
    step: int
    index: int | None = None

    @property
    def value(self) -> list[Any]:
        return [*self.fields, self.epoch, self.step]

    @property
    def sub_key(self) -> str:
        base = f"{self.epoch}_{self.step}"
        return base if self.index is None else f"{base}_{self.index}"


@dataclass(frozen=True)
class Cost:
    """What producing a record cost: the ledger's usage per role and the wall seconds."""

    usage: dict[str, Any]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"usage": self.usage, "seconds": self.seconds}


NO_COST = Cost({}, 0.0)


def _with_cost(body: dict[str, Any], cost: Cost) -> dict[str, Any]:
    return {**body, **cost.to_dict()}


@dataclass(frozen=True)
class InitialRecord:
    task: str
    prompt: str
    eval_score: float
    test_score: float
    cost: Cost = NO_COST

    def to_dict(self) -> dict[str, Any]:
        body = {"task": self.task, "global_step": -1, "kind": "initial", "prompt": self.prompt}
        body |= {"eval_score": self.eval_score, "test_score": self.test_score}
        return _with_cost(body, self.cost)


@dataclass(frozen=True)
class CandidateRecord:
    """One proposed candidate (any round): its fate, edit distance and rejection rules."""

    prompt: str
    eval_score: float | None
    eval_partial: bool
    status: str  # new | reused | duplicate | rejected
    edit_distance: int
    within_budget: bool | None
    rejected_by: tuple[str, ...]
    reasons: tuple[str, ...]
    round: int
    closest_kept: bool

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        return out | {"rejected_by": list(self.rejected_by), "reasons": list(self.reasons)}


@dataclass(frozen=True)
class ChosenRecord:
    """The step's choice: the next prompt, its eval score, its distance from U, its test score."""

    prompt: str
    eval_score: float
    edit_distance: int
    test_score: float | None

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class RacingRecord:
    """Racing's effect on a step: generations saved (net of completing earlier partial scores)
    and the candidates it dropped."""

    mode: str
    generations_saved: int
    generations_completing_partials: int
    dropped: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "generations_saved": self.generations_saved,
            "generations_completing_partials": self.generations_completing_partials,
            "dropped": list(self.dropped),
        }


@dataclass(frozen=True)
class StepRecord:
    task: str
    global_step: int
    epoch: int
    step: int
    current_prompt: str
    current_eval_score: float
    train_score: float | None
    gradient: str | None
    step_size: int | None
    meta_prompt: str
    resample_rounds: int
    within_budget_share: float | None
    budget_fallback: bool
    candidates: tuple[CandidateRecord, ...]
    chosen: ChosenRecord
    racing: RacingRecord
    cost: Cost = field(default=NO_COST)

    def count(self, status: str) -> int:
        return sum(c.status == status for c in self.candidates)

    @property
    def kept_current_prompt(self) -> bool:
        """The step kept the current prompt; ``chosen.eval_score`` is the 0.0 placeholder."""
        ranked = (c.prompt for c in self.candidates if c.status in RANKED_STATUSES)
        return keeps_current_prompt(self.current_prompt, self.chosen.prompt, ranked)

    def to_dict(self) -> dict[str, Any]:
        body = {f.name: getattr(self, f.name) for f in fields(self)[:13]}
        body["candidates"] = [c.to_dict() for c in self.candidates]
        body |= {"chosen": self.chosen.to_dict(), "racing": self.racing.to_dict()}
        return _with_cost(body, self.cost)


@dataclass(frozen=True)
class FinalRecord:
    task: str
    global_step: int
    budget_compliance: list[dict[str, Any]]
    prompt: str
    epoch: int
    step: int
    eval_score: float
    test_score: float
    cost: Cost = NO_COST

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"task": self.task, "global_step": self.global_step}
        body |= {"kind": "final", "budget_compliance": self.budget_compliance}
        body |= {"prompt": self.prompt, "epoch": self.epoch, "step": self.step}
        body |= {"eval_score": self.eval_score, "test_score": self.test_score}
        return _with_cost(body, self.cost)


def step_kept_current_prompt(record: dict[str, Any]) -> bool:
    """:attr:`StepRecord.kept_current_prompt` of a steps.jsonl line (as ``to_dict`` wrote it)."""
    ranked = (c["prompt"] for c in record["candidates"] if c["status"] in RANKED_STATUSES)
    return keeps_current_prompt(record["current_prompt"], record["chosen"]["prompt"], ranked)


def usage_of(record: dict[str, Any]) -> dict[str, Usage]:
    """The usage per role of one step-log line (as written by ``Cost``)."""
    names = [f.name for f in fields(Usage)]
    roles = record.get("usage", {}).get("roles", {})
    return {role: Usage(**{n: u[n] for n in names}) for role, u in roles.items()}


def _candidate_from_dict(d: dict[str, Any]) -> CandidateRecord:
    names = [f.name for f in fields(CandidateRecord)]
    values = {n: d[n] for n in names}
    values["rejected_by"], values["reasons"] = tuple(d["rejected_by"]), tuple(d["reasons"])
    return CandidateRecord(**values)


def step_record_from_dict(d: dict[str, Any]) -> StepRecord:
    """The StepRecord of one steps.jsonl step line (the inverse of ``StepRecord.to_dict``)."""
    names = [f.name for f in fields(StepRecord)][:13]
    racing = dict(d["racing"])
    racing["dropped"] = tuple(racing.get("dropped", ()))
    return StepRecord(
        **{n: d[n] for n in names},
        candidates=tuple(_candidate_from_dict(c) for c in d["candidates"]),
        chosen=ChosenRecord(**d["chosen"]),
        racing=RacingRecord(**racing),
        cost=Cost(d.get("usage", {}), float(d.get("seconds", 0.0))),
    )
