"""Entry point: parse absl flags, validate, dispatch to only_evaluate or the optimizer.

Every user error ends in one line on stderr and exit status 2, without a traceback.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from absl import app as absl_app
from absl import flags

from gpo.cli import flags as gpo_flags
from gpo.errors import BudgetExceeded, GPOError

log = logging.getLogger("gpo")


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level, logging.INFO))
    noisy_loggers = (
        "httpx",
        "httpx2",  # the HTTP client of recent openai releases: one INFO line per request
        "urllib3",
        "filelock",
        "sentence_transformers",
        "transformers",
    )
    for noisy in noisy_loggers:
        logging.getLogger(noisy).setLevel(logging.WARNING)


def fail(message: str, status: int = 2) -> None:
    sys.stderr.write(f"error: {message}\n")
    sys.exit(status)


def main(argv: Sequence[str]) -> None:
    from gpo.cli.flags import config_from_flags

    if gpo_flags.FLAGS.init_task:
        from gpo.cli.custom_task import init_task

        f = gpo_flags.FLAGS
        init_task(f.dataset, f.task_name, f.data_dir)
        return
    request = config_from_flags()
    setup_logging(request.log_level)
    if request.resume:
        from gpo.cli.optimize import resume_request

        request = resume_request(request)
    if request.config.only_evaluate:
        from gpo.cli.run_evaluate import run_evaluate

        run_evaluate(request)
    else:
        from gpo.cli.optimize import run_optimize

        run_optimize(request)


def show_help(kind: str) -> None:
    """Print --help (this project's flags, grouped) or --helpfull (every flag); exit 0."""
    from gpo.cli.usage import full_help, short_help

    text = full_help(gpo_flags.FLAGS) if kind == "full" else short_help(gpo_flags.FLAGS)
    sys.stdout.write(text)
    sys.stdout.flush()
    sys.exit(0)


def run(argv: Sequence[str] | None = None) -> None:
    from gpo.cli.usage import help_request

    argv = list(sys.argv if argv is None else argv)
    # absl's app module defines --help/--helpfull only inside absl.app.run(); define them here
    # so they are known flags, and answer them ourselves (grouped, to stdout, exit status 0).
    absl_app.define_help_flags()
    kind = help_request(argv)
    if kind is not None:
        show_help(kind)
    try:
        gpo_flags.FLAGS(argv)
    except flags.Error as e:
        fail(f"{e}. See --helpfull for every flag.")
    try:
        main(argv)
    except BudgetExceeded as e:
        fail(f"{e}")
    except GPOError as e:
        fail(str(e))
    except KeyboardInterrupt:
        fail("interrupted; continue with --resume=<run folder>", 130)
