"""Entry point: parse absl flags, validate, dispatch to only_evaluate, the optimizer or its Ray
workers.

Every user error ends in one line on stderr and exit status 2, without a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence

from gpo.cli import flags as gpo_flags
from gpo.cli.startup import launch, setup_logging
from gpo.runs.command import resumed, run_request
from gpo.runs.runtime import DEFAULT_RUNTIME, Runtime


def main(argv: Sequence[str], runtime: Runtime = DEFAULT_RUNTIME) -> None:
    from gpo.cli.flags import config_from_flags

    if gpo_flags.FLAGS.init_task:
        from gpo.runs.custom_task import init_task

        f = gpo_flags.FLAGS
        init_task(f.dataset, f.task_name, f.data_dir)
        return
    request = config_from_flags()
    setup_logging(request.log_level)
    run_request(resumed(request), runtime)


def run(argv: Sequence[str] | None = None, runtime: Runtime = DEFAULT_RUNTIME) -> None:
    """main.py: ``--help``, flags, then ``main`` with ``runtime`` (the benchmark passes its own)."""
    launch(argv, gpo_flags.FLAGS, lambda a: main(a, runtime), "run folder")
