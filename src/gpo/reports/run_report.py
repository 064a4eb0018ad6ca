"""The report of a run: ``report.md`` with PNG plots in ``plots/`` beside it.

Built only from what the run folder holds (step logs, best prompts, usage), so it can be
regenerated from any finished or partial folder without a model:
``python src/optimization/report.py <folder>``.

Plots: the eval (and test, where measured) score per step; the word budget K (the learning rate)
against the measured word edit distance of the chosen and all candidates; requests and tokens per
role; the best score against scorer calls. Tables: the initial and the best prompt of every task
with their scores.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from gpo.reports.markdown import kept_note, pct, quote
from gpo.reports.plots import (
    Series,
    budget_figure,
    calls_figure,
    save_png,
    score_figure,
    usage_figure,
)
from gpo.reports.series import (
    budget_panel,
    calls_series,
    eval_series,
    mean_eval_series,
    n_steps,
    step_usage,
    test_curve,
)
from gpo.results.io import atomic_write_text
from gpo.results.reading import RunData, TaskLog
from gpo.results.shown_scores import chosen_scores

PLOTS = "plots"
CALLS_PNG = "best_vs_scorer_calls.png"
MANY_TASKS = 6  # above this, a run's score plot shows the mean over tasks with a band


def write_run_report(run: RunData) -> Path:
    plots = run.root / PLOTS
    logs = list(run.tasks.values())
    name = run.root.name
    lines = [f"# Report: {name}", "", *run_summary(run), ""]
    if logs and not run.only_evaluate:
        T = n_steps(logs)
        save_png(run_score_figure(run, logs, T), plots / "scores.png")
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
            *budget_section(run, logs, plots),
            "## Requests and tokens per role",
            "",
            f"![usage]({PLOTS}/usage.png)",
            "",
        ]
        lines += calls_section(run, logs, plots)
        lines += gepa_section(logs)
    lines += usage_table(run.usage)
    lines += prompt_table(run) if not run.only_evaluate else scores_table(run)
    path = run.root / "report.md"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def budget_section(run: RunData, logs: Sequence[TaskLog], plots: Path) -> list[str]:
    """The word budget against the words changed per step, and the budget compliance table;
    nothing for GEPA, which has no word budget (its proposals have their own section)."""
    if any(isinstance(s.get("gepa"), dict) for log in logs for s in log.steps):
        return []
    title = f"Word budget vs words changed: {name_hint(run)}"
    panel = budget_panel(f"tasks: {', '.join(run.tasks)}", logs)
    save_png(budget_figure(title, [panel]), plots / "step_size.png")
    return [
        "## Word budget (learning rate) vs measured change",
        "",
        f"![word budget]({PLOTS}/step_size.png)",
        "",
        *budget_compliance_table(logs),
    ]


def calls_section(run: RunData, logs: Sequence[TaskLog], plots: Path) -> list[str]:
    """The plot of best score against cumulative scorer calls, and its report section."""
    series = [calls_series(log) for log in logs]
    fig = calls_figure(f"Best score vs scorer calls: {name_hint(run)}", series)
    save_png(fig, plots / CALLS_PNG)
    return [
        "## Best score vs scorer calls",
        "",
        "Best eval score so far against the scorer calls spent (initial evaluation, each step, "
        "final test scoring): what a budget of scorer calls buys.",
        "",
        f"![best score vs scorer calls]({PLOTS}/{CALLS_PNG})",
        "",
    ]


def gepa_section(logs: Sequence[TaskLog]) -> list[str]:
    """A GEPA run's proposals per task: accepted or rejected on the minibatch (and why), the
    metric calls against the budget, the best eval of an accepted proposal. [] for other runs."""
    rows = []
    for log in logs:
        blocks = [s["gepa"] for s in log.steps if isinstance(s.get("gepa"), dict)]
        if not blocks:
            continue
        accepted = [b for b in blocks if b.get("accepted")]
        rejected = [b for b in blocks if not b.get("accepted")]
        reasons = Counter(b.get("reason") or "not better on its minibatch" for b in rejected)
        why = "; ".join(f"{n} {r}" for r, n in reasons.most_common(3)) if rejected else "-"
        scores = [b["valset_score"] for b in accepted if b.get("valset_score") is not None]
        best = f"{100 * max(scores):.1f}" if scores else "-"
        budget = blocks[-1].get("max_metric_calls")
        calls = f"{blocks[-1].get('metric_calls', 0)} of {budget if budget else '?'}"
        rows.append(
            f"| {log.task} | {len(blocks)} | {len(accepted)} | {len(rejected)} ({why}) | {calls} "
            f"| {best} |"
        )
    if not rows:
        return []
    return [
        "## GEPA's proposals",
        "",
        "Each proposal is the reflection model's rewrite of a parent prompt from the scorer's "
        "replies on a minibatch of train examples; GEPA accepts it when it scores above its "
        "parent on that minibatch, then scores it on eval. Metric calls are the examples the "
        "scorer answered on train and eval, against the run's budget:",
        "",
        "| task | proposals | accepted | rejected (why) | metric calls | best accepted eval x100 |",
        "|---|---|---|---|---|---|",
        *rows,
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
            f"| {task} | {quote(init['prompt'])} | {pct(init['eval_score'])} | "
            f"{pct(init['test_score'])} | {quote(best[0])} | {pct(best[1])} | "
            f"{pct(best[2])} | {best[3]} |"
        )
    return [*lines, ""]


def scores_table(run: RunData) -> list[str]:
    lines = ["## Scores (test split)", "", "| task | prompt | test x100 |", "|---|---|---|"]
    for r in run.scores:
        lines.append(f"| {r['task']} | {quote(r['prompt'])} | {pct(r['test_score'])} |")
    return [*lines, ""]
