"""Start-up shared by the entry points (main.py, experiment.py, report.py): logging, the one-line
``error:`` exit, and the absl launch (grouped ``--help``, flag parsing, errors without a traceback).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from absl import app as absl_app
from absl import flags

from gpo.errors import GPOError


def fail(message: str, status: int = 2) -> NoReturn:
    """The one-line ``error:`` exit of every user error (status 2, no traceback)."""
    sys.stderr.write(f"error: {message}\n")
    sys.exit(status)


def show_help(text: str) -> NoReturn:
    """Print the help text to stdout and exit 0."""
    sys.stdout.write(text)
    sys.stdout.flush()
    sys.exit(0)


def launch(
    argv: Sequence[str] | None,
    values: flags.FlagValues,
    main: Callable[[list[str]], None],
    resume_hint: str,
    usage: str = "",
) -> None:
    """Answer ``--help``/``--helpfull`` (``usage`` then the grouped flags), parse the flags, run
    ``main(argv)``; a GPOError or a bad flag ends in one ``error:`` line, Ctrl-C names --resume."""
    from gpo.cli.usage import full_help, help_request, short_help

    argv = list(sys.argv if argv is None else argv)
    # absl's app module defines --help/--helpfull only inside absl.app.run(); define them here
    # so they are known flags, and answer them ourselves (grouped, to stdout, exit status 0).
    absl_app.define_help_flags()
    kind = help_request(argv)
    if kind is not None:
        show_help(usage + (full_help(values) if kind == "full" else short_help(values)))
    try:
        values(argv)
    except flags.Error as e:
        fail(f"{e}. See --helpfull for every flag.")
    try:
        main(argv)
    except GPOError as e:
        fail(str(e))
    except KeyboardInterrupt:
        fail(f"interrupted; continue with --resume=<{resume_hint}>", 130)
