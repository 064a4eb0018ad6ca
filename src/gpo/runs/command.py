"""The one path of a run: a validated request becomes a run folder.

``main.py`` (``gpo.cli.app``), the Python API (``gpo.optimize``, ``gpo.evaluate``) and the
experiment grid's cells (in this process or on Ray workers) all come here: the request goes to
``--only_evaluate``, to the Ray workers (``--workers`` > 1) or to the single-process optimizer.
``resumed`` applies a top-level ``--resume`` first (a grid's cells resume their own folders).
"""

from __future__ import annotations

from gpo.cli.flags import CliRequest
from gpo.results.run_folder import RunFolder
from gpo.runs.build import ModelPool
from gpo.runs.runtime import DEFAULT_RUNTIME, Runtime


def resumed(request: CliRequest) -> CliRequest:
    """``request`` with ``--resume``'s saved configuration (unchanged without ``--resume``)."""
    if not request.resume:
        return request
    from gpo.runs.optimize import resume_request

    return resume_request(request)


def run_request(
    request: CliRequest,
    runtime: Runtime = DEFAULT_RUNTIME,
    pool: ModelPool | None = None,
    folder_name: str | None = None,
) -> RunFolder | None:
    """Run ``request`` into its run folder (None for ``--dry_run``); ``pool`` and
    ``folder_name`` as for ``run_optimize`` (an experiment's cell passes both)."""
    if request.config.only_evaluate:
        from gpo.runs.run_evaluate import run_evaluate

        return run_evaluate(request, pool, folder_name, runtime)
    if request.workers > 1:
        from gpo.scale.distributed import run_on_workers

        return run_on_workers(request, runtime)
    from gpo.runs.optimize import run_optimize

    return run_optimize(request, pool, folder_name, runtime)
