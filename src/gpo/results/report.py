"""The report of a run or of an experiment: ``report.md`` with PNG plots in ``plots/`` beside it.

Built only from what the folder holds (step logs, best prompts, usage), so it can be regenerated
from any finished or partial folder without a model: ``python src/optimization/report.py <folder>``.

Plots: the eval (and test, where measured) score per step; the word budget K (the learning rate)
against the measured word edit distance of the chosen and all candidates; requests and tokens per
role. Tables: the initial and the best prompt of every task with their scores.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from gpo.errors import ConfigError
from gpo.presets import is_gepa
from gpo.results.experiment_folder import BASELINE, is_experiment_folder
from gpo.results.io import atomic_write_text
from gpo.results.plots import (
    KEPT_IN_A_RUN_LEGEND,
    BudgetPanel,
    CallsPanel,
    ScorePanel,
    Series,
    budget_figure,
    calls_figure,
    calls_panels_figure,
    save_png,
    score_figure,
    usage_figure,
)
from gpo.results.reading import ROLES, RunData, TaskLog, is_run_folder, read_run
from gpo.results.records import KEPT_CURRENT_PROMPT
from gpo.results.shown_scores import chosen_scores
from gpo.results.statistics import bootstrap_interval
from gpo.results.table import (
    Experiment,
    Table,
    build_table,
    display,
    format_csv,
    format_markdown,
    read_experiment,
)

PLOTS = "plots"
CALLS_PNG = "best_vs_scorer_calls.png"
MANY_TASKS = 6  # above this, a run's score plot shows the mean over tasks with a band
BAND_RESAMPLES = 2000


def write_report(root: Path) -> Path:
    """Write report.md and plots/ for a run folder or an experiment folder; return report.md."""
    root = Path(root)
    if is_experiment_folder(root):
        return write_experiment_report(root)
    if is_run_folder(root):
        return write_run_report(read_run(root))
    raise ConfigError(f"{root}: neither a run folder (run_config.json) nor an experiment folder")


# ---------------------------------------------------------------- series from step logs


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


# ---------------------------------------------------------------- run report


def write_run_report(run: RunData) -> Path:
    plots = run.root / PLOTS
    logs = list(run.tasks.values())
    name = run.root.name
    lines = [f"# Report: {name}", "", *run_summary(run), ""]
    if logs and not run.only_evaluate:
        T = n_steps(logs)
        save_png(run_score_figure(run, logs, T), plots / "scores.png")
        save_png(
            budget_figure(
                f"Word budget vs words changed: {name_hint(run)}",
                [budget_panel(f"tasks: {', '.join(run.tasks)}", logs)],
            ),
            plots / "step_size.png",
        )
        cats, req, tok = step_usage(logs)
        save_png(
            usage_figure(f"Model usage per step: {name_hint(run)}", cats, req, tok, "step"),
            plots / "usage.png",
        )
        lines += [
            "## Score per step",
            "",
            "Eval score of the prompt chosen at each step (the initial prompt at `init`); test "
            "where it was measured; stars: the final best-on-eval prompt." + kept_note(logs),
            "",
            f"![score per step]({PLOTS}/scores.png)",
            "",
            "## Word budget (learning rate) vs measured change",
            "",
            f"![word budget]({PLOTS}/step_size.png)",
            "",
            *budget_compliance_table(logs),
            "## Requests and tokens per role",
            "",
            f"![usage]({PLOTS}/usage.png)",
            "",
        ]
        lines += calls_section(run, logs, plots)
    lines += usage_table(run.usage)
    lines += prompt_table(run) if not run.only_evaluate else scores_table(run)
    path = run.root / "report.md"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


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


CALLS_POINTS = 60  # x positions of a mean best-vs-scorer-calls line


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


def calls_section(run: RunData, logs: Sequence[TaskLog], plots: Path) -> list[str]:
    """The plot of best score against cumulative scorer calls, and its report section."""
    series = [calls_series(log) for log in logs]
    fig = calls_figure(f"Best score vs scorer calls: {name_hint(run)}", series)
    save_png(fig, plots / "best_vs_scorer_calls.png")
    return [
        "## Best score vs scorer calls",
        "",
        "Best eval score so far against the scorer calls spent (initial evaluation, each step, "
        "final test scoring): what a budget of scorer calls buys.",
        "",
        f"![best score vs scorer calls]({PLOTS}/best_vs_scorer_calls.png)",
        "",
    ]


def budget_compliance_table(logs: Sequence[TaskLog]) -> list[str]:
    """Per task and step: K, candidates within K, rejections by rule and resample rounds."""
    rows = []
    for log in logs:
        for r in log.steps:
            cands = r["candidates"]
            within = sum(bool(c.get("within_budget")) for c in cands)
            rules: dict[str, int] = {}
            for c in cands:
                for rule in c.get("rejected_by") or ():
                    rules[rule] = rules.get(rule, 0) + 1
            rejected = ", ".join(f"{k} {v}" for k, v in sorted(rules.items())) or "none"
            k = r.get("step_size")
            rows.append(
                f"| {log.task} | {r['global_step'] + 1} | {'-' if k is None else k} "
                f"| {within}/{len(cands)} | {rejected} | {r.get('resample_rounds', 0)} |"
            )
    if not rows:
        return []
    return [
        "Budget compliance per step (candidates within K / proposed, counting every resample "
        "round; rejections by rule, where guards or `--enforce_step_size` are on):",
        "",
        "| task | step | K | within K | rejected | resample rounds |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
    ]


def name_hint(run: RunData) -> str:
    preset = run.preset or "custom flags"
    return f"{run.dataset} / {preset} / seed {run.seed}"


def run_summary(run: RunData) -> list[str]:
    c = run.config
    return [
        f"- state: **{run.state}**" + (f" ({run.message})" if run.message else ""),
        f"- dataset: {run.dataset}; tasks: {', '.join(c.get('tasks', []))}",
        f"- method: {run.preset or 'custom flags'}; seed: {run.seed}"
        + ("; only_evaluate" if run.only_evaluate else ""),
        f"- scorer: {c['scorer']['name']}; optimizer: {c['optimizer']['name']}",
    ]


def run_score_figure(run: RunData, logs: list[TaskLog], T: int):
    title = f"Score per step: {name_hint(run)}"
    if len(logs) <= MANY_TASKS:
        evals = [eval_series(log.task, log) for log in logs]
        tests = [Series(log.task, *t) for log in logs if (t := test_curve(log))[0]]
        best = [
            Series(task, [T + 1], [100 * b["test_score"]])
            for task, b in run.best.items()
            if task in run.tasks
        ]
        return score_figure(title, evals, tests, best, T)
    series = mean_eval_series(f"mean of {len(logs)} tasks", logs)
    return score_figure(title, [series] if series else [], n_steps=T)


def usage_table(usage: dict) -> list[str]:
    if not usage:
        return []
    lines = [
        "## Usage per role",
        "",
        "Real model calls (cache hits apart). Throughput: prompt + completion tokens per second "
        "inside the backend (the value for `experiment.py --dry_run --scorer_tokens_per_second`).",
        "",
        "| role | requests | prompt tokens | completion tokens | cache hits | backend s | "
        "tokens/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for role, u in usage.items():
        tokens = u.get("prompt_tokens", 0) + u.get("completion_tokens", 0)
        seconds = u.get("backend_seconds", 0)
        rate = f"{tokens / seconds:.0f}" if seconds > 0 else "-"
        lines.append(
            f"| {role} | {u.get('requests', 0)} | {u.get('prompt_tokens', 0)} | "
            f"{u.get('completion_tokens', 0)} | {u.get('cache_hits', 0)} | {seconds:.1f} | "
            f"{rate} |"
        )
    return [*lines, ""]


def _pct(v) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.1f}"


def _quote(prompt: str, limit: int = 160) -> str:
    p = prompt.replace("\n", " ").replace("|", "\\|")
    p = p if len(p) <= limit else p[: limit - 1] + "…"
    return f"`{p}`" if p else "*(empty)*"


def prompt_table(run: RunData) -> list[str]:
    lines = [
        "## Initial and best prompts",
        "",
        "Scores x100. The best prompt is the trajectory's best on eval (ties: the earliest); "
        "for an unfinished task, the best so far (its test score is measured at the end).",
        "",
        "| task | initial prompt | eval | test | best prompt | eval | test | found at step |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for task, log in run.tasks.items():
        if log.initial is None:
            continue
        init = log.initial
        b = run.best.get(task)
        if b is not None:
            found = "initial" if b["epoch"] == -1 else f"epoch {b['epoch']}, step {b['step']}"
            best = (b["prompt"], b["eval_score"], b["test_score"], found)
        else:
            # the trajectory so far, a kept prompt at its stored score (never the placeholder)
            cands = [(c.prompt, c.eval_score, c.x) for c in chosen_scores(log)]
            p, s, x = max(cands, key=lambda c: (c[1], -c[2]))
            best = (p, s, None, "initial" if x == 0 else f"global step {x} (so far)")
        lines.append(
            f"| {task} | {_quote(init['prompt'])} | {_pct(init['eval_score'])} | "
            f"{_pct(init['test_score'])} | {_quote(best[0])} | {_pct(best[1])} | "
            f"{_pct(best[2])} | {best[3]} |"
        )
    return [*lines, ""]


def scores_table(run: RunData) -> list[str]:
    lines = ["## Scores (test split)", "", "| task | prompt | test x100 |", "|---|---|---|"]
    for r in run.scores:
        lines.append(f"| {r['task']} | {_quote(r['prompt'])} | {_pct(r['test_score'])} |")
    return [*lines, ""]


# ---------------------------------------------------------------- experiment report


def write_experiment_report(root: Path) -> Path:
    exp = read_experiment(root)
    for run in exp.runs.values():
        if report_is_stale(run.root):
            write_run_report(run)
    table = build_table(exp)
    table_md = format_markdown(table, exp)
    atomic_write_text(root / "table.md", table_md)
    atomic_write_text(root / "table.csv", format_csv(table))
    has_budget = write_experiment_plots(exp, table, Path(root) / PLOTS)
    lines = [f"# Experiment report: {Path(root).name}", "", *experiment_summary(exp), ""]
    all_logs = [log for logs in method_logs(exp).values() for log in logs]
    lines += [table_md, *experiment_figure_sections(has_budget, all_logs)]
    lines += experiment_prompt_table(exp, table)
    path = Path(root) / "report.md"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def method_logs(exp: Experiment, dataset: str | None = None) -> dict[str, list[TaskLog]]:
    """The task logs of every preset's cells (of one dataset, or all), by preset (in the grid's
    order)."""
    return {
        m: [
            exp.runs[c.cell_id].tasks[c.task]
            for c in exp.cells
            if c.method == m
            and dataset in (None, c.dataset)
            and c.cell_id in exp.runs
            and c.task in exp.runs[c.cell_id].tasks
        ]
        for m in exp.spec["presets"]
    }


def write_experiment_plots(exp: Experiment, table: Table, plots: Path) -> bool:
    """scores.png, step_size.png (when a method has a word budget panel) and usage.png; returns
    whether step_size.png was written."""
    logs_by_method = method_logs(exp)
    T = step_count(logs_by_method)
    save_png(experiment_score_figure(exp, logs_by_method, T), plots / "scores.png")
    save_png(experiment_calls_figure(logs_by_method), plots / CALLS_PNG)
    steps = per_step_methods(logs_by_method)
    panels = [budget_panel(display(m), logs) for m, logs in steps.items() if logs]
    if panels:
        save_png(
            budget_figure("Word budget K vs words changed per step, by method", panels),
            plots / "step_size.png",
        )
    methods = exp.methods
    req = {r: [table.cost.get(m, {}).get(f"{r}_requests", 0) for m in methods] for r in ROLES}
    tok = {
        r: [
            table.cost.get(m, {}).get(f"{r}_prompt_tokens", 0)
            + table.cost.get(m, {}).get(f"{r}_completion_tokens", 0)
            for m in methods
        ]
        for r in ROLES
    }
    save_png(
        usage_figure(
            "Model usage per method (all cells)", [display(m) for m in methods], req, tok, "method"
        ),
        plots / "usage.png",
    )
    return bool(panels)


def kept_note(logs: Sequence[TaskLog]) -> str:
    """The score plot's note on kept-prompt steps ("" when no step kept the current prompt)."""
    n = sum(len(kept_steps(log)) for log in logs)
    if n == 0:
        return ""
    return (
        f" Hollow diamonds ({n} step{'s' if n > 1 else ''}): {KEPT_CURRENT_PROMPT}; drawn at that "
        "prompt's stored eval score, since the prompt did not change."
    )


def experiment_figure_sections(has_budget: bool, logs: Sequence[TaskLog] = ()) -> list[str]:
    """The report's figure sections: score per step, word budget (when drawn), usage."""
    lines = ["## Score per step", ""]
    lines += [
        "Eval score of the chosen prompt per step, mean over tasks and seeds; the band is the 95% "
        "bootstrap interval of that mean over the (task, seed) runs. Stars: test score of the "
        "final best-on-eval prompts (mean, 95% interval)." + kept_note(logs),
        "",
        f"![score per step]({PLOTS}/scores.png)",
        "",
    ]
    if has_budget:
        lines += [
            "## Word budget (learning rate) vs measured change",
            "",
            "Red: the word budget K the meta-prompt allowed at each step (methods with a learning "
            "rate); blue: word edit distance between the current prompt and the chosen candidate "
            "(mean over runs); grey: every candidate.",
            "",
            f"![word budget]({PLOTS}/step_size.png)",
            "",
        ]
    lines += [
        "## Best score vs scorer calls",
        "",
        "Best eval score so far against the scorer calls spent (model requests + cache hits), "
        "mean over tasks and seeds with its 95% band: the fair axis for methods whose steps "
        "differ in size (GEPA's proposals score minibatches of 3; its line is only here, its "
        "final prompts are also the star of the score plot).",
        "",
        f"![best score vs scorer calls]({PLOTS}/{CALLS_PNG})",
        "",
    ]
    lines += ["## Requests and tokens per method", "", f"![usage]({PLOTS}/usage.png)", ""]
    return lines


def report_is_stale(root: Path) -> bool:
    """A run's report is rewritten when missing or older than the run's files."""
    report = root / "report.md"
    if not report.exists():
        return True
    written = report.stat().st_mtime
    sources = [root / "status.json", root / "best_prompts.jsonl", root / "usage_summary.json"]
    sources += list((root / "result_by_instruction").glob("*/steps.jsonl"))
    return any(p.exists() and p.stat().st_mtime > written for p in sources)


def experiment_summary(exp: Experiment) -> list[str]:
    states: dict[str, list[str]] = {}
    for c in exp.cells:
        run = exp.runs.get(c.cell_id)
        states.setdefault(run.state if run else "not started", []).append(c.cell_id)
    spec = exp.spec
    lines = [
        f"- methods: {', '.join(display(m) for m in exp.methods)}; seeds: "
        f"{', '.join(map(str, exp.seeds))}; datasets: {', '.join(exp.datasets)}",
        f"- scorer: {spec.get('scorer', '?')}; optimizer: {spec.get('optimizer', '?')}",
        "- cells: " + ", ".join(f"{len(v)} {k}" for k, v in sorted(states.items())),
    ]
    for state in ("failed", "stopped", "running", "not started"):
        if state in states:
            lines.append(f"- {state}: {', '.join(states[state])}")
    return lines


def experiment_score_figure(exp: Experiment, logs_by_method: dict, T: int):
    panel = experiment_score_panel(
        exp, logs_by_method, T, "Score per step by method (mean over tasks and seeds)"
    )
    return score_figure(
        panel.title, panel.eval_lines, panel.test_lines, panel.best_points, panel.n_steps
    )


def experiment_calls_panel(logs_by_method: dict, title: str) -> CallsPanel:
    """Per method (GEPA included), the mean best eval so far against scorer calls."""
    lines = [mean_calls_series(display(m), logs) for m, logs in logs_by_method.items()]
    return CallsPanel(title, [s for s in lines if s is not None])


def experiment_calls_figure(logs_by_method: dict):
    panel = experiment_calls_panel(logs_by_method, "Best eval score vs scorer calls by method")
    return calls_panels_figure(
        "Mean over tasks and seeds of the best eval score so far (95% band)", [panel]
    )


def experiment_score_panel(
    exp: Experiment, logs_by_method: dict, T: int, title: str, dataset: str | None = None
) -> ScorePanel:
    """An experiment's score plot (of one dataset, or all): per method, the mean eval score of
    the chosen prompt per step with its band, the initial test score, and the final prompts'
    mean test score. GEPA gets its star only (``per_step_methods``)."""
    evals, tests, best = [], [], []
    for m, logs in logs_by_method.items():
        per_x_test: dict[int, list[float]] = {}
        for log in logs:
            for x, y in zip(*test_curve(log)):
                per_x_test.setdefault(x, []).append(y)
        series = mean_eval_series(display(m), logs)
        if series is None:
            continue
        if not is_gepa(m):
            evals.append(series)
        if per_x_test and not is_gepa(m):
            xs = sorted(per_x_test)
            tests.append(Series(display(m), xs, [float(np.mean(per_x_test[x])) for x in xs]))
        finals = [
            100 * exp.runs[c.cell_id].best[c.task]["test_score"]
            for c in exp.cells
            if c.method == m
            and dataset in (None, c.dataset)
            and c.cell_id in exp.runs
            and c.task in exp.runs[c.cell_id].best
        ]
        if finals:
            iv = bootstrap_interval([np.array([finals])], BAND_RESAMPLES)
            best.append(Series(display(m), [T + 1], [iv.mean], [iv.low], [iv.high]))
    return ScorePanel(title, evals, tests, best, T)


def experiment_prompt_table(exp: Experiment, table: Table) -> list[str]:
    """Every cell's initial and best prompt with their scores, and what the best prompt is (the
    kind counted in "What the chosen prompts are")."""
    kind_of = {
        cell: kind
        for kinds in table.kinds.values()
        for kind, cells in kinds.cells.items()
        for cell in cells
    }
    lines = [
        "## Initial and best prompts",
        "",
        "| cell | initial prompt | eval | test | best prompt | eval | test | kind | report |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in exp.cells:
        run = exp.runs.get(c.cell_id)
        link = f"[report](runs/{c.cell_id}/report.md)" if run else "-"
        if c.kind == BASELINE:
            score = next((r["test_score"] for r in run.scores), None) if run else None
            prompt = c.config.initial_instruction
            lines.append(
                f"| {c.cell_id} | {_quote(prompt)} | - | {_pct(score)} | - | - | - | - | {link} |"
            )
            continue
        b = run.best.get(c.task) if run else None
        log = run.tasks.get(c.task) if run else None
        init = log.initial if log else None
        cells = []
        for record in (init, b):
            cells += (
                [_quote(record["prompt"]), _pct(record["eval_score"]), _pct(record["test_score"])]
                if record
                else ["-"] * 3
            )
        kind = kind_of.get(c.cell_id, "-")
        lines.append(f"| {c.cell_id} | " + " | ".join(cells) + f" | {kind} | {link} |")
    return [*lines, ""]
