"""GPO: gradient-inspired LLM prompt optimization (Tang et al., arXiv 2402.17564).

From Python::

    import gpo

    task = gpo.Task.benchmark("bbh", "navigate")
    result = gpo.optimize(task, scorer="smollm2-135m", preset="gpo", num_search_epochs=1)
    print(result.best_prompt, result.best_test)

``Task``, ``evaluate``, ``optimize``, ``experiment``, their results and ``ConfigError`` are
exported here. Importing this package is cheap: the API (absl flags, the run machinery) loads
on first use, heavy backends (torch, vllm, xllamacpp) only when a model is made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gpo.errors import ConfigError, DataError, GPOError

if TYPE_CHECKING:
    from gpo.api import (
        Evaluation,
        ExperimentResult,
        Result,
        Task,
        TaskResult,
        evaluate,
        experiment,
        optimize,
    )

__version__ = "0.1.0"

_API = (
    "Evaluation",
    "ExperimentResult",
    "Result",
    "Task",
    "TaskResult",
    "evaluate",
    "experiment",
    "optimize",
)

__all__ = [
    "ConfigError",
    "DataError",
    "Evaluation",
    "ExperimentResult",
    "GPOError",
    "Result",
    "Task",
    "TaskResult",
    "evaluate",
    "experiment",
    "optimize",
]


def __getattr__(name: str) -> Any:
    """The API's names, imported on first use (``import gpo`` stays light)."""
    if name in _API:
        import gpo.api

        return getattr(gpo.api, name)
    raise AttributeError(f"module 'gpo' has no attribute {name!r}")
