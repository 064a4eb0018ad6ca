"""``gpo.evaluate``, ``gpo.optimize`` and ``gpo.experiment``: the command line's runs, called
from Python.

Each call turns its arguments into the CLI's flags (``gpo.api.options``), builds the request as
``main.py`` does (``config_from_flags``: names, counts, presets), and runs it on the one path
(``gpo.runs.command.run_request``; the grid's ``gpo.experiments.experiment.execute``), so the
same preflight checks everything before any model loads and the run writes the folders the CLI
writes. The result is read back from those folders.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gpo.api.options import parsed_options, to_argv
from gpo.api.results import (
    Evaluation,
    ExperimentResult,
    Result,
    read_evaluation,
    read_experiment_result,
    read_result,
)
from gpo.api.task import Task
from gpo.cli.flags import FLAGS, CliRequest, config_from_flags
from gpo.errors import ConfigError
from gpo.runs.command import resumed, run_request
from gpo.runs.runtime import DEFAULT_RUNTIME, Runtime

DEFAULT_SCORER = "smollm2-135m"  # the bundled model: runs offline on a CPU
SPLITS = ("train", "eval", "test")


def _output_dir(output_dir: str | Path | None) -> str:
    return str(output_dir) if output_dir is not None else FLAGS["output_dir"].default


def _merge(named: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """The call's named arguments and its ``options``; an option that repeats one is an error."""
    for name in named:
        if name in options:
            raise ConfigError(f"option {name!r} is set by the call's own argument; pass it there")
    return {**named, **options}


def _request() -> CliRequest:
    """The request ``main.py`` would build from the parsed flags (inside ``parsed_options``)."""
    return resumed(config_from_flags())


def _with_tracking(options: dict[str, Any], tracking_uri: str | None) -> dict[str, Any]:
    return options if tracking_uri is None else {**options, "mlflow_tracking_uri": tracking_uri}


def evaluate(
    prompt: str,
    task: Task,
    scorer: str = DEFAULT_SCORER,
    split: str = "test",
    output_dir: str | Path | None = None,
    tracking_uri: str | None = None,
    runtime: Runtime = DEFAULT_RUNTIME,
    **options: Any,
) -> Evaluation | None:
    """Score ``prompt`` on ``task``'s ``split`` with the ``scorer`` model, as
    ``main.py --only_evaluate --initial_instruction=PROMPT`` does on the test split.

    ``options`` are main.py's flags by name (``scorer_max_tokens=48``, ``no_cache=True``, ...);
    a bad one raises ``gpo.ConfigError`` before any model loads. Returns None with
    ``dry_run=True`` (the plan is printed). ``runtime`` swaps how models are made (tests)."""
    if split not in SPLITS:
        raise ConfigError(f"split={split!r}: use one of {', '.join(SPLITS)}")
    out = _output_dir(output_dir)
    task = task.materialize(out)
    named = {**task.options(), "scorer_llm_name": scorer, "initial_instruction": prompt}
    named |= {"only_evaluate": True, "output_dir": out}
    argv = to_argv(_with_tracking(_merge(named, options), tracking_uri))
    with parsed_options(argv):
        request = dataclasses.replace(_request(), split=split)
        folder = run_request(request, runtime)
    return None if folder is None else read_evaluation(folder.root, split)


def optimize(
    task: Task | None,
    scorer: str = DEFAULT_SCORER,
    optimizer: str | None = None,
    preset: str | None = "gpo",
    output_dir: str | Path | None = None,
    resume: str | Path | None = None,
    tracking_uri: str | None = None,
    runtime: Runtime = DEFAULT_RUNTIME,
    **options: Any,
) -> Result | None:
    """Optimize ``task``'s prompt with ``preset`` (gpo, ape, apo, ..., gpo+, or gepa: GEPA on
    the same scorer, ``pip install -e '.[gepa]'``; None: the flags' defaults), the ``scorer``
    model answering and the ``optimizer`` model (default: the scorer) proposing, as
    ``main.py --preset=... --dataset=... --task_name=...`` does.

    ``options`` are main.py's flags by name (``num_search_epochs=2``, ``eval_racing="exact"``,
    ``embedding_model="all-minilm-l6-v2"``, ...); a bad one raises ``gpo.ConfigError`` before
    any model loads. ``resume`` continues an interrupted run from its folder (its saved
    configuration wins; ``task`` may then be None). Returns None with ``dry_run=True``."""
    out = _output_dir(output_dir)
    if resume is not None:
        if task is not None:
            task.materialize(out)  # a records task's metric is registered again
        named: dict[str, Any] = {"resume": str(resume)}
    elif task is None:
        raise ConfigError("optimize() needs a task (gpo.Task...), or resume=<run folder>")
    else:
        task = task.materialize(out)
        named = {**task.options(), "scorer_llm_name": scorer, "output_dir": out}
        named |= {"optimizer_llm_name": optimizer or scorer, "preset": preset}
    argv = to_argv(_with_tracking(_merge(named, options), tracking_uri))
    with parsed_options(argv):
        folder = run_request(_request(), runtime)
    return None if folder is None else read_result(folder.root)


def _grid_tasks(tasks: Sequence[Task], out: str) -> dict[str, Any]:
    """Several tasks as the grid's flags: comma-separated datasets and task names, one data
    folder."""
    if not tasks:
        raise ConfigError("experiment() needs at least one task")
    made = [t.materialize(out) for t in tasks]
    datasets = list(dict.fromkeys(t.dataset for t in made))
    data_dirs = {t.data_dir for t in made if t.data_dir is not None}
    if len(data_dirs) > 1:
        raise ConfigError(
            "experiment(): the tasks come from different data folders "
            f"({', '.join(sorted(data_dirs))}); put the task folders under one folder"
        )
    names = list(dict.fromkeys(n for t in made for n in t.names))
    return {
        "dataset": ",".join(datasets),
        "task_name": names,
        "data_dir": next(iter(data_dirs), None),
    }


def experiment(
    presets: Sequence[str],
    tasks: Sequence[Task],
    seeds: Sequence[int] = (0,),
    scorer: str = DEFAULT_SCORER,
    optimizer: str | None = None,
    output_dir: str | Path | None = None,
    resume: str | Path | None = None,
    tracking_uri: str | None = None,
    runtime: Runtime = DEFAULT_RUNTIME,
    **options: Any,
) -> ExperimentResult | None:
    """Compare ``presets`` on ``tasks`` over ``seeds`` (plus the Empty and CoT baselines), as
    ``experiment.py --presets=... --seeds=... --dataset=...`` does: one experiment folder with
    a run folder per cell, ``table.md``/``table.csv`` and ``report.md``.

    ``options`` are the flags of experiment.py (main.py's, applied to every cell); a bad one
    raises ``gpo.ConfigError`` before any model loads. ``resume`` runs only the missing or
    unfinished cells of an experiment folder. Returns None with ``dry_run=True``."""
    from gpo.experiments import experiment as grid

    out = _output_dir(output_dir)
    if resume is not None:
        named: dict[str, Any] = {"resume": str(resume)}
    else:
        named = {**_grid_tasks(tasks, out), "presets": list(presets), "seeds": list(seeds)}
        named |= {"scorer_llm_name": scorer, "optimizer_llm_name": optimizer or scorer}
        named["output_dir"] = out
    defined = "presets" in FLAGS
    grid.define_flags()
    try:
        argv = to_argv(_with_tracking(_merge(named, options), tracking_uri))
        with parsed_options(argv, "experiment.py"):
            outcome = grid.execute(["experiment.py", *argv], runtime=runtime)
    finally:
        if not defined:
            grid.forget_flags()
    return None if outcome is None else read_experiment_result(outcome[0].root)
