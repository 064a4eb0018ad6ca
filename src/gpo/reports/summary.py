"""Several experiments side by side: the tables and the figure that open the README's results.

Each (experiment folder, dataset) pair is one column, named by its dataset and scorer (the
demonstration has the custom tasks with two scorers, and BBH). Everything is read from the
folders (``gpo.reports.table``), so a partial grid gives partial columns, marked as such:

* the test score x100 of every method (mean over tasks and seeds, 95% bootstrap interval);
* the reference preset (GPO) against its own initial prompt and against every other method,
  paired over (task, seed): wins / ties / losses and the mean difference with its 95% interval;
* every preset against its own initial prompt;
* whether eval gains carry to test: of the runs whose chosen prompt beat the initial prompt on
  eval, how many also beat it on test;
* what the chosen prompts are (``gpo.reports.prompt_kinds``), pooled over the columns, with one
  example of each kind;
* the sizes, models and dates behind each column;
* a column may be limited to some of an experiment's tasks (``read_columns``'s ``tasks``): its
  label names them;
* one figure: an experiment's score-per-step plot per column, side by side.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gpo.errors import ConfigError
from gpo.presets import GEPA
from gpo.reports.plots import save_png, score_panels_figure
from gpo.reports.prompt_kinds import KINDS, PromptKinds
from gpo.reports.statistics import MIN_PAIRS_FOR_CLAIM, PairedComparison, compare_paired
from gpo.reports.table import (
    Experiment,
    Table,
    build_table,
    chosen_records,
    initial_matrix,
    paired_matrix,
    read_experiment,
    run_cost,
    score_matrix,
)
from gpo.reports.table_output import cell_text, difference_text, display, format_seconds
from gpo.results.experiment_folder import BASELINE
from gpo.results.io import read_json

PROMPT_CHARS = 110  # an example prompt is cut after this many characters


@dataclass(frozen=True)
class Column:
    """One (experiment, dataset) pair of the summary."""

    exp: Experiment
    table: Table
    dataset: str
    subset: bool = False  # only some of the experiment's tasks (named in the label)

    @property
    def label(self) -> str:
        tasks = f" {', '.join(self.exp.tasks(self.dataset))}" if self.subset else ""
        return f"{self.dataset.upper()}{tasks}, scorer {self.exp.spec['scorer']}"

    def methods(self) -> list[str]:
        return self.exp.methods

    def runs(self, method: str) -> tuple[int, int]:
        """(finished, expected) runs of a method in this column."""
        m = score_matrix(self.exp, method, self.dataset)
        return int(np.isfinite(m).sum()), m.size


def read_columns(
    folders: Sequence[Path], tasks: Mapping[Path, Sequence[str]] | None = None
) -> list[Column]:
    """One column per (folder, dataset); ``tasks`` limits a folder to some of its tasks (an
    experiment whose other tasks are unfinished, or not the point)."""
    out = []
    for folder in folders:
        exp = read_experiment(Path(folder))
        chosen = (tasks or {}).get(Path(folder))
        if chosen:
            exp = only_tasks(exp, chosen)
        table = build_table(exp)
        out += [Column(exp, table, d, subset=bool(chosen)) for d in exp.datasets]
    return out


def only_tasks(exp: Experiment, tasks: Sequence[str]) -> Experiment:
    """The experiment as if its grid had only ``tasks`` (its cells, runs and spec)."""
    known = [t for d in exp.datasets for t in exp.tasks(d)]
    unknown = [t for t in tasks if t not in known]
    if unknown:
        raise ConfigError(
            f"{exp.folder.root}: no task {', '.join(unknown)}; its tasks are {', '.join(known)}"
        )
    by_dataset = {d: [t for t in exp.tasks(d) if t in tasks] for d in exp.datasets}
    spec = {
        **exp.spec,
        "tasks": {d: ts for d, ts in by_dataset.items() if ts},
        "datasets": [d for d in exp.datasets if by_dataset[d]],
    }
    cells = tuple(c for c in exp.cells if c.task in tasks)
    ids = {c.cell_id for c in cells}
    runs = {k: v for k, v in exp.runs.items() if k in ids}
    return dataclasses.replace(exp, spec=spec, cells=cells, runs=runs)


def reference(columns: Sequence[Column]) -> str:
    return next((c.table.reference for c in columns if c.table.reference), "gpo")


def all_methods(columns: Sequence[Column]) -> list[str]:
    seen: list[str] = []
    for c in columns:
        seen += [m for m in c.methods() if m not in seen]
    return seen


def score_text(column: Column, method: str) -> str:
    """A method's test score x100 in a column (mean [95% interval]; partial runs marked)."""
    iv = column.table.cells.get((method, column.dataset))
    if iv is None or iv.n_values == 0:
        return "-"
    done, expected = column.runs(method)
    partial = f" ({done}/{expected} runs)" if done < expected else ""
    return cell_text(iv) + partial


def score_rows(columns: Sequence[Column]) -> list[str]:
    lines = [
        "| method | " + " | ".join(c.label for c in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for m in all_methods(columns):
        cells = [score_text(c, m) for c in columns]
        lines.append(f"| {display(m)} | " + " | ".join(cells) + " |")
    lines.append(f"| {CONSTANT_LABEL} | " + " | ".join(constant_text(c) for c in columns) + " |")
    return lines


CONSTANT_LABEL = "best constant answer (no model)"


def constant_score(column: Column) -> float | None:
    """The column's best constant answer on test (``gpo.evaluation.constant``), mean over its
    tasks; None when a task's data cannot be read here or has no such reference."""
    scores = []
    for task in column.exp.tasks(column.dataset):
        cell = next(c for c in column.exp.cells if c.dataset == column.dataset and c.task == task)
        found = task_constant(column.dataset, task, cell.config.data_dir, cell.config.max_examples)
        if found is None:
            return None
        scores.append(found)
    return float(np.mean(scores)) if scores else None


@functools.cache
def task_constant(dataset: str, task: str, data_dir: str, max_examples: int | None) -> float | None:
    """One task's best constant answer on test, read and graded once per summary (the score
    table and the GEPA table both show it)."""
    from gpo.data.registry import get_benchmark
    from gpo.errors import GPOError
    from gpo.evaluation.constant import best_constant_answer

    try:
        data = get_benchmark(dataset, data_dir).load(task, Path(data_dir), max_examples)
        found = best_constant_answer(data)
    except (GPOError, OSError):
        return None
    return None if found is None else found.score


def constant_text(column: Column) -> str:
    score = constant_score(column)
    return "-" if score is None else f"{100 * score:.1f}"


def pairs(column: Column, method: str, other: str | None) -> tuple[np.ndarray, np.ndarray]:
    """The (task, seed) pairs of ``method``'s final test scores and ``other``'s (None: its own
    initial prompts') in this column, NaN where a run is missing."""
    exp, d = column.exp, column.dataset
    mine = paired_matrix(exp, method, d).ravel()
    theirs = (initial_matrix if other is None else paired_matrix)(exp, other or method, d).ravel()
    return mine, theirs


def versus(column: Column, method: str, other: str | None) -> PairedComparison:
    """``method``'s final prompts against ``other``'s (None: against its own initial prompts),
    paired over (task, seed) in this column."""
    mine, theirs = pairs(column, method, other)
    return compare_paired(mine, theirs, column.table.n_resamples, column.table.resampling_seed)


def has_gepa(columns: Sequence[Column]) -> bool:
    """Whether some column's grid has GEPA cells (finished or not)."""
    return any(GEPA in c.exp.spec["presets"] for c in columns)


def gepa_rows(columns: Sequence[Column]) -> list[str]:
    """The reference (GPO) against GEPA per column, then over every column's pairs together."""
    ref, gepa = reference(columns), display(GEPA)
    lines = [
        f"| {display(ref)} against {gepa} | pairs | wins/ties/losses | mean difference x100 "
        f"[95% interval] | p | {display(ref)} x100 | {gepa} x100 | constant answer x100 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    both = [c for c in columns if GEPA in c.exp.spec["presets"]]
    for c in both:
        scores = (score_text(c, ref), score_text(c, GEPA), constant_text(c))
        lines.append(gepa_row(c.label, versus(c, ref, GEPA), *scores))
    if len(both) > 1:
        mine, theirs = (np.concatenate(a) for a in zip(*(pairs(c, ref, GEPA) for c in both)))
        t = both[0].table
        pooled = compare_paired(mine, theirs, t.n_resamples, t.resampling_seed)
        lines.append(gepa_row("all of the above", pooled, "", "", ""))
    return lines


def gepa_row(label: str, c: PairedComparison, *scores: str) -> str:
    """One row: the pairs' comparison, then the scores (GPO, GEPA, constant answer)."""
    tail = " | ".join(s or "-" for s in scores)
    if c.n_pairs == 0:
        return f"| {label} | 0 | - | - | - | {tail} |"
    claim = " **above 0**" if c.above_zero else ""
    # a bootstrap over one or two pairs cannot vary: its p would claim what they never showed
    p = f"{c.p_value:.3g}" if c.n_pairs >= MIN_PAIRS_FOR_CLAIM else "-"
    return (
        f"| {label} | {c.n_pairs} | {c.wins}/{c.ties}/{c.losses} | {difference_text(c)}{claim} | "
        f"{p} | {tail} |"
    )


def comparison_text(c: PairedComparison) -> str:
    if c.wins + c.ties + c.losses == 0:
        return "-"
    text = f"{c.wins}/{c.ties}/{c.losses}, {difference_text(c)}"
    return text + (" **above 0**" if c.above_zero else "")


def reference_rows(columns: Sequence[Column]) -> list[str]:
    ref = reference(columns)
    lines = [
        f"| {display(ref)} against | " + " | ".join(c.label for c in columns) + " |",
        "|---|" + "---|" * len(columns),
        "| its initial prompt | "
        + " | ".join(comparison_text(versus(c, ref, None)) for c in columns)
        + " |",
    ]
    for m in all_methods(columns):
        if m == ref:
            continue
        cells = [comparison_text(versus(c, ref, m)) if m in c.methods() else "-" for c in columns]
        lines.append(f"| {display(m)} | " + " | ".join(cells) + " |")
    return lines


def preset_rows(
    columns: Sequence[Column], header: str, cell: Callable[[Column, str], str]
) -> list[str]:
    """A table with a row per preset of any column: ``cell(column, preset)``, "-" where the
    column's grid has no such preset."""
    lines = [
        f"| {header} | " + " | ".join(c.label for c in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    presets = [m for m in all_methods(columns) if any(m in c.exp.spec["presets"] for c in columns)]
    for m in presets:
        cells = [cell(c, m) if m in c.exp.spec["presets"] else "-" for c in columns]
        lines.append(f"| {display(m)} | " + " | ".join(cells) + " |")
    return lines


def initial_rows(columns: Sequence[Column]) -> list[str]:
    return preset_rows(
        columns,
        "final against initial prompt",
        lambda c, m: comparison_text(versus(c, m, None)),
    )


@dataclass(frozen=True)
class CarryOver:
    """Of a column's finished runs whose chosen prompt beat the initial prompt on eval, how
    many also beat it on test, tied it, or fell below it."""

    runs: int  # finished runs
    eval_gains: int  # of them, best eval > initial eval
    test_gains: int  # of those, best test > initial test
    test_ties: int
    test_losses: int


def carry_over(column: Column, method: str | None = None) -> CarryOver:
    """The carry-over of ``method``'s runs in ``column`` (None: every method's)."""
    cells = {c.cell_id: c for c in column.exp.cells if c.dataset == column.dataset}
    records = [
        r
        for cell_id, r in chosen_records(column.exp).items()
        if cell_id in cells and (method is None or cells[cell_id].method == method)
    ]
    gained = [r for r in records if r["eval_score"] > r["initial_eval_score"] + 1e-9]
    diffs = [r["test_score"] - r["initial_test_score"] for r in gained]
    return CarryOver(
        len(records),
        len(gained),
        sum(d > 1e-9 for d in diffs),
        sum(abs(d) <= 1e-9 for d in diffs),
        sum(d < -1e-9 for d in diffs),
    )


def carry_text(c: CarryOver) -> str:
    if not c.eval_gains:
        return f"0 of {c.runs}" if c.runs else "-"
    kept = 100 * c.test_gains / c.eval_gains
    return (
        f"{c.eval_gains} of {c.runs}: {c.test_gains}/{c.test_ties}/{c.test_losses} "
        f"({kept:.0f}% kept)"
    )


def carry_rows(columns: Sequence[Column]) -> list[str]:
    header = "runs that gained on eval: on test up/same/down"
    lines = preset_rows(columns, header, lambda c, m: carry_text(carry_over(c, m)))
    every = [carry_text(carry_over(c)) for c in columns]
    return [*lines, "| all methods | " + " | ".join(every) + " |"]


def carry_section(columns: Sequence[Column]) -> list[str]:
    return [
        "**Do eval gains carry to test?** Of each method's finished runs, those whose chosen "
        "prompt scored above the initial prompt on eval, and how their test score compares with "
        "the initial prompt's (up/same/down; kept: the share that also went up on test):",
        "",
        *carry_rows(columns),
    ]


def pooled_kinds(columns: Sequence[Column]) -> dict[str, PromptKinds]:
    """Each preset's prompt kinds over every column (an experiment counted once)."""
    out: dict[str, PromptKinds] = {}
    seen: set[int] = set()
    for c in columns:
        if id(c.exp) in seen:
            continue
        seen.add(id(c.exp))
        for method, kinds in c.table.kinds.items():
            pooled = out.setdefault(method, PromptKinds())
            for kind, cells in kinds.cells.items():
                for cell in cells:
                    pooled.add(kind, cell)
    return out


def kind_rows(columns: Sequence[Column]) -> list[str]:
    kinds = pooled_kinds(columns)
    lines = [
        "| method | chosen prompts | " + " | ".join(KINDS) + " |",
        "|---|---|" + "---|" * len(KINDS),
    ]
    for m in [m for m in all_methods(columns) if m in kinds]:
        k = kinds[m]
        shares = " | ".join(
            f"{k.count(kind)} ({100 * k.share(k.count(kind)):.0f}%)" for kind in KINDS
        )
        lines.append(f"| {display(m)} | {k.chosen} | {shares} |")
    return lines


def kind_examples(columns: Sequence[Column]) -> list[str]:
    """One chosen prompt of each kind (the one with the best test score), with its cell."""
    best: dict[str, tuple[float, str, str, dict]] = {}
    for c in columns:
        records = chosen_records(c.exp)
        for kinds in c.table.kinds.values():
            for kind, cells in kinds.cells.items():
                for cell in cells:
                    r = records.get(cell)
                    if r is None or kind == "initial":
                        continue
                    key = (r["test_score"], c.label, cell, r)
                    if kind not in best or key[0] > best[kind][0]:
                        best[kind] = key
    lines = []
    for kind in KINDS:
        if kind not in best:
            continue
        score, label, cell, r = best[kind]
        prompt = " ".join(r["prompt"].split())
        if len(prompt) > PROMPT_CHARS:
            prompt = prompt[:PROMPT_CHARS].rstrip() + " ..."
        lines.append(
            f"- *{kind}* ({cell}, {label}; test {100 * r['initial_test_score']:.1f} -> "
            f"{100 * score:.1f}): `{prompt}`"
        )
    return lines


def size_rows(columns: Sequence[Column]) -> list[str]:
    lines = [
        "| column | tasks | seeds | optimization runs finished | optimizer "
        "| finished cells' dates |",
        "|---|---|---|---|---|---|",
    ]
    for c in columns:
        exp = c.exp
        cells = [x for x in exp.cells if x.dataset == c.dataset and x.kind != BASELINE]
        done = [
            x for x in cells if x.cell_id in exp.runs and exp.runs[x.cell_id].state == "finished"
        ]
        times = sorted(finished_date(exp, x.cell_id) for x in done)
        dates = f"{times[0]} to {times[-1]}" if times else "-"
        lines.append(
            f"| {c.label} | {', '.join(exp.tasks(c.dataset))} | "
            f"{', '.join(map(str, exp.seeds))} | {len(done)} of {len(cells)} | "
            f"{exp.spec['optimizer']} | {dates} |"
        )
    return lines


def finished_date(exp: Experiment, cell_id: str) -> str:
    """The day a finished cell's run last wrote its status (YYYY-MM-DD)."""
    status = read_json(exp.folder.run_dir(cell_id) / "status.json")
    return str(status.get("time", "?"))[:10]


def run_costs(column: Column, method: str) -> tuple[int, int, dict[str, float]]:
    """(finished runs, planned runs, mean per finished run of ``run_cost``'s counters and
    ``work_seconds``) of a preset in a column."""
    cells = [c for c in column.exp.cells if c.method == method and c.dataset == column.dataset]
    runs = [column.exp.runs.get(c.cell_id) for c in cells]
    done = [r for r in runs if r is not None and r.state == "finished"]
    total: dict[str, float] = {}
    for r in done:
        for key, value in {**run_cost(r), "work_seconds": r.work_seconds}.items():
            total[key] = total.get(key, 0.0) + value
    return len(done), len(cells), {k: v / len(done) for k, v in total.items()} if done else {}


def cost_rows(columns: Sequence[Column]) -> list[str]:
    lines = [
        "| column | method | runs finished | scorer calls | optimizer calls | optimizer tokens "
        "(prompt + completion) | wall time |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in columns:
        for m in c.exp.spec["presets"]:
            done, planned, cost = run_costs(c, m)
            if not cost:
                lines.append(f"| {c.label} | {display(m)} | 0 of {planned} | - | - | - | - |")
                continue
            lines.append(
                f"| {c.label} | {display(m)} | {done} of {planned} | {cost['scorer_calls']:.0f} | "
                f"{cost['optimizer_requests']:.0f} | {cost['optimizer_prompt_tokens']:.0f} + "
                f"{cost['optimizer_completion_tokens']:.0f} | "
                f"{format_seconds(cost['work_seconds'])} |"
            )
    return lines


def score_section(columns: Sequence[Column]) -> list[str]:
    n = columns[0].table.n_resamples if columns else 0
    return [
        "**Test score x100 of each method's final prompt** (mean over tasks and seeds, 95% "
        f"bootstrap interval over seeds and tasks, {n} resamples; Empty and CoT are the "
        "unoptimized prompts; the best constant answer is the one gold answer that, given as "
        "every reply, scores highest: what a prompt scores that makes the scorer say one "
        "label):",
        "",
        *score_rows(columns),
    ]


def reference_section(columns: Sequence[Column]) -> list[str]:
    return [
        f"**{display(reference(columns))} against its initial prompt and against each method**, "
        "paired over (task, seed): wins/ties/losses, mean test difference x100 with its 95% "
        "paired bootstrap interval (**above 0**: the whole interval is, on "
        f"{MIN_PAIRS_FOR_CLAIM} or more pairs):",
        "",
        *reference_rows(columns),
    ]


def gepa_section(columns: Sequence[Column]) -> list[str]:
    ref = display(reference(columns))
    return [
        f"**{ref} against GEPA**, per column (a task family and its scorer), paired over (task, "
        f"seed): {ref}'s wins/ties/losses, the mean test difference {ref} - GEPA x100 with its "
        "95% paired bootstrap interval (**above 0**: the whole interval is, on "
        f"{MIN_PAIRS_FOR_CLAIM} or more pairs) and its two-sided paired bootstrap p (from "
        f"{MIN_PAIRS_FOR_CLAIM} pairs), then each "
        "method's mean test score and what the best constant answer scores (one gold answer "
        "as every reply, no model); GEPA's budget is the scorer calls the gpo preset plans on "
        "train and eval:",
        "",
        *gepa_rows(columns),
    ]


def initial_section(columns: Sequence[Column]) -> list[str]:
    return [
        "**Every method against its own initial prompt** (same pairing):",
        "",
        *initial_rows(columns),
    ]


def kinds_section(columns: Sequence[Column]) -> list[str]:
    return [
        "**What the chosen prompts are**, all columns pooled (each final prompt gets the first "
        "kind that fits; the rules are in `gpo.reports.prompt_kinds`):",
        "",
        *kind_rows(columns),
        "",
        "The best-scoring chosen prompt of each kind:",
        "",
        *kind_examples(columns),
    ]


def sizes_section(columns: Sequence[Column]) -> list[str]:
    return ["**Sizes**:", "", *size_rows(columns)]


def cost_section(columns: Sequence[Column]) -> list[str]:
    return [
        "**Cost per method**, per run (mean over each column's finished runs): scorer calls are "
        "the answers its scoring asked for (model requests + cache hits: what a scorer budget "
        "counts), optimizer calls and tokens are real model requests, wall time is the time "
        "inside the run (initial scoring, steps, final scoring; model loading excluded):",
        "",
        *cost_rows(columns),
    ]


Section = Callable[[Sequence[Column]], list[str]]
# Without GEPA cells: the first demonstration's order, the cost table last.
SECTIONS: tuple[Section, ...] = (
    score_section,
    reference_section,
    initial_section,
    carry_section,
    kinds_section,
    sizes_section,
    cost_section,
)
# With GEPA cells: GPO against GEPA first, then every method against its initial prompt, the
# cost of each method, and the rest.
GEPA_SECTIONS: tuple[Section, ...] = (
    gepa_section,
    initial_section,
    cost_section,
    carry_section,
    score_section,
    reference_section,
    kinds_section,
    sizes_section,
)


# The README's block: what a reader asks first (GPO against GEPA, against the initial prompt,
# at what cost) and how much was run; the rest is in the full summary (docs/results.md).
README_SECTIONS: tuple[Section, ...] = (gepa_section, initial_section, cost_section, sizes_section)


def summary_markdown(columns: Sequence[Column], brief: bool = False) -> str:
    """Every section (``brief``: the README's, when the columns have GEPA cells)."""
    sections = GEPA_SECTIONS if has_gepa(columns) else SECTIONS
    if brief and has_gepa(columns):
        sections = README_SECTIONS
    lines: list[str] = []
    for section in sections:
        lines += [*([""] if lines else []), *section(columns)]
    return "\n".join(lines) + "\n"


def write_summary_figure(columns: Sequence[Column], path: Path) -> Path:
    """Per column, the score-per-step panel (GEPA: its star only) above the best score against
    scorer calls (every method, GEPA's line included)."""
    from gpo.reports.experiment_report import (
        experiment_calls_panel,
        experiment_score_panel,
        method_logs,
        step_count,
    )

    panels, calls = [], []
    for c in columns:
        logs_by_method = method_logs(c.exp, c.dataset)
        T = step_count(logs_by_method)
        panel = experiment_score_panel(c.exp, logs_by_method, T, c.label, c.dataset)
        # no initial-test squares: the stars' intervals already carry the test side
        panels.append(dataclasses.replace(panel, test_lines=()))
        calls.append(experiment_calls_panel(logs_by_method, f"{c.label}: best eval vs calls"))
    gepa = " (GEPA's line is only here)" if has_gepa(columns) else ""
    fig = score_panels_figure(
        "Top: eval score of the chosen prompt per step, mean over tasks and seeds (95% band); "
        f"stars: final prompts on test\nBottom: best eval score so far against scorer calls{gepa}",
        panels,
        calls,
    )
    return save_png(fig, path)
