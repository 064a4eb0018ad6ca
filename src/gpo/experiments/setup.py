"""An experiment grid from its options: presets, seeds, datasets and tasks made into cells, or
the saved cells of an experiment folder to resume."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path

from gpo.data.registry import DATASET_CHOICES, get_benchmark
from gpo.errors import ConfigError
from gpo.experiments.grid import build_cells
from gpo.names import choose
from gpo.options import ExperimentOptions
from gpo.presets import GEPA, PRESET_CHOICES, is_gepa
from gpo.results.experiment_folder import (
    BASELINE,
    CellSpec,
    ExperimentFolder,
    is_experiment_folder,
)
from gpo.runs.optimize import RESUME_FLAGS
from gpo.runs.request import RunRequest, build_request, preset_value

log = logging.getLogger(__name__)


def parse_grid(options: ExperimentOptions) -> tuple[list[str], list[int], list[str]]:
    """--presets, --seeds and the comma-separated --dataset, validated."""
    for name, hint in (
        ("preset", "--presets=gpo,ape,..."),
        ("seed", "--seeds=0,1,2"),
        ("only_evaluate", "the Empty/CoT baselines are part of every experiment"),
        ("prompts_file", "score fixed prompts with main.py --only_evaluate"),
    ):
        if options.is_set(name):
            raise ConfigError(f"experiment.py does not take --{name}; use {hint}")
    presets = [
        choose("presets", p.strip().lower(), sorted(PRESET_CHOICES)) for p in options.presets
    ]
    if not presets or len(set(presets)) != len(presets):
        raise ConfigError("--presets must list each preset once, e.g. --presets=gpo,ape")
    if options.gepa_max_metric_calls is not None and GEPA not in presets:
        raise ConfigError("--gepa_max_metric_calls applies to gepa: add it to --presets or drop it")
    seeds = list(options.seeds)
    if not seeds or len(set(seeds)) != len(seeds):
        raise ConfigError("--seeds must list each seed once, e.g. --seeds=0,1,2")
    datasets = [
        choose("dataset", d.strip().lower(), DATASET_CHOICES) for d in options.dataset.split(",")
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


def new_grid(options: ExperimentOptions) -> tuple[RunRequest, dict, list[CellSpec]]:
    """A new grid: the cells' template request, the experiment's spec, and its cells."""
    presets, seeds, datasets = parse_grid(options)
    # The base config needs one valid dataset (cells set their own). A benchmark, not custom:
    # the custom dataset would read every --task_name, BBH's too, as a task folder.
    base_dataset = next((d for d in datasets if d != "custom"), datasets[0])
    template = build_request(dataclasses.replace(options, dataset=base_dataset))
    tasks = grid_tasks(datasets, options.task_name, template.config.data_dir)
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
        base,
        Path("runs"),
        presets,
        seeds,
        tasks,
        template.baselines,
        lambda name, preset: preset_value(options, name, preset),
    )
    return template, spec, cells


def resumed_grid(
    template: RunRequest, options: ExperimentOptions
) -> tuple[dict, list[CellSpec], ExperimentFolder]:
    """The saved grid of ``--resume``'s experiment folder, with the options that may be given
    again (budgets, cache, data folder, GEPA's budget, and --task_name, --presets or --seeds to
    resume some of the cells)."""
    root = Path(template.resume).expanduser()
    if not is_experiment_folder(root):
        raise ConfigError(
            f"--resume={template.resume}: not an experiment folder (no experiment.json); "
            "a single run is resumed with main.py --resume"
        )
    folder = ExperimentFolder(root)
    spec, cells = folder.read_spec()
    overrides = resume_overrides(template, options)
    gepa_calls = options.gepa_max_metric_calls if options.is_set("gepa_max_metric_calls") else None
    ignored = sorted(n for n in options.set_names() if n not in RESUME_FLAGS + RESUME_SUBSETS)
    if ignored:
        log.warning(
            "resuming with the experiment's saved grid; ignoring --%s", ", --".join(ignored)
        )
    cells = resumed_subset(cells, options)
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


# Options that, given to ``--resume``, pick which of the saved cells to continue now.
RESUME_SUBSETS = ("task_name", "presets", "seeds", "run_presets", "run_seeds")


def resumed_subset(cells: Sequence[CellSpec], options: ExperimentOptions) -> list[CellSpec]:
    """``--resume`` with ``--task_name``: continue only those tasks' cells now (the others stay
    as they are for a later resume; the table and report still show every finished cell).
    Methods and seeds (``--presets``, ``--seeds``, ``--run_presets``, ``--run_seeds``) are
    picked by :func:`cells_now`, for new and resumed grids alike. A long grid can so finish one
    task, or the methods a reader compares first (``--presets=gpo,gepa``), before the rest."""
    if not options.is_set("task_name"):
        return list(cells)
    names = pick("--task_name", "tasks", options.task_name, [c.task for c in cells])
    return [c for c in cells if c.task in names]


def cells_now(
    cells: Sequence[CellSpec],
    options: ExperimentOptions,
    resumed: bool = False,
    saved: Sequence[CellSpec] | None = None,
) -> list[CellSpec]:
    """The cells to run now: those of ``--run_presets`` and ``--run_seeds`` (on ``--resume``
    also ``--presets`` and ``--seeds``), of a new grid or of a saved one (``saved``: every cell
    it has, for the error naming them). Baseline cells (Empty, CoT) belong to no method or seed
    and always stay in."""
    saved = cells if saved is None else saved
    optimized = [c for c in saved if c.kind != BASELINE]
    chosen = list(cells)
    for flag, what, wanted, has in (
        ("presets", "presets", options.presets, lambda c: c.method),
        ("seeds", "seeds", [str(s) for s in options.seeds], lambda c: str(c.seed)),
    ):
        run_now = [str(v) for v in getattr(options, f"run_{flag}")]
        if run_now:
            flag, wanted = f"run_{flag}", run_now
        elif not (resumed and options.is_set(flag)):
            continue
        names = pick(f"--{flag}", what, wanted, [has(c) for c in optimized])
        chosen = [c for c in chosen if c.kind == BASELINE or has(c) in names]
    return chosen


def pick(flag: str, what: str, requested: Sequence[str], saved: Sequence[str]) -> list[str]:
    """The requested names, each one the saved grid has, or a one-line error naming them."""
    names = [n.strip().lower() if what == "presets" else n.strip() for n in requested]
    names = [n for n in names if n]
    known = list(dict.fromkeys(saved))
    if not names or any(n not in known for n in names):
        raise ConfigError(
            f"{flag}={','.join(map(str, requested))}: the experiment's {what} are "
            f"{','.join(known)}; give some of them to run only those now"
        )
    return names


def resume_overrides(template: RunRequest, options: ExperimentOptions) -> dict[str, object]:
    """The cells' saved settings that options given again replace on resume."""
    overrides = {}
    for name in ("max_tokens_budget", "max_cost_usd", "data_dir"):
        if options.is_set(name):
            overrides[name] = getattr(template.config, name)
    if options.is_set("no_cache") or options.is_set("cache_dir"):
        overrides["cache_dir"] = template.config.cache_dir
    return overrides
