"""Where a run goes: Ray workers for ``--workers`` > 1, else this process.

The callers above (``main.py``, the Python API) choose through here, so the run path below
(``gpo.runs``) never reaches up for the scale-out.
"""

from __future__ import annotations

from gpo.results.run_folder import RunFolder
from gpo.runs.build import ModelPool
from gpo.runs.command import run_request
from gpo.runs.request import RunRequest
from gpo.runs.runtime import DEFAULT_RUNTIME, Runtime


def run(
    request: RunRequest, runtime: Runtime = DEFAULT_RUNTIME, pool: ModelPool | None = None
) -> RunFolder | None:
    """Run ``request`` (None for ``--dry_run``): on its Ray workers when it asks for more than
    one (each loads its own models), else in this process through ``pool``."""
    if request.workers > 1 and not request.config.only_evaluate:
        from gpo.scale.distributed import run_on_workers

        return run_on_workers(request, runtime)
    return run_request(request, runtime, pool)
