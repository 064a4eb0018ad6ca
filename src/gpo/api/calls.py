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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
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
from gpo.errors import ConfigError, DataError
from gpo.evaluation.metrics import metrics_held
from gpo.llm.base import LLM
from gpo.llm.user import USER_BACKEND, ChatFunction, UserLLM, as_user_llm, is_model_object
from gpo.runs.command import resumed, run_request
from gpo.runs.runtime import DEFAULT_RUNTIME, Runtime

DEFAULT_SCORER = "smollm2-135m"  # the bundled model: runs offline on a CPU
SPLITS = ("train", "eval", "test")
# scorer=/optimizer=: an alias or path, a gpo.LLM object, or a callable (messages) -> str
Model = str | LLM | ChatFunction


def _output_dir(output_dir: str | Path | None) -> str:
    return str(output_dir) if output_dir is not None else FLAGS["output_dir"].default


def _merge(named: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """The call's named arguments and its ``options``; an option that repeats one is an error."""
    for name in named:
        if name in options:
            raise ConfigError(f"option {name!r} is set by the call's own argument; pass it there")
    return {**named, **options}


def _request(models: dict[str, UserLLM] | None = None) -> CliRequest:
    """The request ``main.py`` would build from the parsed flags (inside ``parsed_options``),
    with the call's model objects (``models``: role -> model) in place of model names."""
    return _with_models(resumed(config_from_flags()), models or {})


@contextmanager
def _running(tasks: Sequence[Task], workers: int) -> Iterator[None]:
    """The tasks' in-memory metrics held for the block; a DataError about a records task's
    files raised as a ConfigError in the call's words (``train[2]``, not a folder path)."""
    held = {k: fn for t in tasks for k, fn in t.held_metrics().items()}
    if held and workers > 1:
        raise ConfigError(
            "metric=: a Python function that is not importable runs in this process only; "
            "define it at module level in an importable module, or drop workers="
        )
    try:
        with metrics_held(held):
            yield
    except DataError as e:
        for task in tasks:
            words = task.in_user_words(str(e))
            if words is not None:
                raise ConfigError(words) from None
        raise


def _user_models(roles: dict[str, Model | None]) -> dict[str, UserLLM]:
    """The roles given a model object (or callable) rather than a name, as UserLLMs."""
    models = {r: as_user_llm(m, r) for r, m in roles.items() if is_model_object(m)}
    scorer, optimizer = models.get("scorer"), models.get("optimizer")
    two = scorer and optimizer and scorer.model is not optimizer.model
    if two and scorer.cache_name and scorer.cache_name == optimizer.cache_name:
        raise ConfigError(
            f"scorer and optimizer are two models named {scorer.name!r}; give them "
            "different names (the name keys the response cache)"
        )
    return models


def _model_names(models: dict[str, UserLLM], **names: Model | None) -> dict[str, Any]:
    """The ``<role>_llm_name`` options: a model object's recorded name, else the name given."""
    return {
        f"{role}_llm_name": models[role].name if role in models else name
        for role, name in names.items()
    }


def _with_models(request: CliRequest, models: dict[str, UserLLM]) -> CliRequest:
    """``request`` running ``models`` (role -> model object) in its roles. A new run records
    each one's name with the ``python`` backend; a resumed run keeps its saved configuration
    (whose ``python`` roles must be given again, under the same name)."""
    if not models:
        return request
    if request.workers > 1:
        raise ConfigError(
            f"{' and '.join(f'{r}=' for r in models)}: a Python model object runs in this "
            "process only; drop workers= (or serve the model and pass its name)"
        )
    config = request.config
    if not request.resume:
        for role, model in models.items():
            chosen = dataclasses.replace(getattr(config, role), name=model.name)
            config = dataclasses.replace(
                config, **{role: dataclasses.replace(chosen, backend=USER_BACKEND)}
            )
    return dataclasses.replace(request, config=config, models=models)


def _with_tracking(options: dict[str, Any], tracking_uri: str | None) -> dict[str, Any]:
    return options if tracking_uri is None else {**options, "mlflow_tracking_uri": tracking_uri}


def evaluate(
    prompt: str,
    task: Task,
    scorer: Model = DEFAULT_SCORER,
    split: str = "test",
    output_dir: str | Path | None = None,
    tracking_uri: str | None = None,
    runtime: Runtime = DEFAULT_RUNTIME,
    **options: Any,
) -> Evaluation | None:
    """Score ``prompt`` on ``task``'s ``split`` with the ``scorer`` model, as
    ``main.py --only_evaluate --initial_instruction=PROMPT`` does on the test split.

    ``scorer`` is a model alias or path, an object implementing ``gpo.LLM``, or a callable
    ``(messages) -> str`` (see ``gpo.CallableLLM``).

    ``options`` are main.py's flags by name (``scorer_max_tokens=48``, ``no_cache=True``, ...);
    a bad one raises ``gpo.ConfigError`` before any model loads. Returns None with
    ``dry_run=True`` (the plan is printed). ``runtime`` swaps how models are made (tests)."""
    if split not in SPLITS:
        raise ConfigError(f"split={split!r}: use one of {', '.join(SPLITS)}")
    models = _user_models({"scorer": scorer})
    out = _output_dir(output_dir)
    task = task.materialize(out)
    named = {**task.options(), **_model_names(models, scorer=scorer)}
    named |= {"initial_instruction": prompt, "only_evaluate": True, "output_dir": out}
    argv = to_argv(_with_tracking(_merge(named, options), tracking_uri))
    with parsed_options(argv):
        request = dataclasses.replace(_request(models), split=split)
        with _running([task], request.workers):
            folder = run_request(request, runtime)
    return None if folder is None else read_evaluation(folder.root, split)


def optimize(
    task: Task | None,
    scorer: Model = DEFAULT_SCORER,
    optimizer: Model | None = None,
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
    ``main.py --preset=... --dataset=... --task_name=...`` does. ``scorer``/``optimizer`` are
    model aliases or paths, objects implementing ``gpo.LLM``, or callables
    ``(messages) -> str`` (see ``gpo.CallableLLM``); a run of model objects is resumed by
    passing the same objects (the same names) again with ``resume=``.

    ``options`` are main.py's flags by name (``num_search_epochs=2``, ``eval_racing="exact"``,
    ``embedding_model="all-minilm-l6-v2"``, ...); a bad one raises ``gpo.ConfigError`` before
    any model loads. ``resume`` continues an interrupted run from its folder (its saved
    configuration wins; ``task`` may then be None). Returns None with ``dry_run=True``."""
    models = _user_models({"scorer": scorer, "optimizer": optimizer or scorer})
    out = _output_dir(output_dir)
    if resume is not None:
        task = task.materialize(out) if task is not None else None  # its metric held again
        named: dict[str, Any] = {"resume": str(resume)}
    elif task is None:
        raise ConfigError("optimize() needs a task (gpo.Task...), or resume=<run folder>")
    else:
        task = task.materialize(out)
        named = {**task.options(), "output_dir": out, "preset": preset}
        named |= _model_names(models, scorer=scorer, optimizer=optimizer or scorer)
    argv = to_argv(_with_tracking(_merge(named, options), tracking_uri))
    with parsed_options(argv):
        request = _request(models)
        with _running([task] if task is not None else [], request.workers):
            folder = run_request(request, runtime)
    return None if folder is None else read_result(folder.root)


def _grid_tasks(made: Sequence[Task]) -> dict[str, Any]:
    """Several (materialized) tasks as the grid's flags: comma-separated datasets and task
    names, one data folder."""
    if not made:
        raise ConfigError("experiment() needs at least one task")
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

    if is_model_object(scorer) or is_model_object(optimizer):
        raise ConfigError(
            "experiment() takes model names (aliases or paths) for scorer= and optimizer=; "
            "run gpo.optimize per preset for a model object"
        )
    out = _output_dir(output_dir)
    made = [t.materialize(out) for t in tasks]  # a resumed grid's records tasks: metrics held
    if resume is not None:
        named: dict[str, Any] = {"resume": str(resume)}
    else:
        named = {**_grid_tasks(made), "presets": list(presets), "seeds": list(seeds)}
        named |= {"scorer_llm_name": scorer, "optimizer_llm_name": optimizer or scorer}
        named["output_dir"] = out
    defined = "presets" in FLAGS
    grid.define_flags()
    try:
        argv = to_argv(_with_tracking(_merge(named, options), tracking_uri))
        workers = int(options.get("workers") or 1)
        with parsed_options(argv, "experiment.py"), _running(made, workers):
            outcome = grid.execute(["experiment.py", *argv], runtime=runtime)
    finally:
        if not defined:
            grid.forget_flags()
    return None if outcome is None else read_experiment_result(outcome[0].root)
