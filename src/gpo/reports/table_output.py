"""An experiment's method comparison (``gpo.reports.table``) as ``table.md`` and ``table.csv``:
scores per method and dataset (the best in bold, partial cells marked), per task, each preset
against its initial prompt, the reference against each method, prompt kinds and cost.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np

from gpo.reports.prompt_kinds import KINDS
from gpo.reports.statistics import MIN_PAIRS_FOR_CLAIM, Interval, PairedComparison
from gpo.reports.table import (
    AVERAGE,
    COST_KEYS,
    Experiment,
    Table,
    best_methods,
    build_table,
    read_experiment,
    score_matrix,
)
from gpo.results.io import atomic_write_text

DISPLAY = {
    "empty": "Empty",
    "cot": "CoT",
    "ape": "APE",
    "apo": "APO",
    "opro": "OPRO",
    "pe2": "PE2",
    "sgdm": "SGDM",
    "gpo": "GPO",
    "gpo+": "GPO+",
    "gepa": "GEPA",
}
FEW_PAIRS = 10  # below this many pairs the p-value gets a warning


def display(method: str) -> str:
    return DISPLAY.get(method, method)


def cell_text(iv: Interval) -> str:
    """An interval as a table cell: ``mean [low, high]`` x100, "-" when it has no values."""
    if iv.n_values == 0:
        return "-"
    return f"{iv.mean:.1f} [{iv.low:.1f}, {iv.high:.1f}]"


def format_markdown(table: Table, exp: Experiment) -> str:
    """The experiment's table as Markdown: scores, the reference against each method, cost."""
    lines = score_section(table)
    seeds = ", ".join(map(str, exp.seeds))
    tasks = "; ".join(f"{d}: {len(exp.tasks(d))}" for d in exp.datasets)
    lines += ["", f"Seeds: {seeds}. Tasks per dataset: {tasks}."]
    lines += task_section(exp)
    lines += initial_section(table)
    if table.reference is not None and table.comparisons:
        lines += comparison_section(table)
    lines += kinds_section(table)
    lines += cost_section(table)
    return "\n".join(lines) + "\n"


def score_section(table: Table) -> list[str]:
    """Test score x100 per method and column; the best of a column in bold, partial cells
    marked (k/n runs)."""
    lines = [
        "## Test score x100 by method",
        "",
        "Each cell: mean over tasks of the test score of the method's final prompt, averaged over "
        f"seeds, with a 95% bootstrap interval (seeds and tasks resampled, {table.n_resamples} "
        f"resamples, resampling seed {table.resampling_seed}; with one seed, tasks only). "
        "**Bold**: best of the column. Average: mean of the dataset columns. Empty and CoT are "
        "scored once per task (the greedy scorer makes them seed-independent).",
        "",
        "| method | " + " | ".join(c.upper() if c != AVERAGE else c for c in table.columns) + " |",
        "|---|" + "---|" * len(table.columns),
    ]
    incomplete = False
    for m in table.methods:
        row = []
        for col in table.columns:
            iv = table.cells[(m, col)]
            text = cell_text(iv)
            if m in best_methods(table, col):
                text = f"**{text.split(' [')[0]}**" + (
                    f" [{text.split(' [')[1]}" if " [" in text else ""
                )
            if 0 < iv.n_values < table.expected[(m, col)]:
                text += f" ({iv.n_values}/{table.expected[(m, col)]} runs)"
                incomplete = True
            row.append(text)
        lines.append(f"| {display(m)} | " + " | ".join(row) + " |")
    if incomplete:
        lines += ["", "(k/n runs): only k of the n runs of the cell have finished so far."]
    return lines


def task_section(exp: Experiment) -> list[str]:
    """Test score x100 per method and task: the mean over seeds, then each seed's score (a
    dash: not finished). Shown when a dataset has more than one task, where the dataset column
    averages tasks that may behave very differently."""
    columns = [(d, t) for d in exp.datasets for t in exp.tasks(d)]
    if len(columns) == len(exp.datasets):
        return []
    lines = [
        "",
        "## Test score x100 by task",
        "",
        "Each cell: the mean over the finished seeds, then the score of each seed "
        f"({', '.join(map(str, exp.seeds))}) in parentheses; Empty and CoT are seed-independent.",
        "",
        "| method | " + " | ".join(t for _, t in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for method in exp.methods:
        row = []
        for dataset, task in columns:
            m = score_matrix(exp, method, dataset)[:, exp.tasks(dataset).index(task)]
            done = m[~np.isnan(m)]
            if done.size == 0:
                row.append("-")
            elif m.size == 1:
                row.append(f"{done[0]:.1f}")
            else:
                each = ", ".join("-" if math.isnan(v) else f"{v:.1f}" for v in m)
                row.append(f"{done.mean():.1f} ({each})")
        lines.append(f"| {display(method)} | " + " | ".join(row) + " |")
    return lines


def comparison_section(table: Table) -> list[str]:
    """The reference method against each other method, paired over (task, seed)."""
    ref = display(table.reference)
    lines = [
        "",
        f"## {ref} against each method",
        "",
        f"Paired over (task, seed): a win is a pair where {ref}'s test score is higher. "
        f"Mean difference = {ref} - method (x100), with its 95% paired bootstrap interval. p: "
        f"two-sided paired bootstrap ({table.n_resamples} resamples of the pairs).",
        "",
        "| method | wins | ties | losses | mean difference [95% interval] | p |",
        "|---|---|---|---|---|---|",
    ]
    for m, c in table.comparisons.items():
        lines.append(
            f"| {display(m)} | {c.wins} | {c.ties} | {c.losses} | {difference_text(c)} | "
            f"{c.p_value:.3g} |"
        )
    few = min(c.wins + c.ties + c.losses for c in table.comparisons.values())
    if few < FEW_PAIRS:
        lines += [
            "",
            f"Only {few} pair(s) for some methods: with fewer than {FEW_PAIRS} pairs the "
            "bootstrap p-value is unreliable (it cannot show variation the pairs never had: "
            "a few identical differences give the smallest possible p). Add tasks or seeds.",
        ]
    return lines


def difference_text(c: PairedComparison) -> str:
    if math.isnan(c.mean_difference):
        return "-"
    return f"{c.mean_difference:+.1f} [{c.low:+.1f}, {c.high:+.1f}]"


def initial_section(table: Table) -> list[str]:
    """Each preset's final prompt against its own initial prompt, per column."""
    if not table.versus_initial:
        return []
    lines = [
        "",
        "## Final prompt against the initial prompt",
        "",
        "Paired over (task, seed): the test score x100 of the method's final prompt minus that of "
        "the initial prompt it started from, wins / ties / losses, mean difference with its 95% "
        "paired bootstrap interval; **above 0**: the whole interval is above zero (claimed on "
        f"{MIN_PAIRS_FOR_CLAIM} or more pairs only).",
        "",
        "| method | " + " | ".join(c.upper() if c != AVERAGE else c for c in table.columns) + " |",
        "|---|" + "---|" * len(table.columns),
    ]
    methods = sorted({m for m, _ in table.versus_initial}, key=table.methods.index)
    for m in methods:
        row = []
        for col in table.columns:
            c = table.versus_initial[(m, col)]
            text = f"{c.wins}/{c.ties}/{c.losses}, {difference_text(c)}"
            row.append(text + (" **above 0**" if c.above_zero else ""))
        lines.append(f"| {display(m)} | " + " | ".join(row) + " |")
    return lines


def kinds_section(table: Table) -> list[str]:
    """What each preset's chosen prompts are (``gpo.reports.prompt_kinds``)."""
    if not table.kinds:
        return []
    lines = [
        "",
        "## What the chosen prompts are",
        "",
        "Each chosen (final) prompt gets the first kind that fits: **initial** (no candidate beat "
        "the initial prompt), **copy** (8 or more words in a row of a format exemplar or train "
        "input the meta-prompt could show: the `copied` guard's rule, the task's shared template "
        "excepted), **scaffolding** (the meta-prompt's tags, `Input:`/`Output:` headers, score "
        "lines or wording: the `scaffolding` guard's rule), **chatter** (the optimizer talking "
        'to its requester, such as "Sure! Please provide a prompt.", or one question with no '
        "task verb, put to a customer rather than to the scorer), else **instruction**.",
        "",
        "| method | chosen prompts | instructions | initial kept | copies | scaffolding "
        "| chatter |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in [m for m in table.methods if m in table.kinds]:
        k = table.kinds[m]
        shares = " | ".join(
            f"{k.count(kind)} ({100 * k.share(k.count(kind)):.0f}%)" for kind in KINDS
        )
        lines.append(f"| {display(m)} | {k.chosen} | {shares} |")
    return lines


def cost_section(table: Table) -> list[str]:
    """Model requests, tokens, cache hits and wall time per method."""
    lines = [
        "",
        "## Cost per method",
        "",
        "Requests and tokens are real model calls (answers from the response cache are counted "
        "apart); scorer calls are the answers a method's scoring asked for, from the model or "
        "the cache (what a scorer budget counts); wall time sums every attempt of the method's "
        "cells, model loading included (a run whose attempts on record in cells.jsonl add up to "
        "less than its steps' recorded time counts that time).",
        "",
        "| method | runs | optimizer requests | optimizer tokens (prompt + completion) | "
        "scorer requests | scorer tokens (prompt + completion) | scorer calls | cache hits "
        "| wall time |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for m in table.methods:
        c = table.cost.get(m, dict.fromkeys(COST_KEYS, 0))
        lines.append(
            f"| {display(m)} | {c['runs']:.0f} | {c['optimizer_requests']:.0f} | "
            f"{c['optimizer_prompt_tokens']:.0f} + {c['optimizer_completion_tokens']:.0f} | "
            f"{c['scorer_requests']:.0f} | "
            f"{c['scorer_prompt_tokens']:.0f} + {c['scorer_completion_tokens']:.0f} | "
            f"{c['scorer_calls']:.0f} | "
            f"{c['cache_hits']:.0f} | {format_seconds(c['wall_seconds'])} |"
        )
    return lines


def format_seconds(s: float) -> str:
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def format_csv(table: Table) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["method", "dataset", "mean", "ci_low", "ci_high", "n_runs", "n_expected", "best"])
    for m in table.methods:
        for col in table.columns:
            iv = table.cells[(m, col)]
            w.writerow(
                [
                    display(m),
                    col if col == AVERAGE else col.upper(),
                    *(("" if iv.n_values == 0 else f"{v:.4f}") for v in (iv.mean, iv.low, iv.high)),
                    iv.n_values,
                    table.expected[(m, col)],
                    int(m in best_methods(table, col)),
                ]
            )
    return buf.getvalue()


def write_table(root: Path) -> tuple[Path, str]:
    """Write table.md and table.csv into the experiment folder; return table.md and its text."""
    exp = read_experiment(root)
    table = build_table(exp)
    text = format_markdown(table, exp)
    atomic_write_text(Path(root) / "table.md", text)
    atomic_write_text(Path(root) / "table.csv", format_csv(table))
    return Path(root) / "table.md", text
