"""One task optimized by GEPA: the initial prompt scored, ``gepa.optimize`` driven through the
project's scorer (``adapter``) and optimizer model (``reflection``), every proposal recorded
(``steps``), the best prompt on eval scored on test.

Splits: GEPA's trainset is the task's train split (its reflection minibatches), its valset the
eval split (the Pareto front and the final choice: the best mean eval score, as every method
chooses); test is scored only for the initial and the final prompt. GEPA's state lives in
``<task folder>/gepa`` (its ``run_dir``), so ``--resume`` continues GEPA where it stopped; the
task's checkpoint is written right after each of GEPA's saves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gpo.data.base import TaskData
from gpo.errors import BudgetExceeded
from gpo.evaluation.scorer import Scorer
from gpo.llm.accounting import Ledger
from gpo.llm.base import LLM
from gpo.optimization.gepa.adapter import Item, ScorerAdapter
from gpo.optimization.gepa.reflection import ReflectionModel, prompt_as_text
from gpo.optimization.gepa.settings import COMPONENT, GEPA_SETTINGS, require_gepa
from gpo.optimization.gepa.steps import Proposal, step_line, step_record
from gpo.optimization.loop import Meter, TaskOutcome, score_initial
from gpo.optimization.selection import TrajectoryEntry
from gpo.optimization.state import TaskState
from gpo.results.recorder import TaskRecorder
from gpo.results.records import FinalRecord, LogEntry, StepRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GepaTask:
    """What one GEPA task runs on (passed in, never global)."""

    data: TaskData
    scorer: Scorer
    optimizer: LLM
    recorder: TaskRecorder
    ledger: Ledger
    max_metric_calls: int
    seed: int
    temperature: float
    max_tokens: int
    stop: Callable[[], str | None]  # the run's budgets: a reason to stop, or None
    on_step: Callable[[StepRecord], None] | None = None

    @property
    def run_dir(self) -> Path:
        return self.recorder.folder.task_dir(self.recorder.task) / "gepa"


class GepaLog:
    """GEPA's logger (``log(message)``) into this project's logging (debug level)."""

    def log(self, message: str) -> None:
        log.debug("gepa: %s", message)


class StepWriter:
    """GEPA's callbacks, turned into step records and checkpoints; also GEPA's stopper for the
    run's token and cost budgets. GEPA logs and swallows a callback's exception, so the first
    one is kept (``error``), stops GEPA and is raised after it returns."""

    def __init__(self, task: GepaTask, state: TaskState, adapter: ScorerAdapter) -> None:
        self.task, self.state, self.adapter = task, state, adapter
        self.pending: Proposal | None = None
        self.new_best: TrajectoryEntry | None = None
        self.meter = Meter(task.ledger)
        self.metric_calls = 0
        self.error: BaseException | None = None
        self.stop_reason: str | None = None

    def __call__(self, gepa_state: Any) -> bool:
        """The stopper: stop after a failed callback or past the run's budgets."""
        if self.error is None and self.stop_reason is None:
            self.stop_reason = self.task.stop()
        return self.error is not None or self.stop_reason is not None

    def fail(self, error: BaseException) -> None:
        """Keep the first failure (GEPA then stops; ``run_gepa_task`` raises it)."""
        if self.error is None:
            self.error = error

    def _safely(self, body: Callable[[], None]) -> None:
        if self.error is not None:
            return
        try:
            body()
        except Exception as e:  # noqa: BLE001  (kept, GEPA stopped, raised after it returns)
            self.fail(e)

    def _proposal(self) -> Proposal:
        if self.pending is None:
            self.pending = Proposal(iteration=-1)
        return self.pending

    def on_iteration_start(self, e: dict) -> None:
        self.pending, self.new_best = Proposal(e["iteration"]), None

    def on_candidate_selected(self, e: dict) -> None:
        p = self._proposal()
        p.parent_index, p.parent_prompt = e["candidate_idx"], e["candidate"][COMPONENT]
        p.parent_score = e["score"]

    def on_minibatch_sampled(self, e: dict) -> None:
        self._proposal().minibatch = list(e["minibatch_ids"])

    def on_evaluation_end(self, e: dict) -> None:
        p = self._proposal()
        if e["candidate_idx"] is None:
            p.candidate_scores = list(e["scores"])
        else:
            p.parent_scores = list(e["scores"])

    def on_proposal_end(self, e: dict) -> None:
        p = self._proposal()
        p.candidate = e["new_instructions"].get(COMPONENT)
        p.reflection_prompt = prompt_as_text(e["prompts"].get(COMPONENT, ""))

    def on_valset_evaluated(self, e: dict) -> None:
        if e["iteration"] == 0:
            return  # the initial prompt, recorded by ``start``
        p = self._proposal()
        p.candidate_index, p.valset_score = e["candidate_idx"], e["average_score"]
        if e["is_best_program"]:
            prompt = e["candidate"][COMPONENT]
            self.new_best = TrajectoryEntry(
                prompt, e["average_score"], 0, self.state.completed_steps
            )

    def on_budget_updated(self, e: dict) -> None:
        self.metric_calls = e["metric_calls_used"]

    def on_candidate_accepted(self, e: dict) -> None:
        self._safely(self.commit)

    def on_candidate_rejected(self, e: dict) -> None:
        self._proposal().reason = e["reason"]
        self._safely(self.commit)

    def on_state_saved(self, e: dict) -> None:
        self._safely(lambda: self.task.recorder.checkpoint(self.state))

    def record_reports(self, step: int) -> None:
        """Every score report since the last record: its CSV and results_dict entry."""
        for k, report in enumerate(self.adapter.drain()):
            self.task.recorder.report(report, 0, step, k)

    def commit(self) -> None:
        """The pending proposal as step ``t``: reports, results_dict entries, the step line."""
        p, st, rec = self._proposal(), self.state, self.task.recorder
        t, before = st.completed_steps, st.current
        after = self.new_best or before
        self.record_reports(t)
        rec.log([LogEntry("meta_prompts", (p.reflection_prompt,), 0, t)])
        rec.log([LogEntry("meta_generate_instructions", ([p.candidate or ""],), 0, t)])
        if p.accepted and p.candidate is not None and p.valset_score is not None:
            st.scores[p.candidate] = p.valset_score
        st.trajectory.append(after)
        st.completed_steps = t + 1
        record = step_record(t, rec.task, p, before, after, self.meter.cost())
        rec.append(step_line(record, p.gepa_block(self.metric_calls, self.task.max_metric_calls)))
        self.meter, self.pending, self.new_best = Meter(self.task.ledger), None, None
        log.info(
            "%s proposal %d (GEPA iteration %d, parent %d): %s, minibatch %s -> %s, eval %s, "
            "best eval %.4f, %d metric calls: %r",
            rec.task,
            t + 1,
            p.iteration,
            p.parent_index,
            "accepted" if p.accepted else "rejected",
            p.parent_scores,
            p.candidate_scores,
            "-" if p.valset_score is None else f"{p.valset_score:.4f}",
            after.score,
            self.metric_calls,
            (p.candidate or "")[:80],
        )
        if self.task.on_step is not None:
            self.task.on_step(record)


def start(task: GepaTask, adapter: ScorerAdapter, initial_prompt: str) -> TaskState:
    """Score the initial prompt on eval (GEPA's first evaluation reuses it) and on test."""
    state, eval_report = score_initial(
        task.scorer, task.data, task.recorder, task.ledger, initial_prompt
    )
    adapter.prime(eval_report)
    return state


def optimize(task: GepaTask, adapter: ScorerAdapter, writer: StepWriter, initial: str) -> Any:
    """``gepa.optimize`` on the task (GEPA_SETTINGS; its run_dir inside the task's folder)."""
    import gepa

    s, data = GEPA_SETTINGS, task.data
    task.run_dir.mkdir(parents=True, exist_ok=True)
    return gepa.optimize(
        seed_candidate={COMPONENT: initial},
        trainset=[Item("train", k) for k in range(len(data.train))],
        valset=[Item("eval", k) for k in range(len(data.eval))],
        adapter=adapter,
        reflection_lm=ReflectionModel(
            task.optimizer, task.temperature, task.max_tokens, task.seed, writer.fail
        ),
        candidate_selection_strategy=s.candidate_selection_strategy,
        frontier_type=s.frontier_type,
        skip_perfect_score=s.skip_perfect_score,
        reflection_minibatch_size=s.reflection_minibatch_size,
        perfect_score=s.perfect_score,
        use_merge=s.use_merge,
        acceptance_criterion=s.acceptance_criterion,
        max_metric_calls=task.max_metric_calls,
        stop_callbacks=writer,
        logger=GepaLog(),
        run_dir=str(task.run_dir),
        callbacks=[writer],
        seed=task.seed,
    )


def finish(task: GepaTask, state: TaskState, result: Any, writer: StepWriter) -> TaskOutcome:
    """GEPA's best candidate on eval, scored on test; the final record."""
    rec, t = task.recorder, state.completed_steps
    best_prompt = result.candidates[result.best_idx][COMPONENT]
    score = float(result.val_aggregate_scores[result.best_idx])
    entry = next(
        (e for e in state.trajectory if e.prompt == best_prompt),
        TrajectoryEntry(best_prompt, score, 0, max(0, t - 1)),
    )
    writer.record_reports(t)
    if best_prompt not in state.test_scores:
        report = task.scorer.score(best_prompt, task.data, "test")
        rec.report(report, entry.epoch, entry.step)
        state.test_scores[best_prompt] = report.score
    test = state.test_scores[best_prompt]
    final = FinalRecord(rec.task, t, [], best_prompt, entry.epoch, entry.step, score, test)
    rec.finish(replace(final, cost=writer.meter.cost()))
    log.info(
        "%s: GEPA used %s of %d metric calls; best of %d candidates: eval %.4f, test %.4f",
        rec.task,
        result.total_metric_calls,
        task.max_metric_calls,
        len(result.candidates),
        score,
        test,
    )
    return TaskOutcome(replace(entry, score=score), test, state, [])


def run_gepa_task(task: GepaTask, initial_prompt: str) -> TaskOutcome:
    """One task from its checkpoint (GEPA's run_dir) or its start, to its final record."""
    require_gepa()
    adapter = ScorerAdapter(task.scorer, task.data)
    state = task.recorder.resume(TaskState.from_json)
    if state is None:
        state = start(task, adapter, initial_prompt)
    writer = StepWriter(task, state, adapter)
    result = optimize(task, adapter, writer, state.initial_prompt)
    task.recorder.checkpoint(state)  # in step with GEPA's last save
    if writer.error is not None:
        raise writer.error
    if writer.stop_reason is not None:
        raise BudgetExceeded(
            f"{writer.stop_reason}; stopped after proposal {state.completed_steps} of "
            f"{state.task}; continue with --resume={task.recorder.folder.root} and a larger budget"
        )
    return finish(task, state, result, writer)
