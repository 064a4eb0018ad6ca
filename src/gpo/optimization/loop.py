"""The GPO loop of one task (GPO_REFERENCE 5.2-5.3), readable on one screen.

state = resume or score the initial prompt on eval and test
for t in remaining steps:  run_step (gradient, momentum, step size, update, choice)
                           log the step, save results_dict.json, checkpoint, check budget
final prompt = best eval score on the trajectory (ties: earliest), with its test score
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tqdm import tqdm

from gpo.llm.accounting import Ledger
from gpo.optimization.proposal import best_of_trajectory
from gpo.optimization.screening import budget_compliance
from gpo.optimization.selection import TrajectoryEntry
from gpo.optimization.state import TaskState, empty_results
from gpo.optimization.step import StepContext, run_step
from gpo.results.io import append_jsonl, atomic_write_json, read_jsonl

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TaskOutcome:
    best: TrajectoryEntry
    best_test: float
    state: TaskState


def start_task(ctx: StepContext, task: str, initial_prompt: str) -> TaskState:
    """Score the initial prompt on the whole eval and test splits; the trajectory starts there."""
    eval_report = ctx.scorer.score(initial_prompt, ctx.data, "eval")
    test_report = ctx.scorer.score(initial_prompt, ctx.data, "test")
    results = empty_results(ctx.data.spec.setting_dict())
    for report in (eval_report, test_report):
        ctx.folder.save_report(task, report, -1, -1)
        results[f"{report.split}_log"]["-1_-1"] = [initial_prompt, report.score, -1, -1]
    return TaskState(
        task=task,
        initial_prompt=initial_prompt,
        initial_eval=eval_report.score,
        initial_test=test_report.score,
        trajectory=[TrajectoryEntry(initial_prompt, eval_report.score, -1, -1)],
        scores={initial_prompt: eval_report.score},
        test_scores={initial_prompt: test_report.score},
        results=results,
    )


def commit(ctx: StepContext, state: TaskState, record: dict[str, Any]) -> None:
    """Persist one finished step: step log line, results_dict.json, then the checkpoint."""
    append_jsonl(ctx.folder.steps_path(state.task), record)
    ctx.folder.save_results_dict(state.task, state.results)
    atomic_write_json(ctx.folder.checkpoint_path(state.task), state.to_json(), indent=None)


def finish_task(ctx: StepContext, state: TaskState, ledger: Ledger) -> TaskOutcome:
    """The explicit final stage the original leaves implicit: best-on-eval, with its test score.

    Logged as the last steps.jsonl record (kind "final"), so its usage is accounted too.
    """
    before, started = ledger.snapshot(), time.monotonic()
    best = best_of_trajectory(state.trajectory)
    if best.prompt not in state.test_scores:
        report = ctx.scorer.score(best.prompt, ctx.data, "test")
        ctx.folder.save_report(state.task, report, best.epoch, best.step)
        state.test_scores[best.prompt] = report.score
        state.results["test_log"][f"{best.epoch}_{best.step}"] = [
            best.prompt,
            report.score,
            best.epoch,
            best.step,
        ]
        ctx.folder.save_results_dict(state.task, state.results)
    compliance = budget_compliance(read_jsonl(ctx.folder.steps_path(state.task)))
    append_jsonl(
        ctx.folder.steps_path(state.task),
        {
            "task": state.task,
            "global_step": ctx.total_steps,
            "kind": "final",
            "budget_compliance": compliance,
            "prompt": best.prompt,
            "epoch": best.epoch,
            "step": best.step,
            "eval_score": best.score,
            "test_score": state.test_scores[best.prompt],
            "usage": ledger.delta(before).to_dict(),
            "seconds": round(time.monotonic() - started, 3),
        },
    )
    return TaskOutcome(best, state.test_scores[best.prompt], state)


def optimize_task(
    ctx: StepContext,
    state: TaskState,
    steps_per_epoch: int,
    ledger: Ledger,
    check_budget: Callable[[TaskState], None],
) -> TaskOutcome:
    bar = tqdm(
        total=ctx.total_steps,
        initial=state.completed_steps,
        desc=state.task,
        unit="step",
        leave=False,
    )
    for t in range(state.completed_steps, ctx.total_steps):
        e, j = divmod(t, steps_per_epoch)
        before, started = ledger.snapshot(), time.monotonic()
        record = run_step(ctx, state, t, e, j)
        state.completed_steps = t + 1
        record["usage"] = ledger.delta(before).to_dict()
        record["seconds"] = round(time.monotonic() - started, 3)
        commit(ctx, state, record)
        chosen = record["chosen"]
        new = sum(c["status"] == "new" for c in record["candidates"])
        rejected = sum(c["status"] == "rejected" for c in record["candidates"])
        within = sum(bool(c["within_budget"]) for c in record["candidates"])
        log.info(
            "%s step %d/%d (epoch %d, step %d): K=%s, %d candidates (%d new, %d rejected, "
            "%d within K, %d resample rounds), chosen eval %.4f (edit distance %d) in %.0fs: %r",
            state.task,
            t + 1,
            ctx.total_steps,
            e,
            j,
            record["step_size"],
            len(record["candidates"]),
            new,
            rejected,
            within,
            record["resample_rounds"],
            chosen["eval_score"],
            chosen["edit_distance"],
            record["seconds"],
            chosen["prompt"][:80],
        )
        bar.update(1)
        bar.set_postfix(eval=f"{chosen['eval_score']:.3f}")
        check_budget(state)
    bar.close()
    return finish_task(ctx, state, ledger)
