"""Entry point of ``src/optimization/experiment.py``: absl flags (main.py's plus the grid's),
grouped ``--help``, one-line errors with exit status 2, exit status 1 when a cell failed."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from absl import app as absl_app
from absl import flags

from gpo.cli import experiment
from gpo.cli.app import fail
from gpo.errors import GPOError

USAGE = """\
Compare methods as the paper's Table 5 does: every preset x task x seed, plus Empty and CoT.

usage: python src/optimization/experiment.py --presets=gpo,ape --seeds=0,1 [main.py flags ...]
       python src/optimization/experiment.py --resume=<experiment folder>
       python src/optimization/report.py <run or experiment folder>

Grid flags: --presets, --seeds, --scorer_tokens_per_second (with --dry_run); --dataset may list
several datasets (bbh,wsc). Every main.py flag below applies to every cell.

"""


def show_help(kind: str) -> None:
    from gpo.cli.usage import full_help, short_help

    text = full_help(experiment.FLAGS) if kind == "full" else short_help(experiment.FLAGS)
    sys.stdout.write(USAGE + text)
    sys.stdout.flush()
    sys.exit(0)


def run(argv: Sequence[str] | None = None) -> None:
    from gpo.cli.usage import help_request

    argv = list(sys.argv if argv is None else argv)
    experiment.define_flags()
    absl_app.define_help_flags()
    kind = help_request(argv)
    if kind is not None:
        show_help(kind)
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
