"""One GPO step (GPO_REFERENCE 5.3), split into the paper's stages.

train batch -> gradient (feedback) -> momentum (para / feedback) -> step size -> meta-prompt ->
learning rate (word budget) -> proposal of N candidates -> dedup -> eval -> choice of the next
prompt.
Every stage reads and writes the explicit ``TaskState``; the returned ``StepRecord`` is the
``steps.jsonl`` line.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass, field
from typing import Any

from gpo.data.base import TaskData
from gpo.evaluation.racing import RaceOutcome, RacingSettings, complete_score
from gpo.evaluation.report import ScoreReport
from gpo.evaluation.scorer import Scorer
from gpo.llm.base import LLM
from gpo.optimization.components import Components
from gpo.optimization.distance import word_edit_distance
from gpo.optimization.gradient import wrong_examples
from gpo.optimization.momentum import KListFeedbackMomentum, KListParaMomentum
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
from gpo.results.run_folder import RunFolder

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepContext:
    """Everything a step needs besides the state (passed in, never global)."""

    data: TaskData
    scorer: Scorer
    optimizer: LLM
    components: Components
    folder: RunFolder
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


def step_seed(seed: int, task: str, t: int) -> int:
    """Sampling seed of step t: fixed by (seed, task, t), so a resumed step samples the same."""
    return (seed * 1_000_003 + zlib.crc32(task.encode()) + 7919 * t) % (2**31)


def _train_batch(ctx: StepContext, state: TaskState, e: int, j: int) -> ScoreReport | None:
    if not ctx.score_train:
        return None
    idx = batch_indices(j, len(ctx.data.train), ctx.batch_size)
    report = ctx.scorer.score(state.current.prompt, ctx.data, "train", idx)
    ctx.folder.save_report(state.task, report, e, j)
    state.results["train_log"][f"{e}_{j}"] = [report.instruction, report.score, e, j]
    return report


def _gradient(ctx: StepContext, state: TaskState, train: ScoreReport | None, e: int, j: int):
    """The feedback gradient, then momentum over gradients. Returns the gradient text in use."""
    comp, res = ctx.components, state.results
    if comp.gradient is None or train is None:
        return None
    batch = [ctx.data.train[r.index] for r in train.rows]
    meta, text = comp.gradient.compute(
        ctx.optimizer, state.current.prompt, wrong_examples(train, batch)
    )
    res["meta_gradient_prompts"].append([meta, e, j])
    state.gradients.append(GradientEntry(text, PENDING_IMPROVEMENT, e, j))
    fm = comp.feedback_momentum
    if fm is None:
        return text
    if isinstance(fm, KListFeedbackMomentum):
        selected = fm.apply(state.gradients)
        res["selected_gradient_history_list"].append([[g.text for g in selected.selected], e, j])
        return selected.text
    merged = fm.apply(ctx.optimizer, state.momentum_gradient, text)
    state.momentum_gradient = merged.momentum
    if merged.meta_prompt is not None:
        res["meta_fo_momentum_gradient_prompts"].append([merged.meta_prompt, e, j])
    res["meta_fo_momentum_gradient_texts"].append([merged.momentum, e, j])
    return merged.momentum


def _para_momentum(ctx: StepContext, state: TaskState, e: int, j: int):
    """Momentum over prompts: the k-list string, or the real-time summary buffer."""
    pm, res = ctx.components.para_momentum, state.results
    if pm is None:
        return None, None
    if isinstance(pm, KListParaMomentum):
        k_list = pm.apply(state.trajectory)
        res["selected_para_history_list"].append(
            [[[x.prompt, x.score] for x in k_list.selected], e, j]
        )
        return k_list.text, None
    cur = state.current
    rt = pm.apply(
        ctx.optimizer,
        state.momentum_para,
        cur.prompt,
        state.current_eval_score,
        lambda p: ctx.scorer.score(p, ctx.data, "eval").score,
    )
    state.momentum_para = rt.momentum
    if rt.meta_prompt is not None:
        res["meta_fo_momentum_para_prompts"].append([rt.meta_prompt, e, j])
    res["meta_fo_momentum_para_texts"].append([rt.momentum.prompt, rt.momentum.score, e, j])
    return None, rt.momentum


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
        ctx.folder.save_report(state.task, report, e, j)
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
        ctx.folder.save_report(state.task, report, e, j)
        key = f"{e}_{j}_{k}"
        state.results["eval_log"][key] = [report.instruction, report.score, e, j]
        if race is not None and race.is_partial(report.instruction):
            # logged as partial: the mean over the scored examples only
            state.partial[report.instruction] = [r.accuracy for r in report.rows]
            partial_log = state.results.setdefault("eval_partial_log", {})
            partial_log[key] = [report.instruction, len(report.rows), race.total, e, j]
        else:
            state.scores[report.instruction] = report.score
    state.results["meta_generate_instructions"].append([new, e, j])
    if race is not None:
        return race.ranking_scores(), race
    return {r.instruction: r.score for r in reports}, None


def _racing_record(ctx: StepContext, race: RaceOutcome | None, spent: int) -> dict[str, Any]:
    return {
        "mode": ctx.racing.mode,
        "generations_saved": (0 if race is None else race.generations_saved) - spent,
        "generations_completing_partials": spent,
        "dropped": [] if race is None else [d.to_dict() for d in race.drops],
    }


def _candidate_records(
    screening: Screening, state: TaskState, new_scores: dict, reused: dict
) -> list[dict[str, Any]]:
    """Every proposed candidate (all rounds): its fate, edit distance and rejection rules."""
    out = []
    for c in screening.candidates:
        p = c.prompt
        status = "new" if p in new_scores else ("reused" if p in reused else "duplicate")
        out.append(
            {
                "prompt": p,
                "eval_score": state.scores.get(p, _partial_mean(state, p)) if c.kept else None,
                "eval_partial": p in state.partial,
                "status": status if c.kept else "rejected",
                "edit_distance": c.edit_distance,
                "within_budget": c.within_budget,
                "rejected_by": list(c.rejected_by),
                "reasons": list(c.reasons),
                "round": c.round,
                "closest_kept": c.closest_kept,
            }
        )
    return out


def run_step(ctx: StepContext, state: TaskState, t: int, e: int, j: int) -> dict[str, Any]:
    """Run step t (epoch e, step j) in place on ``state``; return its step-log record."""
    comp, res, current = ctx.components, state.results, state.current
    train = _train_batch(ctx, state, e, j)
    gradient = _gradient(ctx, state, train, e, j)
    k_list, realtime = _para_momentum(ctx, state, e, j)
    step_size = None
    if comp.schedule is not None:
        step_size = comp.schedule.step_size(len(state.trajectory), ctx.total_steps)
        res["modify_word_num_history"].append([step_size, e, j])
    meta = comp.update.meta_prompt(
        current.prompt,
        state.current_eval_score,
        gradient=gradient,
        k_list=k_list,
        realtime=realtime,
    )
    meta = comp.learning_rate.apply(meta, step_size)
    res["meta_prompts"].append([meta, e, j])
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
    ranking = build_ranking(current.prompt, reused, new_scores)
    chosen = choose_next(ranking, set(state.chosen))
    chosen_score = ranking[chosen]  # the 0.0 placeholder if U is re-chosen (quirk 10.5, kept)
    if state.gradients and comp.gradient is not None:
        # improvement over the previous step's choice (the initial eval score at step 0)
        state.gradients[-1] = state.gradients[-1].with_improvement(chosen_score - current.score)
    state.chosen.append(chosen)
    state.trajectory.append(TrajectoryEntry(chosen, chosen_score, e, j))
    test_score = None
    if ctx.test_every_step:
        report = ctx.scorer.score(chosen, ctx.data, "test")
        ctx.folder.save_report(state.task, report, e, j)
        test_score = state.test_scores[chosen] = report.score
        res["test_log"][f"{e}_{j}"] = [chosen, report.score, e, j]
    res["meta_gradient_texts"] = [[g.text, g.improvement, g.epoch, g.step] for g in state.gradients]
    return {
        "task": state.task,
        "global_step": t,
        "epoch": e,
        "step": j,
        "current_prompt": current.prompt,
        "current_eval_score": current.score,
        "train_score": None if train is None else train.score,
        "gradient": gradient,
        "step_size": step_size,
        "meta_prompt": meta,
        "resample_rounds": screening.resample_rounds,
        "within_budget_share": screening.within_budget_share,
        "budget_fallback": screening.budget_fallback,
        "candidates": _candidate_records(screening, state, new_scores, reused),
        "chosen": {
            "prompt": chosen,
            "eval_score": chosen_score,
            "edit_distance": word_edit_distance(current.prompt, chosen),
            "test_score": test_score,
        },
        "racing": _racing_record(ctx, race, spent),
    }


def _partial_mean(state: TaskState, prompt: str) -> float | None:
    """A dropped candidate's mean over the examples it was scored on (None if never scored)."""
    values = state.partial.get(prompt)
    return sum(values) / len(values) if values else None
