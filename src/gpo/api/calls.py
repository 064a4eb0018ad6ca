"""``gpo.evaluate``, ``gpo.optimize`` and ``gpo.experiment``: the library's runs, called from
Python.

Each call makes its options (``gpo.RunOptions`` / ``gpo.ExperimentOptions``: the common ones are
typed keyword arguments, the rest go by the command line's flag names), builds the request with
the one preflight the command line uses (``gpo.runs.request.build_request``), and runs it on the
one run path, so a bad value is a ``gpo.ConfigError`` in the command line's words before any
model loads, and the run writes the folders the command line writes. No absl flag is parsed and
no lock is held: calls in parallel threads run side by side. The models a call loads are lent
to the next call with the same model and settings (``gpo.release_models`` frees them).
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gpo.api.results import (
    Evaluation,
    ExperimentResult,
    Result,
    read_evaluation,
    read_experiment_result,
    read_result,
)
from gpo.api.task import Task
from gpo.errors import ConfigError, DataError
from gpo.evaluation.metrics import metrics_held
from gpo.llm.base import LLM
from gpo.llm.user import USER_BACKEND, ChatFunction, UserLLM, as_user_llm, is_model_object
from gpo.options import ExperimentOptions, Options, RunOptions
from gpo.runs.build import LENDER, SharedModelPool
from gpo.runs.command import resumed
from gpo.runs.request import RunRequest, build_request
from gpo.runs.runtime import DEFAULT_RUNTIME, Runtime
from gpo.scale.dispatch import run as dispatch

DEFAULT_SCORER = "smollm2-135m"  # the bundled model: runs offline on a CPU
SPLITS = ("train", "eval", "test")
# scorer=/optimizer=: an alias or path, a gpo.LLM object, or a callable (messages) -> str
Model = str | LLM | ChatFunction


# the options each call takes as typed keyword arguments (main.py's flags of the same names)
OPTIMIZE_TYPED = (
    "initial_instruction",
    "num_search_epochs",
    "num_generated_instructions_in_each_step",
    "opt_batch_size",
    "max_examples",
    "scorer_max_tokens",
    "optimizer_max_tokens",
    "embedding_model",
    "candidate_guards",
    "eval_racing",
    "max_tokens_budget",
    "no_cache",
    "seed",
    "dry_run",
)
EXPERIMENT_TYPED = (
    "workers",
    "max_examples",
    "num_search_epochs",
    "num_generated_instructions_in_each_step",
    "opt_batch_size",
    "no_cache",
    "dry_run",
)


def _given(arguments: Mapping[str, Any], names: Sequence[str]) -> dict[str, Any]:
    """The typed keyword arguments ``names`` of a call's ``arguments`` (None: not given)."""
    return {name: arguments[name] for name in names}


def release_models() -> int:
    """Free the models that earlier calls of this process keep loaded for the next call (and
    the llama.cpp engines they leave idle); returns how many models were closed."""
    closed = LENDER.release()
    engines = sys.modules.get("gpo.llm.llamacpp_engine")  # loaded only if a GGUF was
    if engines is not None:
        engines.clear_engine_cache()
    return closed


def _options(
    cls: type[Options], base: Options | None, named: Mapping[str, Any], more: Mapping[str, Any]
) -> Options:
    """``base`` (default: the defaults) with the call's own arguments ``named`` (None: not
    given) and the other options ``more``; an option of ``more`` that repeats one is an error."""
    if base is not None and not isinstance(base, cls):
        raise ConfigError(f"options=: give a gpo.{cls.__name__}, got {type(base).__name__}")
    given = {k: v for k, v in named.items() if v is not None}
    for name in more:
        if name in named:
            raise ConfigError(f"option {name!r} is set by the call's own argument; pass it there")
    return (base or cls()).with_values(**given, **more)


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


def _with_models(request: RunRequest, models: dict[str, UserLLM]) -> RunRequest:
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
    return dataclasses.replace(request, config=config)


def _run(request: RunRequest, tasks: Sequence[Task], runtime: Runtime) -> Path | None:
    """Run ``request`` (the tasks' metrics held) through a pool lent by this process's models;
    the run folder's path, or None for a dry run."""
    pool = SharedModelPool(runtime)
    try:
        with _running(tasks, request.workers):
            folder = dispatch(resumed(request), runtime, pool)
    finally:
        pool.close()
    return None if folder is None else folder.root


def evaluate(
    prompt: str,
    task: Task,
    scorer: Model = DEFAULT_SCORER,
    split: str = "test",
    output_dir: str | Path | None = None,
    tracking_uri: str | None = None,
    runtime: Runtime = DEFAULT_RUNTIME,
    *,
    max_examples: int | None = None,
    scorer_max_tokens: int | None = None,
    no_cache: bool | None = None,
    seed: int | None = None,
    dry_run: bool | None = None,
    options: RunOptions | None = None,
    **more: Any,
) -> Evaluation | None:
    """Score ``prompt`` on ``task``'s ``split`` with the ``scorer`` model, as
    ``main.py --only_evaluate --initial_instruction=PROMPT`` does on the test split.

    ``scorer`` is a model alias or path, an object implementing ``gpo.LLM``, or a callable
    ``(messages) -> str`` (see ``gpo.CallableLLM``). ``max_examples`` caps each split,
    ``scorer_max_tokens`` the scorer's reply, ``no_cache`` skips the response cache, ``seed``
    seeds the model; ``options`` (a ``gpo.RunOptions``) and ``more`` (main.py's flags by
    name: ``instruction_pos="Q_begin"``, ``n_threads=1``, ...) set any other option. A bad
    value raises ``gpo.ConfigError`` before any model loads. Returns None with
    ``dry_run=True`` (the plan is printed). ``runtime`` swaps how models are made (tests)."""
    if split not in SPLITS:
        raise ConfigError(f"split={split!r}: use one of {', '.join(SPLITS)}")
    models = _user_models({"scorer": scorer})
    out = str(output_dir) if output_dir is not None else RunOptions.output_dir
    task = task.materialize(out)
    named = {**task.options(), **_model_names(models, scorer=scorer)}
    named |= {"initial_instruction": prompt, "only_evaluate": True, "output_dir": out}
    named |= {"max_examples": max_examples, "scorer_max_tokens": scorer_max_tokens}
    named |= {"no_cache": no_cache, "seed": seed, "dry_run": dry_run}
    named |= {"mlflow_tracking_uri": tracking_uri}
    request = build_request(_options(RunOptions, options, named, more), models, split)
    root = _run(_with_models(request, models), [task], runtime)
    return None if root is None else read_evaluation(root, split)


def optimize(
    task: Task | None,
    scorer: Model = DEFAULT_SCORER,
    optimizer: Model | None = None,
    preset: str | None = "gpo",
    output_dir: str | Path | None = None,
    resume: str | Path | None = None,
    tracking_uri: str | None = None,
    runtime: Runtime = DEFAULT_RUNTIME,
    *,
    initial_instruction: str | None = None,
    num_search_epochs: int | None = None,
    num_generated_instructions_in_each_step: int | None = None,
    opt_batch_size: int | None = None,
    max_examples: int | None = None,
    scorer_max_tokens: int | None = None,
    optimizer_max_tokens: int | None = None,
    embedding_model: str | None = None,
    candidate_guards: Sequence[str] | None = None,
    eval_racing: str | None = None,
    max_tokens_budget: int | None = None,
    no_cache: bool | None = None,
    seed: int | None = None,
    dry_run: bool | None = None,
    options: RunOptions | None = None,
    **more: Any,
) -> Result | None:
    """Optimize ``task``'s prompt with ``preset`` (gpo, ape, apo, opro, pe2, sgdm, gpo+, or gepa;
    None: the options' own values), as ``main.py --preset=... --dataset=... --task_name=...``
    does. ``scorer`` answers and ``optimizer`` (default: the scorer) proposes: model aliases or
    paths, ``gpo.LLM`` objects or callables ``(messages) -> str``; resume a run of model objects
    by passing the same objects (the same names) again with ``resume=``.

    The keyword arguments are main.py's flags of the same names; ``options`` (a
    ``gpo.RunOptions``) and ``more`` (any other flag by name) set the rest, and an option you set
    beats the preset. A bad value raises ``gpo.ConfigError`` before any model loads. ``resume``
    continues a run folder (its saved configuration wins; ``task`` may be None). Returns None
    with ``dry_run=True``."""
    typed = _given(locals(), OPTIMIZE_TYPED) | {"mlflow_tracking_uri": tracking_uri}
    models = _user_models({"scorer": scorer, "optimizer": optimizer or scorer})
    out = str(output_dir) if output_dir is not None else RunOptions.output_dir
    task, named = _run_names(task, out, resume, preset)
    if resume is None:
        named |= _model_names(models, scorer=scorer, optimizer=optimizer or scorer)
    request = build_request(_options(RunOptions, options, named | typed, more), models)
    root = _run(_with_models(request, models), [task] if task is not None else [], runtime)
    return None if root is None else read_result(root)


def _run_names(
    task: Task | None, out: str, resume: str | Path | None, preset: str | None
) -> tuple[Task | None, dict[str, Any]]:
    """The task written where its run reads it, and the options naming the run: the folder
    to resume, or the task, the output folder and the preset."""
    if resume is not None:
        made = task.materialize(out) if task is not None else None  # its metric held again
        return made, {"resume": str(resume)}
    if task is None:
        raise ConfigError("optimize() needs a task (gpo.Task...), or resume=<run folder>")
    made = task.materialize(out)
    return made, {**made.options(), "output_dir": out, "preset": preset}


def _grid_tasks(made: Sequence[Task]) -> dict[str, Any]:
    """Several (materialized) tasks as the grid's options: comma-separated datasets and task
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
    *,
    workers: int | None = None,
    max_examples: int | None = None,
    num_search_epochs: int | None = None,
    num_generated_instructions_in_each_step: int | None = None,
    opt_batch_size: int | None = None,
    no_cache: bool | None = None,
    dry_run: bool | None = None,
    options: ExperimentOptions | None = None,
    **more: Any,
) -> ExperimentResult | None:
    """Compare ``presets`` on ``tasks`` over ``seeds`` (plus the Empty and CoT baselines), as
    ``experiment.py --presets=... --seeds=... --dataset=...`` does: one experiment folder with
    a run folder per cell, ``table.md``/``table.csv`` and ``report.md``.

    ``workers`` runs cells in parallel on Ray workers; the other keyword arguments,
    ``options`` (a ``gpo.ExperimentOptions``) and ``more`` are experiment.py's flags (main.py's,
    applied to every cell); a bad one raises ``gpo.ConfigError`` before any model loads.
    ``resume`` runs only the missing or unfinished cells of an experiment folder. Returns None
    with ``dry_run=True``."""
    given = _given(locals(), EXPERIMENT_TYPED)
    if is_model_object(scorer) or is_model_object(optimizer):
        raise ConfigError(
            "experiment() takes model names (aliases or paths) for scorer= and optimizer=; "
            "run gpo.optimize per preset for a model object"
        )
    out = str(output_dir) if output_dir is not None else RunOptions.output_dir
    made = [t.materialize(out) for t in tasks]  # a resumed grid's records tasks: metrics held
    if resume is not None:
        named: dict[str, Any] = {"resume": str(resume)}
    else:
        named = {**_grid_tasks(made), "presets": list(presets), "seeds": list(seeds)}
        named |= {"scorer_llm_name": scorer, "optimizer_llm_name": optimizer or scorer}
        named["output_dir"] = out
    named |= given | {"mlflow_tracking_uri": tracking_uri}
    return _experiment(_options(ExperimentOptions, options, named, more), made, runtime)


def _experiment(
    grid: ExperimentOptions, made: Sequence[Task], runtime: Runtime
) -> ExperimentResult | None:
    """Run the grid (on Ray workers when it asks for more than one) through a lent pool."""
    from gpo.experiments.experiment import execute
    from gpo.scale.grid_workers import ray_executor  # Ray itself loads only for workers > 1

    pool = SharedModelPool(runtime)
    try:
        with _running(made, grid.workers):
            outcome = execute(grid, pool=pool, make_executor=ray_executor, runtime=runtime)
    finally:
        pool.close()
    return None if outcome is None else read_experiment_result(outcome[0].root)
