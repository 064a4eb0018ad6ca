"""The one path of a run in this process: a validated request becomes a run folder.

``main.py`` and the Python API (through ``gpo.scale.dispatch``, which sends ``--workers`` > 1 to
Ray workers) and the experiment grid's cells all come here: the request goes to
``--only_evaluate`` or to the single-process optimizer. ``resumed`` applies a top-level
``--resume`` first (a grid's cells resume their own folders).
"""

from __future__ import annotations

from gpo.results.run_folder import RunFolder
from gpo.runs.build import ModelPool
from gpo.runs.request import RunRequest
from gpo.runs.runtime import DEFAULT_RUNTIME, Runtime


def resumed(request: RunRequest) -> RunRequest:
    """``request`` with ``--resume``'s saved configuration (unchanged without ``--resume``)."""
    if not request.resume:
        return request
    from gpo.runs.optimize import resume_request

    return resume_request(request)


def run_request(
    request: RunRequest,
    runtime: Runtime = DEFAULT_RUNTIME,
    pool: ModelPool | None = None,
    folder_name: str | None = None,
) -> RunFolder | None:
    """Run ``request`` in this process into its run folder (None for ``--dry_run``); ``pool``
    and ``folder_name`` as for ``run_optimize`` (an experiment's cell passes both). A request
    for Ray workers goes through ``gpo.scale.dispatch.run`` instead."""
    if request.config.only_evaluate:
        from gpo.runs.run_evaluate import run_evaluate

        return run_evaluate(request, pool, folder_name, runtime)
    if request.workers > 1:
        raise ValueError("a request for Ray workers runs through gpo.scale.dispatch.run")
    from gpo.runs.optimize import run_optimize

    return run_optimize(request, pool, folder_name, runtime)
