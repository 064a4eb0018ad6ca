"""What a report plots, read from task step logs: the eval and test score per step (a kept
prompt at its stored score), the mean over runs with its 95% bootstrap band, the best eval so far
against cumulative scorer calls, the word budget against the measured edit distance, and the
requests and tokens per role per step. Shared by the run and the experiment reports.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from gpo.presets import is_gepa
from gpo.reports.plots import KEPT_IN_A_RUN_LEGEND, BudgetPanel, Series
from gpo.reports.statistics import bootstrap_interval
from gpo.results.reading import ROLES, TaskLog
from gpo.results.shown_scores import chosen_scores

BAND_RESAMPLES = 2000
CALLS_POINTS = 60  # x positions of a mean best-vs-scorer-calls line


def eval_curve(log: TaskLog) -> tuple[list[int], list[float]]:
    """x = 0 (initial prompt), 1..T (prompt chosen at step t); y = its eval score x100.

    A step that kept the current prompt shows that prompt's stored eval score, not the step
    log's placeholder 0.0 (:mod:`gpo.results.shown_scores`)."""
    points = chosen_scores(log)
    return [p.x for p in points], [100 * p.eval_score for p in points]


def kept_steps(log: TaskLog) -> list[int]:
    """The x of every step that kept the current prompt (its log holds the placeholder 0.0)."""
    return [p.x for p in chosen_scores(log) if p.kept]


def eval_series(label: str, log: TaskLog) -> Series:
    """One task's eval line, its kept-prompt steps marked (at their stored eval score)."""
    xs, ys = eval_curve(log)
    kept = set(kept_steps(log))
    kept_y = [y for x, y in zip(xs, ys) if x in kept]
    return Series(label, xs, ys, kept_x=[x for x in xs if x in kept], kept_y=kept_y)


def mean_eval_series(label: str, logs: Sequence[TaskLog]) -> Series | None:
    """The mean eval line over task logs with its 95% band; a step is marked as kept when at
    least one log kept the current prompt there (the mean uses that prompt's stored score)."""
    per_x: dict[int, list[float]] = {}
    kept: set[int] = set()
    for log in logs:
        for x, y in zip(*eval_curve(log)):
            per_x.setdefault(x, []).append(y)
        kept.update(kept_steps(log))
    band = mean_band(per_x)
    if band is None:
        return None
    marked = [(x, y) for x, y in zip(band.x, band.y) if x in kept]
    return Series(
        label,
        band.x,
        band.y,
        band.low,
        band.high,
        kept_x=[x for x, _ in marked],
        kept_y=[y for _, y in marked],
        kept_label=KEPT_IN_A_RUN_LEGEND,
    )


def test_curve(log: TaskLog) -> tuple[list[int], list[float]]:
    """Test scores where measured: the initial prompt, and each step with --test_every_step."""
    xs, ys = [], []
    if log.initial is not None and log.initial.get("test_score") is not None:
        xs.append(0)
        ys.append(100 * log.initial["test_score"])
    for r in log.steps:
        if r["chosen"].get("test_score") is not None:
            xs.append(r["global_step"] + 1)
            ys.append(100 * r["chosen"]["test_score"])
    return xs, ys


def n_steps(logs: Sequence[TaskLog]) -> int:
    return max((len(log.steps) for log in logs), default=0)


def per_step_methods(logs_by_method: dict[str, list[TaskLog]]) -> dict[str, list[TaskLog]]:
    """The methods a score-per-step plot draws as lines: GEPA's step log has one line per
    proposal (dozens of small iterations, each scoring a minibatch of 3), not a step of N
    candidates on eval, so its line belongs on the scorer-calls axis (``mean_calls_series``);
    the per-step plot keeps only its final prompt's star."""
    return {m: logs for m, logs in logs_by_method.items() if not is_gepa(m)}


def step_count(logs_by_method: dict[str, list[TaskLog]]) -> int:
    """The x range of a score-per-step plot: the longest per-step method's steps."""
    return max((n_steps(v) for v in per_step_methods(logs_by_method).values()), default=0)


def mean_band(values: dict[int, list[float]]) -> Series | None:
    """Mean per x over runs, with the 95% bootstrap interval of that mean as the band."""
    if not values:
        return None
    xs = sorted(values)
    mean, low, high = [], [], []
    for x in xs:
        iv = bootstrap_interval([np.array([values[x]])], BAND_RESAMPLES)
        mean.append(iv.mean)
        low.append(iv.low)
        high.append(iv.high)
    return Series("", xs, mean, low, high)


def budget_panel(title: str, logs: Sequence[TaskLog]) -> BudgetPanel:
    budget: dict[int, float] = {}
    chosen: dict[int, list[float]] = {}
    cx, cy = [], []
    for log in logs:
        for r in log.steps:
            x = r["global_step"] + 1
            if r.get("step_size") is not None:
                budget.setdefault(x, r["step_size"])
            chosen.setdefault(x, []).append(r["chosen"]["edit_distance"])
            for c in r["candidates"]:
                cx.append(x)
                cy.append(c["edit_distance"])
    xs = sorted(chosen)
    label = "chosen candidate" + (" (mean over runs)" if len(logs) > 1 else "")
    return BudgetPanel(
        title=title,
        budget=Series("K", sorted(budget), [budget[x] for x in sorted(budget)]) if budget else None,
        chosen=Series(label, xs, [float(np.mean(chosen[x])) for x in xs]),
        candidates_x=cx,
        candidates_y=cy,
    )


def step_usage(logs: Sequence[TaskLog]) -> tuple[list[str], dict, dict]:
    """Requests and tokens per role per step ("init", 1..T, "final"), summed over tasks."""
    T = n_steps(logs)
    cats = ["init", *[str(t) for t in range(1, T + 1)], "final"]
    req = {r: [0.0] * len(cats) for r in ROLES}
    tok = {r: [0.0] * len(cats) for r in ROLES}
    for log in logs:
        records = [(0, log.initial)] + [(r["global_step"] + 1, r) for r in log.steps]
        records.append((T + 1, log.final))
        for i, r in records:
            if not r:
                continue
            for role, u in r.get("usage", {}).get("roles", {}).items():
                if role in req:
                    req[role][i] += u.get("requests", 0)
                    tok[role][i] += u.get("prompt_tokens", 0) + u.get("completion_tokens", 0)
    return cats, req, tok


def scorer_calls(record: dict | None) -> float:
    """Scorer prompts answered for one step-log line (model requests + cache hits)."""
    u = (record or {}).get("usage", {}).get("roles", {}).get("scorer", {})
    return float(u.get("requests", 0) + u.get("cache_hits", 0))


def calls_series(log: TaskLog) -> Series:
    """Best eval so far x100 against cumulative scorer calls, from a task's step log: a point
    after the initial evaluation, after each step, and after the final test scoring."""
    xs: list[float] = []
    ys: list[float] = []
    calls, best = 0.0, None
    for r in [log.initial, *log.steps, log.final]:
        if not r:
            continue
        calls += scorer_calls(r)
        score = r["chosen"]["eval_score"] if "chosen" in r else r.get("eval_score")
        if score is not None:
            best = score if best is None else max(best, score)
        if best is not None:
            xs.append(calls)
            ys.append(100 * best)
    return Series(log.task, xs, ys)


def best_at(series: Series, x: float) -> float:
    """A run's best eval so far after ``x`` scorer calls (held after its last point)."""
    return next(y for sx, y in zip(reversed(series.x), reversed(series.y)) if sx <= x)


def mean_calls_series(label: str, logs: Sequence[TaskLog]) -> Series | None:
    """The mean over runs of the best eval so far x100 against cumulative scorer calls, with its
    95% band: the fair axis across methods whose steps differ in size (GEPA's proposals against
    GPO's steps). Sampled at ``CALLS_POINTS`` positions from the first run's initial evaluation
    to the last run's end; a run counts from its own first point on, and holds its final best
    after its end."""
    runs = [s for s in (calls_series(log) for log in logs) if s.x]
    if not runs:
        return None
    start, end = min(s.x[0] for s in runs), max(s.x[-1] for s in runs)
    values: dict[float, list[float]] = {}
    for x in np.unique(np.linspace(start, end, CALLS_POINTS).round()):
        at = [best_at(s, x) for s in runs if s.x[0] <= x]
        if at:
            values[float(x)] = at
    band = mean_band(values)  # type: ignore[arg-type]  (float positions)
    return None if band is None else replace(band, label=label)
