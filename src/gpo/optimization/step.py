"""One GPO step (GPO_REFERENCE 5.3), split into the paper's stages.

train batch -> gradient (feedback) -> momentum (para / feedback) -> step size -> meta-prompt ->
learning rate (word budget) -> proposal of N candidates -> dedup -> eval -> choice of the next
prompt.
Every stage reads and writes the explicit ``TaskState`` and records what it produced through the
task's recorder (CSVs, results_dict entries); the returned ``StepRecord`` is the ``steps.jsonl``
line. Every momentum, para or feedback, k-list or real-time, is applied the same way.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

from gpo.data.base import TaskData
from gpo.evaluation.racing import RaceOutcome, RacingSettings, complete_score
from gpo.evaluation.report import ScoreReport
from gpo.evaluation.scorer import Scorer
from gpo.llm.base import LLM
from gpo.optimization.components import Components
from gpo.optimization.distance import word_edit_distance
from gpo.optimization.gradient import wrong_examples
from gpo.optimization.momentum import Momentum, MomentumContext, MomentumResult
from gpo.optimization.proposal import (
    NextPromptRule,
    build_ranking,
    choose_next,
    dedup_candidates,
    hashes_of,
    propose,
)
from gpo.optimization.screening import Screening, ScreeningPolicy, screen
from gpo.optimization.selection import PENDING_IMPROVEMENT, GradientEntry, TrajectoryEntry
from gpo.optimization.state import TaskState, batch_indices
from gpo.results.recorder import TaskRecorder
from gpo.results.records import CandidateRecord, ChosenRecord, LogEntry, RacingRecord, StepRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepContext:
    """Everything a step needs besides the state (passed in, never global)."""

    data: TaskData
    scorer: Scorer
    optimizer: LLM
    components: Components
    recorder: TaskRecorder
    num_candidates: int
    temperature: float
    max_tokens: int
    batch_size: int
    total_steps: int
    seed: int
    score_train: bool
    test_every_step: bool
    screening: ScreeningPolicy = field(default_factory=ScreeningPolicy)  # off: the paper's
    racing: RacingSettings = RacingSettings()
    on_step: Callable[[StepRecord], None] | None = None  # after each committed step (tracking)
    # the step bar's text from (the step just committed or None at start, steps completed)
    progress: Callable[[float | None, int], str] | None = None


def step_seed(seed: int, task: str, t: int) -> int:
    """Sampling seed of step t: fixed by (seed, task, t), so a resumed step samples the same."""
    return (seed * 1_000_003 + zlib.crc32(task.encode()) + 7919 * t) % (2**31)


NO_MOMENTUM = MomentumResult(None, None, ())


def _train_batch(ctx: StepContext, state: TaskState, e: int, j: int) -> ScoreReport | None:
    if not ctx.score_train:
        return None
    idx = batch_indices(j, len(ctx.data.train), ctx.batch_size)
    report = ctx.scorer.score(state.current.prompt, ctx.data, "train", idx)
    ctx.recorder.report(report, e, j)
    return report


def _momentum(
    ctx: StepContext, state: TaskState, momentum: Momentum, e: int, j: int
) -> MomentumResult:
    """Apply one momentum (para or feedback, any kind) and record its log entries."""
    result = momentum.apply(
        MomentumContext(
            llm=ctx.optimizer,
            trajectory=state.trajectory,
            gradients=state.gradients,
            para_buffer=state.momentum_para,
            gradient_buffer=state.momentum_gradient,
            current_prompt=state.current.prompt,
            current_score=state.current_eval_score,
            score_prompt=lambda p: ctx.scorer.score(p, ctx.data, "eval").score,
            epoch=e,
            step=j,
        )
    )
    ctx.recorder.log(result.log)
    return result


def _gradient(
    ctx: StepContext, state: TaskState, train: ScoreReport | None, e: int, j: int
) -> str | None:
    """The feedback gradient, then momentum over gradients. Returns the gradient text in use."""
    comp = ctx.components
    if comp.gradient is None or train is None:
        return None
    batch = [ctx.data.train[r.index] for r in train.rows]
    meta, text = comp.gradient.compute(
        ctx.optimizer, state.current.prompt, wrong_examples(train, batch)
    )
    ctx.recorder.log([LogEntry("meta_gradient_prompts", (meta,), e, j)])
    state.gradients.append(GradientEntry(text, PENDING_IMPROVEMENT, e, j))
    if comp.feedback_momentum is None:
        return text
    result = _momentum(ctx, state, comp.feedback_momentum, e, j)
    state.momentum_gradient = result.buffer  # real-time: the summary text
    return result.text


def _para_momentum(ctx: StepContext, state: TaskState, e: int, j: int) -> MomentumResult:
    """Momentum over prompts: the k-list string (text), or the real-time summary (buffer)."""
    if ctx.components.para_momentum is None:
        return NO_MOMENTUM
    result = _momentum(ctx, state, ctx.components.para_momentum, e, j)
    state.momentum_para = result.buffer  # real-time: the summary prompt
    return result


def _step_size(ctx: StepContext, state: TaskState, e: int, j: int) -> int | None:
    schedule = ctx.components.schedule
    if schedule is None:
        return None
    step_size = schedule.step_size(len(state.trajectory), ctx.total_steps)
    ctx.recorder.log([LogEntry("modify_word_num_history", (step_size,), e, j)])
    return step_size


def _meta_prompt(
    ctx: StepContext,
    state: TaskState,
    gradient: str | None,
    para: MomentumResult,
    step_size: int | None,
    e: int,
    j: int,
) -> str:
    """The update's meta-prompt with the learning-rate text (word budget) applied."""
    comp = ctx.components
    meta = comp.update.meta_prompt(
        state.current.prompt,
        state.current_eval_score,
        gradient=gradient,
        k_list=para.text,
        realtime=para.buffer,  # real-time para: the summary (k-list: None)
    )
    meta = comp.learning_rate.apply(meta, step_size)
    ctx.recorder.log([LogEntry("meta_prompts", (meta,), e, j)])
    return meta


def _complete_partials(ctx: StepContext, state: TaskState, candidates: list[str], e: int, j: int):
    """Complete the eval score of every candidate racing dropped at an earlier step, before the
    dedup reuses it (full evaluation would have its complete score). Returns generations spent."""
    spent = 0
    for c in dict.fromkeys(candidates):
        prefix = state.partial.pop(c, None)
        if prefix is None:
            continue
        rest = list(range(len(prefix), len(ctx.data.eval)))
        report = ctx.scorer.score(c, ctx.data, "eval", rest)
        ctx.recorder.completion(report, e, j)
        state.scores[c] = complete_score(prefix, report.rows)
        spent += len(rest) * ctx.scorer.generations_per_example(ctx.data)
        log.info(
            "racing: completed a partial eval score (%d more examples): %.4f for %r",
            len(rest),
            state.scores[c],
            c[:60],
        )
    return spent


def _evaluate(
    ctx: StepContext, state: TaskState, new: list[str], reused: dict[str, float], e: int, j: int
) -> tuple[dict[str, float], RaceOutcome | None]:
    """Score the new candidates on eval (racing them when asked); the scores the choice uses."""
    race = None
    if not new:
        reports: list[ScoreReport] = []
    elif ctx.racing.enabled:
        rule = NextPromptRule(state.current.prompt, reused, frozenset(state.chosen))
        race = ctx.scorer.race(new, ctx.data, "eval", rule, ctx.racing)
        reports = list(race.reports)
    else:
        reports = ctx.scorer.score_many(new, ctx.data, "eval")
    for k, report in enumerate(reports):
        if race is not None and race.is_partial(report.instruction):
            # logged as partial: the mean over the scored examples only
            ctx.recorder.partial(report, race.total, e, j, k)
            state.partial[report.instruction] = [r.accuracy for r in report.rows]
        else:
            ctx.recorder.report(report, e, j, k)
            state.scores[report.instruction] = report.score
    ctx.recorder.log([LogEntry("meta_generate_instructions", (new,), e, j)])
    if race is not None:
        return race.ranking_scores(), race
    return {r.instruction: r.score for r in reports}, None


def _racing_record(ctx: StepContext, race: RaceOutcome | None, spent: int) -> RacingRecord:
    saved = 0 if race is None else race.generations_saved
    dropped = () if race is None else tuple(d.to_dict() for d in race.drops)
    return RacingRecord(ctx.racing.mode, saved - spent, spent, dropped)


def _candidate_records(
    screening: Screening, state: TaskState, new_scores: dict, reused: dict
) -> tuple[CandidateRecord, ...]:
    """Every proposed candidate (all rounds): its fate, edit distance and rejection rules."""
    out = []
    for c in screening.candidates:
        p = c.prompt
        status = "new" if p in new_scores else ("reused" if p in reused else "duplicate")
        out.append(
            CandidateRecord(
                prompt=p,
                eval_score=state.scores.get(p, _partial_mean(state, p)) if c.kept else None,
                eval_partial=p in state.partial,
                status=status if c.kept else "rejected",
                edit_distance=c.edit_distance,
                within_budget=c.within_budget,
                rejected_by=tuple(c.rejected_by),
                reasons=tuple(c.reasons),
                round=c.round,
                closest_kept=c.closest_kept,
            )
        )
    return tuple(out)


def _choose(
    ctx: StepContext, state: TaskState, reused: dict, new_scores: dict, e: int, j: int
) -> ChosenRecord:
    """The next prompt (non-monotone rule), appended to the trajectory; test-scored if asked."""
    current = state.current
    ranking = build_ranking(current.prompt, reused, new_scores)
    chosen = choose_next(ranking, set(state.chosen))
    score = ranking[chosen]  # the 0.0 placeholder if U is re-chosen (quirk 10.5, kept)
    if state.gradients and ctx.components.gradient is not None:
        # improvement over the previous step's choice (the initial eval score at step 0)
        state.gradients[-1] = state.gradients[-1].with_improvement(score - current.score)
    state.chosen.append(chosen)
    state.trajectory.append(TrajectoryEntry(chosen, score, e, j))
    test_score = None
    if ctx.test_every_step:
        report = ctx.scorer.score(chosen, ctx.data, "test")
        ctx.recorder.report(report, e, j)
        test_score = state.test_scores[chosen] = report.score
    distance = word_edit_distance(current.prompt, chosen)
    return ChosenRecord(chosen, score, distance, test_score)


def run_step(ctx: StepContext, state: TaskState, t: int, e: int, j: int) -> StepRecord:
    """Run step t (epoch e, step j) in place on ``state``; return its step-log record."""
    current = state.current
    train = _train_batch(ctx, state, e, j)
    gradient = _gradient(ctx, state, train, e, j)
    para = _para_momentum(ctx, state, e, j)
    step_size = _step_size(ctx, state, e, j)
    meta = _meta_prompt(ctx, state, gradient, para, step_size, e, j)
    seed = step_seed(ctx.seed, state.task, t)
    screening = screen(
        lambda n, first: propose(
            ctx.optimizer, meta, n, ctx.temperature, seed, ctx.max_tokens, first
        ),
        current.prompt,
        ctx.num_candidates,
        step_size,
        ctx.screening,
    )
    spent = _complete_partials(ctx, state, screening.accepted, e, j) if state.partial else 0
    new, reused = dedup_candidates(screening.accepted, state.seen_hashes, state.scores)
    state.seen_hashes |= hashes_of(new)
    new_scores, race = _evaluate(ctx, state, new, reused, e, j)
    chosen = _choose(ctx, state, reused, new_scores, e, j)
    return StepRecord(
        task=state.task,
        global_step=t,
        epoch=e,
        step=j,
        current_prompt=current.prompt,
        current_eval_score=current.score,
        train_score=None if train is None else train.score,
        gradient=gradient,
        step_size=step_size,
        meta_prompt=meta,
        resample_rounds=screening.resample_rounds,
        within_budget_share=screening.within_budget_share,
        budget_fallback=screening.budget_fallback,
        candidates=_candidate_records(screening, state, new_scores, reused),
        chosen=chosen,
        racing=_racing_record(ctx, race, spent),
    )


def _partial_mean(state: TaskState, prompt: str) -> float | None:
    """A dropped candidate's mean over the examples it was scored on (None if never scored)."""
    values = state.partial.get(prompt)
    return sum(values) / len(values) if values else None
