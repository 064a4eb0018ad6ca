"""The GPO loop of one task (GPO_REFERENCE 5.2-5.3), readable on one screen.

state = resume from the checkpoint, or score the initial prompt on eval and test
for t in remaining steps:  run_step (gradient, momentum, step size, update, choice)
                           commit the step (step log, results_dict.json, checkpoint), check budget
final prompt = best eval score on the trajectory (ties: earliest), with its test score
Everything is written by the task's recorder (``gpo.results.recorder``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from tqdm import tqdm

from gpo.errors import BudgetExceeded
from gpo.llm.accounting import Ledger
from gpo.optimization.proposal import best_of_trajectory
from gpo.optimization.screening import budget_compliance
from gpo.optimization.selection import TrajectoryEntry
from gpo.optimization.state import TaskState
from gpo.optimization.step import StepContext, run_step
from gpo.results.records import (
    KEPT_CURRENT_PROMPT,
    Cost,
    FinalRecord,
    InitialRecord,
    StepRecord,
)

log = logging.getLogger(__name__)

BudgetCheck = Callable[[], "str | None"]  # a reason to stop, or None


@dataclass(frozen=True)
class TaskOutcome:
    best: TrajectoryEntry
    best_test: float
    state: TaskState
    budget_compliance: list[dict]  # per step with a word budget K (screening.budget_compliance)


class Meter:
    """The cost of one piece of work: the ledger's usage and the wall time since creation."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger, self.before, self.started = ledger, ledger.snapshot(), time.monotonic()

    def cost(self) -> Cost:
        usage = self.ledger.delta(self.before).to_dict()
        return Cost(usage, round(time.monotonic() - self.started, 3))


def run_task(
    ctx: StepContext, initial_prompt: str, steps_per_epoch: int, ledger: Ledger, budget: BudgetCheck
) -> TaskOutcome:
    """One task from its checkpoint (or its start) to its final record."""
    state = ctx.recorder.resume(TaskState.from_json)
    if state is None:
        state = start_task(ctx, initial_prompt, ledger)
        log.info(
            "%s: initial prompt eval %.4f, test %.4f; %d steps (%d per epoch)",
            state.task,
            state.initial_eval,
            state.initial_test,
            ctx.total_steps,
            steps_per_epoch,
        )
    return optimize_task(ctx, state, steps_per_epoch, ledger, budget)


def start_task(ctx: StepContext, initial_prompt: str, ledger: Ledger) -> TaskState:
    """Score the initial prompt on the whole eval and test splits; the trajectory starts there."""
    return score_initial(ctx.scorer, ctx.data, ctx.recorder, ledger, initial_prompt)[0]


def score_initial(
    scorer: Any, data: Any, rec: Any, ledger: Ledger, initial_prompt: str
) -> tuple[TaskState, Any]:
    """The start of every method's task (GPO's loop and GEPA's): the initial prompt scored on
    eval and test and recorded; returns the state and the eval report."""
    meter = Meter(ledger)
    eval_report = scorer.score(initial_prompt, data, "eval")
    test_report = scorer.score(initial_prompt, data, "test")
    rec.report(eval_report, -1, -1)
    rec.report(test_report, -1, -1)
    state = TaskState(
        task=rec.task,
        initial_prompt=initial_prompt,
        initial_eval=eval_report.score,
        initial_test=test_report.score,
        trajectory=[TrajectoryEntry(initial_prompt, eval_report.score, -1, -1)],
        scores={initial_prompt: eval_report.score},
        test_scores={initial_prompt: test_report.score},
    )
    initial = InitialRecord(rec.task, initial_prompt, eval_report.score, test_report.score)
    rec.start(state, replace(initial, cost=meter.cost()))
    return state, eval_report


def finish_task(ctx: StepContext, state: TaskState, ledger: Ledger) -> TaskOutcome:
    """The explicit final stage the original leaves implicit: best-on-eval, with its test score.

    Logged as the last steps.jsonl record (kind "final"), so its usage is accounted too.
    """
    meter, rec = Meter(ledger), ctx.recorder
    best = best_of_trajectory(state.trajectory)
    if best.prompt not in state.test_scores:
        report = ctx.scorer.score(best.prompt, ctx.data, "test")
        rec.report(report, best.epoch, best.step)
        state.test_scores[best.prompt] = report.score
    compliance = budget_compliance(rec.step_log())
    test = state.test_scores[best.prompt]
    final = FinalRecord(
        rec.task, ctx.total_steps, compliance, best.prompt, best.epoch, best.step, best.score, test
    )
    rec.finish(replace(final, cost=meter.cost()))
    return TaskOutcome(best, test, state, compliance)


def optimize_task(
    ctx: StepContext, state: TaskState, steps_per_epoch: int, ledger: Ledger, budget: BudgetCheck
) -> TaskOutcome:
    """The remaining steps, each committed before the budget is checked; then the final stage."""
    bar = tqdm(
        total=ctx.total_steps,
        initial=state.completed_steps,
        desc=state.task,
        unit="step",
        leave=False,
    )
    if ctx.progress is not None:
        bar.set_postfix_str(ctx.progress(None, state.completed_steps))
    for t in range(state.completed_steps, ctx.total_steps):
        e, j = divmod(t, steps_per_epoch)
        meter = Meter(ledger)
        record = run_step(ctx, state, t, e, j)
        state.completed_steps = t + 1
        record = replace(record, cost=meter.cost())
        ctx.recorder.commit(state, record)
        shown = shown_eval_score(state, record)
        log_step(ctx, record, shown)
        if ctx.on_step is not None:
            ctx.on_step(record)
        if ctx.progress is not None:
            bar.set_postfix_str(ctx.progress(shown, state.completed_steps), refresh=False)
        else:
            bar.set_postfix(eval=f"{shown:.3f}", refresh=False)
        bar.update(1)
        check_budget(ctx, state, budget)
    bar.close()
    return finish_task(ctx, state, ledger)


def check_budget(ctx: StepContext, state: TaskState, budget: BudgetCheck) -> None:
    reason = budget()
    if reason:
        raise BudgetExceeded(
            f"{reason}; stopped after step {state.completed_steps} of {state.task}; "
            f"continue with --resume={ctx.recorder.folder.root} and a larger budget"
        )


def shown_eval_score(state: TaskState, r: StepRecord) -> float:
    """The chosen prompt's eval score as shown to a person: its stored score when the step kept
    the current prompt (the record holds the original's 0.0 placeholder), else the record's."""
    if r.kept_current_prompt:
        return state.scores.get(r.chosen.prompt, r.chosen.eval_score)
    return r.chosen.eval_score


def log_step(ctx: StepContext, r: StepRecord, shown_score: float) -> None:
    """The step's log line; ``shown_score`` is :func:`shown_eval_score` (a kept current prompt
    is reported with its stored eval score and says so)."""
    chosen, within = r.chosen, sum(bool(c.within_budget) for c in r.candidates)
    what = f"{KEPT_CURRENT_PROMPT}, eval" if r.kept_current_prompt else "chosen eval"
    log.info(
        "%s step %d/%d (epoch %d, step %d): K=%s, %d candidates (%d new, %d rejected, "
        "%d within K, %d resample rounds), %s %.4f (edit distance %d) in %.0fs: %r",
        r.task,
        r.global_step + 1,
        ctx.total_steps,
        r.epoch,
        r.step,
        r.step_size,
        len(r.candidates),
        r.count("new"),
        r.count("rejected"),
        within,
        r.resample_rounds,
        what,
        shown_score,
        chosen.edit_distance,
        r.cost.seconds,
        chosen.prompt[:80],
    )
