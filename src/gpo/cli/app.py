"""Entry point of ``main.py``: parse absl flags into ``RunOptions``, then call the library (the
request's one preflight, then ``gpo.scale.dispatch``: only_evaluate, the optimizer, or its Ray
workers).

Every user error ends in one line on stderr and exit status 2, without a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence

from gpo.cli import flags as gpo_flags
from gpo.cli.startup import launch
from gpo.log_setup import setup_logging
from gpo.runs.command import resumed
from gpo.runs.request import build_request
from gpo.runs.runtime import DEFAULT_RUNTIME, Runtime
from gpo.scale.dispatch import run as dispatch


def main(argv: Sequence[str], runtime: Runtime = DEFAULT_RUNTIME) -> None:
    options = gpo_flags.options_from_flags()
    if options.init_task:
        from gpo.runs.custom_task import init_task

        init_task(options.dataset, list(options.task_name), options.data_dir)
        return
    request = build_request(options)
    setup_logging(request.log_level)
    dispatch(resumed(request), runtime)


def run(argv: Sequence[str] | None = None, runtime: Runtime = DEFAULT_RUNTIME) -> None:
    """main.py: ``--help``, flags, then ``main`` with ``runtime`` (the benchmark passes its own)."""
    launch(argv, gpo_flags.FLAGS, lambda a: main(a, runtime), "run folder")
