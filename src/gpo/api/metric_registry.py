"""Python-callable metrics of ``Task.from_records`` that are not importable by name (lambdas,
closures, functions of ``__main__``), reachable as ``python:gpo.api.metric_registry:<key>``.

A custom task's metric is a name in ``task.json``; an importable function is named by its own
module (``python:my_module:score``), any other callable is registered here under a key made from
its name and its compiled code, so the same function gets the same key in every process (a run
resumed from a new Python session finds it once the task is made again). Such a metric lives in
this process only: Ray workers (``workers`` > 1) need an importable function.
"""

from __future__ import annotations

import hashlib
import importlib
import re
from collections.abc import Callable
from typing import Any

from gpo.data.custom import PYTHON_PREFIX

Metric = Callable[[str, dict[str, Any]], float]
_REGISTERED: dict[str, Metric] = {}


def _code_digest(fn: Metric) -> str:
    code = getattr(fn, "__code__", None)
    body = repr((code.co_code, code.co_consts, code.co_names)) if code else repr(fn)
    return hashlib.sha1(body.encode("utf-8", "replace")).hexdigest()[:12]


def _importable_name(fn: Metric) -> str | None:
    """``module:function`` when importing it gives back ``fn`` (a module-level function)."""
    module, name = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    if not module or module == "__main__" or not name.isidentifier():
        return None
    try:
        found = getattr(importlib.import_module(module), name, None)
    except Exception:  # noqa: BLE001 - not importable: registered instead
        return None
    return f"{module}:{name}" if found is fn else None


def metric_name(fn: Metric) -> str:
    """The task.json metric of ``fn``: its import path, else a key of this registry."""
    importable = _importable_name(fn)
    if importable is not None:
        return PYTHON_PREFIX + importable
    base = re.sub(r"\W+", "_", getattr(fn, "__name__", "metric")).strip("_") or "metric"
    key = f"{base}_{_code_digest(fn)}"
    _REGISTERED[key] = fn
    return f"{PYTHON_PREFIX}{__name__}:{key}"


def __getattr__(key: str) -> Metric:
    try:
        return _REGISTERED[key]
    except KeyError:
        raise AttributeError(key) from None
