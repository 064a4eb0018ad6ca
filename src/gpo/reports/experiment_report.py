"""The report of an experiment: ``report.md``, ``table.md``/``table.csv`` and PNG plots in
``plots/``, read from the experiment folder (the report of every cell's run is rewritten first
where stale).

Plots: per method, the mean eval score per step with its band and the final prompts' test score;
the word budget against the measured change; the best score against scorer calls; requests and
tokens. Tables: the method comparison (``gpo.reports.table``) and every cell's initial and best
prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gpo.presets import is_gepa
from gpo.reports.markdown import kept_note, pct, quote
from gpo.reports.plots import (
    CallsPanel,
    ScorePanel,
    Series,
    budget_figure,
    calls_panels_figure,
    save_png,
    score_figure,
    usage_figure,
)
from gpo.reports.run_report import CALLS_PNG, PLOTS, write_run_report
from gpo.reports.series import (
    BAND_RESAMPLES,
    budget_panel,
    mean_calls_series,
    mean_eval_series,
    per_step_methods,
    step_count,
    test_curve,
)
from gpo.reports.statistics import bootstrap_interval
from gpo.reports.table import Experiment, Table, build_table, read_experiment
from gpo.reports.table_output import display, format_csv, format_markdown
from gpo.results.experiment_folder import BASELINE
from gpo.results.io import atomic_write_text
from gpo.results.reading import ROLES, TaskLog


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
    for state in ("failed", "stopped", "interrupted", "running", "not started"):
        if state in states:
            lines.append(f"- {state}: {', '.join(states[state])}")
    if "interrupted" in states:  # Ctrl-C, --max_minutes, or a killed worker (left "running")
        lines.append("- interrupted cells continue from their checkpoints with `--resume`")
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
                f"| {c.cell_id} | {quote(prompt)} | - | {pct(score)} | - | - | - | - | {link} |"
            )
            continue
        b = run.best.get(c.task) if run else None
        log = run.tasks.get(c.task) if run else None
        init = log.initial if log else None
        cells = []
        for record in (init, b):
            cells += (
                [quote(record["prompt"]), pct(record["eval_score"]), pct(record["test_score"])]
                if record
                else ["-"] * 3
            )
        kind = kind_of.get(c.cell_id, "-")
        lines.append(f"| {c.cell_id} | " + " | ".join(cells) + f" | {kind} | {link} |")
    return [*lines, ""]
