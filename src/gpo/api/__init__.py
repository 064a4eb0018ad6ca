"""The Python API: ``Task``, ``evaluate``, ``optimize`` and ``experiment`` (re-exported by ``gpo``).

The face of ``gpo.runs`` (how a run is put together): the same flags, preflight, run folders
and resume as the command line, called from Python.
"""

from gpo.api.calls import evaluate, experiment, optimize
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
]
