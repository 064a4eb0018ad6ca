"""GPO: gradient-inspired LLM prompt optimization (Tang et al., arXiv 2402.17564).

From Python::

    import gpo

    task = gpo.Task.benchmark("bbh", "navigate")
    result = gpo.optimize(task, scorer="smollm2-135m", preset="gpo", num_search_epochs=1)
    print(result.best_prompt, result.best_test)

``Task``, ``evaluate``, ``optimize``, ``experiment``, their results, ``release_models`` and
``ConfigError`` are exported here, with the typed options ``RunOptions`` and
``ExperimentOptions``, ``LLM`` (the protocol a model client implements to be passed as
``scorer=`` or ``optimizer=``), ``CallableLLM`` (a plain ``(messages) -> str`` function as one)
and the protocol's types ``ChatMessage``, ``GenerationParams`` and ``Completion``.
Importing this package is cheap: the API (the run machinery) loads on
first use, heavy backends (torch, vllm, xllamacpp) only when a model is made.
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
        release_models,
    )
    from gpo.llm.base import LLM, ChatMessage, Completion, GenerationParams
    from gpo.llm.user import CallableLLM
    from gpo.options import ExperimentOptions, RunOptions

__version__ = "0.1.0"

_MODELS = {
    "LLM": "gpo.llm.base",
    "ChatMessage": "gpo.llm.base",
    "Completion": "gpo.llm.base",
    "GenerationParams": "gpo.llm.base",
    "CallableLLM": "gpo.llm.user",
    "RunOptions": "gpo.options",
    "ExperimentOptions": "gpo.options",
}
_API = (
    "Evaluation",
    "ExperimentResult",
    "Result",
    "Task",
    "TaskResult",
    "evaluate",
    "experiment",
    "optimize",
    "release_models",
)

__all__ = [
    "LLM",
    "CallableLLM",
    "ChatMessage",
    "Completion",
    "ConfigError",
    "DataError",
    "Evaluation",
    "ExperimentOptions",
    "ExperimentResult",
    "GenerationParams",
    "GPOError",
    "Result",
    "RunOptions",
    "Task",
    "TaskResult",
    "evaluate",
    "experiment",
    "optimize",
    "release_models",
]


def __getattr__(name: str) -> Any:
    """The API's names, imported on first use (``import gpo`` stays light)."""
    if name in _MODELS:
        import importlib

        return getattr(importlib.import_module(_MODELS[name]), name)
    if name in _API:
        import gpo.api

        return getattr(gpo.api, name)
    raise AttributeError(f"module 'gpo' has no attribute {name!r}")
