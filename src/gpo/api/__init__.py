"""The Python API: ``Task``, ``evaluate``, ``optimize`` and ``experiment`` (re-exported by ``gpo``).

The face of ``gpo.runs`` (how a run is put together): the same options, preflight, run folders
and resume as the command line, which is a parser over this API's options.
"""

from gpo.api.calls import evaluate, experiment, optimize, release_models
from gpo.api.results import Evaluation, ExperimentResult, Result, TaskResult
from gpo.api.task import Task

__all__ = [
    "Evaluation",
    "ExperimentResult",
    "Result",
    "Task",
    "TaskResult",
    "evaluate",
    "experiment",
    "optimize",
    "release_models",
]
