"""Entry point of ``src/optimization/experiment.py``: absl flags (main.py's plus the grid's),
grouped ``--help``, one-line errors with exit status 2, exit status 1 when a cell failed."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from gpo.cli.startup import launch, setup_logging
from gpo.experiments import experiment
from gpo.experiments.experiment import FLAGS, execute
from gpo.experiments.grid import FAILED, STOPPED
from gpo.runs.common import emit
from gpo.runs.runtime import DEFAULT_RUNTIME, Runtime

USAGE = """\
Compare methods as the paper's Table 5 does: every preset x task x seed, plus Empty and CoT.

usage: python src/optimization/experiment.py --presets=gpo,ape --seeds=0,1 [main.py flags ...]
       python src/optimization/experiment.py --resume=<experiment folder>
       python src/optimization/report.py <run or experiment folder>

Grid flags: --presets, --seeds, --scorer_tokens_per_second (with --dry_run); --dataset may list
several datasets (bbh,wsc). Every main.py flag below applies to every cell.

"""


def main(argv: Sequence[str], runtime: Runtime = DEFAULT_RUNTIME) -> None:
    """Run the grid (``execute``), print its table, exit 1 when a cell did not finish."""
    setup_logging(FLAGS.log_level.upper())
    outcome = execute(argv, runtime=runtime)
    if outcome is None:
        return
    folder, results = outcome
    emit([(folder.root / "table.md").read_text(encoding="utf-8")])
    emit([f"experiment: {folder.root}", f"report: {folder.root / 'report.md'}"])
    bad = [r for r in results if r.state in (FAILED, STOPPED)]
    if bad:
        names = ", ".join(f"{r.cell_id} ({r.state})" for r in bad)
        sys.stderr.write(
            f"error: {len(bad)} of {len(results)} cell(s) did not finish: {names}; see each "
            f"cell's run.log, then rerun them with --resume={folder.root}\n"
        )
        sys.exit(1)


def run(argv: Sequence[str] | None = None) -> None:
    experiment.define_flags()
    launch(argv, FLAGS, main, "experiment folder", USAGE)
