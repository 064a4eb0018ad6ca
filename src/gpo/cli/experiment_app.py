"""Entry point of ``src/optimization/experiment.py``: absl flags (main.py's plus the grid's)
parsed into ``ExperimentOptions``, grouped ``--help``, one-line errors with exit status 2, exit
status 1 when a cell failed."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from absl import flags

from gpo.cli.flags import FLAGS, options_from_flags
from gpo.cli.startup import launch
from gpo.experiments.experiment import execute
from gpo.experiments.grid import FAILED, STOPPED
from gpo.log_setup import setup_logging
from gpo.options import ExperimentOptions
from gpo.presets import GEPA, PRESET_CHOICES
from gpo.runs.common import emit
from gpo.runs.runtime import DEFAULT_RUNTIME, Runtime

USAGE = """\
Compare methods as the paper's Table 5 does: every preset x task x seed, plus Empty and CoT.

usage: python src/optimization/experiment.py --presets=gpo,ape --seeds=0,1 [main.py flags ...]
       python src/optimization/experiment.py --resume=<experiment folder>
       python src/optimization/report.py <run or experiment folder>

Grid flags: --presets, --seeds, --run_presets, --run_seeds, --scorer_tokens_per_second (with
--dry_run); --dataset may list several datasets (bbh,wsc). Every main.py flag below applies to
every cell.

"""

GRID_FLAGS = ("presets", "seeds", "run_presets", "run_seeds", "scorer_tokens_per_second")


def define_flags() -> None:
    """Define the grid's own flags (once). Only experiment.py defines them, so main.py's flag
    set (and its --help) stays as it is."""
    if "presets" in FLAGS:
        return
    d = ExperimentOptions()
    flags.DEFINE_list(
        "presets",
        list(d.presets),
        f"Methods (presets) to compare: {', '.join(PRESET_CHOICES)} ({GEPA}: pip install -e "
        "'.[gepa]'; its budget is --gepa_max_metric_calls).",
    )
    flags.DEFINE_list(
        "seeds", [str(s) for s in d.seeds], "Seeds; every preset x task runs once per seed."
    )
    flags.DEFINE_list(
        "run_presets",
        list(d.run_presets),
        "Run only these of the grid's presets now (e.g. gpo,gepa: the pair a reader compares "
        "first); the experiment folder keeps every cell, and --resume runs the rest later.",
    )
    flags.DEFINE_list(
        "run_seeds",
        [str(s) for s in d.run_seeds],
        "Run only these of the grid's seeds now (e.g. 0: one seed of every method first); "
        "--resume runs the rest later.",
    )
    flags.DEFINE_float(
        "scorer_tokens_per_second",
        d.scorer_tokens_per_second,
        "With --dry_run: measured scorer throughput of one replica (prompt + completion tokens "
        "per second; a run's report.md shows it) for the wall-time estimate.",
    )


def forget_flags() -> None:
    """Remove the grid's flags again (tests that share one process with main.py's tests)."""
    for name in GRID_FLAGS:
        if name in FLAGS:
            delattr(FLAGS, name)


def main(argv: Sequence[str], runtime: Runtime = DEFAULT_RUNTIME) -> None:
    """Run the grid (``execute``), print its table, exit 1 when a cell did not finish."""
    options = options_from_flags(ExperimentOptions)
    setup_logging(options.log_level.upper())
    from gpo.scale.grid_workers import ray_executor  # Ray itself loads only for workers > 1

    outcome = execute(options, make_executor=ray_executor, runtime=runtime, command=argv)
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
    define_flags()
    launch(argv, FLAGS, main, "experiment folder", USAGE)
