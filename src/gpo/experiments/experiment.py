"""The experiment command: the paper's method comparison (Table 5) as one grid.

``python src/optimization/experiment.py --presets=gpo,ape --seeds=0,1 --dataset=bbh,wsc ...``
runs every preset x task x seed as an ordinary run folder inside one experiment folder (sharing
the response cache), scores the Empty and CoT prompts once per task, then writes and prints the
table (``table.md``, ``table.csv``) and the report (``report.md``, ``plots/``).

``--dry_run`` plans the whole grid (calls, tokens, wall time for 1/8/64 scorer replicas) and loads
nothing; ``--resume=<experiment folder>`` runs only the missing or unfinished cells.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import logging
import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from absl import flags

from gpo.cli import flags as gpo_flags
from gpo.cli.flags import FLAGS, CliRequest, config_from_flags
from gpo.config import RunConfig
from gpo.data.registry import DATASET_CHOICES, get_benchmark
from gpo.errors import ConfigError
from gpo.experiments.grid import (
    CellResult,
    Executor,
    build_cells,
    run_cell,
    run_serial,
)
from gpo.names import choose
from gpo.presets import GEPA, PAPER_PRESETS, PRESET_CHOICES, is_gepa
from gpo.results.experiment_folder import (
    BASELINE,
    CellSpec,
    ExperimentFolder,
    experiment_folder_name,
    is_experiment_folder,
)
from gpo.results.io import atomic_write_json
from gpo.results.provenance import redacted_argv
from gpo.runs.build import ModelPool, load_tasks, resolve_specs
from gpo.runs.common import emit, write_report_safely
from gpo.runs.optimize import RESUME_FLAGS
from gpo.runs.plan import CHARS_PER_TOKEN, task_plan
from gpo.runs.runtime import DEFAULT_RUNTIME, Runtime
from gpo.tracking.mlflow_tracker import EXPERIMENT_ARTIFACTS, Tracker, open_tracker
from gpo.tracking.step_metrics import metric_key

log = logging.getLogger(__name__)

GRID_FLAGS = ("presets", "seeds", "scorer_tokens_per_second")


def define_flags() -> None:
    """Define the grid's own flags (once). Only experiment.py defines them, so main.py's flag
    set (and its --help) stays as it is."""
    if "presets" in FLAGS:
        return
    flags.DEFINE_list(
        "presets",
        list(PAPER_PRESETS),
        f"Methods (presets) to compare: {', '.join(PRESET_CHOICES)} ({GEPA}: pip install -e "
        "'.[gepa]'; its budget is --gepa_max_metric_calls).",
    )
    flags.DEFINE_list("seeds", ["0"], "Seeds; every preset x task runs once per seed.")
    flags.DEFINE_float(
        "scorer_tokens_per_second",
        None,
        "With --dry_run: measured scorer throughput of one replica (prompt + completion tokens "
        "per second; a run's report.md shows it) for the wall-time estimate.",
    )


def forget_flags() -> None:
    """Remove the grid's flags again (tests that share one process with main.py's tests)."""
    for name in GRID_FLAGS:
        if name in FLAGS:
            delattr(FLAGS, name)


REPLICAS = (1, 8, 64)
# --resume of an experiment accepts again the flags a run's --resume does (the rest comes from
# experiment.json); RESUME_FLAGS is imported from gpo.runs.optimize


def parse_grid_flags() -> tuple[list[str], list[int], list[str]]:
    """--presets, --seeds and the comma-separated --dataset, validated."""
    for name, hint in (
        ("preset", "--presets=gpo,ape,..."),
        ("seed", "--seeds=0,1,2"),
        ("only_evaluate", "the Empty/CoT baselines are part of every experiment"),
        ("prompts_file", "score fixed prompts with main.py --only_evaluate"),
    ):
        if FLAGS[name].present:
            raise ConfigError(f"experiment.py does not take --{name}; use {hint}")
    presets = [choose("presets", p.strip().lower(), sorted(PRESET_CHOICES)) for p in FLAGS.presets]
    if not presets or len(set(presets)) != len(presets):
        raise ConfigError("--presets must list each preset once, e.g. --presets=gpo,ape")
    if FLAGS.gepa_max_metric_calls is not None and GEPA not in presets:
        raise ConfigError("--gepa_max_metric_calls applies to gepa: add it to --presets or drop it")
    try:
        seeds = [int(s) for s in FLAGS.seeds]
    except ValueError:
        raise ConfigError(f"--seeds={','.join(FLAGS.seeds)}: give integers, e.g. 0,1,2") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise ConfigError("--seeds must list each seed once, e.g. --seeds=0,1,2")
    datasets = [
        choose("dataset", d.strip().lower(), DATASET_CHOICES) for d in FLAGS.dataset.split(",")
    ]
    if len(set(datasets)) != len(datasets):
        raise ConfigError("--dataset lists a dataset twice")
    return presets, seeds, datasets


def grid_tasks(
    datasets: Sequence[str], requested: Sequence[str], data_dir: str | Path | None = None
) -> dict[str, list[str]]:
    """--task_name over several datasets: ``all``, or names each belonging to one dataset
    (single-task datasets such as wsc always contribute their task). ``data_dir`` is where
    custom task folders live."""
    names = [n.strip() for n in requested]
    if len(datasets) == 1 or names == ["all"]:
        return {d: get_benchmark(d, data_dir).resolve_tasks(names) for d in datasets}
    out = {}
    for d in datasets:
        bench = get_benchmark(d, data_dir)
        own = [n for n in names if n in bench.task_names()]
        if not own and len(bench.task_names()) > 1:
            raise ConfigError(f"--task_name names no {d} task; add some, or pass --task_name=all")
        out[d] = bench.resolve_tasks(own or ["all"])
    known = {t for ts in out.values() for t in ts}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(
            f"--task_name: {', '.join(unknown)} belong to none of {', '.join(datasets)}"
        )
    return out


def new_grid() -> tuple[CliRequest, dict, list[CellSpec], ExperimentFolder | None]:
    presets, seeds, datasets = parse_grid_flags()
    # The base config needs one valid dataset (cells set their own). A benchmark, not custom:
    # the custom dataset would read every --task_name, BBH's too, as a task folder.
    FLAGS.dataset = next((d for d in datasets if d != "custom"), datasets[0])
    template = config_from_flags()
    tasks = grid_tasks(datasets, FLAGS.task_name, template.config.data_dir)
    base = template.config
    spec = {
        "presets": presets,
        "seeds": seeds,
        "datasets": datasets,
        "tasks": tasks,
        "baselines": list(template.baselines),
        "scorer": base.scorer.name,
        "optimizer": base.optimizer.name,
    }
    # the cells' output_dir becomes the experiment's runs/ folder once that folder exists
    cells = build_cells(
        base, Path("runs"), presets, seeds, tasks, template.baselines, gpo_flags._value
    )
    return template, spec, cells, None


def resumed_grid(template: CliRequest) -> tuple[dict, list[CellSpec], ExperimentFolder]:
    root = Path(template.resume).expanduser()
    if not is_experiment_folder(root):
        raise ConfigError(
            f"--resume={template.resume}: not an experiment folder (no experiment.json); "
            "a single run is resumed with main.py --resume"
        )
    folder = ExperimentFolder(root)
    spec, cells = folder.read_spec()
    overrides = {}
    for name in ("max_tokens_budget", "max_cost_usd", "data_dir"):
        if FLAGS[name].present:
            overrides[name] = getattr(template.config, name)
    if FLAGS["no_cache"].present or FLAGS["cache_dir"].present:
        overrides["cache_dir"] = template.config.cache_dir
    gepa_calls = (
        template.config.gepa_max_metric_calls if FLAGS["gepa_max_metric_calls"].present else None
    )
    ignored = sorted(
        n for n in FLAGS if FLAGS[n].present and n not in RESUME_FLAGS and n != "task_name"
    )
    if ignored:
        log.warning(
            "resuming with the experiment's saved grid; ignoring --%s", ", --".join(ignored)
        )
    if FLAGS["task_name"].present:
        cells = resumed_tasks(cells, FLAGS.task_name)
    runs = str(folder.runs_dir)
    cells = [
        dataclasses.replace(c, config=dataclasses.replace(c.config, output_dir=runs, **overrides))
        for c in cells
    ]
    if gepa_calls is not None:  # a larger GEPA budget for its cells on resume
        cells = [
            dataclasses.replace(
                c, config=dataclasses.replace(c.config, gepa_max_metric_calls=gepa_calls)
            )
            if is_gepa(c.config.preset)
            else c
            for c in cells
        ]
    return spec, cells, folder


def resumed_tasks(cells: Sequence[CellSpec], requested: Sequence[str]) -> list[CellSpec]:
    """``--resume`` with ``--task_name``: continue only these tasks' cells now (the others
    stay as they are for a later resume; the table and report still show every finished cell).
    A long grid can so finish one task across all methods and seeds first."""
    names = [n.strip() for n in requested if n.strip()]
    known = list(dict.fromkeys(c.task for c in cells))
    unknown = [n for n in names if n not in known]
    if not names or unknown:
        raise ConfigError(
            f"--task_name={','.join(requested)}: the experiment's tasks are {','.join(known)}; "
            "give some of them to resume only those"
        )
    return [c for c in cells if c.task in names]


# ---------------------------------------------------------------- validation and dry run


def validate_cells(cells: Sequence[CellSpec], template: CliRequest) -> dict[str, dict[str, int]]:
    """Check every cell as main.py would (before any model loads); return each cell's plan."""
    from gpo.experiments.grid import cell_request
    from gpo.runs.optimize import prepare

    plans = {}
    for c in cells:
        request = cell_request(c, template, None)
        if c.kind == BASELINE:
            config = c.config
            specs = resolve_specs(config, request, need_optimizer=False)
            data = load_tasks(config, get_benchmark(c.dataset, config.data_dir), [c.task])[c.task]
            plans[c.cell_id] = baseline_plan(config, data, specs[0].second_round)
        else:
            config, _, specs, data, _ = prepare(request)
            plans[c.cell_id] = task_plan(config, data[c.task], specs[0].second_round)
    return plans


def baseline_plan(config: RunConfig, data, second_round: bool) -> dict[str, int]:
    rounds = 2 if second_round and data.spec.second_round else 1
    chars = sum(len(e.question) + len(config.initial_instruction) + 1 for e in data.test)
    completion = config.scorer.max_tokens + (
        config.scoring.second_round_max_tokens if rounds == 2 else 0
    )
    return {
        "steps": 0,
        "scorer_requests": rounds * len(data.test),
        "scorer_prompt_tokens": rounds * chars // CHARS_PER_TOKEN,
        "scorer_completion_tokens_max": len(data.test) * completion,
        "optimizer_requests": 0,
        "optimizer_prompt_tokens": 0,
        "optimizer_completion_tokens_max": 0,
        "parallel_width": len(data.test),
    }


def cell_width(cell: CellSpec, plan: dict[str, int]) -> int:
    """Scorer requests one step can send at once: N candidates x the eval split."""
    if "parallel_width" in plan:
        return plan["parallel_width"]
    n = cell.config.opt.num_generated_instructions_in_each_step
    per_step = plan["scorer_requests"] // max(1, plan["steps"] * n + 1)
    return max(1, n * per_step)


def wall_estimate(
    cells: Sequence[CellSpec], plans: dict[str, dict[str, int]], tps: float, replicas: int
) -> float:
    """Seconds of scorer work with ``replicas`` replicas of ``tps`` tokens/s each: the grid's
    tokens spread over the replicas, but never faster than the slowest cell, whose steps run in
    sequence and whose one step spreads over at most N x |eval| requests."""
    total, slowest = 0.0, 0.0
    for c in cells:
        p = plans[c.cell_id]
        tokens = p["scorer_prompt_tokens"] + p["scorer_completion_tokens_max"]
        total += tokens
        slowest = max(slowest, tokens / (tps * min(replicas, cell_width(c, p))))
    return max(total / (tps * replicas), slowest)


def plan_lines(
    cells: Sequence[CellSpec], plans: dict[str, dict[str, int]], tps: float | None
) -> list[str]:
    keys = (
        "scorer_requests",
        "scorer_prompt_tokens",
        "scorer_completion_tokens_max",
        "optimizer_requests",
        "optimizer_prompt_tokens",
        "optimizer_completion_tokens_max",
    )
    methods = list(dict.fromkeys(c.method for c in cells))
    lines = [
        f"dry run: {len(cells)} cells; no model loaded. Tokens are estimates (about "
        f"{CHARS_PER_TOKEN} characters per prompt token, completions at their max_tokens).",
        f"{'method':10}{'cells':>7}" + "".join(f"{k:>32}" for k in keys),
    ]
    total = dict.fromkeys(keys, 0)
    for m in methods:
        mine = [plans[c.cell_id] for c in cells if c.method == m]
        sums = {k: sum(p[k] for p in mine) for k in keys}
        lines.append(f"{m:10}{len(mine):>7}" + "".join(f"{sums[k]:>32}" for k in keys))
        for k in keys:
            total[k] += sums[k]
    lines.append(f"{'TOTAL':10}{len(cells):>7}" + "".join(f"{total[k]:>32}" for k in keys))
    if tps is None:
        lines.append(
            "wall time: pass --scorer_tokens_per_second=<tokens/s of one scorer replica> for an "
            "estimate (the usage table of a run's report.md shows the measured rate)"
        )
        return lines
    if not tps > 0 or math.isinf(tps):
        raise ConfigError("--scorer_tokens_per_second must be a positive number")
    for r in REPLICAS:
        seconds = wall_estimate(cells, plans, tps, r)
        lines.append(
            f"estimated scorer wall time with {r:>2} replica(s) at {tps:g} tokens/s each: "
            f"{seconds / 3600:.2f} h ({seconds:.0f} s)"
        )
    lines.append("(scorer work only; the optimizer's calls and model loading come on top)")
    return lines


# ---------------------------------------------------------------- running


def write_provenance(
    folder: ExperimentFolder, argv: Sequence[str], cells: Sequence[CellSpec], template: CliRequest
) -> None:
    from gpo.results.provenance import data_file_hashes, model_record, provenance

    files, data_dirs = [], set()
    for c in cells:
        bench = get_benchmark(c.dataset, c.config.data_dir)
        data_dir = Path(c.config.data_dir)
        data_dirs.add(data_dir)
        task_dir = data_dir / bench.folder / c.task
        task_dir = task_dir if task_dir.is_dir() else data_dir / bench.folder
        files += [p for p in task_dir.glob("*") if p.is_file()]
    [data_dir] = list(data_dirs) or [Path(".")]
    c0 = next(c for c in cells)
    scorer, optimizer = resolve_specs(c0.config, template, need_optimizer=True)
    models = [
        model_record("scorer", scorer.alias, scorer.backend, str(scorer.model)),
        model_record("optimizer", optimizer.alias, optimizer.backend, str(optimizer.model)),
    ]
    if any(c.config.opt.momentum_selection_name == "relavance" for c in cells):
        models.append({"role": "embedder", "name": c0.config.opt.embedding_model})
    atomic_write_json(
        folder.root / "provenance.json",
        provenance(argv, models, data_file_hashes(files, data_dir)),
    )


def run_experiment(
    folder: ExperimentFolder,
    cells: Sequence[CellSpec],
    template: CliRequest,
    pool: ModelPool,
    executor: Executor = run_serial,
) -> list[CellResult]:
    """Run the cells through ``executor`` (cell -> run folder); every outcome is logged in
    cells.jsonl as it arrives."""
    results = []
    for result in executor(cells, lambda cell: run_cell(cell, template, pool)):
        folder.log_cell(dataclasses.asdict(result))
        results.append(result)
    return results


def create_folder(
    argv: Sequence[str], template: CliRequest, spec: dict, cells: Sequence[CellSpec]
) -> tuple[ExperimentFolder, list[CellSpec]]:
    """A new grid's experiment folder with its spec and provenance; the cells' runs go inside."""
    base = template.config
    folder = ExperimentFolder.create(
        Path(base.output_dir).expanduser(),
        experiment_folder_name(
            spec["datasets"], base.scorer.name, base.optimizer.name, dt.datetime.now()
        ),
    )
    runs = str(folder.runs_dir)
    cells = [
        dataclasses.replace(c, config=dataclasses.replace(c.config, output_dir=runs)) for c in cells
    ]
    spec["command"] = redacted_argv(argv)
    folder.write_spec(spec, cells)
    write_provenance(folder, argv, cells, template)
    return folder, cells


def execute(
    argv: Sequence[str],
    pool: ModelPool | None = None,
    executor: Executor = run_serial,
    runtime: Runtime = DEFAULT_RUNTIME,
) -> tuple[ExperimentFolder, list[CellResult]] | None:
    """Plan (``--dry_run``: print and return None), or run the grid and write table and report.

    The cells load their models through ``pool`` (default: a pool of ``runtime``; Ray workers
    make their own pools of ``runtime``)."""
    if FLAGS.resume:
        template = config_from_flags()
        spec, cells, folder = resumed_grid(template)
    else:
        template, spec, cells, folder = new_grid()
    template = dataclasses.replace(template, resume=None)
    plans = validate_cells(cells, template)
    if template.dry_run:
        emit(plan_lines(cells, plans, FLAGS.scorer_tokens_per_second))
        return None
    if folder is None:
        folder, cells = create_folder(argv, template, spec, cells)
    log.info("experiment folder: %s (%d cells)", folder.root, len(cells))
    if template.workers > 1 and executor is run_serial:
        from gpo.scale.grid_workers import ray_executor

        executor = ray_executor(template, runtime)
    tracker, template = experiment_tracker(folder, spec, template)
    own_pool = pool is None
    pool = pool or ModelPool(runtime)
    try:
        results = run_experiment(folder, cells, template, pool, executor)
    finally:
        if own_pool:
            pool.close()
    from gpo.reports.table_output import write_table

    write_table(folder.root)
    write_report_safely(folder.root)
    finish_experiment_tracking(tracker, results)
    return folder, results


def experiment_tracker(
    folder: ExperimentFolder, spec: dict, template: CliRequest
) -> tuple[Tracker, CliRequest]:
    """The experiment's MLflow run (the parent of every cell's run) and the cells' template
    nested under it; untracked (or tracking down) the template's cells are not tracked."""
    if template.mlflow is None:
        return Tracker(None, folder.root), template
    params = {k: v for k, v in spec.items() if k != "command"}
    tracker = open_tracker(template.mlflow, folder.root, params, tags={"gpo.kind": "experiment"})
    cells = None
    if tracker.run_id is not None:
        cells = dataclasses.replace(template.mlflow, parent_run_id=tracker.run_id)
    return tracker, dataclasses.replace(template, mlflow=cells)


def finish_experiment_tracking(tracker: Tracker, results: Sequence[CellResult]) -> None:
    """Cell counts and the table's means as metrics; table, report and plots as artifacts; the
    run ended."""
    counts = Counter(r.state for r in results)
    cells = {f"cells_{state}": float(n) for state, n in counts.items()}
    tracker.log_metrics(cells | table_metrics(tracker.root / "table.csv"))
    state = "finished" if set(counts) <= {"finished", "skipped"} else "failed"
    tracker.finish(state, EXPERIMENT_ARTIFACTS)


def table_metrics(table_csv: Path) -> dict[str, float]:
    """The grid's table as metrics of its MLflow run: ``test/<method>/<dataset>``, the mean test
    score of each method's final prompts (dataset ``Average``: over the datasets)."""
    if not table_csv.is_file():
        return {}
    with table_csv.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    return {
        f"test/{metric_key(r['method'])}/{metric_key(r['dataset'])}": float(r["mean"])
        for r in rows
        if r.get("mean")
    }
