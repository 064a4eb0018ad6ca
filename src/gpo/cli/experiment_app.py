"""Entry point of ``src/optimization/experiment.py``: absl flags (main.py's plus the grid's),
grouped ``--help``, one-line errors with exit status 2, exit status 1 when a cell failed."""

from __future__ import annotations

from collections.abc import Sequence

from gpo.cli.startup import launch
from gpo.experiments import experiment

USAGE = """\
Compare methods as the paper's Table 5 does: every preset x task x seed, plus Empty and CoT.

usage: python src/optimization/experiment.py --presets=gpo,ape --seeds=0,1 [main.py flags ...]
       python src/optimization/experiment.py --resume=<experiment folder>
       python src/optimization/report.py <run or experiment folder>

Grid flags: --presets, --seeds, --scorer_tokens_per_second (with --dry_run); --dataset may list
several datasets (bbh,wsc). Every main.py flag below applies to every cell.

"""


def run(argv: Sequence[str] | None = None) -> None:
    experiment.define_flags()
    launch(argv, experiment.FLAGS, experiment.main, "experiment folder", USAGE)
