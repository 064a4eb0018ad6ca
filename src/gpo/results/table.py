"""The method comparison of an experiment (the paper's Table 5): test score x100 per method and
dataset with bootstrap intervals, GPO against every other method, and the cost of each method.

Reads only the experiment folder (experiment.json, cells.jsonl, each cell's run folder); a partial
experiment gives a partial table, with incomplete cells marked.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gpo.results.experiment_folder import BASELINE, CellSpec, ExperimentFolder
from gpo.results.io import atomic_write_text
from gpo.results.prompt_kinds import KINDS, PromptKinds, prompt_kinds
from gpo.results.reading import RunData, is_run_folder, read_run
from gpo.results.statistics import (
    DEFAULT_RESAMPLES,
    DEFAULT_RESAMPLING_SEED,
    MIN_PAIRS_FOR_CLAIM,
    Interval,
    PairedComparison,
    bootstrap_interval,
    compare_paired,
)

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
REFERENCE = "gpo"
FEW_PAIRS = 10  # below this many pairs the p-value gets a warning
AVERAGE = "Average"


def display(method: str) -> str:
    return DISPLAY.get(method, method)


@dataclass(frozen=True)
class Experiment:
    """An experiment folder read from disk: its grid and the run of every cell that has one."""

    folder: ExperimentFolder
    spec: dict
    cells: tuple[CellSpec, ...]
    runs: dict[str, RunData]  # cell id -> run (cells without a run folder are absent)

    @property
    def methods(self) -> list[str]:
        """Baselines first (Empty, CoT), then the presets in the order given."""
        base = [m for m in ("empty", "cot") if any(c.method == m for c in self.cells)]
        return base + [m for m in self.spec["presets"]]

    @property
    def datasets(self) -> list[str]:
        return list(self.spec["datasets"])

    @property
    def seeds(self) -> list[int]:
        return list(self.spec["seeds"])

    def tasks(self, dataset: str) -> list[str]:
        return list(self.spec["tasks"][dataset])


def read_experiment(root: Path) -> Experiment:
    folder = ExperimentFolder(Path(root))
    spec, cells = folder.read_spec()
    runs = {}
    for c in cells:
        path = folder.run_dir(c.cell_id)
        if is_run_folder(path):
            runs[c.cell_id] = read_run(path)
    return Experiment(folder, spec, tuple(cells), runs)


def cell_test_score(cell: CellSpec, run: RunData | None) -> float:
    """Test score x100 of a finished cell: the best prompt's (optimize) or the prompt's
    (baseline); NaN when the cell has not finished."""
    if run is None or run.state != "finished":
        return math.nan
    if cell.kind == BASELINE:
        scores = [r["test_score"] for r in run.scores if r["task"] == cell.task]
        return 100.0 * scores[0] if scores else math.nan
    best = run.best.get(cell.task)
    return math.nan if best is None else 100.0 * best["test_score"]


def score_matrix(exp: Experiment, method: str, dataset: str) -> np.ndarray:
    """seeds x tasks test scores x100 (NaN where missing); one row for a baseline."""
    tasks = exp.tasks(dataset)
    cells = [c for c in exp.cells if c.method == method and c.dataset == dataset]
    baseline = any(c.kind == BASELINE for c in cells)
    seeds = [None] if baseline else exp.seeds
    m = np.full((len(seeds), len(tasks)), np.nan)
    for c in cells:
        if c.task in tasks and c.seed in seeds:
            m[seeds.index(c.seed), tasks.index(c.task)] = cell_test_score(
                c, exp.runs.get(c.cell_id)
            )
    return m


def initial_matrix(exp: Experiment, method: str, dataset: str) -> np.ndarray:
    """seeds x tasks test scores x100 of the initial prompt of each finished optimization cell
    (the pair of ``score_matrix``'s final prompt; NaN where missing)."""
    tasks = exp.tasks(dataset)
    m = np.full((len(exp.seeds), len(tasks)), np.nan)
    for c in exp.cells:
        if c.method != method or c.dataset != dataset or c.kind == BASELINE:
            continue
        run = exp.runs.get(c.cell_id)
        best = run.best.get(c.task) if run is not None and run.state == "finished" else None
        if best is not None and c.task in tasks and c.seed in exp.seeds:
            m[exp.seeds.index(c.seed), tasks.index(c.task)] = 100.0 * best["initial_test_score"]
    return m


def paired_matrix(exp: Experiment, method: str, dataset: str) -> np.ndarray:
    """seeds x tasks, a baseline's single row repeated for every seed (it is seed-independent)."""
    m = score_matrix(exp, method, dataset)
    return np.repeat(m, len(exp.seeds), axis=0) if m.shape[0] == 1 else m


@dataclass(frozen=True)
class Table:
    methods: list[str]
    columns: list[str]  # datasets, then AVERAGE
    cells: dict[tuple[str, str], Interval]
    expected: dict[tuple[str, str], int]  # runs a complete cell would have
    reference: str | None
    comparisons: dict[str, PairedComparison]
    # (preset, column): the preset's final prompt against its own initial prompt, per pair
    versus_initial: dict[tuple[str, str], PairedComparison]
    kinds: dict[str, PromptKinds]  # preset -> instructions / copies among the chosen prompts
    cost: dict[str, dict[str, float]]
    n_resamples: int
    resampling_seed: int


def build_table(
    exp: Experiment,
    n_resamples: int = DEFAULT_RESAMPLES,
    resampling_seed: int = DEFAULT_RESAMPLING_SEED,
) -> Table:
    cells: dict[tuple[str, str], Interval] = {}
    expected: dict[tuple[str, str], int] = {}
    for method in exp.methods:
        mats = [score_matrix(exp, method, d) for d in exp.datasets]
        for d, m in zip(exp.datasets, mats):
            cells[(method, d)] = bootstrap_interval([m], n_resamples, resampling_seed)
            expected[(method, d)] = m.size
        cells[(method, AVERAGE)] = bootstrap_interval(mats, n_resamples, resampling_seed)
        expected[(method, AVERAGE)] = sum(m.size for m in mats)
    presets = list(exp.spec["presets"])
    reference = REFERENCE if REFERENCE in presets else (presets[0] if presets else None)
    return Table(
        methods=exp.methods,
        columns=[*exp.datasets, AVERAGE],
        cells=cells,
        expected=expected,
        reference=reference,
        comparisons=method_comparisons(exp, reference, n_resamples, resampling_seed),
        versus_initial=initial_comparisons(exp, n_resamples, resampling_seed),
        kinds=prompt_kinds(list(exp.cells), chosen_records(exp)),
        cost=method_costs(exp),
        n_resamples=n_resamples,
        resampling_seed=resampling_seed,
    )


def method_comparisons(
    exp: Experiment, reference: str | None, n_resamples: int, resampling_seed: int
) -> dict[str, PairedComparison]:
    """The reference preset against every other method, paired over (task, seed)."""
    if reference is None:
        return {}
    ref = np.concatenate([paired_matrix(exp, reference, d).ravel() for d in exp.datasets])
    out = {}
    for method in exp.methods:
        if method != reference:
            other = np.concatenate([paired_matrix(exp, method, d).ravel() for d in exp.datasets])
            out[method] = compare_paired(ref, other, n_resamples, resampling_seed)
    return out


def initial_comparisons(
    exp: Experiment, n_resamples: int, resampling_seed: int
) -> dict[tuple[str, str], PairedComparison]:
    """Every preset's final prompt against its initial prompt, per dataset and over all."""
    out = {}
    for method in exp.spec["presets"]:
        finals = [score_matrix(exp, method, d).ravel() for d in exp.datasets]
        initials = [initial_matrix(exp, method, d).ravel() for d in exp.datasets]
        for d, f, i in zip(exp.datasets, finals, initials):
            out[(method, d)] = compare_paired(f, i, n_resamples, resampling_seed)
        out[(method, AVERAGE)] = compare_paired(
            np.concatenate(finals), np.concatenate(initials), n_resamples, resampling_seed
        )
    return out


def chosen_records(exp: Experiment) -> dict[str, dict]:
    """Cell id -> the best_prompts.jsonl record of every finished optimization cell."""
    out = {}
    for c in exp.cells:
        run = exp.runs.get(c.cell_id)
        finished = run is not None and run.state == "finished"
        if c.kind != BASELINE and finished and c.task in run.best:
            out[c.cell_id] = run.best[c.task]
    return out


COST_KEYS = (
    "runs",
    "optimizer_requests",
    "optimizer_prompt_tokens",
    "optimizer_completion_tokens",
    "scorer_requests",
    "scorer_prompt_tokens",
    "scorer_completion_tokens",
    "scorer_calls",
    "cache_hits",
    "wall_seconds",
)


def method_costs(exp: Experiment) -> dict[str, dict[str, float]]:
    """Model requests and tokens per role (real calls; cache hits apart) and the cells' wall time
    summed over every attempt (cells.jsonl)."""
    seconds: dict[str, float] = {}
    for record in exp.folder.cell_log():
        seconds[record["cell_id"]] = seconds.get(record["cell_id"], 0.0) + record.get("seconds", 0)
    out: dict[str, dict[str, float]] = {}
    for c in exp.cells:
        acc = out.setdefault(c.method, dict.fromkeys(COST_KEYS, 0))
        run = exp.runs.get(c.cell_id)
        acc["wall_seconds"] += seconds.get(c.cell_id, 0.0)
        if run is None:
            continue
        for key, value in run_cost(run).items():
            acc[key] += value
    return out


def run_cost(run: RunData) -> dict[str, float]:
    """One run's share of ``COST_KEYS`` (``runs`` 1; wall time apart: cells.jsonl holds it)."""
    acc: dict[str, float] = {"runs": 1, "cache_hits": 0}
    for role in ("optimizer", "scorer"):
        u = run.usage.get(role, {})
        acc[f"{role}_requests"] = u.get("requests", 0)
        acc[f"{role}_prompt_tokens"] = u.get("prompt_tokens", 0)
        acc[f"{role}_completion_tokens"] = u.get("completion_tokens", 0)
        acc["cache_hits"] += u.get("cache_hits", 0)
    scorer = run.usage.get("scorer", {})
    acc["scorer_calls"] = scorer.get("requests", 0) + scorer.get("cache_hits", 0)
    return acc


def _cell_text(iv: Interval) -> str:
    if iv.n_values == 0:
        return "-"
    return f"{iv.mean:.1f} [{iv.low:.1f}, {iv.high:.1f}]"


def best_methods(table: Table, column: str) -> set[str]:
    means = {m: table.cells[(m, column)].mean for m in table.methods}
    finite = [v for v in means.values() if not math.isnan(v)]
    if not finite:
        return set()
    top = max(finite)
    return {m for m, v in means.items() if not math.isnan(v) and abs(v - top) < 1e-9}


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
            text = _cell_text(iv)
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
    """What each preset's chosen prompts are (``gpo.results.prompt_kinds``)."""
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
        "cells, model loading included.",
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
