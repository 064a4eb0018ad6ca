"""Entry point of ``src/optimization/experiment.py``: absl flags (main.py's plus the grid's),
one-line errors with exit status 2, exit status 1 when a cell failed."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from absl import flags

from gpo.cli import experiment
from gpo.cli.app import fail
from gpo.errors import GPOError


def run(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv if argv is None else argv)
    try:
        experiment.FLAGS(argv)
    except flags.Error as e:
        fail(f"{e}. See --helpfull for every flag.")
    try:
        experiment.main(argv)
    except GPOError as e:
        fail(str(e))
    except KeyboardInterrupt:
        fail("interrupted; continue with --resume=<experiment folder>", 130)
