"""The method comparison of an experiment (the paper's Table 5), as data: test score x100 per
method and dataset with bootstrap intervals, GPO against every other method and every preset
against its own initial prompt (paired over task and seed), what the chosen prompts are, and the
cost of each method. ``gpo.reports.table_output`` writes it as Markdown and CSV.

Reads only the experiment folder (experiment.json, cells.jsonl, each cell's run folder); a partial
experiment gives a partial table, with incomplete cells marked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gpo.reports.prompt_kinds import PromptKinds, prompt_kinds
from gpo.reports.statistics import (
    DEFAULT_RESAMPLES,
    DEFAULT_RESAMPLING_SEED,
    Interval,
    PairedComparison,
    bootstrap_interval,
    compare_paired,
)
from gpo.results.experiment_folder import BASELINE, CellSpec, ExperimentFolder
from gpo.results.reading import RunData, is_run_folder, read_run

REFERENCE = "gpo"
AVERAGE = "Average"


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


def best_methods(table: Table, column: str) -> set[str]:
    means = {m: table.cells[(m, column)].mean for m in table.methods}
    finite = [v for v in means.values() if not math.isnan(v)]
    if not finite:
        return set()
    top = max(finite)
    return {m for m, v in means.items() if not math.isnan(v) and abs(v - top) < 1e-9}


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
    summed over every attempt (cells.jsonl). A run whose attempts on record there add up to less
    than the time its own steps recorded (it ran before the folder logged attempts, or was
    copied in, and later invocations only logged it as skipped) counts its steps' time, so its
    method's wall time is not reported as 0."""
    seconds: dict[str, float] = {}
    for record in exp.folder.cell_log():
        seconds[record["cell_id"]] = seconds.get(record["cell_id"], 0.0) + record.get("seconds", 0)
    out: dict[str, dict[str, float]] = {}
    for c in exp.cells:
        acc = out.setdefault(c.method, dict.fromkeys(COST_KEYS, 0))
        run = exp.runs.get(c.cell_id)
        logged = seconds.get(c.cell_id, 0.0)
        if run is None:
            acc["wall_seconds"] += logged
            continue
        acc["wall_seconds"] += max(logged, run.work_seconds)
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
